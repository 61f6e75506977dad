"""Reading the notes of a MIDI file: the one reader every command that takes a MIDI melody goes through.

:func:`read_midi` opens a file and turns every way it can be bad (missing, a
folder, not MIDI, truncated or corrupt, no notes) into one line;
:func:`pitched_notes` takes its non-drum notes (a file of drum tracks only is
refused), in seconds, optionally held by the sustain pedal; :func:`read_melody`
does both. The same bad file therefore gets the same message from ``blend
--midi``, ``synth --midi-file``, ``morph``, ``live`` and ``harmonize``.

Polyphony is kept here: the timbre synth plays chords, and the melody codec
(:func:`musicvae.midi.melody.top_line`) and harmonize reduce to the top line on
their step grid, each with a warning. Pure functions of the file, no torch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from musicvae.errors import InputError

#: MIDI controller of the sustain pedal; values 64..127 are down.
SUSTAIN_CC = 64


@dataclass(frozen=True)
class MidiNote:
    """A note of a MIDI file: MIDI pitch and velocity, start and end in seconds."""

    pitch: int
    velocity: int
    start: float
    end: float


def read_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file, turning every way it can fail into a one-line :class:`InputError`.

    Raises
    ------
    InputError
        If the file is missing, is not a MIDI file, is truncated or corrupt, or holds no notes.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a MIDI file")
    try:
        with path.open("rb") as handle:
            header = handle.read(4)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    if header != b"MThd":
        raise InputError(f"{path}: not a MIDI file (it does not start with a MIDI header)")
    try:
        # pretty_midi warns about meta events on non-zero tracks, which is harmless for us.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            midi = pretty_midi.PrettyMIDI(str(path))
    except Exception:  # noqa: BLE001 - mido and pretty_midi raise many types (EOFError, OSError...) for one fault
        raise InputError(f"{path}: unreadable or truncated MIDI file") from None
    if not any(instrument.notes for instrument in midi.instruments):
        raise InputError(f"{path}: the MIDI file has no notes")
    return midi


def pitched_notes(midi: pretty_midi.PrettyMIDI, *, source: str | Path | None = None,
                  sustain: bool = False) -> list[MidiNote]:
    """The non-drum notes of every track, sorted by (start, pitch).

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI
    source : str or Path, optional, keyword-only
        The file's name, which starts error messages.
    sustain : bool, keyword-only
        Hold a note released while its track's sustain pedal (CC 64) is down until the pedal lifts,
        as a player hears it (a pedal never lifted holds to the end of the file). The step-grid
        codecs read key presses (``False``); the synth plays what sounds (``True``).

    Raises
    ------
    InputError
        If the file has notes on drum tracks only, or none at all.
    """
    prefix = f"{source}: " if source is not None else ""
    until = midi.get_end_time()
    notes: list[MidiNote] = []
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        spans = pedal_spans(instrument.control_changes, until=until) if sustain else []
        notes += [MidiNote(int(n.pitch), int(n.velocity), float(n.start), pedal_end(float(n.end), spans))
                  for n in instrument.notes]
    if not notes:
        if any(instrument.notes for instrument in midi.instruments):
            raise InputError(f"{prefix}only drum tracks: a melody needs pitched (non-drum) notes")
        raise InputError(f"{prefix}the MIDI file has no notes")
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def read_melody(path: str | Path, *, sustain: bool = True) -> list[MidiNote]:
    """The pitched notes of a MIDI file (:func:`read_midi`, then :func:`pitched_notes`), by onset.

    ``sustain`` (default on) applies the sustain pedal, for playing the file through an instrument.

    Raises
    ------
    InputError
        Missing, unreadable, truncated or empty file, or drum tracks only.
    """
    return pitched_notes(read_midi(path), source=path, sustain=sustain)


def pedal_spans(changes, *, until: float) -> list[tuple[float, float]]:
    """(down, up) seconds of each sustain-pedal press among pretty_midi control changes (64..127 is down).

    A pedal never lifted is held ``until`` (the end of the file).
    """
    spans, down = [], None
    for change in sorted((c for c in changes if c.number == SUSTAIN_CC), key=lambda c: c.time):
        if change.value >= 64 and down is None:
            down = change.time
        elif change.value < 64 and down is not None:
            spans.append((down, change.time))
            down = None
    if down is not None:
        spans.append((down, until))
    return spans


def pedal_end(end: float, spans: list[tuple[float, float]]) -> float:
    """A note released while the pedal is down sounds until the pedal lifts (or the note's own decay)."""
    for down, up in spans:
        if down <= end < up:
            return float(up)
    return end
