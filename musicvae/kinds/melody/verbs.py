"""The melody kind's :class:`~musicvae.kinds.base.Verbs`: event windows in, event windows out.

A thin binding of :mod:`musicvae.generate` (the functions users call) to one instrument,
so that code written for any kind (the live player, exports) calls the same methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicvae import generate
from musicvae.errors import InputError


class MelodyVerbs:
    """Verbs of a melody instrument; outputs are int64 event windows [N, T] (MusicVAE's classes).

    Melody decoders take no condition: passing one is an error.
    """

    def __init__(self, instrument) -> None:
        self.instrument = instrument.require_kind("melody")

    @staticmethod
    def _no_condition(condition: Any) -> None:
        if condition is not None:
            raise InputError("a melody instrument takes no decoding condition")

    def encode(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event windows [N, T] -> posterior (mu, sigma), each [N, Z]."""
        return generate.encode(self.instrument, inputs)

    def decode(self, z: np.ndarray, condition: Any = None, *, temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Latents [N, Z] -> event windows [N, T]."""
        self._no_condition(condition)
        return generate.decode(self.instrument, z, temperature=temperature, seed=seed)

    def sample(self, n: int, condition: Any = None, *, temperature: float = generate.DEFAULT_TEMPERATURE,
               seed: Any = None) -> np.ndarray:
        """``n`` prior samples -> event windows [n, T]."""
        self._no_condition(condition)
        return generate.sample(self.instrument, n=n, temperature=temperature, seed=seed)

    def interpolate(self, a: np.ndarray, b: np.ndarray, condition: Any = None, *, steps: int = 5,
                    method: str = "slerp", temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """Windows ``a`` and ``b`` [T] -> the decoded path [steps, T], A first, B last."""
        self._no_condition(condition)
        return generate.interpolate(self.instrument, a, b, steps=steps, method=method, temperature=temperature,
                                    seed=seed)
