"""Blend verbs and the ``blend`` command on a tiny instrument trained through the real Lightning path."""

import numpy as np
import pretty_midi
import pytest
import soundfile
from timbre_fixtures import make_tiny_instrument

from musicvae import blend
from musicvae.cli import main
from musicvae.errors import InputError
from musicvae.instrument import Instrument


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("timbre")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSICVAE_CACHE", str(root / "cache"))
        yield Instrument.load(make_tiny_instrument(root))


def test_instrument_stores_family_latents(tiny):
    assert blend.families(tiny) == ["flute", "guitar"]
    assert blend.family_latent(tiny, "flute").shape == (4,)
    with pytest.raises(InputError, match="knows: flute, guitar"):
        blend.family_latent(tiny, "banjo")


def test_blend_decodes_the_path_with_exact_endpoints(tiny, tmp_path):
    result = blend.blend(tiny, pitch=61, steps=4)
    assert result.audio.shape == (4, 8000) and np.isfinite(result.audio).all()
    assert result.spectrograms.shape == (4, 80, 32)
    endpoint = blend.decode_spectrograms(tiny, blend.family_latent(tiny, "flute")[None], 61)
    assert np.allclose(result.spectrograms[0], endpoint[0], atol=1e-5)
    written = blend.write_blend(result, tmp_path / "b.wav", per_step=True, plot=tmp_path / "b.png")
    assert [p.name for p in written] == ["b.wav"] + [f"b_step{i:02d}.wav" for i in range(4)] + ["b.png"]
    audio, rate = soundfile.read(tmp_path / "b.wav")
    assert rate == 16_000 and len(audio) == 4 * 8000 + 3 * int(blend.NOTE_GAP * rate)
    assert (tmp_path / "b.png").stat().st_size > 1000
    assert result.band_hz.shape == (80,)
    rows, labels = blend.frequency_ticks(result.band_hz)
    assert labels == ["100", "250", "500", "1k", "2k", "4k"]  # 16 kHz audio: 8 kHz is past the top band
    assert rows == sorted(rows) and abs(result.band_hz[rows[3]] - 1000) < 60


def test_pitch_outside_the_range_is_a_clear_error(tiny):
    with pytest.raises(InputError, match=r"pitch 70 .*MIDI 60\.\.62"):
        blend.blend(tiny, pitch=70)


def test_blend_from_a_users_note_file(tiny, tmp_path):
    t = np.arange(12_000) / 44_100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 277.2 * t)] * 2, axis=1)  # C#4, stereo, 44.1 kHz, short
    soundfile.write(tmp_path / "mine_C#4.wav", stereo, 44_100)
    result = blend.blend(tiny, source=tmp_path / "mine_C#4.wav", target="guitar", steps=3)
    assert result.pitch == 61 and result.labels == ("mine_C#4", "guitar")


def _midi(path, pitches):
    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=0)
    part.notes = [pretty_midi.Note(90, p, 0.25 * i, 0.25 * i + 0.2) for i, p in enumerate(pitches)]
    midi.instruments.append(part)
    midi.write(str(path))
    return path


def test_play_midi_with_automation(tiny, tmp_path):
    audio = blend.play_midi(tiny, _midi(tmp_path / "m.mid", [60, 61, 62, 61]), morph="0:0,1:1")
    assert audio.ndim == 1 and len(audio) >= int((0.75 + 0.5) * 16_000)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    with pytest.raises(InputError, match=r"pitch 72, outside .*MIDI 60\.\.62"):
        blend.play_midi(tiny, _midi(tmp_path / "high.mid", [60, 72]))
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(InputError, match="not a readable MIDI file"):
        blend.play_midi(tiny, tmp_path / "bad.mid")
    with pytest.raises(InputError, match="no .*notes"):
        blend.play_midi(tiny, _midi(tmp_path / "empty.mid", []))


def test_sustain_pedal_in_a_midi_file_holds_the_notes_it_catches(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=0)
    part.notes = [pretty_midi.Note(90, 60, 0.0, 0.2), pretty_midi.Note(90, 62, 0.5, 0.7),
                  pretty_midi.Note(90, 64, 1.0, 1.2), pretty_midi.Note(90, 65, 2.0, 2.2),
                  pretty_midi.Note(90, 67, 2.1, 3.0)]
    part.control_changes = [pretty_midi.ControlChange(64, 127, 0.4), pretty_midi.ControlChange(64, 0, 1.5),
                            pretty_midi.ControlChange(64, 100, 1.9)]  # pressed again, never lifted
    midi.instruments.append(part)
    midi.write(str(tmp_path / "pedal.mid"))
    ends = {n.pitch: round(n.end, 3) for n in blend.read_melody(tmp_path / "pedal.mid")}
    # 60 ends before the pedal; 62 and 64 are released under it and sound until it lifts at 1.5 s;
    # 65 is released under a pedal held to the end of the file (67's end).
    assert ends == {60: 0.2, 62: 1.5, 64: 1.5, 65: 3.0, 67: 3.0}


def test_blend_command(tiny, tmp_path, capsys):
    out = tmp_path / "cli.wav"
    assert main(["blend", str(tiny.path), "--pitch", "60", "--steps", "3", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["blend", str(tiny.path), "--pitch", "90", "-o", str(tmp_path / "x.wav")]) == 2
    assert "outside the range" in capsys.readouterr().err
    midi = _midi(tmp_path / "m.mid", [60, 62])
    assert main(["blend", str(tiny.path), "--midi", str(midi), "--morph", "0.3", "-o", str(tmp_path / "m.wav")]) == 0
    assert not (tmp_path / "x.wav").exists()  # nothing half-written on error
