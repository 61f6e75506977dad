"""The variational part shared by every model: posterior, sampling, KL, beta, interpolation.

An autoencoder maps an input to one point; a VAE maps it to a diagonal Gaussian
``N(mu, sigma^2)``, samples ``z = mu + sigma * eps`` while training and pays a KL
cost to the prior ``N(0, I)``. That cost is what makes the latent space
continuous and complete, so that prior samples and interpolants decode well.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.errors import ConfigError

#: Added to softplus so that sigma never reaches 0 (log sigma^2 in the KL stays finite).
SIGMA_EPSILON = 1e-5


class GaussianPosterior(nn.Module):
    """Diagonal Gaussian posterior head: ``mu = Dense(h)``, ``sigma = softplus(Dense(h))``.

    Parameters
    ----------
    in_features : int
        Width of the encoder summary ``h``.
    z_dim : int
        Latent dimensionality.
    """

    def __init__(self, in_features: int, z_dim: int) -> None:
        super().__init__()
        self.mu = nn.Linear(in_features, z_dim)
        self.sigma = nn.Linear(in_features, z_dim)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``h`` [B, in_features] to ``(mu, sigma)``, each [B, z_dim], sigma > 0."""
        return self.mu(h), F.softplus(self.sigma(h)) + SIGMA_EPSILON


def reparameterize(mu: Tensor, sigma: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Sample ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, differentiable in mu and sigma.

    Parameters
    ----------
    mu, sigma : Tensor [B, Z]
    generator : torch.Generator, optional
        For reproducible sampling.

    Returns
    -------
    Tensor [B, Z]
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + sigma * eps


def kl_divergence(mu: Tensor, sigma: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in nats, summed over latent dims.

    ``KL = 1/2 * sum(sigma^2 + mu^2 - log sigma^2 - 1)``: zero exactly at mu = 0, sigma = 1.

    Parameters
    ----------
    mu, sigma : Tensor [B, Z]

    Returns
    -------
    Tensor [B]
    """
    var = sigma.square()
    return 0.5 * (var + mu.square() - torch.log(var) - 1.0).sum(dim=-1)


def free_bits_kl(kl: Tensor, free_bits: float) -> Tensor:
    """MusicVAE's free bits: ``max(kl - free_bits * ln 2, 0)``.

    The first ``free_bits`` bits of information per sequence are free, so the
    encoder is not pushed below that; ``kl`` is in nats, hence the ln 2.

    Parameters
    ----------
    kl : Tensor [B]
    free_bits : float

    Returns
    -------
    Tensor [B]
    """
    return torch.clamp(kl - free_bits * math.log(2.0), min=0.0)


def beta_schedule(step: int, *, max_beta: float, rate: float) -> float:
    """KL weight at ``step``: ``(1 - rate**step) * max_beta`` (0 at step 0, rising to ``max_beta``)."""
    return (1.0 - rate**step) * max_beta


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """Linear interpolation ``(1 - t) * a + t * b`` (broadcasting)."""
    return a + (b - a) * t


def slerp(a: Tensor, b: Tensor, t: float | Tensor, *, eps: float = 1e-6) -> Tensor:
    """Spherical interpolation between the vectors ``a`` and ``b`` [..., D].

    Follows the great circle between the directions while interpolating the
    norms linearly, which keeps interpolants at the typical radius of a
    high-dimensional Gaussian (linear midpoints fall towards the origin,
    where the prior has little mass in practice). Falls back to :func:`lerp`
    where ``a`` and ``b`` are (anti)parallel within ``eps``, where the
    great circle is undefined or numerically unstable.

    Parameters
    ----------
    a, b : Tensor [..., D]
    t : float or Tensor broadcastable to [..., 1]

    Returns
    -------
    Tensor [..., D]
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_norm = a.norm(dim=-1, keepdim=True)
    b_norm = b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(dim=-1, keepdim=True) / (a_norm * b_norm).clamp_min(1e-12)
    cos = cos.clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    parallel = sin.abs() < eps
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    # Magenta's slerp: sin((1-t)w)/sin(w) * a + sin(tw)/sin(w) * b. This
    # interpolates both direction and norm; for unit vectors it stays on the sphere.
    spherical = (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / safe_sin
    return torch.where(parallel, lerp(a, b, t), spherical)


def interpolate(a: Tensor, b: Tensor, *, steps: int, method: str = "slerp") -> Tensor:
    """``steps`` evenly spaced points from ``a`` to ``b``, endpoints included.

    Parameters
    ----------
    a, b : Tensor [D]
    steps : int
        Number of outputs (>= 2 for both endpoints; 1 gives ``a``).
    method : {"slerp", "lerp"}

    Returns
    -------
    Tensor [steps, D]

    Raises
    ------
    ConfigError
        On an unknown method or ``steps < 1``.
    """
    if steps < 1:
        raise ConfigError(f"interpolation needs at least 1 step, got {steps}")
    if method not in ("slerp", "lerp"):
        raise ConfigError(f"unknown interpolation method {method!r}; choose slerp or lerp")
    t = torch.linspace(0.0, 1.0, steps, dtype=a.dtype, device=a.device).unsqueeze(-1)
    fn = slerp if method == "slerp" else lerp
    out = fn(a.unsqueeze(0), b.unsqueeze(0), t)
    # Exact endpoints, whatever the rounding of the trigonometry.
    out[0] = a
    if steps > 1:
        out[-1] = b
    return out
