"""A flat model's phrases stitched end to end: the baseline a long-window (hierarchical) model is read against.

MusicVAE's paper compares its 16-bar hierarchical model with a flat decoder over the same 16 bars; a flat
2-bar instrument, run phrase by phrase over the 16 bars, is the cheaper baseline a musician already has: each
2-bar phrase encoded and decoded on its own, its phrases laid end to end. :class:`StitchedModel` gives that
the model interface the melody metrics take, so the same functions measure both on the same windows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from musicvae.errors import InputError


class StitchedModel:
    """``model`` (windows of ``phrase_steps`` steps) run on windows ``phrases`` times as long.

    Parameters
    ----------
    model : sequence VAE
        A flat melody model (``encode``, ``decode``, ``teacher_forced_logits``) over ``phrase_steps`` steps.
    phrases : int, keyword-only
        Phrases per long window.
    phrase_steps : int, keyword-only
        Steps of one of the model's windows.
    z_dim : int, keyword-only
        The model's latent size; a stitched latent is ``phrases * z_dim`` wide (the phrases' latents in order).
    """

    def __init__(self, model, *, phrases: int, phrase_steps: int, z_dim: int) -> None:
        if phrases < 1 or phrase_steps < 1:
            raise InputError(f"a stitched model needs at least one phrase of at least one step, "
                             f"not {phrases} x {phrase_steps}")
        self.model, self.phrases, self.phrase_steps, self.phrase_z = model, phrases, phrase_steps, z_dim

    # The metrics put the model in eval mode and find its device through these.
    @property
    def training(self) -> bool:
        return self.model.training

    def parameters(self):
        return self.model.parameters()

    def eval(self) -> StitchedModel:
        self.model.eval()
        return self

    def train(self, mode: bool = True) -> StitchedModel:
        self.model.train(mode)
        return self

    @property
    def z_dim(self) -> int:
        return self.phrases * self.phrase_z

    def _phrases(self, events: Tensor) -> Tensor:
        """[B, phrases * phrase_steps] -> [B * phrases, phrase_steps] (each window's phrases in order)."""
        if events.shape[1] != self.phrases * self.phrase_steps:
            raise InputError(f"windows of {events.shape[1]} steps do not split into {self.phrases} phrases of "
                             f"{self.phrase_steps} steps")
        return events.reshape(-1, self.phrase_steps)

    def _latents(self, z: Tensor) -> Tensor:
        """[B, phrases * Z] -> [B * phrases, Z]."""
        return z.reshape(-1, self.phrase_z)

    def encode(self, events: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior of every phrase: mu, sigma [B, phrases * Z] (phrase-major)."""
        batch = events.shape[0]
        mu, sigma = self.model.encode(self._phrases(events))
        return mu.reshape(batch, -1), sigma.reshape(batch, -1)

    def decode(self, z: Tensor, *, temperature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """Events [B, phrases * phrase_steps]: each phrase decoded from its own latent, laid end to end."""
        batch = z.shape[0]
        return self.model.decode(self._latents(z), temperature=temperature, generator=generator).reshape(batch, -1)

    def teacher_forced_logits(self, z: Tensor, events: Tensor) -> Tensor:
        """Logits [B, phrases * phrase_steps, C], each phrase teacher-forced on its own tokens."""
        batch = events.shape[0]
        logits = self.model.teacher_forced_logits(self._latents(z), self._phrases(events))
        return logits.reshape(batch, events.shape[1], -1)
