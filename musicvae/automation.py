"""Morph automation: an amount, or a curve of (seconds, amount) points, as written on the command line.

``--morph 0.3`` or ``--morph 0:0,4:1``: the offline renderers sample it per note
or per block, the live commands play it from their start
(:class:`musicvae.realtime.control.MorphAutomation`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from musicvae.errors import InputError


@dataclass(frozen=True)
class MorphCurve:
    """A morph amount as a function of seconds: linear between points, held before the first and after the last.

    Attributes
    ----------
    times, amounts : tuple of float
        The points, by time; one point is a constant amount.
    """

    times: tuple[float, ...]
    amounts: tuple[float, ...]

    def __call__(self, t: float) -> float:
        return float(np.interp(t, self.times, self.amounts))

    @property
    def end(self) -> float:
        """Seconds after which the amount no longer changes (0 for a constant)."""
        return self.times[-1]

    @property
    def constant(self) -> bool:
        return len(self.times) == 1


def parse_morph(text: str | float) -> MorphCurve:
    """A morph amount (``"0.3"``) or automation (``"0:0,4:1"``, seconds:amount) as a :class:`MorphCurve`.

    Raises
    ------
    InputError
        On malformed text, or amounts outside 0..1.
    """
    raw = str(text).strip()
    if re.fullmatch(r"[-+]?\d*\.?\d+(e[-+]?\d+)?", raw, flags=re.IGNORECASE):
        amount = float(raw)
        if not 0.0 <= amount <= 1.0:
            raise InputError(f"--morph must lie in 0..1, got {raw}")
        return MorphCurve((0.0,), (amount,))
    points = []
    for part in raw.split(","):
        match = re.fullmatch(r"\s*(\d*\.?\d+)\s*:\s*(\d*\.?\d+)\s*", part)
        if not match:
            raise InputError(f"--morph {raw!r}: expected an amount like 0.3 or automation like 0:0,4:1 "
                             "(seconds:amount)")
        points.append((float(match.group(1)), float(match.group(2))))
    times, amounts = zip(*sorted(points))
    if any(not 0.0 <= a <= 1.0 for a in amounts):
        raise InputError(f"--morph {raw!r}: amounts must lie in 0..1")
    return MorphCurve(tuple(times), tuple(amounts))
