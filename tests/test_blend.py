"""Blend verbs and the ``blend`` command on a tiny instrument trained through the real Lightning path."""

import numpy as np
import pretty_midi
import pytest
import soundfile
from timbre_fixtures import make_tiny_instrument

from musicvae import blend, render
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
    assert audio.ndim == 1 and len(audio) >= int((0.75 + 0.2) * 16_000)
    assert np.isfinite(audio).all() and 0 < np.abs(audio).max() <= render.PEAK
    with pytest.raises(InputError, match=r"high\.mid: pitch 72 lies outside .*MIDI 60\.\.62"):
        blend.play_midi(tiny, _midi(tmp_path / "high.mid", [60, 72]))
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(InputError, match="unreadable or truncated MIDI file"):
        blend.play_midi(tiny, tmp_path / "bad.mid")
    with pytest.raises(InputError, match="the MIDI file has no notes"):
        blend.play_midi(tiny, _midi(tmp_path / "empty.mid", []))


def test_blend_command(tiny, tmp_path, capsys):
    out = tmp_path / "cli.wav"
    assert main(["blend", str(tiny.path), "--pitch", "60", "--steps", "3", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["blend", str(tiny.path), "--pitch", "90", "-o", str(tmp_path / "x.wav")]) == 2
    assert "outside the range" in capsys.readouterr().err
    midi = _midi(tmp_path / "m.mid", [60, 62])
    assert main(["blend", str(tiny.path), "--midi", str(midi), "--morph", "0.3", "-o", str(tmp_path / "m.wav")]) == 0
    assert not (tmp_path / "x.wav").exists()  # nothing half-written on error


def test_blend_midi_and_synth_midi_file_write_the_same_samples(tiny, tmp_path):
    """One offline renderer: ``blend --midi`` and ``synth --midi-file`` on the same file and morph."""
    midi = pretty_midi.PrettyMIDI()
    part = pretty_midi.Instrument(program=0)
    # Overlapping notes, velocities from soft to loud, a repeated pitch, and a pedal that holds two of them.
    part.notes = [pretty_midi.Note(30 + 12 * i, 60 + i % 3, 0.15 * i, 0.15 * i + 0.4) for i in range(8)]
    part.control_changes = [pretty_midi.ControlChange(64, 127, 0.5), pretty_midi.ControlChange(64, 0, 1.4)]
    midi.instruments.append(part)
    midi.write(str(tmp_path / "m.mid"))
    for voices in ("8", "2"):  # 2 voices: note-ons steal voices, in both commands alike
        a, b = tmp_path / f"blend{voices}.wav", tmp_path / f"synth{voices}.wav"
        assert main(["blend", str(tiny.path), "--midi", str(tmp_path / "m.mid"), "--morph", "0:0,1.2:1",
                     "--voices", voices, "-o", str(a)]) == 0
        assert main(["synth", str(tiny.path), "--midi-file", str(tmp_path / "m.mid"), "--morph", "0:0,1.2:1",
                     "--voices", voices, "-o", str(b)]) == 0
        (blended, rate_a), (synthed, rate_b) = soundfile.read(a, dtype="float32"), soundfile.read(b, dtype="float32")
        assert rate_a == rate_b == 16_000
        np.testing.assert_array_equal(blended, synthed)
        assert len(blended) > 1.4 * rate_a and 0 < np.abs(blended).max() <= render.PEAK  # never clipped
    assert not np.array_equal(soundfile.read(tmp_path / "blend8.wav")[0], soundfile.read(tmp_path / "blend2.wav")[0])


def test_offline_level_is_scaled_down_as_a_whole_never_clipped():
    loud = np.array([0.0, 0.5, -1.8, 1.2], np.float32)
    fitted = render.fit_level(loud)
    assert np.abs(fitted).max() == pytest.approx(render.PEAK)
    np.testing.assert_allclose(fitted / fitted[1], loud / loud[1], rtol=1e-6)  # one gain: the shape is kept
    quiet = np.array([0.1, -0.3], np.float32)
    assert render.fit_level(quiet) is quiet
