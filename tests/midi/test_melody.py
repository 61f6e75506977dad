"""The melody codec: events <-> notes <-> real MIDI files, transposition, bad input."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicvae.errors import InputError
from musicvae.midi.melody import (
    NO_EVENT,
    NOTE_OFF,
    StepNote,
    clip_range,
    decode,
    encode,
    events_to_midi,
    melody_events,
    melody_start_bar,
    midi_file_events,
    midi_to_step_notes,
    read_midi,
    silent_windows,
    split_melodies,
    top_line,
)
from musicvae.midi.windows import transpose

C4 = 60
MELODY = [StepNote(60, 0, 4), StepNote(62, 4, 6), StepNote(64, 8, 16), StepNote(67, 16, 30)]


def write_notes(path: Path, notes: list[StepNote], *, qpm: float = 120.0, time_signature=(4, 4), drum=False) -> Path:
    """Write step notes (16 steps per bar) to a real .mid file with pretty_midi."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    if time_signature:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    step = 60.0 / qpm / 4
    instrument = pretty_midi.Instrument(program=0, is_drum=drum)
    for n in notes:
        instrument.notes.append(
            pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start * step, end=n.end * step)
        )
    midi.instruments.append(instrument)
    midi.write(str(path))
    return path


# ---------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------


def test_encode_hand_written_melody():
    events = encode(MELODY, num_steps=32)
    assert events.dtype == np.int64 and events.shape == (32,)
    expected = np.zeros(32, np.int64)
    expected[[0, 4, 8, 16]] = [60 - 21 + 2, 62 - 21 + 2, 64 - 21 + 2, 67 - 21 + 2]
    expected[[6, 30]] = NOTE_OFF  # the note ending at 4 and at 16 is ended by the next onset
    np.testing.assert_array_equal(events, expected)
    assert decode(events) == MELODY
    np.testing.assert_array_equal(encode(decode(events), num_steps=32), events)


def test_final_note_without_note_off_ends_at_sequence_end():
    events = np.array([NO_EVENT, 41, NO_EVENT, NO_EVENT])
    assert decode(events) == [StepNote(60, 1, 4)]


def test_encode_window_offset_and_notes_outside():
    events = encode(MELODY, num_steps=16, start_step=8)
    # The note at 4..6 starts before the window and is left out; the last one runs past its end.
    assert decode(events) == [StepNote(64, 0, 8), StepNote(67, 8, 16)]


def test_encode_rejects_out_of_range_pitch():
    with pytest.raises(InputError, match="outside"):
        encode([StepNote(10, 0, 4)], num_steps=16)


@st.composite
def monophonic_notes(draw, num_steps=64):
    notes, t = [], draw(st.integers(0, 4))
    while t < num_steps:
        length = draw(st.integers(1, 12))
        end = min(t + length, num_steps)
        notes.append(StepNote(draw(st.integers(21, 108)), t, end))
        t = end + draw(st.integers(0, 6))
        if draw(st.booleans()) and draw(st.booleans()):
            break
    return notes


@settings(max_examples=200, deadline=None)
@given(monophonic_notes())
def test_decode_inverts_encode(notes):
    events = encode(notes, num_steps=64)
    assert decode(events) == notes


@settings(max_examples=100, deadline=None)
@given(monophonic_notes(), st.integers(-12, 12))
def test_transposition_commutes_with_encoding(notes, shift):
    shifted = [StepNote(n.pitch + shift, n.start, n.end) for n in notes]
    expected = transpose(encode(notes, num_steps=64), shift)
    if all(21 <= n.pitch <= 108 for n in shifted):
        np.testing.assert_array_equal(encode(shifted, num_steps=64), expected)
    else:
        assert expected is None


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


def test_top_line_takes_highest_note_and_cuts_at_next_onset():
    chord = [StepNote(60, 0, 8), StepNote(64, 0, 8), StepNote(67, 0, 4), StepNote(62, 4, 12), StepNote(72, 6, 10)]
    line, polyphonic = top_line(chord)
    assert polyphonic
    # 67 wins at 0 and ends at 4; 62 follows and is cut where 72 starts.
    assert line == [StepNote(67, 0, 4), StepNote(62, 4, 6), StepNote(72, 6, 10)]
    assert top_line(MELODY) == (MELODY, False)
    legato = [StepNote(60, 0, 5), StepNote(62, 4, 8)]  # one step of overlap is legato
    assert top_line(legato) == ([StepNote(60, 0, 4), StepNote(62, 4, 8)], False)


def test_top_line_drops_notes_under_a_sustained_upper_note():
    line, polyphonic = top_line([StepNote(72, 0, 16), StepNote(48, 4, 8), StepNote(50, 8, 12)])
    assert polyphonic and line == [StepNote(72, 0, 16)]


def test_clip_range_and_split_melodies():
    notes, dropped = clip_range([StepNote(10, 0, 2), *MELODY, StepNote(120, 40, 42)])
    assert dropped == 2 and notes == MELODY
    later = [StepNote(60, 30 + 16, 50), StepNote(62, 100, 104)]
    melodies = split_melodies(MELODY + later, gap_bars=1)
    # 30 -> 46 is exactly one silent bar (ends a melody); 50 -> 100 too.
    assert melodies == [MELODY, [later[0]], [later[1]]]
    assert split_melodies(MELODY + later, gap_bars=4) == [MELODY + later]


def test_melody_events_start_at_the_bar_of_the_first_note():
    notes = [StepNote(60, 37, 40), StepNote(62, 40, 50)]
    assert melody_start_bar(notes) == 2
    events = melody_events(notes)
    assert events.shape == (32,)  # bars 2 and 3 (the last note ends at step 50)
    assert decode(events) == [StepNote(60, 5, 8), StepNote(62, 8, 18)]


# ---------------------------------------------------------------------------
# Real MIDI files
# ---------------------------------------------------------------------------


def test_midi_file_round_trip(tmp_path):
    events = encode(MELODY, num_steps=32)
    midi = events_to_midi(events, qpm=100)
    assert midi.get_end_time() == pytest.approx(32 * 60 / 100 / 4)  # the bar line, not the last note-off
    midi.write(str(tmp_path / "a.mid"))
    read, warnings = midi_file_events(tmp_path / "a.mid")
    np.testing.assert_array_equal(read, events)
    assert warnings == []
    # Two sequences [K, T] play one after the other in one track.
    both = events_to_midi(np.stack([events, events]))
    both.write(str(tmp_path / "b.mid"))
    np.testing.assert_array_equal(midi_file_events(tmp_path / "b.mid")[0], np.r_[events, events])


def test_same_notes_at_any_tempo_give_the_same_events(tmp_path):
    slow, _ = midi_file_events(write_notes(tmp_path / "slow.mid", MELODY, qpm=90))
    fast, _ = midi_file_events(write_notes(tmp_path / "fast.mid", MELODY, qpm=150))
    np.testing.assert_array_equal(slow, fast)
    np.testing.assert_array_equal(slow, encode(MELODY, num_steps=32))


def test_tempo_change_mid_file(tmp_path):
    """Notes placed by ticks around two tempo changes land on the same steps."""
    ppq = 480
    file = mido.MidiFile(ticks_per_beat=ppq)
    track = mido.MidiTrack()
    file.tracks.append(track)
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(80), time=0))
    # (step, order, message): tempo first, then note-offs, then note-ons at the same step.
    timeline = [(6, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150))),
                (20, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(97)))]  # fmt: skip
    for n in MELODY:
        timeline.append((n.start, 2, mido.Message("note_on", note=n.pitch, velocity=80)))
        timeline.append((n.end, 1, mido.Message("note_off", note=n.pitch, velocity=0)))
    last = 0
    for step, _, message in sorted(timeline, key=lambda item: item[:2]):
        track.append(message.copy(time=(step - last) * ppq // 4))
        last = step
    file.save(tmp_path / "tempo.mid")
    midi = read_midi(tmp_path / "tempo.mid")
    assert len(midi.get_tempo_changes()[0]) == 3
    events, _ = midi_file_events(tmp_path / "tempo.mid")
    np.testing.assert_array_equal(events, encode(MELODY, num_steps=32))


def test_polyphonic_file_gives_top_line_with_warning(tmp_path):
    chords = [StepNote(48, 0, 16), StepNote(52, 0, 16), *MELODY]
    events, warnings = midi_file_events(write_notes(tmp_path / "poly.mid", chords))
    np.testing.assert_array_equal(events, encode(MELODY, num_steps=32))
    assert "polyphonic input: using its top line" in warnings


def test_out_of_range_pitches_are_dropped_with_warning(tmp_path):
    notes = [*MELODY, StepNote(110, 32, 36), StepNote(15, 40, 44)]
    events, warnings = midi_file_events(write_notes(tmp_path / "range.mid", notes))
    np.testing.assert_array_equal(events[:32], encode(MELODY, num_steps=32))
    assert any(w.startswith("2 notes outside MIDI pitch 21..108") for w in warnings)
    with pytest.raises(InputError, match="no notes left"):
        midi_file_events(write_notes(tmp_path / "high.mid", [StepNote(120, 0, 4)]))


def test_off_grid_notes_are_quantised_with_warning(tmp_path):
    notes = [StepNote(60, 0, 4)]
    path = write_notes(tmp_path / "swing.mid", notes)
    midi = pretty_midi.PrettyMIDI(str(path))
    midi.instruments[0].notes[0].start += 0.04  # 0.32 of a step at 120 qpm
    step_notes, warnings = midi_to_step_notes(midi)
    assert step_notes == [StepNote(60, 0, 4)]
    assert warnings and "off the 16-steps-per-bar grid" in warnings[0]


def test_bad_files_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_midi(tmp_path / "missing.mid")
    (tmp_path / "text.mid").write_text("this is not MIDI\n")
    with pytest.raises(InputError, match="not a MIDI file"):
        read_midi(tmp_path / "text.mid")
    data = write_notes(tmp_path / "whole.mid", MELODY).read_bytes()
    (tmp_path / "cut.mid").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_midi(tmp_path / "cut.mid")
    with pytest.raises(InputError, match="no notes"):
        read_midi(write_notes(tmp_path / "empty.mid", []))


def test_drums_only_and_odd_meters_raise(tmp_path):
    with pytest.raises(InputError, match="only drum tracks"):
        midi_file_events(write_notes(tmp_path / "drums.mid", MELODY, drum=True))
    with pytest.raises(InputError, match="3/4 input: this instrument takes 4/4"):
        midi_file_events(write_notes(tmp_path / "waltz.mid", MELODY, time_signature=(3, 4)))
    # 2/2 and a missing time signature are both 4-quarter bars.
    for name, signature in (("cut.mid", (2, 2)), ("none.mid", None)):
        events, _ = midi_file_events(write_notes(tmp_path / name, MELODY, time_signature=signature))
        np.testing.assert_array_equal(events, encode(MELODY, num_steps=32))


def test_events_to_midi_has_tempo_and_meter():
    midi = events_to_midi(encode(MELODY, num_steps=32), qpm=90, program=73)
    assert midi.get_tempo_changes()[1][0] == pytest.approx(90)
    assert [(s.numerator, s.denominator) for s in midi.time_signature_changes] == [(4, 4)]
    assert midi.instruments[0].program == 73
    assert [n.pitch for n in midi.instruments[0].notes] == [n.pitch for n in MELODY]
    with pytest.raises(InputError):
        events_to_midi(np.zeros((2, 2, 2), np.int64))




def test_silent_windows_are_those_with_no_note_in_any_tune():
    a = np.stack([encode(MELODY, num_steps=32), np.zeros(32, np.int64), np.zeros(32, np.int64)])
    b = np.stack([np.zeros(32, np.int64), np.zeros(32, np.int64), encode(MELODY, num_steps=32)])
    b[1, 5] = NOTE_OFF  # a note-off alone sounds nothing
    np.testing.assert_array_equal(silent_windows(a, b), [False, True, False])
    np.testing.assert_array_equal(silent_windows(a), [False, True, True])
