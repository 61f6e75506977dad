"""Harmony measures on hand-written chords and grids."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.kinds.accompanist.harmony import chord_of, harmony_counts, harmony_rates, notes_differ

C, E, G, B_FLAT = 60, 64, 67, 70


@pytest.mark.parametrize(("pitches", "expected"), [
    ((72, 67, 64, 48), (0, "major")),             # C major, root position
    ((72, 67, 60, 52), (0, "major")),             # first inversion: the bass does not choose the root
    ((71, 65, 62, 55), (7, "dominant seventh")),  # G7 (B, F, D, G)
    ((71, 65, 59, 55), (7, "dominant seventh")),  # G7 without its fifth
    ((69, 64, 60, 45), (9, "minor")),             # A minor
    ((72, 64, 60, 48), (0, "major")),             # C major without its fifth
    ((71, 68, 65, 62), (2, "diminished seventh")),  # symmetric: the lowest pitch class names it
    ((72, 71, 67, 48), None),                     # a suspension: C, B, G
    ((72, 62, 60, 48), None),                     # C with a passing D
    ((72, 72, 60, 48), None),                     # one pitch class
    ((-1, -1, -1, -1), None),
])
def test_chord_of(pitches, expected):
    assert chord_of(pitches) == expected


def test_harmony_counts_on_a_hand_written_grid():
    # Four steps: C major (root position), C major with a unison (alto = soprano), wide S-A spacing, G7.
    grid = np.array([
        [72, 72, 84, 71],
        [67, 72, 67, 65],
        [64, 64, 64, 62],
        [48, 48, 48, 55],
    ])
    counts = harmony_counts(grid, phrase_ends=[0, 3], reference=np.array([
        [72, 72, 84, 71], [67, 72, 67, 65], [64, 64, 64, 62], [48, 48, 48, 43]]))
    assert counts["onset_chords"] == 4 and counts["chord_tone_onsets"] == 4
    assert counts["full_steps"] == 4 and counts["fewer_than_four"] == 1
    assert counts["spacing_checks"] == 8 and counts["wide_spacing"] == 1  # 84 - 67 = 17
    # Step 0 ends on a root-position C; step 3's G7 is not a triad. Both chords are the reference's.
    assert counts["cadences"] == 2 and counts["root_position_cadences"] == 1
    assert counts["cadences_as_reference"] == 2
    rates = harmony_rates(counts)
    assert rates["fewer_than_four_pitches"] == 25.0 and rates["wide_spacing"] == 12.5
    assert rates["root_position_cadences"] == 50.0


def test_a_held_chord_has_one_onset_and_a_rest_is_no_chord():
    grid = np.array([[72, 72, -1], [67, 67, -1], [64, 64, -1], [48, 48, -1]])
    counts = harmony_counts(grid)
    assert counts["onset_chords"] == 1 and counts["full_steps"] == 2
    # With onsets given, a repeated chord is struck again.
    onsets = np.array([[1, 1, 0]] * 4, bool)
    assert harmony_counts(grid, onsets=onsets)["onset_chords"] == 2


def test_notes_differ():
    a = np.array([[72] * 4, [67, 67, 65, 65], [64] * 4, [48] * 4])
    assert notes_differ(a, a) == 0.0
    b = a.copy()
    b[1, 2:] = 64  # the alto's second note differs: 1 of a's 4 lower notes, 1 of b's 4
    assert notes_differ(a, b) == pytest.approx(2 / 8)
    c = a.copy()
    c[1:] += 1
    assert notes_differ(a, c) == 1.0
