"""Monophonic melodies <-> MusicVAE's 90-class event sequences, and melody extraction from MIDI.

An event sequence has one integer per grid step (16 per 4/4 bar; a bar of another meter has its
share of the sixteenth grid, see :mod:`musicvae.midi.meter`: 3/4 and 6/8 are 12 steps):

- ``NO_EVENT`` (0): nothing happens; the sounding note is held, or a rest continues;
- ``NOTE_OFF`` (1): the sounding note stops;
- ``FIRST_PITCH_CLASS`` + (pitch - min_pitch) (2..89): a new note starts (and ends the previous one).

Notes live on the same grid as :class:`StepNote` (start and end in steps, end
exclusive). Everything here is a pure function of its arguments; pitch range
and grid come in as plain ints (see :class:`musicvae.config.MelodyRepresentation`)
so that this module never imports the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pretty_midi

from musicvae.errors import InputError, MeterError
from musicvae.midi.meter import DEFAULT_METER, bar_quarters, meter_name, parse_meter, taken_meters, takes
from musicvae.midi.reader import pitched_notes, read_midi

NO_EVENT = 0
NOTE_OFF = 1
FIRST_PITCH_CLASS = 2

#: An overlap of at most this many steps between consecutive notes is legato, not polyphony.
_LEGATO_STEPS = 1
#: Onsets further than this (in steps) from the grid count as "off the grid" in warnings.
_OFF_GRID_TOLERANCE = 0.1


@dataclass(frozen=True)
class StepNote:
    """A note on the step grid: ``start`` and ``end`` are step indices, ``end`` exclusive."""

    pitch: int
    start: int
    end: int
    velocity: int = 80


# ---------------------------------------------------------------------------
# MIDI files -> step notes (files are read and checked by musicvae.midi.reader; read_midi is re-exported here)
# ---------------------------------------------------------------------------


def quarter_positions(midi: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Quarter-note positions of ``times`` (seconds), following the file's tempo map exactly.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI
    times : np.ndarray of float, shape [N]

    Returns
    -------
    np.ndarray of float, shape [N]
    """
    change_times, tempi = midi.get_tempo_changes()
    if len(change_times) == 0:
        change_times, tempi = np.zeros(1), np.full(1, 120.0)
    # Quarter position of each tempo change: integrate the piecewise-constant tempo.
    change_quarters = np.concatenate([[0.0], np.cumsum(np.diff(change_times) * tempi[:-1] / 60.0)])
    index = np.clip(np.searchsorted(change_times, times, side="right") - 1, 0, None)
    return change_quarters[index] + (times - change_times[index]) * tempi[index] / 60.0


def meter_sections(midi: pretty_midi.PrettyMIDI) -> list[tuple[float, tuple[int, int]]]:
    """The file's meters: (quarter position, (n, d)) where each starts, in order; repeats merged.

    Where two time signatures share a time the later one counts; none at all is ``[]``.
    """
    signatures = sorted(midi.time_signature_changes, key=lambda s: s.time)
    if not signatures:
        return []
    quarters = quarter_positions(midi, np.array([s.time for s in signatures], dtype=float))
    at: dict[float, tuple[int, int]] = {}
    for quarter, signature in zip(quarters.tolist(), signatures):
        at[round(quarter, 6)] = (signature.numerator, signature.denominator)
    sections: list[tuple[float, tuple[int, int]]] = []
    for quarter, meter in sorted(at.items()):
        if not sections or sections[-1][1] != meter:
            sections.append((quarter, meter))
    return sections


@dataclass(frozen=True)
class BarPlan:
    """Where a file's bars fall on a model's grid: ``shift`` quarters added to every time, and the
    quarter where the usable first section ends (None: the whole file)."""

    shift: float = 0.0
    end: float | None = None
    warnings: tuple[str, ...] = ()


def bar_plan(sections: list[tuple[float, tuple[int, int]]], *, meter: str = DEFAULT_METER,
             pair_two_four: bool = False, source: str | Path | None = None) -> BarPlan:
    """Align a file's bars with a model's bars of ``meter``, or say why its meter does not fit.

    - A first section exactly one bar long and shorter than a bar of the next meter is a pickup:
      the bar line after it goes onto a model bar line (the pickup ends the first, padded bar).
    - The meter after any pickup must be one the model takes (:func:`musicvae.midi.meter.takes`).
    - A later change to a bar of another length (or to a meter the model does not take) ends the
      usable part: the first section is used, with a warning naming the bar (counted from 1).

    Raises
    ------
    MeterError
        If the first section's meter is not one the model takes.
    """
    prefix = f"{source}: " if source is not None else ""
    if not sections:
        return BarPlan()
    model_bar = float(bar_quarters(meter))
    main, pickup = sections, False
    if len(sections) >= 2:
        (q0, m0), (q1, m1) = sections[0], sections[1]
        length = q1 - q0
        if 0 < length < float(bar_quarters(m1)) and abs(length - float(bar_quarters(m0))) < 1e-6:
            main, pickup = sections[1:], True
    first_q, first_m = main[0]
    if not takes(meter, first_m, pair_two_four=pair_two_four):
        name = meter_name(first_m)
        raise MeterError(f"{prefix}{name} input: this instrument takes {taken_meters(meter)}", meter=name)
    shift = (-first_q) % model_bar
    tune_bar = float(bar_quarters(first_m))
    for quarter, other in main[1:]:
        if float(bar_quarters(other)) == tune_bar and takes(meter, other, pair_two_four=pair_two_four):
            continue  # 4/4 to 2/2: the same bars
        bar = round((quarter - first_q) / tune_bar) + 1 + pickup
        message = (f"meter changes from {meter_name(first_m)} to {meter_name(other)} at bar {bar}: "
                   f"using the first section, bars 1-{bar - 1}")
        return BarPlan(shift=shift, end=quarter, warnings=(message,))
    return BarPlan(shift=shift)


def midi_to_step_notes(
    midi: pretty_midi.PrettyMIDI,
    *,
    steps_per_bar: int = 16,
    meter: str = DEFAULT_METER,
    pair_two_four: bool = False,
    source: str | Path | None = None,
) -> tuple[list[StepNote], list[str]]:
    """Quantise the pitched notes of a MIDI file to the step grid.

    Bars are aligned to time 0 (MIDI files start on a bar line), or to the bar
    line after a pickup bar (see :func:`bar_plan`). Onsets and offsets are
    converted to quarter notes through the file's tempo map, so tempo and tempo
    changes do not change the result, then rounded to the grid; a note is at
    least one step long.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI
    steps_per_bar : int, keyword-only
        Grid steps per bar of ``meter``.
    meter : str, keyword-only
        The model's meter (``n/d``); the file's time signatures must be one it takes.
    pair_two_four : bool, keyword-only
        A 4/4 model takes 2/4 input, two bars to one of its bars.
    source : str or Path, optional, keyword-only
        The file's name, which starts error messages.

    Returns
    -------
    notes : list of StepNote
        Notes of every non-drum instrument, sorted by (start, -pitch); possibly polyphonic.
    warnings : list of str
        Human-readable remarks (e.g. how many onsets were off the grid, a meter change).

    Raises
    ------
    MeterError
        If the file's meter is not one ``meter`` takes.
    InputError
        If there are no pitched notes.
    """
    plan = bar_plan(meter_sections(midi), meter=meter, pair_two_four=pair_two_four, source=source)
    pitched = pitched_notes(midi, source=source)  # key presses: the pedal is not applied on the grid
    steps_per_quarter = steps_per_bar / float(bar_quarters(meter))
    onsets = quarter_positions(midi, np.array([n.start for n in pitched]))
    offsets = quarter_positions(midi, np.array([n.end for n in pitched]))
    if plan.end is not None:
        inside = onsets < plan.end - 1e-6
        pitched = [n for n, keep in zip(pitched, inside.tolist()) if keep]
        onsets, offsets = onsets[inside], np.minimum(offsets[inside], plan.end)
    starts = (onsets + plan.shift) * steps_per_quarter
    ends = (offsets + plan.shift) * steps_per_quarter
    start_steps = np.rint(starts).astype(np.int64)
    end_steps = np.maximum(np.rint(ends).astype(np.int64), start_steps + 1)
    notes = [
        StepNote(int(n.pitch), int(s), int(e), int(n.velocity))
        for n, s, e in zip(pitched, start_steps.tolist(), end_steps.tolist())
    ]
    notes.sort(key=lambda n: (n.start, -n.pitch, n.end))
    messages = list(plan.warnings)
    off_grid = int(np.count_nonzero(np.abs(starts - start_steps) > _OFF_GRID_TOLERANCE))
    if off_grid:
        messages.append(f"{off_grid} of {len(notes)} note onsets were off the {steps_per_bar}-steps-per-bar grid")
    if not notes:
        raise InputError(f"{'' if source is None else f'{source}: '}no notes in the first section")
    return notes, messages


def top_line(notes: list[StepNote]) -> tuple[list[StepNote], bool]:
    """Skyline reduction of possibly polyphonic notes to one melody.

    At each onset the highest starting note wins; a note starting under a
    higher note that is still sounding is dropped; a melody note is cut where
    the next melody note starts. Overlaps of at most one step count as legato.

    Returns
    -------
    line : list of StepNote
        Monophonic notes sorted by start.
    polyphonic : bool
        Whether any note was dropped or cut by more than the legato tolerance.
    """
    line: list[StepNote] = []
    polyphonic = False
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch, -n.end)):
        if line:
            previous = line[-1]
            if note.start == previous.start:
                polyphonic = polyphonic or note.pitch != previous.pitch
                continue
            overlap = previous.end - note.start
            if overlap > _LEGATO_STEPS:
                polyphonic = polyphonic or note.pitch != previous.pitch
                if previous.pitch >= note.pitch:
                    continue  # under a sustained upper note
            if overlap > 0:
                line[-1] = replace(previous, end=note.start)
        line.append(note)
    return line, polyphonic


def clip_range(notes: list[StepNote], *, min_pitch: int = 21, max_pitch: int = 108) -> tuple[list[StepNote], int]:
    """Drop notes outside ``min_pitch..max_pitch`` (inclusive); return the kept notes and how many were dropped."""
    kept = [n for n in notes if min_pitch <= n.pitch <= max_pitch]
    return kept, len(notes) - len(kept)


def split_melodies(notes: list[StepNote], *, steps_per_bar: int = 16, gap_bars: int = 1) -> list[list[StepNote]]:
    """Cut a monophonic line into melodies wherever at least ``gap_bars`` bars of silence follow a note.

    This is MusicVAE's melody extraction rule: a melody ends after one silent bar.
    """
    gap = gap_bars * steps_per_bar
    melodies: list[list[StepNote]] = []
    current: list[StepNote] = []
    end = 0
    for note in sorted(notes, key=lambda n: n.start):
        if current and note.start - end >= gap:
            melodies.append(current)
            current = []
        end = max(end, note.end) if current else note.end
        current.append(note)
    if current:
        melodies.append(current)
    return melodies


# ---------------------------------------------------------------------------
# Step notes <-> events
# ---------------------------------------------------------------------------


def encode(
    notes: list[StepNote], *, num_steps: int, start_step: int = 0, min_pitch: int = 21, max_pitch: int = 108
) -> np.ndarray:
    """Encode monophonic notes as an event sequence.

    Only notes starting inside ``[start_step, start_step + num_steps)`` are
    written; a note is cut where the next one starts (its onset replaces the
    note-off), and at equal onsets the highest note is kept.

    Returns
    -------
    events : np.ndarray, int64, shape [num_steps]

    Raises
    ------
    InputError
        If a note lies outside ``min_pitch..max_pitch`` (use :func:`clip_range` first).
    """
    events = np.zeros(num_steps, dtype=np.int64)
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    for i, note in enumerate(ordered):
        if not min_pitch <= note.pitch <= max_pitch:
            raise InputError(f"pitch {note.pitch} is outside the range {min_pitch}..{max_pitch}")
        if i and ordered[i - 1].start == note.start:
            continue
        start = note.start - start_step
        end = note.end - start_step
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1].start - start_step)
        if start < 0 or start >= num_steps or end <= start:
            continue
        events[start] = note.pitch - min_pitch + FIRST_PITCH_CLASS
        if end < num_steps:
            events[end] = NOTE_OFF  # a following onset at this step overwrites it
    return events


def decode(events: np.ndarray, *, min_pitch: int = 21, velocity: int = 80) -> list[StepNote]:
    """Notes of an event sequence (steps relative to its start).

    A note ends at the next note-off or onset; a final note without a note-off
    ends at the end of the sequence.

    Parameters
    ----------
    events : array-like of int, shape [T]
    """
    notes: list[StepNote] = []
    pitch, start = -1, 0
    values = np.asarray(events).tolist()
    for step, value in enumerate(values):
        if value == NO_EVENT:
            continue
        if value < 0:
            raise InputError(f"invalid melody event {value} at step {step}")
        if pitch >= 0:
            notes.append(StepNote(pitch, start, step, velocity))
            pitch = -1
        if value >= FIRST_PITCH_CLASS:
            pitch, start = value - FIRST_PITCH_CLASS + min_pitch, step
    if pitch >= 0:
        notes.append(StepNote(pitch, start, len(values), velocity))
    return notes


def silent_windows(*tunes: np.ndarray) -> np.ndarray:
    """[K] bool: the windows with no note in any of ``tunes`` (each event windows [K, T]).

    A whole-tune morph keeps such a window silent at every blend amount: a latent mixed from two rests
    would decode to whatever the model dreams there.
    """
    sounding = np.zeros(len(tunes[0]), dtype=bool)
    for events in tunes:
        sounding |= (np.asarray(events) >= FIRST_PITCH_CLASS).any(axis=1)
    return ~sounding


def melody_start_bar(notes: list[StepNote], *, steps_per_bar: int = 16) -> int:
    """Index of the bar containing the first onset (where :func:`melody_events` starts)."""
    if not notes:
        raise InputError("no notes")
    return min(n.start for n in notes) // steps_per_bar


def melody_events(
    notes: list[StepNote], *, steps_per_bar: int = 16, min_pitch: int = 21, max_pitch: int = 108
) -> np.ndarray:
    """Encode a whole melody from the bar of its first onset to the bar line after its last note.

    The start bar is :func:`melody_start_bar`.

    Returns
    -------
    events : np.ndarray, int64, shape [bars * steps_per_bar]
    """
    first = melody_start_bar(notes, steps_per_bar=steps_per_bar) * steps_per_bar
    last = max(n.end for n in notes)
    num_steps = math.ceil(last / steps_per_bar) * steps_per_bar - first
    return encode(notes, num_steps=num_steps, start_step=first, min_pitch=min_pitch, max_pitch=max_pitch)


# ---------------------------------------------------------------------------
# Events <-> MIDI files
# ---------------------------------------------------------------------------


def events_to_midi(
    events: np.ndarray,
    *,
    qpm: float = 120.0,
    steps_per_bar: int = 16,
    meter: str = DEFAULT_METER,
    min_pitch: int = 21,
    program: int = 0,
    velocity: int = 80,
) -> pretty_midi.PrettyMIDI:
    """A one-track MIDI file in ``meter`` of one sequence [T], or of K sequences [K, T] played one after another.

    ``qpm`` counts quarter notes a minute in every meter. The file lasts to the
    bar line after the last step (a sustain-off control change marks it, since
    a MIDI file otherwise ends at its last note-off).
    """
    events = np.asarray(events)
    if events.ndim == 1:
        events = events[None, :]
    if events.ndim != 2:
        raise InputError(f"expected events of shape [T] or [K, T], got shape {list(events.shape)}")
    step_seconds = 60.0 / qpm * float(bar_quarters(meter)) / steps_per_bar
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*parse_meter(meter), 0.0))
    instrument = pretty_midi.Instrument(program=program, name="melody")
    length = events.shape[1]
    for k, sequence in enumerate(events):
        for note in decode(sequence, min_pitch=min_pitch, velocity=velocity):
            start, end = (k * length + note.start) * step_seconds, (k * length + note.end) * step_seconds
            instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=note.pitch, start=start, end=end))
    total_steps = math.ceil(events.size / steps_per_bar) * steps_per_bar
    instrument.control_changes.append(pretty_midi.ControlChange(number=64, value=0, time=total_steps * step_seconds))
    midi.instruments.append(instrument)
    return midi


def midi_file_events(
    path: str | Path,
    *,
    steps_per_bar: int = 16,
    meter: str = DEFAULT_METER,
    pair_two_four: bool = False,
    min_pitch: int = 21,
    max_pitch: int = 108,
) -> tuple[np.ndarray, list[str]]:
    """A MIDI file's melody as one event sequence from step 0, padded to a bar line.

    read -> quantise -> top line (warns if the input was polyphonic) -> drop
    out-of-range notes (warns with the count) -> encode.

    Returns
    -------
    events : np.ndarray, int64, shape [bars * steps_per_bar]
    warnings : list of str

    Raises
    ------
    MeterError
        For a meter ``meter`` does not take (see :func:`midi_to_step_notes`).
    InputError
        For unreadable files, drums only, or when no note in range remains.
    """
    notes, messages = midi_to_step_notes(read_midi(path), steps_per_bar=steps_per_bar, meter=meter,
                                         pair_two_four=pair_two_four, source=path)
    line, polyphonic = top_line(notes)
    if polyphonic:
        messages.append("polyphonic input: using its top line")
    kept, dropped = clip_range(line, min_pitch=min_pitch, max_pitch=max_pitch)
    if dropped:
        messages.append(f"{dropped} notes outside MIDI pitch {min_pitch}..{max_pitch} dropped")
    if not kept:
        raise InputError(f"{path}: no notes left within MIDI pitch {min_pitch}..{max_pitch}")
    num_steps = math.ceil(max(n.end for n in kept) / steps_per_bar) * steps_per_bar
    events = encode(kept, num_steps=num_steps, min_pitch=min_pitch, max_pitch=max_pitch)
    return events, messages
