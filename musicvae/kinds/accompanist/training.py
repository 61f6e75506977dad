"""Lightning training of the accompanist (MiniBach mapper): loss, transposition, validation metrics.

:func:`musicvae.training.train_model` dispatches here for accompanist configs,
so the trainer, checkpoints, resume and DDP are the melody model's. Import this
module lazily (it imports ``lightning``).
"""

from __future__ import annotations

from typing import Any

import lightning
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.builders import build_model
from musicvae.config import InstrumentConfig, to_dict
from musicvae.errors import ConfigError, InputError
from musicvae.kinds.accompanist.config import AccompanistConfig, ChoraleRepresentation
from musicvae.midi.chorale import FIRST_PITCH
from musicvae.models.latent import beta_schedule, free_bits_kl, kl_divergence
from musicvae.training.optim import decaying_adam


def transpose_chorales(
    windows: Tensor, max_shift: int, *, num_classes: tuple[int, ...], generator: torch.Generator | None = None
) -> Tensor:
    """Shift each window's pitches in every voice by one random number of semitones that keeps all voices in range.

    Each window draws uniformly from the shifts in ``[-max_shift, max_shift]``
    for which every voice stays within its own range; 0 is always allowed.

    Parameters
    ----------
    windows : LongTensor [B, V, T]
        Per-voice tokens (0 hold, 1 rest, 2.. pitches of the voice's range).
    max_shift : int
        Largest shift; 0 returns ``windows`` unchanged.
    num_classes : tuple of int [V]
        Tokens per voice.

    Returns
    -------
    LongTensor [B, V, T]
    """
    if max_shift <= 0:
        return windows
    is_pitch = windows >= FIRST_PITCH
    batch = windows.shape[0]
    low = torch.full((batch,), -max_shift, device=windows.device)
    high = torch.full((batch,), max_shift, device=windows.device)
    for v, classes in enumerate(num_classes):
        tokens, pitched = windows[:, v], is_pitch[:, v]
        lowest = torch.where(pitched, tokens, classes).amin(dim=1)  # C when the voice rests throughout
        highest = torch.where(pitched, tokens, -1).amax(dim=1)
        low = torch.maximum(low, FIRST_PITCH - lowest)
        high = torch.minimum(high, classes - 1 - highest)
    draw = torch.rand(batch, generator=generator, device=windows.device)
    shift = torch.minimum(low + (draw * (high - low + 1)).long(), high)
    return torch.where(is_pitch, windows + shift.view(-1, 1, 1), windows)


def frame_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Share of steps [B, T] whose sounding token (holds resolved to the note they continue) matches."""

    def sounding(tokens: Tensor) -> Tensor:
        steps = torch.arange(tokens.shape[-1], device=tokens.device).expand_as(tokens)
        last = torch.cummax(torch.where(tokens != 0, steps, torch.zeros_like(steps)), dim=-1).values
        filled = torch.gather(tokens, -1, last)
        return torch.where(filled == 0, torch.ones_like(filled), filled)  # a hold before any note is a rest

    return (sounding(pred) == sounding(target)).float().mean()


def check_chorale_windows(windows: np.ndarray, name: str, *, representation: ChoraleRepresentation) -> np.ndarray:
    """Check token windows [N, 4, T] against the representation; returns them as uint8."""
    windows = np.asarray(windows)
    steps, classes = representation.steps, representation.num_classes
    if windows.ndim != 3 or windows.shape[1:] != (4, steps):
        raise InputError(f"{name} windows have shape {windows.shape}; the model needs [N, 4, {steps}]")
    if len(windows) == 0:
        raise InputError(f"no {name} windows: build the dataset first (musicvae data build bach-chorales)")
    for v, c in enumerate(classes):
        if windows[:, v].min() < 0 or windows[:, v].max() >= c:
            raise InputError(f"{name} windows hold tokens outside 0..{c - 1} in voice {v}")
    return windows.astype(np.uint8)


class AccompanistModule(lightning.LightningModule):
    """Trains an :class:`~musicvae.models.accompanist.Accompanist`.

    ``loss = mean_b(sum_{voice, step} CE) + beta * mean_b(max(KL - free_bits * ln 2, 0))``,
    a softmax per voice per step (not a sigmoid over the flattened output),
    with ``beta = (1 - beta_rate**step) * kl_weight`` and every window
    transposed by a random in-range shift. ``val/loss`` uses the final beta;
    the best checkpoint is chosen by ``val/frame_accuracy`` (``AccompanistKind.monitor``),
    the quantity the accompanist is judged by: its cross-entropy on unseen chorales
    starts to rise while its accuracy still improves.
    """

    def __init__(self, config: InstrumentConfig, model: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(config.model, AccompanistConfig):
            raise ConfigError(f"AccompanistModule trains accompanist models, not {type(config.model).__name__}")
        self.config = config
        self.model = model if model is not None else build_model(config.model)
        self.save_hyperparameters({"config": to_dict(config)})

    def _losses(self, windows: Tensor, *, generator: torch.Generator | None, beta: float, sample_z: bool):
        out = self.model(windows[:, 0], sample_z=sample_z, generator=generator)
        recon = windows.new_zeros((), dtype=torch.float32)
        token_acc, frame_acc = [], []
        for v, logits in enumerate(out["logits"], start=1):
            target = windows[:, v]
            ce = F.cross_entropy(logits.float().transpose(1, 2), target, reduction="none")  # [B, T]
            recon = recon + ce.sum(dim=1).mean()
            pred = logits.argmax(dim=-1)
            token_acc.append((pred == target).float().mean())
            frame_acc.append(frame_accuracy(pred, target))
        kl = kl_divergence(out["mu"].float(), out["sigma"].float())
        kl_cost = free_bits_kl(kl, self.config.model.free_bits).mean()
        loss = recon + beta * kl_cost  # stays in the graph at beta = 0, so DDP sees every parameter used
        return loss, {"recon": recon, "kl": kl.mean(), "accuracy": torch.stack(token_acc).mean(),
                      "frame_accuracy": torch.stack(frame_acc).mean()}

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        model_cfg = self.config.model
        windows = transpose_chorales(batch.long(), self.config.train.transpose,
                                     num_classes=model_cfg.representation.num_classes)
        beta = beta_schedule(self.global_step, max_beta=model_cfg.kl_weight, rate=model_cfg.beta_rate)
        loss, parts = self._losses(windows, generator=None, beta=beta, sample_z=self.model.variational)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/recon", parts["recon"])
        self.log("train/kl", parts["kl"], prog_bar=True)
        self.log("train/frame_accuracy", parts["frame_accuracy"], prog_bar=True)
        self.log("train/beta", beta)
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        windows = batch.long()
        # The deterministic harmonisation (posterior mean) is what accuracy is measured on.
        loss, parts = self._losses(windows, generator=None, beta=self.config.model.kl_weight, sample_z=False)
        size = windows.shape[0]
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val/recon", parts["recon"], sync_dist=True, batch_size=size)
        self.log("val/kl", parts["kl"], sync_dist=True, batch_size=size)
        self.log("val/accuracy", parts["accuracy"], sync_dist=True, batch_size=size)
        self.log("val/frame_accuracy", parts["frame_accuracy"], prog_bar=True, sync_dist=True, batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        return decaying_adam(self.parameters(), self.config.train)
