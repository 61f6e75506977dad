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
from typing import Any

import lightning
import numpy as np
import torch
from torch import Tensor, nn

from musicvae.builders import build_model
from musicvae.config import InstrumentConfig, to_dict
from musicvae.errors import ConfigError, InputError
from musicvae.kinds.timbre.config import SpectrogramVAEConfig
from musicvae.models.latent import beta_schedule, free_bits_kl, kl_divergence
from musicvae.training.optim import decaying_adam

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


class SpectrogramVAEModule(lightning.LightningModule):
    """Trains a :class:`~musicvae.models.spectrogram_vae.SpectrogramVAE` (see the module docstring).

    ``val/loss`` uses the final beta (``kl_weight``) so that it is comparable
    across the run; ``val/lsd_db`` is the log-spectral distance in dB.
    """

    def __init__(self, config: InstrumentConfig, model: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(config.model, SpectrogramVAEConfig):
            raise ConfigError(f"SpectrogramVAEModule trains timbre models, not {type(config.model).__name__}")
        self.config = config
        self.model = model if model is not None else build_model(config.model)
        self.save_hyperparameters({"config": to_dict(config)})

    def _losses(self, batch: SpectrogramBatch, *, beta: float, generator: torch.Generator | None):
        cfg = self.config.model
        out = self.model(batch.spec, batch.pitch, batch.velocity, generator=generator)
        error = (out["recon"].float() - batch.spec.float()).square()
        recon = error.sum(dim=(1, 2)).mean()
        kl = kl_divergence(out["mu"].float(), out["sigma"].float())
        kl_cost = free_bits_kl(kl, cfg.free_bits).mean()
        loss = recon + beta * kl_cost
        lsd = (error.mean(dim=1).sqrt() * cfg.spectrogram.norm_scale_db).mean()
        return loss, {"recon": recon, "kl": kl.mean(), "lsd_db": lsd}

    def training_step(self, batch: SpectrogramBatch, batch_idx: int) -> Tensor:
        cfg = self.config.model
        if cfg.augment_db > 0:
            batch = SpectrogramBatch(augment(batch.spec, size_db=cfg.augment_db,
                                             scale_db=cfg.spectrogram.norm_scale_db), batch.pitch, batch.velocity)
        beta = beta_schedule(self.global_step, max_beta=cfg.kl_weight, rate=cfg.beta_rate)
        loss, parts = self._losses(batch, beta=beta, generator=None)
        size = len(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/lsd_db", parts["lsd_db"], prog_bar=True, batch_size=size)
        self.log("train/kl", parts["kl"], prog_bar=True, batch_size=size)
        self.log("train/beta", beta, batch_size=size)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=size)
        return loss

    def validation_step(self, batch: SpectrogramBatch, batch_idx: int) -> None:
        # A fixed generator per batch keeps the validation ELBO identical from run to run.
        generator = torch.Generator(device=batch.spec.device).manual_seed(batch_idx)
        loss, parts = self._losses(batch, beta=self.config.model.kl_weight, generator=generator)
        size = len(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val/recon", parts["recon"], sync_dist=True, batch_size=size)
        self.log("val/kl", parts["kl"], sync_dist=True, batch_size=size)
        self.log("val/lsd_db", parts["lsd_db"], prog_bar=True, sync_dist=True, batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        return decaying_adam(self.parameters(), self.config.train)


def family_mean_latents(model: nn.Module, data: SpectrogramSet, families: list[str]) -> dict[str, Tensor]:
    """Each family's mean posterior mean over ``data``: the blend endpoints, ``{"mean_latent.<family>": [Z]}``."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        mu = torch.cat([model.encode(data.spec[i : i + 256])[0] for i in range(0, len(data), 256)])
    model.train(was_training)
    out = {}
    for k, family in enumerate(families):
        rows = data.family == k
        if rows.any():
            out[f"mean_latent.{family}"] = mu[rows].mean(dim=0).clone()
    return out
