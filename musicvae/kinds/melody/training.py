"""The melody kind's training: MusicVAE's schedules, transposition, window checks and Lightning module."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from musicvae.errors import InputError
from musicvae.kinds.melody.config import SequenceVAEConfig
from musicvae.midi.melody import FIRST_PITCH_CLASS
from musicvae.midi.windows import check_windows
from musicvae.training.vae import Reconstruction, VAEModule

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


class SequenceVAEModule(VAEModule):
    """Trains a :class:`~musicvae.models.sequence_vae.SequenceVAE` the MusicVAE way.

    ``loss = mean_b(sum_t CE) + beta * mean_b(max(KL - free_bits * ln 2, 0))``
    with ``beta = (1 - beta_rate**step) * kl_weight`` (:class:`~musicvae.training.vae.VAEModule`).
    While training, every window is transposed by a random in-range shift of at
    most ``train.transpose`` semitones and the decoder feeds itself its own
    samples with the scheduled-sampling probability of the step
    (:func:`sampling_probability`, ``train.sampling_rate``); validation is teacher-forced.
    ``val/loss`` uses the final beta (``kl_weight``) so that it is comparable
    across the run and can pick the best checkpoint; ``train/loss`` is the scheduled objective.

    Logs ``train/{loss, recon, kl, accuracy, beta, sample_prob}``, ``lr`` and
    ``val/{loss, recon, kl, accuracy}``; ``accuracy`` is the share of steps whose
    argmax class is the target's.

    Parameters
    ----------
    config : InstrumentConfig
        Its ``model`` must be a :class:`SequenceVAEConfig`.
    model : nn.Module, optional
        The model to train; built from ``config`` when omitted.
    """

    config_class = SequenceVAEConfig
    trains = "melody models"
    train_metrics = ("recon", "accuracy", "sample_prob")
    val_metrics = ("accuracy",)
    progress_metrics = frozenset({"accuracy"})

    def prepare_batch(self, batch: Tensor, *, training: bool) -> Tensor:
        """uint8 windows [B, T] -> LongTensor [B, T] of classes, transposed at random while training."""
        events = batch.long()
        if training:
            events = transpose_events(events, self.config.train.transpose, num_classes=self.model.num_classes)
        return events

    def reconstruction(self, batch: Tensor, *, generator: torch.Generator | None, sample_z: bool,
                       training: bool) -> Reconstruction:
        """Cross-entropy of the decoder's logits [B, T, C] against the events [B, T], summed over steps.

        Metrics: ``accuracy`` (Tensor []) and ``sample_prob`` (float; 0 in validation).
        """
        sample_prob = sampling_probability(self.global_step, self.config.train.sampling_rate) if training else 0.0
        out = self.model(batch, sample_prob=sample_prob, generator=generator, sample_z=sample_z)
        logits = out["logits"]
        size, steps, classes = logits.shape
        ce = F.cross_entropy(logits.reshape(-1, classes).float(), batch.reshape(-1), reduction="none")
        recon = ce.view(size, steps).sum(dim=1).mean()
        accuracy = (logits.argmax(dim=-1) == batch).float().mean()
        return Reconstruction(out, recon, {"accuracy": accuracy, "sample_prob": sample_prob})


def check_melody_windows(windows: np.ndarray, name: str, *, steps: int, num_classes: int) -> np.ndarray:
    windows = check_windows(windows, steps=steps, num_classes=num_classes, what=name, allow_empty=True,
                            dtype=np.uint8)
    if len(windows) == 0:
        raise InputError(
            f"no {name} windows: build the dataset first, or use a recipe that yields {steps}-step windows"
        )
    return windows


