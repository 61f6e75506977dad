"""The nn~ synth module: loaded with torch.jit.load and driven in blocks, it plays what the offline renderer plays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.automation import parse_morph
from musicvae.export import export_instrument
from musicvae.instrument import Instrument
from musicvae.midi.reader import MidiNote
from musicvae.render import fit_level, render_melody

RATE = 16000
BLOCKS = (64, 256, 1024, 4096)
# A monophonic line: gaps, a legato change of pitch (one note ends where the next starts), short and long notes.
MELODY = [(60, 0.0, 0.30, 100), (64, 0.30, 0.55, 80), (67, 0.60, 0.95, 110), (72, 1.00, 1.12, 60),
          (65, 1.12, 1.60, 90), (62, 1.70, 2.20, 127)]


def signals(melody, n: int, *, blend=lambda t: 0.0, channels: int = 3, rate: int = RATE) -> np.ndarray:
    """[1, channels, n]: gate (velocity / 127 while a note sounds), pitch (held after its note), blend."""
    x = np.zeros((1, channels, n), np.float32)
    for pitch, start, end, velocity in melody:
        a, b = int(round(start * rate)), int(round(end * rate))
        x[0, 0, a:b], x[0, 1, a:b] = velocity / 127, pitch
    held = np.maximum.accumulate(np.where(x[0, 1] > 0, np.arange(n), 0))
    x[0, 1] = x[0, 1, held]
    if channels == 3:
        x[0, 2] = [blend(i / rate) for i in range(n)]
    return x


def drive(module, method: str, x: np.ndarray, block: int) -> np.ndarray:
    run = getattr(module, method)
    return np.concatenate([run(torch.from_numpy(x[:, :, i : i + block]))[0, 0].numpy()
                           for i in range(0, x.shape[2], block)])


def notes(melody) -> list[MidiNote]:
    return [MidiNote(pitch=p, velocity=v, start=s, end=e) for p, s, e, v in melody]


@pytest.fixture(scope="module")
def flute_guitar(tmp_path_factory):
    instrument = Instrument.load("flute-guitar")
    path, _ = export_instrument(instrument, "nn-tilde", tmp_path_factory.mktemp("nn") / "flute-guitar.ts")
    return instrument, path


def test_methods_in_nn_tilde_convention(flute_guitar):
    instrument, path = flute_guitar
    module = torch.jit.load(str(path))
    z_dim = instrument.config.model.z_dim
    assert module.get_methods() == ["play", "decode"]
    assert module.play_params.tolist() == [3, 1, 1, 1]
    assert module.decode_params.tolist() == [2 + z_dim, 1, 1, 1]
    assert module.get_sample_rate() == RATE
    assert len(module.decode_input_labels) == 2 + z_dim
    with pytest.raises(torch.jit.Error, match="one stream"):
        module.play(torch.zeros(2, 3, 64))


def test_play_equals_the_offline_render_at_every_block_size(flute_guitar):
    instrument, path = flute_guitar
    curve = parse_morph("0:0,2:1")  # a blend sweep: held notes crossfade from step to step
    want = render_melody(instrument, notes(MELODY), morph=curve)
    assert 0.05 < np.max(np.abs(want)) < 0.9  # not scaled to the peak: the render is the engine's output
    x = signals(MELODY, len(want), blend=curve)
    for block in BLOCKS:
        module = torch.jit.load(str(path))  # a fresh stream
        got = drive(module, "play", x, block)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=f"block {block}")
    # Every (pitch, blend step) the line reached was decoded by the module itself.
    assert len(module.cache) >= len(MELODY)


def test_play_at_a_sound_card_rate_equals_the_offline_render_at_that_rate(tmp_path):
    """Exported for a 44.1 kHz host, the notes are resampled as the Python synth resamples them."""
    instrument = Instrument.load("flute-guitar")
    path, summary = export_instrument(instrument, "nn-tilde", tmp_path / "fg44.ts", sample_rate=44100)
    assert "44100 Hz" in summary
    line = MELODY[2:5]
    want = render_melody(instrument, notes(line), morph=0.7, sample_rate=44100)
    x = signals(line, len(want), blend=lambda t: 0.7, rate=44100)
    for block in (64, 4096):
        module = torch.jit.load(str(path))
        assert module.get_sample_rate() == 44100
        np.testing.assert_allclose(drive(module, "play", x, block), want, atol=1e-4, rtol=0, err_msg=f"{block}")


def test_voice_stealing_and_decode_from_latent_channels(tmp_path, small):
    from musicvae.export.synth_module import build_synth_module

    instrument = small("timbre")
    module = torch.jit.script(build_synth_module(instrument, voices=2))
    module.save(str(tmp_path / "synth.ts"))
    # Notes 20 ms apart: with 50 ms releases the third note finds both voices busy and steals one.
    fast = [(60 + i % 5, 0.02 * i, 0.02 * i + 0.015, 30 + 7 * i) for i in range(12)] + [(62, 0.4, 0.5, 64)]
    want = render_melody(instrument, notes(fast), morph=0.3, voices=2)
    x = signals(fast, len(want), blend=lambda t: 0.3)
    for block in (64, 4096):
        loaded = torch.jit.load(str(tmp_path / "synth.ts"))
        got = drive(loaded, "play", x, block)
        assert np.max(np.abs(got)) < 1.0  # unclipped, so that the render's level fit is the only difference
        np.testing.assert_allclose(fit_level(got), want, atol=1e-4, rtol=0, err_msg=f"block {block}")
    assert loaded.stolen > 0
    # decode: the latent channels carry the blend's step-0 latent (the same at every pitch: this instrument
    # stores no means by pitch); the same notes as playing at blend 0.
    z = loaded.latents[0, 0].numpy()
    want = render_melody(instrument, notes(fast), morph=0.0, voices=2)
    x = signals(fast, len(want), channels=2 + len(z))
    x[0, 2:] = z[:, None]
    loaded = torch.jit.load(str(tmp_path / "synth.ts"))
    np.testing.assert_allclose(fit_level(drive(loaded, "decode", x, 256)), want, atol=1e-4, rtol=0)


def test_the_module_blends_between_the_families_latents_at_each_pitch(small):
    from musicvae import blend
    from musicvae.export.synth_module import build_synth_module
    from musicvae.instrument import Instrument

    instrument = small("timbre")
    low, high = instrument.model.pitch_range
    z = instrument.config.model.z_dim
    by_pitch = {f"pitch_latent.{f}": torch.randn(high - low + 1, z, generator=torch.Generator().manual_seed(k))
                for k, f in enumerate(("flute", "guitar"))}
    instrument = Instrument(config=instrument.config, model=instrument.model, extras={**instrument.extras, **by_pitch})
    module = build_synth_module(instrument, voices=1, morph_steps=4)
    assert tuple(module.latents.shape) == (high - low + 1, 5, z)
    for pitch in (low, (low + high) // 2, high):
        za, zb = blend.family_latent(instrument, "flute", pitch), blend.family_latent(instrument, "guitar", pitch)
        np.testing.assert_allclose(module.latents[pitch - low, 0].numpy(), za, atol=1e-6)
        np.testing.assert_allclose(module.latents[pitch - low, 4].numpy(), zb, atol=1e-6)
        np.testing.assert_allclose(module.latents[pitch - low, 2].numpy(), blend.mix_latent(za, zb, 0.5), atol=1e-6)


def test_reset_starts_a_new_stream(tmp_path, small):
    from musicvae.export.synth_module import build_synth_module

    module = torch.jit.script(build_synth_module(small("timbre")))
    x = signals([(61, 0.0, 0.1, 100)], 4000)
    first = drive(module, "play", x, 512)
    assert np.max(np.abs(first)) > 1e-3
    module.reset()
    np.testing.assert_array_equal(drive(module, "play", x, 1000), first)
