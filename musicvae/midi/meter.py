"""Meters on the sixteenth-note grid: how many steps a bar of ``n/d`` holds, and which bars a model takes.

A melody model is trained on bars of one meter; its bar length in steps comes
from the meter and the grid (16 steps to a 4/4 bar): 4/4 is 16 steps, 2/4 8,
3/4 12, 6/8 12, 7/8 14, 5/4 20. Any ``n/d`` whose bar is a whole number of
steps fits (``d`` of 1, 2, 4, 8 or 16 on the sixteenth grid). Two meters with
the same bar length are still different meters (3/4 is not 6/8): a model
takes the meter it was trained on, except that a 4-quarter model takes every
``n/n`` (4/4, 2/2, C, C|) and, where asked, 2/4 bars paired two to a bar.

Pure functions of strings and ints; no config, no torch.
"""

from __future__ import annotations

import re
from fractions import Fraction

from musicvae.errors import InputError

#: The meter every model has when its config names none (MusicVAE's).
DEFAULT_METER = "4/4"
#: Grid steps of a 4/4 bar: the sixteenth-note grid.
STEPS_PER_WHOLE_BAR = 16
#: ABC's meter symbols.
_SYMBOLS = {"C": (4, 4), "C|": (2, 2)}


def parse_meter(text: str) -> tuple[int, int]:
    """``"3/4"`` -> (3, 4); ``"C"`` -> (4, 4), ``"C|"`` -> (2, 2).

    Raises
    ------
    InputError
        For anything else (``"3-4"``, ``"0/4"``, ``"free"``).
    """
    text = str(text).strip().replace(" ", "")
    if text in _SYMBOLS:
        return _SYMBOLS[text]
    match = re.fullmatch(r"(\d{1,3})/(\d{1,3})", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise InputError(f"meter {text!r} is not n/d (e.g. 4/4, 3/4, 6/8)")
    return int(match.group(1)), int(match.group(2))


def meter_name(meter: str | tuple[int, int]) -> str:
    """The ``n/d`` form of a meter (``"C"`` -> ``"4/4"``)."""
    n, d = parse_meter(meter) if isinstance(meter, str) else meter
    return f"{n}/{d}"


def bar_quarters(meter: str | tuple[int, int]) -> Fraction:
    """Quarter notes in one bar (3/4 -> 3, 6/8 -> 3, 7/8 -> 7/2)."""
    n, d = parse_meter(meter) if isinstance(meter, str) else meter
    return Fraction(4 * n, d)


def bar_steps(meter: str | tuple[int, int], *, steps_per_whole_bar: int = STEPS_PER_WHOLE_BAR) -> int:
    """Grid steps in one bar of ``meter`` when a 4/4 bar holds ``steps_per_whole_bar`` (16: sixteenths).

    Raises
    ------
    InputError
        If the bar is not a whole number of steps (3/16 on an eighth-note grid, 5/32 on the sixteenth grid).
    """
    steps = bar_quarters(meter) * Fraction(steps_per_whole_bar, 4)
    if steps.denominator != 1 or steps < 1:
        raise InputError(f"a {meter_name(meter)} bar is {float(steps):g} steps of the "
                         f"{steps_per_whole_bar}-steps-per-4/4-bar grid, not a whole number")
    return int(steps)


def takes(model_meter: str, input_meter: str | tuple[int, int], *, pair_two_four: bool = False) -> bool:
    """Whether a model trained on ``model_meter`` bars takes input in ``input_meter``.

    The same ``n/d``; for a 4/4 model every ``n/n`` (2/2, C|: the same four quarters), and 2/4
    with ``pair_two_four`` (two 2/4 bars make one 4/4 bar).
    """
    want, have = parse_meter(model_meter), parse_meter(input_meter) if isinstance(input_meter, str) else input_meter
    if have == want:
        return True
    if want == (4, 4):
        return have[0] == have[1] or (pair_two_four and have == (2, 4))
    return False


def taken_meters(model_meter: str) -> str:
    """What a model of ``model_meter`` takes, in words: ``"4/4 bars (also 2/2, and 2/4 two bars to one)"``."""
    name = meter_name(model_meter)
    return f"{name} bars" + (" (also 2/2, and 2/4 two bars to one)" if parse_meter(name) == (4, 4) else "")
