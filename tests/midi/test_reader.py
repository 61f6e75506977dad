"""The one MIDI reader: its checks, the sustain pedal, and the same words for a bad file in every command."""

from __future__ import annotations

import pretty_midi
import pytest

from musicvae.cli import main
from musicvae.errors import InputError
from musicvae.io import repo_root
from musicvae.midi.reader import MidiNote, pitched_notes, read_melody


def _write(path, notes, *, drum=False, pedal=()):
    """notes: (pitch, velocity, start, end) in seconds; pedal: (time, value) of CC 64."""
    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=0, is_drum=drum)
    part.notes = [pretty_midi.Note(v, p, s, e) for p, v, s, e in notes]
    part.control_changes = [pretty_midi.ControlChange(64, value, t) for t, value in pedal]
    midi.instruments.append(part)
    midi.write(str(path))
    return path


PEDAL_NOTES = [(60, 90, 0.0, 0.2), (62, 90, 0.5, 0.7), (64, 90, 1.0, 1.2), (65, 90, 2.0, 2.2), (67, 90, 2.1, 3.0)]
PEDAL = [(0.4, 127), (1.5, 0), (1.9, 100)]  # down, up, down again and never lifted


def test_sustain_pedal_holds_the_notes_it_catches(tmp_path):
    path = _write(tmp_path / "pedal.mid", PEDAL_NOTES, pedal=PEDAL)
    ends = {n.pitch: round(n.end, 3) for n in read_melody(path)}
    # 60 ends before the pedal; 62 and 64 are released under it and sound until it lifts at 1.5 s;
    # 65 is released under a pedal held to the end of the file (67's end).
    assert ends == {60: 0.2, 62: 1.5, 64: 1.5, 65: 3.0, 67: 3.0}
    # Key presses only (what the step-grid codecs read).
    assert {n.pitch: round(n.end, 3) for n in read_melody(path, sustain=False)} == {
        p: e for p, _, _, e in PEDAL_NOTES}


def test_notes_of_every_pitched_track_by_onset_drums_left_out(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    for program, is_drum, notes in ((0, False, [(67, 0.5)]), (0, True, [(36, 0.0)]), (24, False, [(60, 0.5),
                                                                                                  (72, 0.0)])):
        part = pretty_midi.Instrument(program=program, is_drum=is_drum)
        part.notes = [pretty_midi.Note(80, p, s, s + 0.25) for p, s in notes]
        midi.instruments.append(part)
    notes = pitched_notes(midi)
    assert notes == [MidiNote(72, 80, 0.0, 0.25), MidiNote(60, 80, 0.5, 0.75), MidiNote(67, 80, 0.5, 0.75)]


def _bad_files(tmp_path) -> dict[str, tuple]:
    good = _write(tmp_path / "good.mid", [(60, 80, 0.0, 0.5), (62, 80, 0.5, 1.0)])
    (tmp_path / "text.mid").write_text("this is not MIDI\n")
    (tmp_path / "cut.mid").write_bytes(good.read_bytes()[:30])
    (tmp_path / "folder.mid").mkdir()
    return {
        "missing": (tmp_path / "missing.mid", "no such file"),
        "folder": (tmp_path / "folder.mid", "is a folder"),
        "text": (tmp_path / "text.mid", "not a MIDI file"),
        "cut": (tmp_path / "cut.mid", "unreadable or truncated MIDI file"),
        "empty": (_write(tmp_path / "empty.mid", []), "the MIDI file has no notes"),
        "drums": (_write(tmp_path / "drums.mid", [(36, 100, 0.0, 0.1)], drum=True), "only drum tracks"),
    }


@pytest.mark.parametrize("bad", ["missing", "folder", "text", "cut", "empty", "drums"])
def test_a_bad_file_gets_one_line_in_the_same_words_from_every_command(bad, tmp_path, capsys):
    path, words = _bad_files(tmp_path)[bad]
    with pytest.raises(InputError, match=words) as raised:
        read_melody(path)
    expected = f"musicvae: error: {raised.value}"
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in expected
    other = repo_root() / "examples" / "folk_b.mid"
    commands = {
        "blend": ["blend", "flute-guitar", "--midi", path, "-o", tmp_path / "b.wav"],
        "synth": ["synth", "flute-guitar", "--midi-file", path, "-o", tmp_path / "s.wav"],
        "morph": ["morph", "melody-2bar", path, other, "-o", tmp_path / "m.mid"],
        "harmonize": ["harmonize", "bach-accompanist", path, "-o", tmp_path / "h.mid"],
    }
    for name, argv in commands.items():
        assert main(argv) == 2, name
        assert capsys.readouterr().err.strip() == expected, name
    assert not any((tmp_path / out).exists() for out in ("b.wav", "s.wav", "m.mid", "h.mid"))

