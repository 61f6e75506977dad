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
    with pytest.raises(InputError, match="knows: flute, guitar"):
        blend.family_latent(tiny, "banjo", 61)


def test_family_latents_by_pitch_are_the_means_of_the_notes_at_that_pitch(tiny):
    import torch

    from musicvae.kinds.timbre import build_spectrogram
    from musicvae.kinds.timbre.data import load_timbre_notes
    from musicvae.kinds.timbre.training import family_mean_latents, spectrogram_set

    train = load_timbre_notes(tiny.config.data, split="train")
    data = spectrogram_set(train, build_spectrogram(tiny.config))
    with torch.inference_mode():
        mu = tiny.model.encode(data.spec)[0].numpy()
    flute = train.family == train.families.index("flute")
    for pitch in (60, 61, 62):
        at = flute & (train.pitch == pitch)
        assert at.any()
        np.testing.assert_allclose(blend.family_latent(tiny, "flute", pitch), mu[at].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(blend.family_latent(tiny, "flute"), mu[flute].mean(axis=0), atol=1e-5)
    assert not np.allclose(blend.family_latent(tiny, "flute", 60), blend.family_latent(tiny, "flute", 62))
    with pytest.raises(InputError, match=r"pitch 70 .*MIDI 60\.\.62"):
        blend.family_latent(tiny, "flute", 70)
    # A pitch with no notes of a family takes the mean of its nearest pitches' means.
    only_ends = data[np.flatnonzero(np.isin(train.pitch, [60, 62]))]
    table = family_mean_latents(tiny.model, only_ends, train.families)["pitch_latent.flute"]
    np.testing.assert_allclose(table[1].numpy(), (table[0].numpy() + table[2].numpy()) / 2, atol=1e-6)


def test_an_instrument_without_latents_by_pitch_blends_from_its_overall_means(tiny):
    older = Instrument(config=tiny.config, model=tiny.model,
                       extras={k: v for k, v in tiny.extras.items() if not k.startswith(blend.PITCH_LATENT)})
    np.testing.assert_array_equal(blend.family_latent(older, "flute", 61), blend.family_latent(tiny, "flute"))
    result = blend.blend(older, pitch=61, steps=2)
    endpoint = blend.decode_spectrograms(older, blend.family_latent(tiny, "flute")[None], 61)
    np.testing.assert_allclose(result.spectrograms[0], endpoint[0], atol=1e-5)


def test_blend_decodes_the_path_with_exact_endpoints(tiny, tmp_path):
    result = blend.blend(tiny, pitch=61, steps=4)
    assert result.audio.shape == (4, 8000) and np.isfinite(result.audio).all()
    assert result.spectrograms.shape == (4, 80, 32)
    # The endpoints are the families' mean latents at the pitch played.
    endpoint = blend.decode_spectrograms(tiny, blend.family_latent(tiny, "flute", 61)[None], 61)
    assert np.allclose(result.spectrograms[0], endpoint[0], atol=1e-5)
    last = blend.decode_spectrograms(tiny, blend.family_latent(tiny, "guitar", 61)[None], 61)
    assert np.allclose(result.spectrograms[-1], last[0], atol=1e-5)
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


def _tone(path, midi_pitch, *, kind, peak=0.5, rate=16_000, seconds=1.0):
    """A 1-s sine or sawtooth note at ``midi_pitch`` (10-ms attack, 200-ms release), written with soundfile."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = 440.0 * 2 ** ((midi_pitch - 69) / 12)
    wave = np.sin(2 * np.pi * f0 * t) if kind == "sine" else 2 * ((t * f0) % 1.0) - 1
    envelope = np.minimum(1, t / 0.01) * np.clip((seconds - t) / 0.2, 0, 1)
    soundfile.write(path, (peak * wave * envelope).astype(np.float32), rate)
    return path


def test_a_users_notes_are_matched_to_the_training_level(tiny, tmp_path):
    from musicvae.audio.loaders import at_level, read_note, rms_db
    from musicvae.kinds.timbre.data import load_timbre_notes, training_level_db

    level = blend.training_level(tiny)
    notes = tiny.config.model.spectrogram
    # The tiny recipe is built: the level is its training notes' median.
    train = np.asarray(load_timbre_notes(tiny.config.data, split="train").audio)
    assert level == pytest.approx(np.median([rms_db(n) for n in train]), abs=0.5)
    assert training_level_db(tiny.config.data) == level
    sine = _tone(tmp_path / "sine.wav", 61, kind="sine", rate=22_050)
    note = read_note(sine, sample_rate=notes.sample_rate, n_samples=notes.n_samples, level_db=level)
    assert rms_db(note.audio) == pytest.approx(level, abs=0.01) and note.pitch == 61
    spiky = np.zeros(1000, np.float32)
    spiky[10] = 1.0
    assert np.abs(at_level(spiky, -10.0)).max() == pytest.approx(0.99)  # a peak never passes full scale


def test_users_sine_to_saw_blend_is_at_the_training_level_unclipped_and_warns_of_the_pitch(tmp_path, capsys):
    """The flute-guitar blend of a user's sine (C4) into a user's sawtooth (G4): it clipped 44% of its middle
    step's samples (RMS -2 dBFS) and moved the saw to C4 silently."""
    from musicvae.instrument import available_instruments

    if "flute-guitar" not in available_instruments():
        pytest.skip("instruments/flute-guitar is not trained in this checkout")
    sine, saw = _tone(tmp_path / "sine.wav", 60, kind="sine"), _tone(tmp_path / "saw.wav", 67, kind="saw")
    out = tmp_path / "out.wav"
    assert main(["blend", "flute-guitar", "--from", str(sine), "--to", str(saw), "-o", str(out), "--per-step"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: saw.wav sounds at MIDI 67 (G4), but every step plays at MIDI 60 (C4): its timbre "
                        "is moved there (--pitch N chooses the pitch)"], err
    assert "read sine.wav: pitch 60" in err and "level: notes matched to the training notes' level" in err
    level = blend.training_level(Instrument.load("flute-guitar"))
    assert -24 < level < -17  # the training notes: a flute and two guitars at a -6 dBFS peak
    from musicvae.audio.loaders import rms_db

    for path in [out] + sorted(tmp_path.glob("out_step*.wav")):
        audio, _ = soundfile.read(path, dtype="float32")
        assert np.abs(audio).max() < 1.0, path  # not a sample clipped
    steps = [soundfile.read(p, dtype="float32")[0] for p in sorted(tmp_path.glob("out_step*.wav"))]
    assert len(steps) == 5
    for step in steps:
        assert rms_db(step) == pytest.approx(level, abs=1.0)
    # With --pitch at the saw's pitch the sine is the one moved, and said so.
    result = blend.blend(Instrument.load("flute-guitar"), source=sine, target=saw, pitch=67, steps=3)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("sine.wav sounds at MIDI 60")


def test_a_blend_that_would_clip_is_scaled_down_whole_and_says_so(tiny, tmp_path, monkeypatch):
    sine = _tone(tmp_path / "sine_C#4.wav", 61, kind="sine")
    monkeypatch.setattr(blend, "training_level", lambda instrument: 3.0)  # louder than full scale: it must not clip
    result = blend.blend(tiny, source=sine, target="guitar", steps=3)
    assert np.abs(result.audio).max() == pytest.approx(render.PEAK, rel=1e-5)
    assert "scaled down" in result.level and "does not clip" in result.level
    assert result.messages()[-1].startswith("level: ") and result.warnings == []  # C#4 is the pitch played
    family = blend.blend(tiny, pitch=61, steps=3)  # a blend of family latents keeps its decoded level
    assert family.level == "" and family.messages() == []


def _sine(path, midi_pitch, *, rate=16_000, seconds=1.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440.0 * 2 ** ((midi_pitch - 69) / 12) * t) * np.minimum(1, t / 0.01)
    soundfile.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, rate, subtype="PCM_16")
    return path


def test_bad_note_files_get_one_line_or_a_warning_and_a_result(tiny, tmp_path, capsys):
    def run(*argv):
        status = main(["blend", str(tiny.path), *argv, "-o", str(tmp_path / "out.wav")])
        return status, capsys.readouterr().err.strip().splitlines()

    # Far outside the trained pitches (MIDI 60..62): heard where it is (not an octave inside), one line.
    high = _sine(tmp_path / "high.wav", 100)
    status, err = run("--from", str(high))
    assert status == 2 and len(err) == 1 and "high.wav sounds at MIDI 100, outside" in err[0], err
    assert "--pitch 60..62" in err[0] and not (tmp_path / "out.wav").exists()
    # Played at a pitch it was trained on, it is a warning and a blend.
    status, err = run("--from", str(high), "--pitch", "61")
    assert status == 0 and any("warning: high.wav sounds at MIDI 100 (E7), outside the MIDI 60..62" in e for e in err)
    # Stereo at 44.1 kHz: read as mono at the model's rate, and said so.
    stereo = _sine(tmp_path / "stereo.wav", 61, rate=44_100, channels=2)
    status, err = run("--from", str(stereo))
    assert status == 0 and "read stereo.wav: pitch 61 (stereo 44100 Hz, read as mono 16000 Hz)" in err
    # Ten minutes: only its beginning is read (the note is its first onset), with a warning.
    long = _sine(tmp_path / "long.wav", 60, seconds=600)
    status, err = run("--from", str(long), "--to", "guitar")
    assert status == 0 and any("long.wav lasts 10.0 minutes" in e for e in err), err
    audio, _ = soundfile.read(tmp_path / "out.wav")
    assert len(audio) == 5 * 8000 + 4 * int(blend.NOTE_GAP * 16_000)  # five steps of one note each
    # Only noise: no pitch to play it at, one line saying how to give one.
    soundfile.write(tmp_path / "noise.wav", np.random.default_rng(0).normal(0, 0.2, 16_000), 16_000)
    status, err = run("--from", str(tmp_path / "noise.wav"))
    assert status == 2 and len(err) == 1 and "no clear pitch found" in err[0] and "flute_C4.wav" in err[0]
    # Named by its pitch, the noise is read as a note at that pitch.
    (tmp_path / "noise.wav").rename(tmp_path / "noise_C#4.wav")
    assert run("--from", str(tmp_path / "noise_C#4.wav"))[0] == 0
    # An unknown family lists the known ones.
    status, err = run("--to", "banjo")
    assert status == 2 and err == [f"musicvae: error: instrument {tiny.name!r} has no family 'banjo' (nor is it a "
                                   "note file); it knows: flute, guitar"]


def test_the_live_synth_decodes_each_pitch_from_the_families_latents_at_that_pitch(tiny):
    from musicvae.realtime.synth import timbre_note_decoder

    decode = timbre_note_decoder(tiny, iters=4)
    for pitch in (60, 62):
        za, zb = (blend.family_latent(tiny, family, pitch) for family in ("flute", "guitar"))
        z = blend.mix_latent(za, zb, 0.25)
        want = blend.decode(tiny, z[None], pitch, 100, iters=4)[0]
        np.testing.assert_allclose(decode(pitch, 0.25).audio[: len(want)], want, atol=1e-5)
    with pytest.raises(InputError, match="knows: flute, guitar"):
        timbre_note_decoder(tiny, source="banjo")
