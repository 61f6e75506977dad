"""Windows of melody events: checking, slicing, dedupe, transposition, the window at a bar."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.errors import InputError, NoWindowError
from musicvae.midi.melody import StepNote, decode, encode
from musicvae.midi.windows import (
    check_windows,
    dedupe_windows,
    first_window,
    slice_windows,
    transpose,
    transpose_windows,
    window_at,
)

MELODY = [StepNote(60, 0, 4), StepNote(62, 4, 6), StepNote(64, 8, 16), StepNote(67, 16, 30)]


def test_transpose_windows_keeps_rows_that_would_leave_the_range():
    low = encode([StepNote(22, 0, 4)], num_steps=16)
    mid = encode([StepNote(60, 0, 4), StepNote(64, 4, 8)], num_steps=16)
    windows = np.stack([low, mid]).astype(np.uint8)
    out = transpose_windows(windows, np.array([-3, -3]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], low)  # 22 - 3 < 21: untransposed
    assert decode(out[1]) == [StepNote(57, 0, 4), StepNote(61, 4, 8)]
    assert transpose(low, -3) is None


def test_slice_windows_drops_empty_and_duplicate_windows():
    bar = encode([StepNote(60, 0, 4)], num_steps=16)
    other = encode([StepNote(62, 0, 4)], num_steps=16)
    rest = np.zeros(16, np.int64)
    events = np.concatenate([bar, bar, rest, rest, bar, bar, other])
    windows = slice_windows(events, window_steps=32, hop_steps=16)
    assert windows.dtype == np.uint8 and windows.shape[1] == 32
    expected = [np.r_[bar, bar], np.r_[bar, rest], np.r_[rest, bar], np.r_[bar, other]]
    np.testing.assert_array_equal(windows, np.array(expected, np.uint8))
    with pytest.raises(InputError, match="whole number"):
        slice_windows(events, window_steps=32, hop_steps=8)
    np.testing.assert_array_equal(dedupe_windows(np.array([[1, 2], [3, 4], [1, 2]])), [[1, 2], [3, 4]])


def test_window_at_names_why_there_is_no_window():
    events = encode([StepNote(60, 0, 4)], num_steps=24)
    with pytest.raises(NoWindowError, match=r"too short: 1\.5 bars, needs 2"):
        window_at(events, bar=0, window_steps=32)
    events = np.r_[encode(MELODY, num_steps=32), np.zeros(32, np.int64)]
    with pytest.raises(NoWindowError, match="no notes in bars 3–4"):
        window_at(events, bar=2, window_steps=32)
    np.testing.assert_array_equal(window_at(events, bar=0, window_steps=32), events[:32])
    late = np.r_[np.zeros(32, np.int64), encode(MELODY, num_steps=32)]
    np.testing.assert_array_equal(first_window(late, window_steps=32), late[16:48])
    with pytest.raises(NoWindowError, match="no notes"):
        first_window(np.zeros(64, np.int64), window_steps=32)


def test_check_windows_accepts_event_arrays_and_names_what_is_wrong():
    one = encode([StepNote(60, 0, 4)], num_steps=32)
    both = check_windows(np.stack([one, one]).astype(np.uint8), steps=32, num_classes=90)
    assert both.dtype == np.int64 and both.shape == (2, 32)
    assert check_windows(one, steps=32, allow_single=True).shape == (1, 32)  # one window
    assert check_windows(np.zeros((0, 32), np.int64), allow_empty=True).shape == (0, 32)
    small = check_windows(np.stack([one]), num_classes=90, dtype=np.uint8)
    assert small.dtype == np.uint8
    bad = [
        (np.zeros((2, 16), np.int64), "training windows have shape (2, 16); expected [N, 32]"),
        (np.zeros((0, 32), np.int64), "no training windows"),
        (np.full((1, 32), 0.5), "integer event classes"),
        (np.full((1, 32), 90), "outside 0..89"),
        (np.full((1, 32), -1), "outside 0..89"),
        (np.zeros((1, 2, 32), np.int64), "have shape (1, 2, 32)"),
        (np.zeros(32, np.int64), "have shape (32,)"),
    ]
    for windows, message in bad:
        with pytest.raises(InputError) as error:
            check_windows(windows, steps=32, num_classes=90, what="training")
        assert message in str(error.value)
