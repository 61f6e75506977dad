"""The chorale codec: voices from real corpus files, the grid, tokens, windows, transposition, MIDI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicvae.errors import InputError
from musicvae.midi import chorale as codec

RANGES = codec.VOICE_RANGES


@pytest.fixture(scope="module")
def bwv269():
    return codec.parse_corpus_chorale("bach/bwv269")  # 3/4


@pytest.mark.parametrize(
    ("piece", "first_names"),
    [
        ("bach/bwv1.6", ("soprano", "alto", "tenor", "bass")),  # a horn part comes first in the score
        ("bach/bwv41.6", ("soprano oboe 1 violin1", "alto oboe 2 viloin 2", "tenor viola", "bass continuo")),
    ],
)
def test_voices_are_matched_by_name(piece, first_names):
    voices = codec.find_voices(codec.parse_corpus_chorale(piece))
    assert tuple(str(p.partName).lower() for p in voices) == first_names


def test_spine_named_parts_fall_back_to_score_order():
    score = codec.parse_corpus_chorale("bach/bwv277")
    voices = codec.find_voices(score)
    assert [p.partName for p in voices] == [p.partName for p in score.parts]
    grid = codec.score_grid(score)
    mean = [grid.pitches[v][grid.pitches[v] >= 0].mean() for v in range(4)]
    assert mean == sorted(mean, reverse=True)  # soprano highest, bass lowest


def test_five_voice_chorale_is_refused():
    with pytest.raises(InputError, match="2 parts are named soprano"):
        codec.find_voices(codec.parse_corpus_chorale("bach/bwv27.6"))
    assert "bach/bwv27.6" in codec.EXCLUDED_CHORALES


def test_non_four_four_chorale_is_refused(bwv269):
    with pytest.raises(InputError, match="3/4"):
        codec.score_grid(bwv269)


def test_pickup_padding_puts_bar_lines_on_the_grid():
    score = codec.parse_corpus_chorale("bach/bwv1.6")  # one-beat pickup
    grid = codec.score_grid(score)
    assert grid.pickup_steps == 12
    assert (grid.pitches[:, :12] == -1).all() and (grid.pitches[:, 12] >= 0).all()
    assert grid.steps % 16 == 0
    # The second measure starts on a bar line of the grid.
    second = list(codec.find_voices(score)[0].getElementsByClass("Measure"))[1]
    first_note = second.notes[0]
    assert grid.onsets[0, 16] and grid.pitches[0, 16] == first_note.pitch.midi


def test_corpus_lists_350_unique_files():
    ids = codec.bach_chorale_ids()
    assert len(ids) == 350 and len(set(ids)) == 350 and "bach/bwv27.6" in ids


def _random_voice(draw, steps, low, high):
    pitches, onsets, t = np.full(steps, -1, np.int16), np.zeros(steps, bool), 0
    while t < steps:
        length = draw(st.integers(1, 8))
        if draw(st.booleans()) or t == 0:
            pitches[t : t + length] = draw(st.integers(low, high))
            onsets[t] = True
        t += length
    return pitches, onsets


@st.composite
def voices(draw):
    steps = draw(st.integers(1, 40))
    return [_random_voice(draw, steps, lo, hi) for lo, hi in RANGES]


@given(voices())
@settings(max_examples=60, deadline=None)
def test_tokens_round_trip(vs):
    pitches = np.stack([p for p, _ in vs])
    onsets = np.stack([o for _, o in vs])
    tokens = codec.encode_grid(pitches, onsets, ranges=RANGES)
    back, back_onsets = codec.decode_grid(tokens, ranges=RANGES)
    assert (back == pitches).all()
    assert (back_onsets == (onsets & (pitches >= 0))).all()
    for v, (lo, hi) in enumerate(RANGES):
        assert tokens[v].max() < codec.num_classes((lo, hi))


def test_encode_refuses_out_of_range_and_decode_treats_leading_hold_as_rest():
    with pytest.raises(InputError, match="outside"):
        codec.encode_voice(np.array([90]), np.array([True]), low=57, high=81)
    pitches, onsets = codec.decode_voice(np.array([codec.HOLD, codec.FIRST_PITCH + 3, codec.HOLD, codec.REST,
                                                   codec.HOLD]), low=60)
    assert pitches.tolist() == [-1, 63, 63, -1, -1]
    assert onsets.tolist() == [False, True, False, False, False]


def test_windows_start_inside_a_note_with_its_pitch_and_hop_one_bar():
    pitches = np.full((4, 96), -1, np.int16)
    onsets = np.zeros((4, 96), bool)
    for v, (lo, _) in enumerate(RANGES):
        pitches[v, :] = lo + 5
        onsets[v, ::32] = True  # two-bar notes: the window at bar 1 starts inside one
    windows, starts, dropped = codec.grid_windows(codec.ChoraleGrid(pitches, onsets), ranges=RANGES)
    assert windows.shape == (3, 4, 64) and starts.tolist() == [0, 16, 32] and dropped == 0
    assert (windows[1, :, 0] == codec.FIRST_PITCH + 5).all()


def test_transposition_keeps_every_voice_in_range():
    rng = np.random.default_rng(0)
    windows = np.stack([
        np.stack([rng.integers(codec.FIRST_PITCH, codec.num_classes(r), 64) for r in RANGES]) for _ in range(20)
    ]).astype(np.uint8)
    augmented = codec.augment_windows(windows, ranges=RANGES, max_shift=12)
    assert (augmented[: len(windows)] == windows).all()
    for v, r in enumerate(RANGES):
        assert augmented[:, v].max() < codec.num_classes(r) and augmented[:, v].min() >= codec.FIRST_PITCH
    ok = codec.valid_shifts(windows, ranges=RANGES, max_shift=12)
    assert len(augmented) == ok.sum()


def test_grid_to_midi_writes_four_named_tracks(tmp_path):
    score = codec.parse_corpus_chorale("bach/bwv1.6")
    grid = codec.score_grid(score)
    midi = codec.grid_to_midi(grid.pitches, grid.onsets)
    path = tmp_path / "c.mid"
    midi.write(str(path))
    back = codec.read_grid_midi(path, qpm=80.0)
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert (back.pitches == grid.pitches[:, : back.steps]).all()


def test_only_onsets_off_the_grid_count_as_off_grid():
    # Quarter notes held 95% of their length, as a keyboard plays them: the ends are early, the onsets exact.
    held = [(float(i), i + 0.95, [60 + i]) for i in range(8)]
    pitches, onsets, off_grid, _ = codec.events_grid(held, steps=32)
    assert off_grid == 0
    assert onsets[::4].all() and (pitches[::4] == np.arange(60, 68)).all()
    swung = [(s + (0.1 if i % 2 else 0.0), e, p) for i, (s, e, p) in enumerate(held)]
    assert codec.events_grid(swung, steps=32)[2] == 4
