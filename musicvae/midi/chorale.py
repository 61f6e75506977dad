"""Four-part chorales (soprano, alto, tenor, bass) <-> per-voice one-hot-with-hold token grids.

A chorale lives on a grid of 16 steps per 4/4 bar, as two arrays:

- ``pitches`` [4, T] int16: the sounding MIDI pitch of each voice at each step, -1 for a rest;
- ``onsets`` [4, T] bool: True where a note starts (so that repeated notes stay distinct).

For the model each voice becomes one token per step over its own written range
(MiniBach's one-hot with a hold symbol, plus a rest symbol):

- ``HOLD`` (0): the note sounding at the previous step goes on (a hold after a rest is a rest);
- ``REST`` (1): silence (every step of a rest is ``REST``; rests need no hold);
- ``FIRST_PITCH`` + (pitch - low) (2..): a note of that pitch starts.

Grid step 0 is the first *bar line*: a pickup is preceded by rests that fill its
bar (the pickup measure's padding), so that every bar starts at a multiple of
16 steps. Everything here is a pure function of its arguments, without torch;
music21 is imported only by the functions that read scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.errors import InputError

VOICES = ("soprano", "alto", "tenor", "bass")
#: Written ranges of Bach's chorale voices (inclusive MIDI pitches), S, A, T, B: the one definition of
#: the default ranges (``ChoraleRepresentation``'s defaults are these; an instrument may set its own).
VOICE_RANGES: tuple[tuple[int, int], ...] = ((57, 81), (53, 74), (48, 69), (36, 64))

#: The token layout of every voice (the one definition; the accompanist's config, data,
#: training, model and decoding import these): hold, rest, then one token per pitch of its range.
HOLD = 0
REST = 1
FIRST_PITCH = 2

#: Phrase tokens, one a step: where the step lies in its phrase, a chorale net's input beside the soprano.
#: Bach's phrases end on the soprano's fermatas; a melody without them (a MIDI file) is all ``PHRASE_UNKNOWN``.
PHRASE_UNKNOWN = 0
#: The soprano holds a fermata: the phrase's last chord.
PHRASE_FERMATA = 1
#: Steps to the next fermata, bucketed: 1-4 -> 2, 5-8 -> 3, 9-16 -> 4, 17-32 -> 5, farther (or none ahead) -> 6.
PHRASE_BUCKETS = (4, 8, 16, 32)
PHRASE_CLASSES = 2 + len(PHRASE_BUCKETS) + 1

#: Chorales left out of the corpus on purpose: bwv27.6 has five voices (two sopranos).
EXCLUDED_CHORALES = ("bach/bwv27.6",)
#: An onset further than this (in steps) from the grid counts as "off the grid".
_OFF_GRID_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ChoraleGrid:
    """A chorale (or a harmonised melody) on the step grid.

    Attributes
    ----------
    pitches : np.ndarray [V, T] int16
        Sounding MIDI pitch per voice and step, -1 for a rest.
    onsets : np.ndarray [V, T] bool
        True where a note starts.
    pickup_steps : int
        Rest steps added before the first note so that step 0 is a bar line.
    off_grid : int
        Notes whose onset was moved to the grid (an end moved to it is articulation, not counted).
    fermatas : tuple of int
        Steps where a soprano note with a fermata starts (the phrase ends); empty when none are known.
    """

    pitches: np.ndarray
    onsets: np.ndarray
    pickup_steps: int = 0
    off_grid: int = 0
    fermatas: tuple[int, ...] = ()

    @property
    def steps(self) -> int:
        return self.pitches.shape[-1]


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------


def bach_chorale_ids() -> list[str]:
    """The unique corpus names behind music21's 371 Riemenschneider chorales, sorted (350 files).

    Several Riemenschneider numbers point at the same file, so the split is by
    file: ``bach/bwv267`` appears once however often it is numbered.
    """
    from music21.corpus import chorales

    names = chorales.Iterator(numberingSystem="riemenschneider", returnType="filename")
    return sorted(set(names))


def parse_corpus_chorale(piece_id: str):
    """Parse ``bach/bwvNNN`` from music21's corpus into a Score (music21 caches the parse)."""
    from music21 import corpus

    return corpus.parse(piece_id)


def _part_name(part) -> str:
    return str(part.partName or part.id or "").strip().lower()


def find_voices(score) -> list:
    """The soprano, alto, tenor and bass parts of a score, in that order.

    Matching is by part name: an exact name first (``Soprano``), then a name
    starting with the voice (``Soprano Oboe 1 Violin1`` in bwv41.6, which names
    voices with the instruments doubling them). Scores whose parts carry no voice
    names (three Humdrum files name them ``spine_*``) fall back to score order
    when they have exactly four parts.

    Raises
    ------
    InputError
        When a voice is missing or named twice (bwv27.6 has two sopranos).
    """
    parts = list(score.parts)
    names = [_part_name(p) for p in parts]
    found = []
    for voice in VOICES:
        exact = [p for p, n in zip(parts, names) if n == voice]
        prefix = [p for p, n in zip(parts, names) if n.split(" ")[0] == voice or n.startswith(voice)]
        candidates = exact or prefix
        if len(candidates) > 1:
            raise InputError(f"{len(candidates)} parts are named {voice} (not a four-voice chorale)")
        found.append(candidates[0] if candidates else None)
    if all(p is not None for p in found):
        return found
    if not any(p is not None for p in found) and len(parts) == 4:
        return parts
    missing = [v for v, p in zip(VOICES, found) if p is None]
    raise InputError(f"no part named {' or '.join(missing)} among {len(parts)} parts ({', '.join(names)})")


def time_signatures(stream) -> list[str]:
    """The distinct time signatures of a music21 stream, as ratio strings ("4/4", "3/4" ...)."""
    from music21 import meter

    return sorted({ts.ratioString for ts in stream.recurse().getElementsByClass(meter.TimeSignature)})


def check_four_four(stream, *, what: str = "the score") -> None:
    """Raise InputError unless every time signature of ``stream`` is 4/4 (no time signature reads as 4/4)."""
    found = time_signatures(stream)
    odd = [ts for ts in found if ts != "4/4"]
    if odd:
        raise InputError(f"{what} is in {', '.join(odd)}; only 4/4 is supported (16 steps per 4/4 bar)")


def pickup_padding(part) -> float:
    """Quarter notes missing from the first bar of ``part``: the rest that puts a pickup on the grid (0 without one)."""
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return 0.0
    first = measures[0]
    padding = float(first.paddingLeft or 0.0)
    if padding > 0:
        return padding
    bar = float(first.barDuration.quarterLength)
    length = float(first.duration.quarterLength)
    # A short first bar numbered 0 is a pickup even when the file gives no padding.
    return bar - length if first.number == 0 and 0 < length < bar else 0.0


def note_events(part, *, lowest: bool = False) -> list[tuple[float, float, list[int]]]:
    """The notes of a part as ``(offset, end, pitches)`` in quarter notes, ties merged, grace notes dropped.

    Chords keep all their pitches; ``lowest`` only decides the order (lowest first).
    """
    events = []
    for element in part.stripTies().flatten().notes:
        duration = float(element.duration.quarterLength)
        if duration <= 0:  # grace notes take no time on the grid
            continue
        pitches = sorted((int(p.midi) for p in element.pitches), reverse=not lowest)
        start = float(element.offset)
        events.append((start, start + duration, pitches))
    return events


def events_grid(
    events: Sequence[tuple[float, float, Sequence[int]]],
    *,
    steps: int,
    offset_steps: int = 0,
    steps_per_quarter: int = 4,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Put ``(start, end, pitches)`` events (quarter notes) on a one-voice step grid.

    Where notes overlap, the first pitch of each event's list wins at its onset
    and the highest sounding one elsewhere (the top line of polyphonic input).

    Returns
    -------
    pitches : np.ndarray [steps] int16 (-1 = rest)
    onsets : np.ndarray [steps] bool
    off_grid : int
        Events whose start was not on the grid. Ends are rounded to the grid too, but not counted: a
        played note is often released early (held 95% of its length), which is articulation, not timing.
    polyphonic : bool
        Whether two notes ever sounded at once after quantisation.
    """
    top = np.full(steps, -1, dtype=np.int16)
    onsets = np.zeros(steps, dtype=bool)
    count = np.zeros(steps, dtype=np.int16)
    off_grid = 0
    for start, end, pitches in events:
        a, b = start * steps_per_quarter, end * steps_per_quarter
        on, off = round(a), round(b)
        if abs(a - on) > _OFF_GRID_TOLERANCE:
            off_grid += 1
        on, off = on + offset_steps, max(off, round(a) + 1) + offset_steps
        on, off = max(on, 0), min(off, steps)
        if on >= off or not pitches:
            continue
        count[on:off] += len(pitches)
        pitch = max(pitches)
        higher = top[on:off] < pitch
        top[on:off][higher] = pitch
        # A note starting here is an onset if it is the top line from here on.
        if top[on] == pitch:
            onsets[on] = True
    sounding = top >= 0
    # Where the top pitch changes without an onset (a higher note ended), the lower note re-enters.
    changed = np.zeros(steps, dtype=bool)
    changed[1:] = top[1:] != top[:-1]
    changed[0] = True
    onsets = (onsets | changed) & sounding
    return top, onsets, off_grid, bool((count > 1).any())


def fermata_steps(score, *, steps_per_bar: int = 16) -> list[int]:
    """Grid steps (as :func:`score_grid` places them) of the soprano's notes that carry a fermata: the phrase ends.

    Raises
    ------
    InputError
        For parts that are not four named voices.
    """
    soprano = find_voices(score)[0]
    spq = steps_per_bar // 4
    return part_fermata_steps(soprano, offset_steps=round(pickup_padding(soprano) * spq), steps_per_quarter=spq)


def part_fermata_steps(part, *, offset_steps: int, steps_per_quarter: int) -> list[int]:
    """Grid steps of one part's notes that carry a fermata, its notes placed ``offset_steps`` late."""
    from music21 import expressions

    steps = []
    for element in part.stripTies().flatten().notes:
        if any(isinstance(e, expressions.Fermata) for e in element.expressions):
            steps.append(offset_steps + round(float(element.offset) * steps_per_quarter))
    return sorted(set(steps))


def phrase_tokens(fermatas: Sequence[int], soprano_onsets: np.ndarray, *, steps: int | None = None) -> np.ndarray:
    """Phrase tokens [T] uint8 of a melody: under a fermata, or how far the next one is (see ``PHRASE_*``).

    A fermata lasts from its note's onset to the soprano's next onset. No fermatas: every step is
    ``PHRASE_UNKNOWN`` (the phrases are not known, which is not the same as one phrase without end).

    Parameters
    ----------
    fermatas : sequence of int
        Steps where the fermata notes start.
    soprano_onsets : np.ndarray [T] bool
        The soprano's note starts (rests count as starts too: a fermata ends at a rest).
    steps : int, optional
        Length (default ``len(soprano_onsets)``).
    """
    steps = len(soprano_onsets) if steps is None else int(steps)
    out = np.full(steps, PHRASE_UNKNOWN, np.uint8)
    marks = sorted(f for f in set(int(f) for f in fermatas) if 0 <= f < steps)
    if not marks:
        return out
    onsets = np.zeros(steps, bool)
    onsets[: min(steps, len(soprano_onsets))] = np.asarray(soprano_onsets, bool)[:steps]
    t = np.arange(steps)
    ahead = np.searchsorted(marks, t)  # index of the first fermata at or after each step
    distance = np.where(ahead < len(marks), np.asarray(marks + [steps])[ahead] - t, steps)
    far = len(PHRASE_BUCKETS) + 2
    out[:] = np.where(ahead < len(marks), 2 + np.searchsorted(PHRASE_BUCKETS, distance), far)
    for f in marks:
        following = np.flatnonzero(onsets[f + 1 :])
        end = f + 1 + (int(following[0]) if following.size else steps)
        out[f : min(end, steps)] = PHRASE_FERMATA
    return out


def score_grid(score, *, steps_per_bar: int = 16) -> ChoraleGrid:
    """A four-voice chorale score (4/4 only) on the step grid, bar lines at multiples of ``steps_per_bar``.

    Raises
    ------
    InputError
        For a meter other than 4/4 or parts that are not four named voices.
    """
    check_four_four(score, what="the chorale")
    parts = find_voices(score)
    steps_per_quarter = steps_per_bar // 4
    pad_quarters = pickup_padding(parts[0])
    pad = round(pad_quarters * steps_per_quarter)
    events = [note_events(part, lowest=(v == 3)) for v, part in enumerate(parts)]
    end = max((e for voice in events for _, e, _ in voice), default=0.0)
    steps = math.ceil((pad + end * steps_per_quarter) / steps_per_bar) * steps_per_bar
    pitches = np.full((4, steps), -1, dtype=np.int16)
    onsets = np.zeros((4, steps), dtype=bool)
    off_grid = 0
    for v, voice in enumerate(events):
        # A divided voice (a chord in one part) keeps its outer note: the top for S, A, T, the bottom for B.
        picked = [(s, e, p[:1]) for s, e, p in voice]
        pitches[v], onsets[v], off, _ = events_grid(
            picked, steps=steps, offset_steps=pad, steps_per_quarter=steps_per_quarter
        )
        off_grid += off
    return ChoraleGrid(pitches=pitches, onsets=onsets, pickup_steps=pad, off_grid=off_grid)


# ---------------------------------------------------------------------------
# Grids <-> tokens
# ---------------------------------------------------------------------------


def num_classes(voice_range: tuple[int, int]) -> int:
    """Tokens of a voice: hold, rest and one per pitch of its inclusive range."""
    low, high = voice_range
    return high - low + 1 + FIRST_PITCH


def encode_voice(pitches: np.ndarray, onsets: np.ndarray, *, low: int, high: int) -> np.ndarray:
    """One voice [T] of pitches (-1 rest) and onsets -> tokens [T] int64.

    The first step of a sounding note always gets its pitch token, even without
    an onset there (a window that starts inside a note re-articulates it).

    Raises
    ------
    InputError
        If a pitch lies outside ``low..high``.
    """
    pitches = np.asarray(pitches, dtype=np.int64)
    sounding = pitches >= 0
    if (sounding & ((pitches < low) | (pitches > high))).any():
        bad = pitches[sounding & ((pitches < low) | (pitches > high))]
        raise InputError(f"pitch {int(bad[0])} lies outside the voice range {low}..{high}")
    starts = np.asarray(onsets, dtype=bool) & sounding
    if len(pitches):
        starts[0] |= sounding[0]
        starts[1:] |= sounding[1:] & (pitches[1:] != pitches[:-1])
    tokens = np.where(sounding, HOLD, REST).astype(np.int64)
    tokens[starts] = FIRST_PITCH + pitches[starts] - low
    return tokens


def decode_voice(tokens: np.ndarray, *, low: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokens [..., T] -> (pitches [..., T] int16 with -1 for rests, onsets [..., T] bool).

    A hold continues the previous step's pitch; a hold after a rest (or at step 0) is a rest.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    onsets = tokens >= FIRST_PITCH
    pitches = np.where(onsets, tokens - FIRST_PITCH + low, -1)
    # Forward-fill pitches through holds, stopping at rests: index of the last non-hold token.
    index = np.where(tokens != HOLD, np.arange(tokens.shape[-1]), 0)
    index = np.maximum.accumulate(index, axis=-1)
    filled = np.take_along_axis(pitches, index, axis=-1)
    first_is_hold = (tokens == HOLD) & (np.cumsum(tokens != HOLD, axis=-1) == 0)
    filled[first_is_hold] = -1
    return filled.astype(np.int16), onsets


def encode_grid(pitches: np.ndarray, onsets: np.ndarray, *, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Voices [V, T] -> tokens [V, T] int64, each voice over its own range (InputError if out of range)."""
    return np.stack([encode_voice(pitches[v], onsets[v], low=lo, high=hi) for v, (lo, hi) in enumerate(ranges)])


def decode_grid(tokens: np.ndarray, *, ranges: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens [..., V, T] -> (pitches [..., V, T], onsets [..., V, T])."""
    tokens = np.asarray(tokens)
    decoded = [decode_voice(tokens[..., v, :], low=lo) for v, (lo, _) in enumerate(ranges)]
    return np.stack([p for p, _ in decoded], axis=-2), np.stack([o for _, o in decoded], axis=-2)


def grid_windows(
    grid: ChoraleGrid, *, ranges: Sequence[tuple[int, int]], window_steps: int = 64, hop_steps: int = 16
) -> tuple[np.ndarray, np.ndarray, int]:
    """Cut a chorale into token windows [N, V, window_steps], one every ``hop_steps``.

    Windows holding a note outside its voice's range are dropped, and so are
    windows with no soprano note (nothing to harmonise).

    Returns
    -------
    windows : np.ndarray [N, V, window_steps] uint8
    starts : np.ndarray [N] int32
        First step of each window.
    dropped : int
        Windows left out because a note lay outside its voice range.
    """
    windows, starts, dropped = [], [], 0
    for start in range(0, grid.steps - window_steps + 1, hop_steps):
        pitches = grid.pitches[:, start : start + window_steps]
        if not (pitches[0] >= 0).any():
            continue
        try:
            tokens = encode_grid(pitches, grid.onsets[:, start : start + window_steps], ranges=ranges)
        except InputError:
            dropped += 1
            continue
        windows.append(tokens)
        starts.append(start)
    if not windows:
        return np.zeros((0, len(ranges), window_steps), np.uint8), np.zeros(0, np.int32), dropped
    return np.stack(windows).astype(np.uint8), np.asarray(starts, np.int32), dropped


# ---------------------------------------------------------------------------
# Transposition augmentation
# ---------------------------------------------------------------------------


def valid_shifts(windows: np.ndarray, *, ranges: Sequence[tuple[int, int]], max_shift: int) -> np.ndarray:
    """Which shifts in ``-max_shift..max_shift`` keep every voice of each window in its range.

    Parameters
    ----------
    windows : np.ndarray [N, V, T] of tokens

    Returns
    -------
    np.ndarray [N, 2 * max_shift + 1] bool
        Column ``k`` is the shift ``k - max_shift``.
    """
    windows = np.asarray(windows, dtype=np.int64)
    shifts = np.arange(-max_shift, max_shift + 1)
    ok = np.ones((len(windows), len(shifts)), dtype=bool)
    for v, (lo, hi) in enumerate(ranges):
        tokens = windows[:, v, :]
        pitched = tokens >= FIRST_PITCH
        top = np.where(pitched, tokens, -(10**6)).max(axis=1) - FIRST_PITCH  # offsets above ``lo``
        bottom = np.where(pitched, tokens, 10**6).min(axis=1) - FIRST_PITCH
        has = pitched.any(axis=1)
        fits = (bottom[:, None] + shifts[None, :] >= 0) & (top[:, None] + shifts[None, :] <= hi - lo)
        ok &= fits | ~has[:, None]
    return ok


def transpose_windows(windows: np.ndarray, shift: int) -> np.ndarray:
    """Shift every pitch token of windows [..., V, T] by ``shift`` semitones (the caller checks the ranges)."""
    windows = np.asarray(windows)
    return np.where(windows >= FIRST_PITCH, windows.astype(np.int64) + shift, windows).astype(windows.dtype)


def augment_windows(windows: np.ndarray, *, ranges: Sequence[tuple[int, int]], max_shift: int) -> np.ndarray:
    """Every window [N, V, T] transposed by every shift in ``-max_shift..max_shift`` that keeps all voices in range.

    The untransposed windows come first, so ``max_shift = 0`` returns a copy.

    Returns
    -------
    np.ndarray [M, V, T], M >= N, same dtype
    """
    windows = np.asarray(windows)
    ok = valid_shifts(windows, ranges=ranges, max_shift=max_shift)
    out = [windows.copy()]
    for k, shift in enumerate(range(-max_shift, max_shift + 1)):
        if shift != 0 and ok[:, k].any():
            out.append(transpose_windows(windows[ok[:, k]], shift))
    return np.concatenate(out)


# ---------------------------------------------------------------------------
# Grids -> MIDI
# ---------------------------------------------------------------------------


def grid_notes(pitches: np.ndarray, onsets: np.ndarray) -> list[tuple[int, int, int]]:
    """One voice [T] -> notes ``(pitch, start_step, end_step)``, end exclusive."""
    notes = []
    start = None
    for t in range(len(pitches) + 1):
        pitch = int(pitches[t]) if t < len(pitches) else -1
        new = t < len(pitches) and pitch >= 0 and (onsets[t] or start is None or pitch != pitches[start])
        if start is not None and (pitch < 0 or new):
            notes.append((int(pitches[start]), start, t))
            start = None
        if new:
            start = t
    return notes


def grid_to_midi(
    pitches: np.ndarray,
    onsets: np.ndarray,
    *,
    qpm: float = 80.0,
    steps_per_bar: int = 16,
    names: Sequence[str] = ("Soprano", "Alto", "Tenor", "Bass"),
    programs: Sequence[int] = (52, 52, 52, 52),
    skip_steps: int = 0,
    velocity: int = 80,
):
    """A 4/4 MIDI file with one track per voice of ``pitches``/``onsets`` [V, T].

    ``skip_steps`` drops that many leading steps (a pickup's padding), so the
    file starts where the melody does. Program 52 is General MIDI's choir aahs.

    Returns
    -------
    pretty_midi.PrettyMIDI
    """
    import pretty_midi

    step_seconds = 60.0 / qpm * 4 / steps_per_bar
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for v in range(len(pitches)):
        track = pretty_midi.Instrument(program=programs[v % len(programs)], name=names[v % len(names)])
        for pitch, start, end in grid_notes(pitches[v], onsets[v]):
            start, end = max(start - skip_steps, 0), end - skip_steps
            if end > start:
                track.notes.append(pretty_midi.Note(velocity, pitch, start * step_seconds, end * step_seconds))
        midi.instruments.append(track)
    return midi


def read_grid_midi(path: str | Path, *, steps_per_bar: int = 16, qpm: float | None = None) -> ChoraleGrid:
    """Read back a file written by :func:`grid_to_midi` (one track per voice) onto the grid (for tests and tools)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    tempo = qpm or midi.get_tempo_changes()[1][0]
    step_seconds = 60.0 / tempo * 4 / steps_per_bar
    end = max((n.end for i in midi.instruments for n in i.notes), default=0.0)
    steps = math.ceil(round(end / step_seconds, 6) / steps_per_bar) * steps_per_bar
    pitches = np.full((len(midi.instruments), steps), -1, np.int16)
    onsets = np.zeros((len(midi.instruments), steps), bool)
    for v, track in enumerate(midi.instruments):
        for note in track.notes:
            a, b = round(note.start / step_seconds), round(note.end / step_seconds)
            pitches[v, a:b] = note.pitch
            onsets[v, a] = True
    return ChoraleGrid(pitches=pitches, onsets=onsets)
