"""Lightning training of the timbre model (imported by :func:`musicvae.training.train_model`).

``loss = mean_b(sum_{f,t} (x - x_hat)^2) + beta * mean_b(max(KL - free_bits * ln 2, 0))``
over normalised log-spectrograms, ``beta = (1 - beta_rate**step) * kl_weight``.
While training, 3/4 of the spectrograms get a random smooth EQ curve and
loudness contour (``augment_db``): input and target alike, so each is a new
plausible note, which teaches the latent to carry spectral envelope and
level contour, the ways an unseen instrument differs from the three seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from musicvae.errors import InputError
from musicvae.kinds.timbre.config import SpectrogramVAEConfig
from musicvae.training.vae import Reconstruction, VAEModule

#: Share of training spectrograms that get an augmentation curve.
AUGMENT_SHARE = 0.75


@dataclass
class SpectrogramBatch:
    """A batch of notes: ``spec`` [B, F, T] normalised log-spectrograms, ``pitch`` [B] long, ``velocity`` [B]."""

    spec: Tensor
    pitch: Tensor
    velocity: Tensor

    def __len__(self) -> int:
        return len(self.pitch)


@dataclass
class SpectrogramSet(torch.utils.data.Dataset):
    """Notes as spectrograms, ready to train on (a map-style dataset that returns whole batches).

    Attributes
    ----------
    spec : Tensor [N, F, T] float32
    pitch : Tensor [N] long
    velocity : Tensor [N] float32
    family : Tensor [N] long
    """

    spec: Tensor
    pitch: Tensor
    velocity: Tensor
    family: Tensor

    def __len__(self) -> int:
        return len(self.pitch)

    def __getitem__(self, index) -> SpectrogramSet:
        index = torch.as_tensor(index)
        return SpectrogramSet(self.spec[index], self.pitch[index], self.velocity[index], self.family[index])

    def __getitems__(self, indices: list[int]) -> SpectrogramBatch:
        index = torch.as_tensor(indices)
        return SpectrogramBatch(self.spec[index], self.pitch[index], self.velocity[index])


def spectrogram_set(notes, spectrogram, *, batch: int = 256) -> SpectrogramSet:
    """Analyse a :class:`~musicvae.kinds.timbre.data.TimbreNotes` split into a :class:`SpectrogramSet`."""
    specs = []
    with torch.inference_mode():
        for start in range(0, len(notes), batch):
            chunk = np.array(notes.audio[start : start + batch], dtype=np.float32)  # writable, even from a memmap
            specs.append(spectrogram.analyze(torch.from_numpy(chunk)))
    spec = torch.cat(specs) if specs else torch.zeros(0, *spectrogram.shape)
    return SpectrogramSet(
        spec=spec.clone(),
        pitch=torch.as_tensor(notes.pitch, dtype=torch.long),
        velocity=torch.as_tensor(notes.velocity, dtype=torch.float32),
        family=torch.as_tensor(notes.family, dtype=torch.long),
    )


def check_spectrogram_set(data: SpectrogramSet, name: str, model: SpectrogramVAEConfig) -> SpectrogramSet:
    """Raise InputError unless ``data`` holds notes the model can train on."""
    if not isinstance(data, SpectrogramSet):
        raise InputError(f"{name} data must be a SpectrogramSet (see musicvae.kinds.timbre.training.spectrogram_set)")
    if len(data) == 0:
        raise InputError(f"no {name} notes: build the dataset first (musicvae data build ...)")
    from musicvae.kinds.timbre import build_spectrogram

    shape = build_spectrogram(model).shape
    if tuple(data.spec.shape[1:]) != shape:
        raise InputError(f"{name} spectrograms are {tuple(data.spec.shape[1:])}; the model needs {shape}")
    low, high = int(data.pitch.min()), int(data.pitch.max())
    if low < model.min_pitch or high > model.max_pitch:
        raise InputError(f"{name} notes span MIDI {low}..{high}, outside the model's {model.min_pitch}.."
                         f"{model.max_pitch}")
    return data


def augment(spec: Tensor, *, size_db: float, scale_db: float, generator: torch.Generator | None = None) -> Tensor:
    """Add a random smooth EQ curve (over frequency) and loudness contour (over time) to spectrograms [B, F, T].

    Both are sums of a few cosines with 1/k amplitudes: ``size_db`` is the
    EQ's typical size, the contour gets half. Values stay above the floor (-1).
    """
    batch, bins, frames = spec.shape
    k = torch.arange(1, 5, dtype=spec.dtype, device=spec.device)

    def curve(n: int, size: float) -> Tensor:
        weight = torch.randn(batch, 4, generator=generator).to(spec) / k * (size / scale_db)
        phase = 2 * math.pi * torch.rand(batch, 4, generator=generator).to(spec)
        grid = torch.linspace(0.0, 1.0, n, dtype=spec.dtype, device=spec.device)
        return (weight[:, :, None] * torch.cos(math.pi * k[None, :, None] * grid + phase[:, :, None])).sum(1)

    keep = (torch.rand(batch, generator=generator) < AUGMENT_SHARE).to(spec)[:, None, None]
    shifted = spec + keep * (curve(bins, size_db)[:, :, None] + curve(frames, size_db / 2)[:, None, :])
    return shifted.clamp_min(-1.0)


class SpectrogramVAEModule(VAEModule):
    """Trains a :class:`~musicvae.models.spectrogram_vae.SpectrogramVAE` (see the module docstring).

    ``loss = mean_b(sum_{f,t} (x - x_hat)^2) + beta * mean_b(max(KL - free_bits * ln 2, 0))``
    with ``beta = (1 - beta_rate**step) * kl_weight`` (:class:`~musicvae.training.vae.VAEModule`);
    while training the batch is augmented (:func:`augment`, ``model.augment_db``)
    and the model adds its own input noise (``model.input_noise``).
    ``val/loss`` uses the final beta (``kl_weight``) so that it is comparable
    across the run; ``val/lsd_db`` is the log-spectral distance in dB.

    Logs ``train/{loss, kl, lsd_db, beta}``, ``lr`` and ``val/{loss, recon, kl, lsd_db}``.

    Parameters
    ----------
    config : InstrumentConfig
        Its ``model`` must be a :class:`SpectrogramVAEConfig`.
    model : nn.Module, optional
        The model to train; built from ``config`` when omitted.
    """

    config_class = SpectrogramVAEConfig
    trains = "timbre models"
    train_metrics = ("lsd_db",)
    val_metrics = ("lsd_db",)
    progress_metrics = frozenset({"lsd_db"})

    def prepare_batch(self, batch: SpectrogramBatch, *, training: bool) -> SpectrogramBatch:
        """While training, an augmentation curve on the spectrograms [B, F, T] (input and target alike)."""
        cfg = self.config.model
        if training and cfg.augment_db > 0:
            spec = augment(batch.spec, size_db=cfg.augment_db, scale_db=cfg.spectrogram.norm_scale_db)
            batch = SpectrogramBatch(spec, batch.pitch, batch.velocity)
        return batch

    def reconstruction(self, batch: SpectrogramBatch, *, generator: torch.Generator | None, sample_z: bool,
                       training: bool) -> Reconstruction:
        """Squared error of the decoded spectrograms [B, F, T], summed over bins and frames.

        Metrics: ``lsd_db`` (Tensor []), the per-frame RMS error in dB averaged over frames and notes.
        """
        out = self.model(batch.spec, batch.pitch, batch.velocity, sample_z=sample_z, generator=generator)
        error = (out["recon"].float() - batch.spec.float()).square()
        recon = error.sum(dim=(1, 2)).mean()
        lsd = (error.mean(dim=1).sqrt() * self.config.model.spectrogram.norm_scale_db).mean()
        return Reconstruction(out, recon, {"lsd_db": lsd})


def family_mean_latents(model: nn.Module, data: SpectrogramSet, families: list[str]) -> dict[str, Tensor]:
    """The blend endpoints: each family's mean posterior mean over ``data``, overall and at each pitch.

    Returns
    -------
    dict
        ``"mean_latent.<family>"`` [Z], the mean over all the family's notes, and ``"pitch_latent.<family>"``
        [P, Z], row ``p - low`` the mean over its notes at pitch ``p`` of the model's range ``(low, high)``
        (a pitch without notes takes the nearest pitches' that have some).
    """
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        mu = torch.cat([model.encode(data.spec[i : i + 256])[0] for i in range(0, len(data), 256)])
    model.train(was_training)
    low, high = model.pitch_range
    out = {}
    for k, family in enumerate(families):
        rows = data.family == k
        if rows.any():
            out[f"mean_latent.{family}"] = mu[rows].mean(dim=0).clone()
            out[f"pitch_latent.{family}"] = _pitch_means(mu[rows], data.pitch[rows], low=low, high=high)
    return out


def _pitch_means(mu: Tensor, pitch: Tensor, *, low: int, high: int) -> Tensor:
    """Mean latent at each pitch of ``low..high`` [P, Z]; a pitch without notes averages its nearest ones'."""
    have = torch.unique(pitch)
    means = {int(p): mu[pitch == p].mean(dim=0) for p in have}
    table = []
    for p in range(low, high + 1):
        if p in means:
            table.append(means[p])
            continue
        distance = (have - p).abs()
        nearest = have[distance == distance.min()]
        table.append(torch.stack([means[int(q)] for q in nearest]).mean(dim=0))
    return torch.stack(table).clone()
