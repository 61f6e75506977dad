"""The melody kind's training: MusicVAE's schedules, transposition, window checks and Lightning module."""

from __future__ import annotations

import math
from typing import Any

import lightning
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.builders import build_model
from musicvae.config import InstrumentConfig, to_dict
from musicvae.errors import ConfigError, InputError
from musicvae.kinds.melody.config import SequenceVAEConfig
from musicvae.midi.melody import FIRST_PITCH_CLASS
from musicvae.midi.windows import check_windows
from musicvae.models.latent import beta_schedule, free_bits_kl, kl_divergence
from musicvae.training.optim import decaying_adam

# ---------------------------------------------------------------------------
# Schedules and augmentation (pure functions)
# ---------------------------------------------------------------------------


def sampling_probability(step: int, rate: float) -> float:
    """Scheduled-sampling probability ``1 - k / (k + exp(step / k))`` for ``k = rate``; 0 when ``rate <= 0``."""
    if rate <= 0:
        return 0.0
    # exp overflows a float beyond ~709; the probability is 1 long before that.
    return 1.0 - rate / (rate + math.exp(min(step / rate, 700.0)))


def transpose_events(
    events: Tensor, max_shift: int, *, num_classes: int, generator: torch.Generator | None = None
) -> Tensor:
    """Shift every sequence's pitches by a random number of semitones that keeps it in range.

    Each sequence draws its shift uniformly from the integers in
    ``[-max_shift, max_shift]`` for which every one of its pitches stays a
    valid class; 0 is always allowed, so no sequence is ever dropped.

    Parameters
    ----------
    events : LongTensor [B, T]
        Melody classes (0 no event, 1 note off, 2.. pitches).
    max_shift : int
        Largest shift in semitones; 0 returns ``events`` unchanged.
    num_classes : int
        Vocabulary size C (the highest pitch class is C - 1).
    generator : torch.Generator, optional

    Returns
    -------
    LongTensor [B, T]
    """
    if max_shift <= 0:
        return events
    is_pitch = events >= FIRST_PITCH_CLASS
    lowest = torch.where(is_pitch, events, num_classes).amin(dim=1)  # C when there is no pitch
    highest = torch.where(is_pitch, events, -1).amax(dim=1)  # -1 when there is no pitch
    low = torch.clamp(FIRST_PITCH_CLASS - lowest, min=-max_shift)
    high = torch.clamp(num_classes - 1 - highest, max=max_shift)
    draw = torch.rand(events.shape[0], generator=generator, device=events.device)
    shift = torch.minimum(low + (draw * (high - low + 1)).long(), high)
    return torch.where(is_pitch, events + shift.unsqueeze(1), events)



# ---------------------------------------------------------------------------
# Lightning module
# ---------------------------------------------------------------------------


class SequenceVAEModule(lightning.LightningModule):
    """Trains a :class:`~musicvae.models.sequence_vae.SequenceVAE` the MusicVAE way.

    ``loss = mean_b(sum_t CE) + beta * mean_b(max(KL - free_bits * ln 2, 0))``
    with ``beta = (1 - beta_rate**step) * kl_weight``. ``val/loss`` uses the
    final beta (``kl_weight``) so that it is comparable across the run and can
    pick the best checkpoint; ``train/loss`` is the scheduled objective.

    Parameters
    ----------
    config : InstrumentConfig
        Its ``model`` must be a :class:`SequenceVAEConfig`.
    model : nn.Module, optional
        The model to train; built from ``config`` when omitted.
    """

    def __init__(self, config: InstrumentConfig, model: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(config.model, SequenceVAEConfig):
            raise ConfigError(f"SequenceVAEModule trains melody models, not {type(config.model).__name__}")
        self.config = config
        self.model = model if model is not None else build_model(config.model)
        # Plain dicts only, so that checkpoints load with ``weights_only=True``.
        self.save_hyperparameters({"config": to_dict(config)})

    def _losses(self, events: Tensor, *, sample_prob: float, generator: torch.Generator | None, beta: float):
        out = self.model(events, sample_prob=sample_prob, generator=generator, sample_z=True)
        logits = out["logits"]
        batch, steps, classes = logits.shape
        ce = F.cross_entropy(logits.reshape(-1, classes).float(), events.reshape(-1), reduction="none")
        recon = ce.view(batch, steps).sum(dim=1).mean()
        kl = kl_divergence(out["mu"].float(), out["sigma"].float())
        kl_cost = free_bits_kl(kl, self.config.model.free_bits).mean()
        # beta * kl_cost stays in the graph even at beta = 0, so DDP sees every parameter used.
        loss = recon + beta * kl_cost
        accuracy = (logits.argmax(dim=-1) == events).float().mean()
        return loss, {"recon": recon, "kl": kl.mean(), "kl_cost": kl_cost, "accuracy": accuracy}

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        model_cfg, train_cfg = self.config.model, self.config.train
        events = transpose_events(batch.long(), train_cfg.transpose, num_classes=self.model.num_classes)
        step = self.global_step
        beta = beta_schedule(step, max_beta=model_cfg.kl_weight, rate=model_cfg.beta_rate)
        sample_prob = sampling_probability(step, train_cfg.sampling_rate)
        loss, parts = self._losses(events, sample_prob=sample_prob, generator=None, beta=beta)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/recon", parts["recon"])
        self.log("train/kl", parts["kl"], prog_bar=True)
        self.log("train/accuracy", parts["accuracy"], prog_bar=True)
        self.log("train/beta", beta)
        self.log("train/sample_prob", sample_prob)
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        events = batch.long()
        # A fixed generator per batch makes the posterior samples, hence the
        # validation ELBO, identical from one validation run to the next.
        generator = torch.Generator(device=events.device).manual_seed(batch_idx)
        loss, parts = self._losses(events, sample_prob=0.0, generator=generator, beta=self.config.model.kl_weight)
        size = events.shape[0]
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val/recon", parts["recon"], sync_dist=True, batch_size=size)
        self.log("val/kl", parts["kl"], sync_dist=True, batch_size=size)
        self.log("val/accuracy", parts["accuracy"], prog_bar=True, sync_dist=True, batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        return decaying_adam(self.parameters(), self.config.train)



def check_melody_windows(windows: np.ndarray, name: str, *, steps: int, num_classes: int) -> np.ndarray:
    windows = check_windows(windows, steps=steps, num_classes=num_classes, what=name, allow_empty=True,
                            dtype=np.uint8)
    if len(windows) == 0:
        raise InputError(
            f"no {name} windows: build the dataset first, or use a recipe that yields {steps}-step windows"
        )
    return windows


