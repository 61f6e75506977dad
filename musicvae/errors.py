"""The one exception hierarchy users see.

Every error a user can cause derives from :class:`MusicVAEError`. The CLI prints
``str(error)`` on one line and exits with :attr:`MusicVAEError.exit_code`
(2 for bad input), never a traceback unless ``--debug`` is given.
"""

from __future__ import annotations


class MusicVAEError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 2


class ConfigError(MusicVAEError):
    """An unknown config name or key, a value of the wrong type, or an invalid combination."""


class InputError(MusicVAEError):
    """A user-supplied file or value that cannot be used (bad MIDI, no usable window...)."""


class NoWindowError(InputError):
    """A MIDI input yields no window of the length the model needs."""


class MeterError(InputError):
    """An input in a meter the model does not take; ``meter`` is its ``n/d``."""

    def __init__(self, message: str, *, meter: str) -> None:
        super().__init__(message)
        self.meter = meter


class DataError(MusicVAEError):
    """A dataset recipe or cache that cannot be built or read."""


class InstrumentError(MusicVAEError):
    """An instrument folder that is missing, incomplete, of the wrong kind, or whose weights do not fit."""


class OutputError(MusicVAEError):
    """An output path that cannot be written."""


class SystemDependencyError(MusicVAEError):
    """A system library or service (FluidSynth, ALSA, JACK) that is missing; the message says what to install."""

    exit_code = 3
