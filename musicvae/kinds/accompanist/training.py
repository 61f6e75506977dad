"""Lightning training of the accompanist (MiniBach mapper): loss, transposition, validation metrics.

:func:`musicvae.training.train_model` dispatches here for accompanist configs,
so the trainer, checkpoints, resume and DDP are every kind's, and the objective,
beta schedule, logging and optimizer are :class:`~musicvae.training.vae.VAEModule`'s.
Import this module lazily (it imports ``lightning``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from musicvae.errors import InputError
from musicvae.kinds.accompanist.config import AccompanistConfig, ChoraleRepresentation
from musicvae.midi.chorale import FIRST_PITCH, PHRASE_CLASSES, PHRASE_UNKNOWN
from musicvae.training.vae import Reconstruction, VAEModule


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
    """Check token windows [N, rows, T] (four voices, then phrase tokens if the representation has
    ``phrases``) against the representation; returns them as uint8."""
    windows = np.asarray(windows)
    steps, classes, rows = representation.steps, representation.num_classes, representation.rows
    if windows.ndim != 3 or windows.shape[1:] != (rows, steps):
        raise InputError(f"{name} windows have shape {windows.shape}; the model needs [N, {rows}, {steps}]")
    if len(windows) == 0:
        raise InputError(f"no {name} windows: build the dataset first (musicvae data build bach-chorales)")
    for v, c in enumerate(classes + ((PHRASE_CLASSES,) if representation.phrases else ())):
        if windows[:, v].min() < 0 or windows[:, v].max() >= c:
            what = f"voice {v}" if v < 4 else "the phrase row"
            raise InputError(f"{name} windows hold tokens outside 0..{c - 1} in {what}")
    return windows.astype(np.uint8)


class AccompanistModule(VAEModule):
    """Trains an :class:`~musicvae.models.accompanist.Accompanist`.

    ``loss = mean_b(sum_{voice, step} CE) + beta * mean_b(max(KL - free_bits * ln 2, 0))``,
    a softmax per voice per step (not a sigmoid over the flattened output),
    with ``beta = (1 - beta_rate**step) * kl_weight`` (:class:`~musicvae.training.vae.VAEModule`)
    and every training window transposed by a random in-range shift of at most
    ``train.transpose`` semitones (:func:`transpose_chorales`). Training decodes a
    posterior sample (the mean for an autoencoder); validation decodes the
    posterior mean, the deterministic harmonisation accuracy is measured on.
    ``val/loss`` uses the final beta; the best checkpoint is chosen by
    ``val/frame_accuracy`` (``AccompanistKind.monitor``), the quantity the
    accompanist is judged by: its cross-entropy on unseen chorales starts to rise
    while its accuracy still improves.

    Logs ``train/{loss, recon, kl, frame_accuracy, beta}``, ``lr`` and
    ``val/{loss, recon, kl, accuracy, frame_accuracy}``: ``accuracy`` is the share
    of tokens [B, 3, T] that are the target's, ``frame_accuracy`` that of sounding
    notes (:func:`frame_accuracy`), both averaged over the three lower voices.

    Parameters
    ----------
    config : InstrumentConfig
        Its ``model`` must be an :class:`AccompanistConfig`.
    model : nn.Module, optional
        The model to train; built from ``config`` when omitted.
    """

    config_class = AccompanistConfig
    trains = "accompanist models"
    train_metrics = ("recon", "frame_accuracy")
    val_metrics = ("accuracy", "frame_accuracy")
    progress_metrics = frozenset({"frame_accuracy"})

    def prepare_batch(self, batch: Tensor, *, training: bool) -> Tensor:
        """uint8 windows [B, rows, T] (soprano, alto, tenor, bass, then any phrase row) -> LongTensor, the voices
        transposed while training (the phrase row never is), and ``phrase_dropout`` of the windows' phrase
        rows set to "not known"."""
        windows = batch.long()
        if training:
            voices = transpose_chorales(windows[:, :4], self.config.train.transpose,
                                        num_classes=self.config.model.representation.num_classes)
            extra = windows[:, 4:]
            if extra.shape[1]:
                unknown = torch.rand(len(extra), device=extra.device) < self.config.model.phrase_dropout
                extra = torch.where(unknown.view(-1, 1, 1), torch.full_like(extra, PHRASE_UNKNOWN), extra)
            windows = torch.cat([voices, extra], dim=1)
        return windows

    def samples_z(self, *, training: bool) -> bool:
        # The deterministic harmonisation (posterior mean) is what validation measures.
        return training and self.model.variational

    def reconstruction(self, batch: Tensor, *, generator: torch.Generator | None, sample_z: bool,
                       training: bool) -> Reconstruction:
        """Cross-entropy of each lower voice's logits [B, T, C_v] given the soprano, summed over voices and steps.

        A chorale net is given a random share of the lower notes (:func:`hide_notes`) and scored on the
        hidden ones; its validation gives it none, and its accuracies are those of decoding ``z = 0``,
        the prior's mean, as ``harmonize`` does (its posterior mean has seen the answer).

        Metrics: ``accuracy`` and ``frame_accuracy`` (Tensor []).
        """
        if self.config.model.architecture == "chorale-net":
            return self._chorale_net_reconstruction(batch, generator=generator, sample_z=sample_z, training=training)
        out = self.model(batch[:, 0], sample_z=sample_z, generator=generator)
        recon = batch.new_zeros((), dtype=torch.float32)
        for v, logits in enumerate(out["logits"], start=1):
            ce = F.cross_entropy(logits.float().transpose(1, 2), batch[:, v], reduction="none")  # [B, T]
            recon = recon + ce.sum(dim=1).mean()
        return Reconstruction(out, recon, _accuracies(out["logits"], batch[:, 1:]))

    def _chorale_net_reconstruction(self, batch: Tensor, *, generator: torch.Generator | None, sample_z: bool,
                                    training: bool) -> Reconstruction:
        phrase = batch[:, 4] if batch.shape[1] > 4 else None
        batch = batch[:, :4]
        hidden = hide_notes(batch[:, 1:], hide_all=self.config.model.hide_all, generator=generator) if training \
            else torch.ones_like(batch[:, 1:], dtype=torch.bool)
        out = self.model(batch, known=~hidden, phrase=phrase, sample_z=sample_z, generator=generator)
        # Scored on the hidden notes, scaled to the whole window (Coconet), so the loss is per window as the KL is.
        scale = hidden[0].numel() / hidden.flatten(1).sum(1).clamp(min=1)  # [B]: V * T over the hidden count
        recon = batch.new_zeros((), dtype=torch.float32)
        for v, logits in enumerate(out["logits"], start=1):
            ce = F.cross_entropy(logits.float().transpose(1, 2), batch[:, v], reduction="none")  # [B, T]
            recon = recon + ((ce * hidden[:, v - 1]).sum(dim=1) * scale).mean()
        if training:
            return Reconstruction(out, recon, _accuracies(out["logits"], batch[:, 1:]))
        z = torch.zeros_like(out["mu"])
        return Reconstruction(out, recon, _accuracies(self.model.decode_logits(z, batch[:, 0], phrase=phrase),
                                                      batch[:, 1:]))


def hide_notes(lower: Tensor, *, hide_all: float, generator: torch.Generator | None = None) -> Tensor:
    """Which lower-voice tokens [B, V, T] a chorale net is not given while training (True = hidden).

    A share ``hide_all`` of the windows hides everything (a bare soprano to harmonise); each other window
    hides each token with its own probability, drawn uniformly from (0, 1] (Coconet's orderless masks).
    """
    batch = lower.shape[0]
    rate = 1.0 - torch.rand(batch, generator=generator, device=lower.device)  # (0, 1]
    everything = torch.rand(batch, generator=generator, device=lower.device) < hide_all
    rate = torch.where(everything, torch.ones_like(rate), rate)
    draw = torch.rand(lower.shape, generator=generator, device=lower.device)
    return draw < rate.view(-1, 1, 1)


def _accuracies(logits: list[Tensor], target: Tensor) -> dict[str, Tensor]:
    """``accuracy`` (tokens) and ``frame_accuracy`` (sounding notes) of argmax logits against [B, V, T] tokens."""
    token_acc, frame_acc = [], []
    for v, voice_logits in enumerate(logits):
        pred = voice_logits.argmax(dim=-1)
        token_acc.append((pred == target[:, v]).float().mean())
        frame_acc.append(frame_accuracy(pred, target[:, v]))
    return {"accuracy": torch.stack(token_acc).mean(), "frame_accuracy": torch.stack(frame_acc).mean()}
