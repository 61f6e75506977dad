"""The MiniBach mapper with a variational bottleneck: a soprano window in, alto, tenor and bass out.

MiniBach (Briot, Hadjeres, Pachet) is a feed-forward network from the one-hot
soprano of 4 bars (64 sixteenth steps) to the one-hot alto, tenor and bass, with
a softmax per voice per step. It is deterministic: one melody, one
accompaniment. Here the hidden layer becomes a VAE bottleneck: the encoder maps
the soprano to ``N(mu, sigma^2)``, a sample ``z`` is decoded into the three
voices, and a KL cost to ``N(0, I)`` keeps the codes near the prior. Decoding
the mean gives the most likely harmonisation; decoding other samples of the
posterior gives variations of it. ``variational=False`` (``kl_weight = 0`` in
the config) is plain MiniBach: ``z`` is the mean and no noise is ever added.

The model takes plain arguments and never imports :mod:`musicvae.config`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# HOLD: the token of "the previous note goes on" in every voice (the chorale codec's token layout).
from musicvae.midi.chorale import HOLD
from musicvae.models.latent import GaussianPosterior, reparameterize


def _mlp(in_features: int, hidden_size: int, depth: int, dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden_size
    return nn.Sequential(*layers), width


class Accompanist(nn.Module):
    """Soprano tokens [B, T] -> logits of the lower voices, through a Gaussian bottleneck.

    Parameters
    ----------
    soprano_classes : int
        Tokens of the soprano (hold, rest, one per pitch of its range).
    voice_classes : sequence of int
        Tokens of each output voice (alto, tenor, bass).
    steps : int
        Steps per window (64 = 4 bars of sixteenths).
    hidden_size : int
        Width of the hidden layers.
    depth : int
        Hidden layers on each side of the bottleneck (MiniBach has one).
    z_dim : int
        Latent dimensionality.
    dropout : float
        Dropout after every hidden layer while training.
    variational : bool
        Sample ``z`` from the posterior while training (a VAE); else ``z = mu`` (plain MiniBach).
    input_dropout : float
        Share of soprano steps replaced by the hold token while training (a denoising autoencoder).
    rank : int
        0 for MiniBach's dense input and output layers; above 0, each of those two
        (by far the largest: steps x classes wide) is factorised through a linear
        layer of this width, which keeps the weights a few MB.
    """

    def __init__(
        self,
        *,
        soprano_classes: int,
        voice_classes: Sequence[int],
        steps: int = 64,
        hidden_size: int = 256,
        depth: int = 1,
        z_dim: int = 32,
        dropout: float = 0.0,
        variational: bool = True,
        input_dropout: float = 0.0,
        rank: int = 0,
    ) -> None:
        super().__init__()
        if depth < 1 or hidden_size < 1 or z_dim < 1 or steps < 1 or rank < 0:
            raise ValueError("depth, hidden_size, z_dim and steps must be at least 1, rank at least 0")
        self.soprano_classes = soprano_classes
        self.voice_classes = tuple(int(c) for c in voice_classes)
        self.steps = steps
        self.z_dim = z_dim
        self.variational = variational
        self.input_dropout = input_dropout
        inputs = steps * soprano_classes
        encoder, width = _mlp(rank or inputs, hidden_size, depth, dropout)
        self.encoder = nn.Sequential(nn.Linear(inputs, rank, bias=False), *encoder) if rank else encoder
        self.posterior = GaussianPosterior(width, z_dim)
        self.decoder, width = _mlp(z_dim, hidden_size, depth, dropout)
        outputs = steps * sum(self.voice_classes)
        self.output = nn.Sequential(nn.Linear(width, rank), nn.Linear(rank, outputs)) if rank else \
            nn.Linear(width, outputs)

    # -- pieces -------------------------------------------------------------

    def _one_hot(self, soprano: Tensor) -> Tensor:
        if soprano.dim() != 2 or soprano.shape[1] != self.steps:
            raise ValueError(f"soprano must be [B, {self.steps}] tokens, got {list(soprano.shape)}")
        return F.one_hot(soprano.long(), self.soprano_classes).flatten(1).float()

    def encode(self, soprano: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior of soprano tokens [B, T]: ``(mu, sigma)``, each [B, z_dim]."""
        return self.posterior(self.encoder(self._one_hot(soprano)))

    def decode_logits(self, z: Tensor) -> list[Tensor]:
        """Latents [B, z_dim] -> one logits tensor [B, T, C_v] per output voice."""
        flat = self.output(self.decoder(z)).view(z.shape[0], self.steps, sum(self.voice_classes))
        return list(flat.split(self.voice_classes, dim=-1))

    def forward(
        self, soprano: Tensor, *, sample_z: bool | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Tensor | list[Tensor]]:
        """Soprano tokens [B, T] -> ``logits`` (list of [B, T, C_v]), ``mu``, ``sigma``, ``z`` ([B, z_dim]).

        ``sample_z`` defaults to ``self.training and self.variational``.
        """
        soprano = soprano.long()
        if self.training and self.input_dropout > 0:
            drop = torch.rand(soprano.shape, device=soprano.device, generator=generator) < self.input_dropout
            soprano = torch.where(drop, torch.full_like(soprano, HOLD), soprano)
        mu, sigma = self.encode(soprano)
        if sample_z is None:
            sample_z = self.training and self.variational
        z = reparameterize(mu, sigma, generator=generator) if sample_z else mu
        return {"logits": self.decode_logits(z), "mu": mu, "sigma": sigma, "z": z}

    # -- inference ----------------------------------------------------------

    @torch.no_grad()
    def probabilities(
        self,
        soprano: Tensor,
        *,
        noise: Tensor | None = None,
        z_scale: float = 1.0,
        temperature: float = 1.0,
    ) -> list[Tensor]:
        """Per-step token probabilities of each lower voice for soprano windows [B, T].

        Parameters
        ----------
        soprano : LongTensor [B, T]
        noise : Tensor [z_dim] or [B, z_dim], optional
            Standard normal draws: ``z = mu + z_scale * sigma * noise`` (a variation);
            ``None`` decodes the posterior mean.
        z_scale : float
            How far from the mean a variation may go (1 = the posterior itself).
        temperature : float
            Softmax temperature (logits / T); T <= 0 gives one-hot argmax distributions.

        Returns
        -------
        list of Tensor [B, T, C_v]
        """
        mu, sigma = self.encode(soprano.long())
        z = mu if noise is None or not self.variational else mu + z_scale * sigma * noise.to(mu)
        out = []
        for logits in self.decode_logits(z):
            if temperature <= 0:
                out.append(F.one_hot(logits.argmax(-1), logits.shape[-1]).float())
            else:
                out.append(torch.softmax(logits / temperature, dim=-1))
        return out
