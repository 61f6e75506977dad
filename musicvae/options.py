"""Command-line option types: every value is checked as the command line is parsed, before any work.

Each type is an argparse ``type=`` callable that returns the parsed value or
raises :class:`argparse.ArgumentTypeError` with a message naming what was
expected, so that ``musicvae morph ... --bpm 0`` stops at once with one line:
``musicvae morph: error: argument --bpm: expected a number from 10 to 1000, got '0'``.
Counts have limits (:data:`MAX_STEPS`, :data:`MAX_SAMPLES`, ...) that keep a
command's memory and time bounded; outputs are checked for their extension and
for a folder they can be written in (:func:`musicvae.io.check_output`).

The types carry what they accept (``low``, ``high``, ``suffixes``...) so that
tests can walk every option of the real parser with hostile values.
Imports are light: the parser is built on every start.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from musicvae.errors import MusicVAEError

#: Outputs of a morph or blend, endpoints included.
MAX_STEPS = 101
#: Melodies one ``sample`` call decodes and writes.
MAX_SAMPLES = 1000
#: Rows of one piano-roll figure (``sample --plot``): a row is an inch tall, 101 take about 5 s to draw.
MAX_PLOT_ROWS = MAX_STEPS
#: Harmonisations one ``harmonize`` call decodes.
MAX_VARIATIONS = 32
#: Polyphony of the timbre synth and its offline renders.
MAX_VOICES = 64
#: Prior samples an evaluation decodes.
MAX_PRIOR = 10_000
#: Largest seed: numpy and torch both take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
#: Tempo range (quarter notes per minute).
MIN_BPM, MAX_BPM = 10.0, 1000.0
#: Decoding temperature range: logits / T; at 10 every class is close to equally likely.
MAX_TEMPERATURE = 10.0
#: Seconds a live command may be asked to run (a day).
MAX_DURATION = 86_400.0

#: Output formats by extension.
MIDI = ("MIDI", (".mid", ".midi"))
AUDIO = ("audio", (".wav", ".flac", ".ogg"))
MUSICXML = ("MusicXML", (".musicxml", ".xml", ".mxl"))
PNG = ("PNG", (".png",))


def _fail(expected: str, text: str):
    return argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


class Number:
    """A whole number (``integer=True``) or a finite number within ``low`` .. ``high``.

    ``low_open`` excludes ``low`` itself (``--duration`` above 0), ``high_open`` excludes ``high``
    (``--pickup`` under 4). ``None`` bounds are open-ended.
    """

    def __init__(self, low: float | None = None, high: float | None = None, *, integer: bool = False,
                 low_open: bool = False, high_open: bool = False) -> None:
        self.low, self.high, self.integer = low, high, integer
        self.low_open, self.high_open = low_open, high_open
        self.__name__ = "integer" if integer else "number"  # argparse names the type in some messages

    def describe(self) -> str:
        what = "a whole number" if self.integer else "a number"
        low, high = (None if b is None else f"{int(b)}" if self.integer else f"{b:g}" for b in (self.low, self.high))
        if low is not None and high is not None:
            start = f"above {low} and" if self.low_open else f"from {low} to"
            end = f"under {high}" if self.high_open else f"at most {high}" if self.low_open else high
            return f"{what} {start} {end}"
        if low is not None:
            return f"{what} above {low}" if self.low_open else f"{what} of at least {low}"
        if high is not None:
            return f"{what} under {high}" if self.high_open else f"{what} of at most {high}"
        return what

    def accepts(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __call__(self, text: str):
        raw = str(text).strip()
        try:
            value = int(raw) if self.integer else float(raw)
        except ValueError:
            raise _fail(self.describe(), str(text)) from None
        if not math.isfinite(value) or not self.accepts(value):
            raise _fail(self.describe(), str(text))
        return value


def integer(low: int | None = None, high: int | None = None) -> Number:
    """A whole number from ``low`` to ``high`` (inclusive)."""
    return Number(low, high, integer=True)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Number:
    """A finite number from ``low`` to ``high`` (either excluded with ``low_open``, ``high_open``)."""
    return Number(low, high, low_open=low_open, high_open=high_open)


SEED = integer(0, MAX_SEED)
BPM = number(MIN_BPM, MAX_BPM)
TEMPERATURE = number(0.0, MAX_TEMPERATURE)
DURATION = number(0.0, MAX_DURATION, low_open=True)
CONTROLLER = integer(0, 119)  # 120..127 are channel mode messages (all notes off...)
OSC_PORT = integer(0, 65535)  # 0 = any free port


class Text:
    """A non-empty string (a port, device or config name), returned stripped of nothing."""

    __name__ = "text"

    def __init__(self, what: str = "a name") -> None:
        self.what = what

    def __call__(self, text: str) -> str:
        if not str(text).strip():
            raise _fail(self.what, str(text))
        return str(text)


class KeyValue(Text):
    """``KEY=VALUE`` with a non-empty key (``train --set``); the value is checked against the config later."""

    def __init__(self) -> None:
        super().__init__("KEY=VALUE, e.g. model.z_dim=64")

    def __call__(self, text: str) -> str:
        key, sep, _ = str(text).partition("=")
        if not sep or not key.strip():
            raise _fail(self.what, str(text))
        return str(text)


class Morph(Text):
    """``--morph``: an amount 0..1 or an automation ``0:0,4:1`` (:func:`musicvae.automation.parse_morph`).

    Returns the text unchanged: the commands parse it again where they use it.
    """

    def __init__(self) -> None:
        super().__init__("a morph amount 0..1 or automation like 0:0,4:1")

    def __call__(self, text: str) -> str:
        from musicvae.automation import parse_morph

        try:
            parse_morph(text)
        except MusicVAEError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("--morph ")) from None
        return str(text)


class Corners(Text):
    """``blend --pad``: four comma-separated family names, the pad's corners ``a,b,c,d``; returns the list."""

    def __init__(self) -> None:
        super().__init__("four families a,b,c,d (the pad's corners), e.g. flute,guitar,string,brass")

    def __call__(self, text: str) -> list[str]:
        names = [name.strip() for name in str(text).split(",")]
        if len(names) != 4 or not all(names):
            raise _fail(self.what, str(text))
        return names


class Point(Text):
    """``blend --xy``: a point ``x,y`` on the pad, each from 0 to 1; returns ``(x, y)``."""

    def __init__(self) -> None:
        super().__init__("a point x,y on the pad, each from 0 to 1, e.g. 0.3,0.7")

    def __call__(self, text: str) -> tuple[float, float]:
        parts = str(text).split(",")
        try:
            x, y = (float(p) for p in parts)
        except ValueError:
            raise _fail(self.what, str(text)) from None
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):  # nan fails both comparisons
            raise _fail(self.what, str(text))
        return x, y


class Controllers(Text):
    """``synth --xy-cc``: two different controller numbers ``x,y`` (each 0..119); returns ``(x, y)``."""

    def __init__(self) -> None:
        super().__init__("two different controllers x,y, each 0..119, e.g. 1,2")

    def __call__(self, text: str) -> tuple[int, int]:
        try:
            x, y = (CONTROLLER(p) for p in str(text).split(","))
        except (ValueError, argparse.ArgumentTypeError):
            raise _fail(self.what, str(text)) from None
        if x == y:
            raise _fail(self.what, str(text))
        return x, y


class Devices(Text):
    """``train --devices``: ``auto``, a count of at least 1, or a comma-separated list of device indices."""

    def __init__(self) -> None:
        super().__init__("auto, a device count (1, 2, ...) or device indices like 0,1")

    def __call__(self, text: str) -> str:
        raw = str(text).strip()
        if raw == "auto" or (raw.isdigit() and 1 <= int(raw) <= 1024):
            return raw
        parts = [p.strip() for p in raw.split(",")]
        if "," in raw and all(p.isdigit() for p in parts) and len(set(parts)) == len(parts):
            return raw
        raise _fail(self.what, str(text))


#: Lightning's registered strategies (``lightning.pytorch.strategies.StrategyRegistry``), named here so that
#: parsing need not import Lightning (seconds); a name it does not know fails at once, not after a data build.
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "fsdp", "fsdp_cpu_offload", "deepspeed",
              "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload", "deepspeed_stage_3",
              "deepspeed_stage_3_offload", "deepspeed_stage_3_offload_nvme", "single_device", "single_tpu",
              "single_xla", "xla", "xla_debug",
              *(f"ddp{mode}_find_unused_parameters_{flag}" for mode in ("", "_spawn", "_fork", "_notebook")
                for flag in ("true", "false")))


class Strategy(Text):
    """``train --strategy``: a strategy name Lightning knows (:data:`STRATEGIES`)."""

    def __init__(self) -> None:
        super().__init__("auto or a Lightning strategy (ddp, ddp_spawn, ddp_fork, fsdp, deepspeed, single_device...)")

    def __call__(self, text: str) -> str:
        if str(text).strip() not in STRATEGIES:
            raise _fail(self.what, str(text))
        return str(text).strip()


class Output(Text):
    """An output file of one format (``MIDI``, ``AUDIO``, ``MUSICXML``, ``PNG``): its extension must say so,
    and the nearest existing folder must be writable (checked now, before any work; nothing is created).
    """

    def __init__(self, fmt: tuple[str, tuple[str, ...]]) -> None:
        self.format, self.suffixes = fmt
        super().__init__(f"a {self.format} file name ({', '.join(self.suffixes)})")

    def __call__(self, text: str) -> str:
        from musicvae.io import check_output

        raw = super().__call__(text)
        if Path(raw).suffix.lower() not in self.suffixes:
            raise argparse.ArgumentTypeError(
                f"{raw!r}: a {self.format} file name ends in {' or '.join(self.suffixes)}")
        try:
            check_output(raw)
        except MusicVAEError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return raw


class OutputFolder(Text):
    """An output folder: not a file, and under a writable folder (checked now; nothing is created)."""

    def __init__(self) -> None:
        super().__init__("a folder")

    def __call__(self, text: str) -> str:
        from musicvae.io import check_output

        raw = super().__call__(text)
        try:
            check_output(raw, folder=True)
        except MusicVAEError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return raw
