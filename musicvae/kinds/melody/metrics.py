"""Metrics of a melody sequence VAE: reconstruction, latent usage, prior samples, interpolation.

Every function takes a model with MusicVAE's interface:

- ``encode(events LongTensor [B, T]) -> (mu [B, Z], sigma [B, Z])``
- ``decode(z [B, Z], *, temperature=0.0, generator=None) -> LongTensor [B, T]`` (argmax at 0)
- ``teacher_forced_logits(z [B, Z], events [B, T]) -> Tensor [B, T, C]``

and melody windows as integer arrays [N, T]. The model is run in eval mode
under ``torch.inference_mode`` in batches, and put back in the mode it was in.
Results are plain floats, ints, lists and dicts (JSON-ready).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from musicvae.errors import InputError
from musicvae.kinds.melody.features import feature_overlap, feature_summary, melody_features
from musicvae.midi.melody import NO_EVENT
from musicvae.midi.windows import check_windows
from musicvae.models.latent import interpolate

#: Burda et al. (2016): a latent dimension is active if Cov_x(E[z|x]) exceeds this.
ACTIVE_UNIT_THRESHOLD = 0.01


@contextlib.contextmanager
def evaluating(model) -> Iterator[torch.device]:
    """Run ``model`` in eval mode without autograd; yield the device its parameters live on."""
    try:
        device = next(model.parameters()).device
    except (AttributeError, StopIteration):
        device = torch.device("cpu")
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        with torch.inference_mode():
            yield device
    finally:
        if was_training:
            model.train(True)


def _batches(windows: np.ndarray, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    for start in range(0, len(windows), batch_size):
        yield torch.as_tensor(windows[start : start + batch_size], dtype=torch.long, device=device)


def encode_windows(model, windows: np.ndarray, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Posterior parameters of every window.

    Parameters
    ----------
    model : sequence VAE
    windows : ndarray [N, T] of int
    batch_size : int, keyword-only

    Returns
    -------
    mu, sigma : ndarray [N, Z] of float64
    """
    windows = check_windows(windows)
    mus, sigmas = [], []
    with evaluating(model) as device:
        for x in _batches(windows, batch_size, device):
            mu, sigma = model.encode(x)
            mus.append(mu.double().cpu().numpy())
            sigmas.append(sigma.double().cpu().numpy())
    return np.concatenate(mus), np.concatenate(sigmas)


def decode_latents(
    model, z: np.ndarray | torch.Tensor, *, temperature: float = 0.0, seed: int = 0, batch_size: int = 256
) -> np.ndarray:
    """Decode latents [N, Z] to event windows [N, T] (argmax at temperature 0), in batches."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    out = []
    with evaluating(model) as device:
        generator = torch.Generator(device=device).manual_seed(seed)
        for start in range(0, len(z), batch_size):
            events = model.decode(z[start : start + batch_size].to(device), temperature=temperature,
                                  generator=generator)
            out.append(events.cpu().numpy().astype(np.int64))
    return np.concatenate(out)


def reconstruction_metrics(model, windows: np.ndarray, *, batch_size: int = 256) -> dict:
    """How well windows come back through the posterior mean.

    Each window is encoded to ``mu`` and decoded from it twice: teacher-forced
    (the decoder sees the true previous tokens: per-step prediction quality)
    and autoregressively with argmax (what a user hears from encode → decode).

    Parameters
    ----------
    model : sequence VAE
    windows : ndarray [N, T] of int
        Held-out melody windows.
    batch_size : int, keyword-only

    Returns
    -------
    dict
        ``windows`` (N), ``steps`` (T) and, as shares in [0, 1]:
        ``teacher_forced_accuracy`` and ``sampled_accuracy`` (per token);
        ``hold_baseline``, the accuracy of always predicting "no event" (the
        share of such tokens, ~0.7 on folk tunes: the bar any accuracy must clear);
        ``teacher_forced_accuracy_non_hold`` and ``sampled_accuracy_non_hold``
        (tokens whose target is a note-off or a pitch; None if there are none);
        ``exact_match`` (windows reproduced exactly by the argmax decode);
        ``mean_true_probability`` (teacher-forced probability of the true
        token, averaged over steps); and ``nll_per_window``, the teacher-forced
        negative log-likelihood in nats summed over steps, averaged over windows.
    """
    windows = check_windows(windows)
    n, steps = windows.shape
    sums = dict.fromkeys(("tf", "sampled", "hold", "tf_non_hold", "sampled_non_hold", "exact", "prob", "nll"), 0.0)
    with evaluating(model) as device:
        for x in _batches(windows, batch_size, device):
            mu, _ = model.encode(x)
            logits = model.teacher_forced_logits(mu, x).float()
            log_p = torch.log_softmax(logits, dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)  # [B, T]
            tf_ok = logits.argmax(dim=-1) == x
            sampled_ok = model.decode(mu, temperature=0.0).to(x.device) == x
            non_hold = x != NO_EVENT
            sums["tf"] += tf_ok.sum().item()
            sums["sampled"] += sampled_ok.sum().item()
            sums["hold"] += (~non_hold).sum().item()
            sums["tf_non_hold"] += (tf_ok & non_hold).sum().item()
            sums["sampled_non_hold"] += (sampled_ok & non_hold).sum().item()
            sums["exact"] += sampled_ok.all(dim=1).sum().item()
            sums["prob"] += log_p.exp().sum().item()
            sums["nll"] -= log_p.sum().item()
    tokens = n * steps
    non_hold_tokens = tokens - sums["hold"]
    return {
        "windows": n,
        "steps": steps,
        "teacher_forced_accuracy": sums["tf"] / tokens,
        "sampled_accuracy": sums["sampled"] / tokens,
        "hold_baseline": sums["hold"] / tokens,
        "teacher_forced_accuracy_non_hold": sums["tf_non_hold"] / non_hold_tokens if non_hold_tokens else None,
        "sampled_accuracy_non_hold": sums["sampled_non_hold"] / non_hold_tokens if non_hold_tokens else None,
        "exact_match": sums["exact"] / n,
        "mean_true_probability": sums["prob"] / tokens,
        "nll_per_window": sums["nll"] / n,
    }


def kl_per_dimension(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Mean KL(N(mu, sigma^2) || N(0, 1)) of each latent dimension, in nats.

    Parameters
    ----------
    mu, sigma : ndarray [N, Z]

    Returns
    -------
    ndarray [Z]
        ``mean_n 1/2 (sigma^2 + mu^2 - log sigma^2 - 1)``; sums to the mean total KL.
    """
    mu, var = np.asarray(mu, dtype=float), np.square(np.asarray(sigma, dtype=float))
    return (0.5 * (var + mu**2 - np.log(var) - 1.0)).mean(axis=0)


def active_units(mu: np.ndarray, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of latent dimensions the encoder uses (Burda et al. 2016).

    A dimension is active when its posterior mean varies across inputs,
    ``Var_x(mu_x) > threshold``; an inactive one is ignored by the decoder
    (posterior collapse) whatever its KL.

    Parameters
    ----------
    mu : ndarray [N, Z]
        Posterior means of N inputs.
    threshold : float, keyword-only
    """
    return int((np.asarray(mu, dtype=float).var(axis=0) > threshold).sum())


def latent_metrics(model, windows: np.ndarray, *, batch_size: int = 256) -> dict:
    """KL and latent usage over ``windows``.

    Returns
    -------
    dict
        ``z_dim``; ``kl_per_dim`` (list [Z], nats, mean over windows);
        ``kl_total`` (their sum: the mean KL per window); ``active_units`` and
        ``active_threshold`` (Burda et al.: Var over windows of mu > 0.01);
        ``mean_sigma`` (mean posterior std: near 1 for unused dimensions);
        ``variational`` (False for a model trained as a plain autoencoder, whose
        sigma head is never trained: its KL numbers mean nothing, its active
        units still do).
    """
    mu, sigma = encode_windows(model, windows, batch_size=batch_size)
    kl = kl_per_dimension(mu, sigma)
    return {
        "z_dim": int(mu.shape[1]),
        "kl_per_dim": kl.tolist(),
        "kl_total": float(kl.sum()),
        "active_units": active_units(mu),
        "active_threshold": ACTIVE_UNIT_THRESHOLD,
        "mean_sigma": float(sigma.mean()),
        "variational": bool(getattr(model, "variational", True)),
    }


def prior_sample_overlap(
    model,
    reference_windows: np.ndarray | dict,
    *,
    n: int = 1000,
    temperature: float = 0.5,
    seed: int = 0,
    batch_size: int = 256,
    z_dim: int | None = None,
) -> dict:
    """Sample ``z ~ N(0, I)``, decode, and compare the melodies with the data (Yang & Lerch).

    Parameters
    ----------
    model : sequence VAE
    reference_windows : ndarray [M, T] of int, or dict from :func:`melody_features`
        The data the samples should resemble. Precomputed features need ``z_dim``.
    n : int, keyword-only
        Number of prior samples.
    temperature : float, keyword-only
        Decoding temperature (0 = argmax; Magenta samples at 0.5).
    seed : int, keyword-only
        Seeds z, the decoder's sampling and the overlap estimate.
    z_dim : int, optional, keyword-only
        Latent size; by default read from encoding one reference window.

    Returns
    -------
    dict
        ``n``, ``temperature``, ``overlap`` (:func:`feature_overlap` of the
        samples against the reference, with its ``"mean"``), and ``generated``
        and ``reference`` (:func:`feature_summary` of each set: mean feature
        values and the share of silent windows).
    """
    if n < 1:
        raise InputError(f"need at least one prior sample, got n={n}")
    reference = reference_windows if isinstance(reference_windows, dict) else melody_features(reference_windows)
    if z_dim is None:
        if isinstance(reference_windows, dict):
            raise InputError("prior_sample_overlap needs z_dim when given precomputed reference features")
        z_dim = encode_windows(model, check_windows(reference_windows)[:1])[0].shape[1]
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    samples = decode_latents(model, z, temperature=temperature, seed=seed, batch_size=batch_size)
    generated = melody_features(samples)
    return {
        "n": n,
        "temperature": float(temperature),
        "overlap": feature_overlap(generated, reference, seed=seed),
        "generated": feature_summary(generated),
        "reference": feature_summary(reference),
    }


def _distinct_pairs(windows: np.ndarray, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``pairs`` index pairs [P, 2] of windows with different content, no window used twice."""
    order = rng.permutation(len(windows))
    chosen: list[tuple[int, int]] = []
    pending: list[int] = []
    for index in order:
        # Pair with the first waiting window whose content differs (duplicates stay waiting).
        match = next((k for k, other in enumerate(pending) if not np.array_equal(windows[other], windows[index])), None)
        if match is None:
            pending.append(index)
            continue
        chosen.append((pending.pop(match), index))
        if len(chosen) == pairs:
            break
    return np.array(chosen, dtype=np.int64).reshape(-1, 2)


def interpolation_smoothness(
    model,
    windows: np.ndarray,
    *,
    pairs: int = 50,
    steps: int = 11,
    seed: int = 0,
    method: str = "slerp",
    batch_size: int = 256,
) -> dict:
    """How gradually argmax decodes move from window A to window B along latent paths.

    For seeded pairs of distinct windows (A, B) the posterior means are
    interpolated (``steps`` points, endpoints included), each point is decoded
    with argmax, and the normalised Hamming distance (share of differing steps)
    of each decode from the real A is traced along the path. A smooth latent
    space gives a distance that rises steadily from ~0 to ~d(A, B).

    Parameters
    ----------
    model : sequence VAE
    windows : ndarray [N, T] of int
        Held-out windows to draw pairs from (N >= 2 with two different contents).
    pairs : int, keyword-only
        Number of pairs (fewer if the windows do not allow that many).
    steps : int, keyword-only
        Points per path, endpoints included (>= 2).
    seed : int, keyword-only
    method : {"slerp", "lerp"}, keyword-only

    Returns
    -------
    dict
        ``pairs``, ``steps``, ``method``; ``monotone_share`` (share of paths
        whose distance from A never decreases); ``spearman_mean`` (mean
        Spearman rho of distance vs step; 0 for a path whose distance is
        constant); ``endpoint_distance_a`` / ``endpoint_distance_b`` (mean
        distance of the decoded endpoints from the real A / B: reconstruction
        error at the ends); ``mean_max_jump`` (mean over paths of the largest
        distance between consecutive decodes: small means no sudden switch);
        ``distance_curve`` (list [steps], the mean distance from A at each
        step); ``data_distance`` (mean distance between the real A and B).
    """
    windows = check_windows(windows)
    if steps < 2:
        raise InputError(f"interpolation needs at least 2 steps (both endpoints), got {steps}")
    index = _distinct_pairs(windows, pairs, np.random.default_rng(seed))
    if len(index) == 0:
        raise InputError(f"interpolation needs at least two different windows; got {len(windows)} window(s)")
    a, b = windows[index[:, 0]], windows[index[:, 1]]
    mu_a, _ = encode_windows(model, a, batch_size=batch_size)
    mu_b, _ = encode_windows(model, b, batch_size=batch_size)
    path_z = torch.stack([
        interpolate(torch.as_tensor(za), torch.as_tensor(zb), steps=steps, method=method)
        for za, zb in zip(mu_a, mu_b)
    ])  # [P, S, Z]
    decoded = decode_latents(model, path_z.reshape(-1, path_z.shape[-1]), batch_size=batch_size)
    decoded = decoded.reshape(len(index), steps, -1)  # [P, S, T]
    distance = (decoded != a[:, None, :]).mean(axis=2)  # [P, S]
    jumps = (decoded[:, 1:] != decoded[:, :-1]).mean(axis=2)  # [P, S-1]
    return {
        "pairs": len(index),
        "steps": steps,
        "method": method,
        "monotone_share": float((np.diff(distance, axis=1) >= 0).all(axis=1).mean()),
        "spearman_mean": float(_spearman_with_step(distance).mean()),
        "endpoint_distance_a": float(distance[:, 0].mean()),
        "endpoint_distance_b": float((decoded[:, -1] != b).mean()),
        "mean_max_jump": float(jumps.max(axis=1).mean()),
        "distance_curve": distance.mean(axis=0).tolist(),
        "data_distance": float((a != b).mean()),
    }


def _spearman_with_step(distance: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of ``distance`` [P, S] against 0..S-1 (0 where a row is constant)."""
    from scipy.stats import rankdata

    ranks = rankdata(distance, axis=1)  # ties share their mean rank, as in Spearman's rho
    ranks = ranks - ranks.mean(axis=1, keepdims=True)
    step = np.arange(distance.shape[1], dtype=float)
    step -= step.mean()
    norm = np.sqrt((ranks**2).sum(axis=1) * (step**2).sum())
    return np.divide((ranks * step).sum(axis=1), norm, out=np.zeros(len(distance)), where=norm > 0)


def latent_map(
    model, windows: np.ndarray, *, labels: np.ndarray | list | None = None, seed: int = 0, batch_size: int = 256
) -> np.ndarray:
    """2-D PCA projection of the windows' posterior means, for a latent-space scatter plot.

    Parameters
    ----------
    model : sequence VAE
    windows : ndarray [N, T] of int
    labels : sequence [N], optional, keyword-only
        Only checked to match the windows (the plot colours points by them).
    seed : int, keyword-only
        Unused: PCA is deterministic; kept so callers can pass one seed everywhere.
    batch_size : int, keyword-only

    Returns
    -------
    ndarray [N, 2] of float64
        Coordinates on the first two principal axes (zeros where mu has fewer
        dimensions or no variance). Signs are fixed: each axis's largest
        loading is positive, so repeated runs draw the same picture.
    """
    del seed
    windows = check_windows(windows)
    if labels is not None and len(labels) != len(windows):
        raise InputError(f"got {len(labels)} labels for {len(windows)} windows")
    mu, _ = encode_windows(model, windows, batch_size=batch_size)
    centred = mu - mu.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    points = np.zeros((len(windows), 2))
    points[:, : len(axes)] = centred @ axes.T
    return points
