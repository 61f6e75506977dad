"""Harmony measures of four-voice grids (pure numpy): chords, spacing, cadences, and how variations differ.

All of them take pitches [4, T] (soprano, alto, tenor, bass; -1 = rest) on the 16th grid:

- **chord-tone onsets**: at each step where a voice starts a note and at least three voices
  sound, whether the pitch classes sounding form a triad (major, minor, diminished,
  augmented; the fifth may be left out) or a seventh chord (dominant, major, minor,
  half-diminished, diminished; the fifth may be left out). Passing and neighbour notes
  make the rest: Bach's own share is the reference, not 100%;
- **fewer than four pitches**: steps where all four voices sound but two share a pitch;
- **wide spacing**: steps where soprano and alto, or alto and tenor, both sound more than
  an octave apart (the bass may lie further from the tenor);
- **cadences**: at each phrase end (a soprano fermata), whether the chord is a triad with
  its root in the bass, and whether it is Bach's chord (same root and quality) there;
- :func:`notes_differ`: the share of lower-voice notes two harmonisations do not share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Interval sets above the root, in the order they are tried (complete chords first).
CHORDS: tuple[tuple[str, frozenset[int]], ...] = (
    ("major", frozenset({0, 4, 7})), ("minor", frozenset({0, 3, 7})),
    ("diminished", frozenset({0, 3, 6})), ("augmented", frozenset({0, 4, 8})),
    ("dominant seventh", frozenset({0, 4, 7, 10})), ("major seventh", frozenset({0, 4, 7, 11})),
    ("minor seventh", frozenset({0, 3, 7, 10})), ("half-diminished seventh", frozenset({0, 3, 6, 10})),
    ("diminished seventh", frozenset({0, 3, 6, 9})),
    # The fifth left out, as in many of Bach's final chords and dominant sevenths.
    ("major", frozenset({0, 4})), ("minor", frozenset({0, 3})),
    ("dominant seventh", frozenset({0, 4, 10})), ("minor seventh", frozenset({0, 3, 10})),
    ("major seventh", frozenset({0, 4, 11})),
)
TRIADS = frozenset({"major", "minor", "diminished", "augmented"})


def chord_of(pitches: Sequence[int]) -> tuple[int, str] | None:
    """``(root pitch class, quality)`` of the sounding pitches (-1 ignored), or None when they form no triad or
    seventh chord. The bass does not choose the root: an inversion is the same chord."""
    classes = frozenset(int(p) % 12 for p in pitches if p >= 0)
    if len(classes) < 2:
        return None
    for quality, shape in CHORDS:
        for root in sorted(classes):
            if frozenset((c - root) % 12 for c in classes) == shape:
                return root, quality
    return None


def _starts(pitches: np.ndarray) -> np.ndarray:
    starts = np.zeros(pitches.shape, bool)
    starts[:, 0] = pitches[:, 0] >= 0
    starts[:, 1:] = (pitches[:, 1:] >= 0) & (pitches[:, 1:] != pitches[:, :-1])
    return starts


def harmony_counts(pitches: np.ndarray, *, onsets: np.ndarray | None = None,
                   phrase_ends: Sequence[int] = (), reference: np.ndarray | None = None) -> dict:
    """Counts behind :func:`harmony_rates` for one grid.

    Parameters
    ----------
    pitches : np.ndarray [4, T] int (-1 = rest)
    onsets : np.ndarray [4, T] bool, optional
        Note starts (a repeated pitch is a new note); default: where the pitch changes.
    phrase_ends : steps of the phrase-end chords (soprano fermatas)
    reference : np.ndarray [4, T], optional
        Bach's grid, for the cadence agreement.

    Returns
    -------
    dict of int
        ``onset_chords``, ``chord_tone_onsets``, ``full_steps``, ``fewer_than_four``, ``spacing_checks``,
        ``wide_spacing``, ``cadences``, ``root_position_cadences``, ``cadences_as_reference``.
    """
    p = np.asarray(pitches, np.int64)
    starts = _starts(p) if onsets is None else (np.asarray(onsets, bool) & (p >= 0)) | _starts(p)
    sounding = p >= 0
    counts = dict.fromkeys(("onset_chords", "chord_tone_onsets", "full_steps", "fewer_than_four", "spacing_checks",
                            "wide_spacing", "cadences", "root_position_cadences", "cadences_as_reference"), 0)
    for t in np.flatnonzero(starts.any(axis=0) & (sounding.sum(axis=0) >= 3)):
        counts["onset_chords"] += 1
        counts["chord_tone_onsets"] += chord_of(p[:, t]) is not None
    full = sounding.all(axis=0)
    counts["full_steps"] = int(full.sum())
    counts["fewer_than_four"] = int(sum(len(set(p[:, t].tolist())) < 4 for t in np.flatnonzero(full)))
    for upper, lower in ((0, 1), (1, 2)):
        both = sounding[upper] & sounding[lower]
        counts["spacing_checks"] += int(both.sum())
        counts["wide_spacing"] += int((both & (p[upper] - p[lower] > 12)).sum())
    for t in phrase_ends:
        if not 0 <= t < p.shape[1]:
            continue
        chord = chord_of(p[:, t])
        counts["cadences"] += 1
        bass = p[3, t]
        counts["root_position_cadences"] += bool(chord and chord[1] in TRIADS and bass >= 0 and bass % 12 == chord[0])
        if reference is not None:
            counts["cadences_as_reference"] += bool(chord and chord == chord_of(np.asarray(reference)[:, t]))
    return counts


def harmony_rates(counts: dict) -> dict:
    """Percentages from summed :func:`harmony_counts`."""

    def pct(n: int, d: int) -> float:
        return round(100.0 * n / d, 2) if d else 0.0

    return {
        "chord_tone_onsets": pct(counts["chord_tone_onsets"], counts["onset_chords"]),
        "fewer_than_four_pitches": pct(counts["fewer_than_four"], counts["full_steps"]),
        "wide_spacing": pct(counts["wide_spacing"], counts["spacing_checks"]),
        "root_position_cadences": pct(counts["root_position_cadences"], counts["cadences"]),
        "cadences_as_bach": pct(counts["cadences_as_reference"], counts["cadences"]),
    }


def notes_differ(a: np.ndarray, b: np.ndarray, *, onsets_a: np.ndarray | None = None,
                 onsets_b: np.ndarray | None = None) -> float:
    """Share of the lower-voice notes of two harmonisations that the other does not have.

    A note is a (voice, start step, pitch) of alto, tenor or bass (rows 1..3 of [4, T] grids);
    the share is of both harmonisations' notes together: 0 when they are the same, 1 when
    they share none.
    """
    def notes(p: np.ndarray, o: np.ndarray | None) -> set[tuple[int, int, int]]:
        p = np.asarray(p, np.int64)
        s = _starts(p) if o is None else (np.asarray(o, bool) & (p >= 0)) | _starts(p)
        return {(v, int(t), int(p[v, t])) for v in (1, 2, 3) for t in np.flatnonzero(s[v])}

    na, nb = notes(a, onsets_a), notes(b, onsets_b)
    total = len(na) + len(nb)
    return (len(na - nb) + len(nb - na)) / total if total else 0.0
