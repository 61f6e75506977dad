"""The timbre kind's :class:`~musicvae.kinds.base.Verbs`: notes of audio in, notes of audio out.

The decoder is conditioned on the note: ``condition`` is a MIDI pitch (an int, or one per
latent), or a ``(pitch, velocity)`` pair. It decodes the mean spectrogram of a latent, so
``temperature`` has nothing to scale and must stay 0. A thin binding of :mod:`musicvae.blend`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from musicvae import blend
from musicvae.errors import InputError


def _note(condition: Any) -> tuple[Any, Any]:
    if condition is None:
        raise InputError("a timbre instrument decodes at a pitch: pass the MIDI pitch as the condition")
    if isinstance(condition, tuple):
        if len(condition) != 2:
            raise InputError("a timbre condition is a pitch or a (pitch, velocity) pair")
        return condition
    return condition, 100


def _no_temperature(temperature: float) -> None:
    if temperature != 0:
        raise InputError("a timbre decoder has no temperature (it decodes the mean spectrogram); use 0")


class TimbreVerbs:
    """Verbs of a timbre instrument; outputs are float32 audio notes [N, n_samples] at its sample rate."""

    def __init__(self, instrument) -> None:
        self.instrument = instrument.require_kind("timbre")

    def encode(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Notes [N, n_samples] -> posterior (mu, sigma), each [N, Z]."""
        return blend.encode(self.instrument, inputs)

    def decode(self, z: np.ndarray, condition: Any = None, *, temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Latents [N, Z] -> notes [N, n_samples] at the condition's pitch (and velocity)."""
        _no_temperature(temperature)
        pitch, velocity = _note(condition)
        return blend.decode(self.instrument, z, pitch, velocity)

    def sample(self, n: int, condition: Any = None, *, temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """``n`` prior samples -> notes [n, n_samples]."""
        if n < 1:
            raise InputError(f"-n must be at least 1, got {n}")
        generator = seed if isinstance(seed, torch.Generator) or seed is None else torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.instrument.config.model.z_dim, generator=generator).numpy()
        return self.decode(z, condition, temperature=temperature)

    def interpolate(self, a: np.ndarray, b: np.ndarray, condition: Any = None, *, steps: int = 5,
                    method: str = "slerp", temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Notes ``a`` and ``b`` [n_samples] -> the decoded path [steps, n_samples], A first, B last."""
        mu, _ = self.encode(np.stack([np.asarray(a), np.asarray(b)]))
        path = blend.interpolate(self.instrument, mu[0], mu[1], steps=steps, method=method)
        return self.decode(path, condition, temperature=temperature)
