"""``harmonize`` end to end on real MIDI and MusicXML files, bad input included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pretty_midi
import pytest
import torch

from musicvae.builders import build_model
from musicvae.chorale_outputs import write_harmonization
from musicvae.cli import main
from musicvae.config import get_config
from musicvae.errors import InputError
from musicvae.harmonize import fit_range, harmonize, place_lower_voices, read_melody_grid
from musicvae.instrument import Instrument
from musicvae.io import repo_root
from musicvae.midi import chorale as codec

EXAMPLE = repo_root() / "examples" / "chorale_soprano.musicxml"


@pytest.fixture(scope="module")
def instrument():
    config = get_config("minibach-small")
    config = replace(config, model=replace(config.model, hidden_size=16, z_dim=4))
    torch.manual_seed(0)
    return Instrument(config=config, model=build_model(config).eval())


def _midi(path, notes, *, ts=(4, 4), qpm=120.0, key_number=None):
    """notes: (pitch, start_quarter, end_quarter); key_number: pretty_midi's (0-11 major, 12-23 minor from C)."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(ts[0], ts[1], 0.0))
    if key_number is not None:
        midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    track = pretty_midi.Instrument(program=0)
    q = 60.0 / qpm
    track.notes += [pretty_midi.Note(80, p, s * q, e * q) for p, s, e in notes]
    midi.instruments.append(track)
    midi.write(str(path))
    return path


SCALE = [(p, i, i + 1) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69] * 2)]  # 4 bars of quarters


def test_harmonizes_midi_into_four_tracks_and_musicxml(instrument, tmp_path):
    melody = _midi(tmp_path / "m.mid", SCALE)
    result = harmonize(instrument, melody, variations=2, seed=0)
    assert result.warnings == [] and result.transposed == 0 and len(result.grids) == 2
    grid = result.grids[0]
    assert grid.pitches.shape == (4, 64) and (grid.pitches[0][::4] == [p for p, _, _ in SCALE]).all()
    written = write_harmonization(result, tmp_path / "c.mid", musicxml=tmp_path / "c.musicxml",
                                  plot=tmp_path / "c.png")
    assert {p.name for p in written} == {"c.mid", "c_var2.mid", "c.musicxml", "c_var2.musicxml", "c.png"}
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "c.mid"))
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    from music21 import converter

    score = converter.parse(str(tmp_path / "c.musicxml"))
    assert len(score.parts) == 4


def test_polyphonic_input_uses_the_top_line_with_a_warning(instrument, tmp_path):
    chords = SCALE + [(p - 12, s, e) for p, s, e in SCALE]
    result = harmonize(instrument, _midi(tmp_path / "poly.mid", chords))
    assert any("top line" in w for w in result.warnings)
    assert (result.grids[0].pitches[0][::4] == [p for p, _, _ in SCALE]).all()


def test_empty_melody_is_an_error(instrument, tmp_path):
    with pytest.raises(InputError, match="the MIDI file has no notes"):  # the shared MIDI reader's words
        harmonize(instrument, _midi(tmp_path / "empty.mid", []))


@pytest.mark.parametrize("ts", [(3, 4), (6, 8)])
def test_odd_meters_are_refused(instrument, tmp_path, ts):
    with pytest.raises(InputError, match=f"{ts[0]}/{ts[1]}.*only 4/4"):
        harmonize(instrument, _midi(tmp_path / "odd.mid", SCALE, ts=ts))


def test_odd_meter_musicxml_is_refused(instrument, tmp_path):
    from music21 import meter, note, stream

    part = stream.Part([meter.TimeSignature("6/8")] + [note.Note(67, quarterLength=1.5) for _ in range(8)])
    path = tmp_path / "six.musicxml"
    stream.Score([part]).write("musicxml", fp=str(path))
    with pytest.raises(InputError, match="6/8"):
        harmonize(instrument, path)


def test_off_grid_notes_are_quantised_with_a_warning(instrument, tmp_path):
    notes = [(p, s + (0.1 if i % 3 == 1 else 0.0), e) for i, (p, s, e) in enumerate(SCALE)]
    result = harmonize(instrument, _midi(tmp_path / "swing.mid", notes))
    assert any("off the 16th-note grid" in w for w in result.warnings)
    assert (result.grids[0].pitches[0][::4] == [p for p, _, _ in SCALE]).all()


@pytest.mark.parametrize("octaves", [2, -2])
def test_melody_far_outside_the_soprano_range_keeps_the_bass_in_its_range(instrument, tmp_path, octaves):
    """Two octaves above or below the soprano range: harmonised inside it, the melody moved back to its own
    pitch, and the alto, tenor and bass moved back only as far as keeps the bass in its range (it used to
    follow the melody to C5-C6 or C0-C1), with a warning."""
    far = [(p + 12 * octaves, s, e) for p, s, e in SCALE]
    result = harmonize(instrument, _midi(tmp_path / "far.mid", far), variations=2, seed=0)
    assert result.transposed == -12 * octaves
    assert any(f"moved {-12 * octaves:+d} semitones into the soprano range" in w for w in result.warnings)
    assert any(f"not {12 * octaves:+d} with the melody, to keep the bass in its range 36..64" in w
               for w in result.warnings), result.warnings
    assert not any("leaves its range" in w for w in result.warnings)
    low, high = instrument.config.model.representation.bass
    for grid, moved in zip(result.grids, result.lower_moved):
        assert (grid.pitches[0][::4] == [p for p, _, _ in far]).all()  # the melody at its own pitch
        bass = grid.pitches[3][grid.pitches[3] >= 0]
        assert low <= bass.min() and bass.max() <= high
        assert moved % 12 == 0 and moved != 12 * octaves  # whole octaves: the same harmony
    with pytest.raises(InputError, match="spans"):
        harmonize(instrument, _midi(tmp_path / "wide.mid", [(40, 0, 1), (100, 1, 2)]))


def test_lower_voices_move_back_with_the_melody_while_the_bass_stays_in_range():
    assert place_lower_voices(np.array([40, -1, 50]), -12, low=36, high=64) == 12  # all four back together
    assert place_lower_voices(np.array([43, 54]), -24, low=36, high=64) == 0  # +12 would reach 66
    assert place_lower_voices(np.array([40, 52]), -24, low=36, high=64) == 12  # the nearest that fits
    assert place_lower_voices(np.array([43, 54]), 24, low=36, high=64) == 0
    assert place_lower_voices(np.array([50, 60]), 24, low=36, high=64) == -12
    assert place_lower_voices(np.array([50, 60]), 0, low=36, high=64) == 0
    assert place_lower_voices(np.array([-1, -1]), 12, low=36, high=64) == -12  # a silent bass: nothing to keep
    assert place_lower_voices(np.array([36, 50]), 5, low=36, high=64) == 7  # -5 would leave the range
    assert place_lower_voices(np.array([30, 50]), 12, low=36, high=40) == 0  # none fits: the least outside


def test_fit_range_prefers_octaves():
    assert fit_range(np.array([60, 64]), low=57, high=81) == 0
    assert fit_range(np.array([88, 92]), low=57, high=81) == -12
    assert fit_range(np.array([50, 72]), low=57, high=81) == 7  # no octave fits: the smallest shift


def test_musicxml_with_several_parts_uses_the_first_with_a_warning(instrument, tmp_path):
    from music21 import meter, note, stream

    top = stream.Part([meter.TimeSignature("4/4")] + [note.Note(p) for p, _, _ in SCALE])
    top.partName = "Flute"
    low = stream.Part([meter.TimeSignature("4/4")] + [note.Note(48, quarterLength=4) for _ in range(4)])
    path = tmp_path / "duo.musicxml"
    stream.Score([top, low]).write("musicxml", fp=str(path))
    result = harmonize(instrument, path)
    assert any("2 parts" in w and "Flute" in w for w in result.warnings)
    assert (result.grids[0].pitches[0][::4] == [p for p, _, _ in SCALE]).all()


def test_pickup_aligns_bar_lines_and_output_starts_with_the_melody(instrument, tmp_path):
    melody = read_melody_grid(EXAMPLE)
    assert melody.pickup_steps == 12 and melody.pitches.shape == (256,)
    from_midi = read_melody_grid(repo_root() / "examples" / "chorale_soprano.mid", pickup=1)
    assert (from_midi.pitches == melody.pitches).all()
    result = harmonize(instrument, EXAMPLE)
    grid = result.grids[0]
    assert (grid.pitches[:, :12] == -1).all()  # nobody sings in the pickup's padding
    write_harmonization(result, tmp_path / "p.mid", musicxml=tmp_path / "p.musicxml")
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "p.mid"))
    assert min(n.start for n in midi.instruments[0].notes) == 0.0
    from music21 import converter

    first = converter.parse(str(tmp_path / "p.musicxml")).parts[0].getElementsByClass("Measure")[0]
    assert first.paddingLeft == 3.0


# A-flat major and F minor (both four flats), E major: what notation software must show, read back by music21.
AB_MAJOR = [(p, i, i + 1) for i, p in enumerate([68, 70, 72, 73, 75, 73, 72, 70, 68, 72, 75, 80, 75, 72, 70, 68])]
F_MINOR = [(p, i, i + 1) for i, p in enumerate([65, 68, 72, 77, 75, 73, 72, 70, 68, 67, 64, 65, 68, 67, 64, 65])]
E_MAJOR = [(p, i, i + 1) for i, p in enumerate([64, 66, 68, 69, 71, 68, 64, 71, 73, 71, 68, 66, 63, 66, 64, 64])]


def _read_back(path):
    """(key signature sharps and mode, part names, abbreviations, clef classes, pitch names per part) of a file."""
    from music21 import converter, key

    score = converter.parse(str(path))
    signatures = {(k.sharps, getattr(k, "mode", None)) for k in score.recurse().getElementsByClass(key.KeySignature)}
    parts = score.parts
    clefs = [type(next(iter(p.recurse().getElementsByClass("Clef")))).__name__ for p in parts]
    names = [{n.pitch.name for n in p.recurse().notes} for p in parts]
    return signatures, [p.partName for p in parts], [p.partAbbreviation for p in parts], clefs, names


@pytest.mark.parametrize(("notes", "key_number", "key", "sharps", "mode"), [
    (AB_MAJOR, None, "A-", -4, "major"),  # no key signature: music21's key analysis
    (F_MINOR, 17, "f", -4, "minor"),  # the file's key signature (F minor) is kept
    (E_MAJOR, None, "E", 4, "major"),
])
def test_musicxml_keeps_the_key_names_the_parts_and_spells_in_the_key(instrument, tmp_path, notes, key_number, key,
                                                                      sharps, mode):
    result = harmonize(instrument, _midi(tmp_path / "m.mid", notes, key_number=key_number))
    assert result.key == key
    write_harmonization(result, tmp_path / "c.mid", musicxml=tmp_path / "c.musicxml")
    signatures, names, abbreviations, clefs, spelled = _read_back(tmp_path / "c.musicxml")
    assert signatures == {(sharps, mode)}  # in every part
    assert names == ["Soprano", "Alto", "Tenor", "Bass"] and abbreviations == ["S.", "A.", "T.", "B."]
    assert clefs == ["TrebleClef", "TrebleClef", "Treble8vbClef", "BassClef"]  # tenor: treble-8
    melody = {n for n in spelled[0]}
    if sharps < 0:  # A-flat major / F minor: A-flat, D-flat, E-flat, never G#, C#, D#
        assert "A-" in melody and not set().union(*spelled) & {"G#", "C#", "D#", "A#"}
    else:  # E major keeps its G#, C#, D#, F#
        assert {"G#", "C#", "D#", "F#"} <= melody and not set().union(*spelled) & {"A-", "D-", "E-", "G-"}
    if key == "f":
        assert "E" in melody  # the leading tone, E natural, not F-flat
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "c.mid"))
    expected = key_number if key_number is not None else pretty_midi.key_name_to_key_number(
        {"A-": "Ab Major", "E": "E Major"}[key])
    assert [k.key_number for k in midi.key_signature_changes] == [expected]


def test_a_musicxml_key_signature_is_kept_and_its_mode_found():
    from music21 import key, meter, note, stream

    from musicvae.chorale_outputs import key_spellings
    from musicvae.harmonize import melody_key

    def part(notes, signature):
        return stream.Part([meter.TimeSignature("4/4"), signature] + [note.Note(p) for p, _, _ in notes])

    minor = part(F_MINOR, key.KeySignature(-4))  # <fifths>-4</fifths> and no <mode>
    assert melody_key(stream.Score([minor]), minor) == ("f", False)
    major = part(AB_MAJOR, key.KeySignature(-4))
    assert melody_key(stream.Score([major]), major) == ("A-", False)
    d_major = part(AB_MAJOR, key.Key("D"))  # a stated key wins over what the notes suggest
    assert melody_key(stream.Score([d_major]), d_major) == ("D", False)
    plain = stream.Part([meter.TimeSignature("4/4")] + [note.Note(p) for p, _, _ in E_MAJOR])
    assert melody_key(stream.Score([plain]), plain) == ("E", True)
    assert [key_spellings("g#")[pc] for pc in (7, 8, 11)] == ["F##", "G#", "B"]  # G# minor's leading tone
    assert key_spellings("E")[0] == "C" and key_spellings("G-")[9] == "A"  # fewer accidentals when chromatic


def test_cli_harmonize_writes_files_and_bad_input_exits_2(instrument, tmp_path, capsys):
    folder = instrument.save(tmp_path / "acc")
    melody = _midi(tmp_path / "m.mid", SCALE)
    out = tmp_path / "out" / "c.mid"
    assert main(["harmonize", str(folder), str(melody), "-o", str(out), "--musicxml", str(tmp_path / "c.xml"),
                 "--plot", str(tmp_path / "c.png"), "--variations", "2", "--seed", "1"]) == 0
    assert out.is_file() and (tmp_path / "out" / "c_var2.mid").is_file() and (tmp_path / "c.png").is_file()
    odd = _midi(tmp_path / "waltz.mid", SCALE, ts=(3, 4))
    assert main(["harmonize", str(folder), str(odd), "-o", str(tmp_path / "w.mid")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "only 4/4" in err[0] and not (tmp_path / "w.mid").exists()


def test_shipped_accompanist_harmonises_the_example_chorale(tmp_path):
    from musicvae.instrument import available_instruments

    if "bach-accompanist" not in available_instruments():
        pytest.skip("instruments/bach-accompanist is not trained in this checkout")
    shipped = Instrument.load("bach-accompanist")
    result = harmonize(shipped, EXAMPLE, variations=2, seed=0)
    grid = result.grids[0]
    lower = grid.pitches[1:, grid.pickup_steps :]
    assert (lower >= 0).mean() > 0.9  # the three voices sing under the melody
    ranges = shipped.config.model.representation.ranges
    assert ranges == codec.VOICE_RANGES  # the shipped instrument uses Bach's written ranges
    for v, (low, high) in enumerate(ranges[1:], start=1):
        sung = grid.pitches[v][grid.pitches[v] >= 0]
        assert sung.min() >= low and sung.max() <= high
    assert (result.grids[1].pitches != grid.pitches).any()  # a variation differs from the mean
