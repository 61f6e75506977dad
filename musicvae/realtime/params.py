"""The parameter snapshot that controls write and engines read.

Controls (MIDI CC, OSC) run on their own threads; engines read on the clock or
audio thread. Writers replace an immutable :class:`Params` under a lock;
readers take the current reference without locking (one attribute read is
atomic in CPython), so a reader never waits and a flood of writes only
overwrites the snapshot.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Params:
    """What the performer controls.

    Attributes
    ----------
    morph : float
        0 = A (melody A, or the source timbre), 1 = B.
    temperature : float
        Decoding temperature (0 = argmax), >= 0.
    x, y : float
        The point on a four-corner pad (``synth --pad``), each 0..1: x from the left corners to the right,
        y from the bottom row to the top (:func:`musicvae.blend.pad_latent`).
    """

    morph: float = 0.0
    temperature: float = 0.0
    x: float = 0.5
    y: float = 0.5


#: Upper bound of the temperature a control may set (logits / T beyond this is noise).
MAX_TEMPERATURE = 4.0


class ParamStore:
    """Thread-safe holder of the current :class:`Params`; ``version`` counts accepted updates."""

    def __init__(self, initial: Params | None = None) -> None:
        self._params = initial or Params()
        self._lock = threading.Lock()
        self.version = 0

    @property
    def snapshot(self) -> Params:
        """The current parameters (an immutable object: hold it as long as needed)."""
        return self._params

    def update(self, *, morph: float | None = None, temperature: float | None = None, x: float | None = None,
               y: float | None = None, expect_version: int | None = None) -> bool:
        """Replace the given fields; values are clamped to their range. Non-finite values are refused.

        ``x`` and ``y`` given together change in one update: a reader never sees half of a pad move.

        With ``expect_version``, the update is refused unless no other update came since that
        version (compare and set: an automation yields to a performer's control, see
        :class:`~musicvae.realtime.control.MorphAutomation`).

        Returns
        -------
        bool
            Whether the update was accepted.
        """
        changes = {}
        for name, value in (("morph", morph), ("x", x), ("y", y)):
            if value is not None:
                if not math.isfinite(value):
                    return False
                changes[name] = min(1.0, max(0.0, float(value)))
        if temperature is not None:
            if not math.isfinite(temperature):
                return False
            changes["temperature"] = min(MAX_TEMPERATURE, max(0.0, float(temperature)))
        if not changes:
            return False
        with self._lock:
            if expect_version is not None and expect_version != self.version:
                return False
            self._params = replace(self._params, **changes)
            self.version += 1
        return True
