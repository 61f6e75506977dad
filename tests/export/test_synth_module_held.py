"""The nn~ synth module holds notes as the engine does: the same loop, decay, key-up release and voice freeing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_synth_module import RATE, drive, notes, signals

from musicvae.export import export_instrument
from musicvae.instrument import Instrument
from musicvae.render import render_melody

#: Host blocks: the smallest nn~ sends, one that does not divide the engine's 256-sample tick, the largest.
BLOCKS = (64, 1000, 4096)
# Keys held 1, 3 and 8 s (each let go in its loop) and one let go before its loop's entry (0.69 s).
HELD = [(60, 0.0, 1.0, 100), (67, 1.2, 4.2, 90), (72, 4.3, 4.6, 70), (55, 4.8, 12.8, 110)]


def blend_steps(t: float) -> float:
    """Flute, then a step a held note crossfades to in its loop, then one its key-up (3.0 s) falls inside."""
    return 0.0 if t < 2.0 else 0.25 if t < 2.99 else 0.5


@pytest.fixture(scope="module")
def flute_guitar(tmp_path_factory):
    instrument = Instrument.load("flute-guitar")
    path, _ = export_instrument(instrument, "nn-tilde", tmp_path_factory.mktemp("nn") / "flute-guitar.ts")
    return instrument, path


def rms(audio: np.ndarray, at: float, rate: int = RATE) -> float:
    a = int(at * rate)
    return float(np.sqrt(np.mean(audio[a : a + rate // 10] ** 2)))


@pytest.mark.parametrize("blend", [0.0, 1.0, blend_steps], ids=["flute", "guitar", "steps"])
def test_held_notes_equal_the_offline_render(flute_guitar, blend):
    instrument, path = flute_guitar
    line = HELD if blend != blend_steps else [(64, 0.0, 3.0, 100), (60, 3.2, 4.4, 90)]
    want = render_melody(instrument, notes(line), morph=blend)
    if blend == 0.0:  # a flute held 8 s still sounds at its end, and its release follows the key-up
        assert rms(want, 12.6) > 0.3 * rms(want, 5.5) > 1e-3
        assert len(want) > int(12.85 * RATE)
    if blend == 1.0:  # a guitar held on decays away and frees its voice before the key goes up
        assert rms(want, 12.6) == 0.0 < rms(want, 5.0)
    curve = blend if callable(blend) else (lambda t: blend)
    x = signals(line, len(want), blend=curve)
    for block in BLOCKS:
        module = torch.jit.load(str(path))
        got = drive(module, "play", x, block)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=f"block {block}")


def test_held_notes_at_a_sound_card_rate(tmp_path):
    """Exported for a 44.1 kHz host, a held note loops at the samples the Python synth loops it at."""
    instrument = Instrument.load("flute-guitar")
    path, _ = export_instrument(instrument, "nn-tilde", tmp_path / "fg44.ts", sample_rate=44100)
    line = [(62, 0.0, 3.0, 100), (69, 3.1, 4.0, 80)]
    want = render_melody(instrument, notes(line), morph=0.3, sample_rate=44100)
    assert rms(want, 2.8, 44100) > 0.1 * rms(want, 0.5, 44100)  # still sounding near its key-up (1-s notes)
    x = signals(line, len(want), blend=lambda t: 0.3, rate=44100)
    for block in (64, 4096):
        module = torch.jit.load(str(path))
        np.testing.assert_allclose(drive(module, "play", x, block), want, atol=1e-4, rtol=0, err_msg=f"{block}")


def test_decode_holds_notes_too(flute_guitar):
    """``decode`` loops a held note as ``play`` does at the same latent (the blend's step-0 one at its pitch)."""
    instrument, path = flute_guitar
    module = torch.jit.load(str(path))
    z = module.latents[66 - instrument.model.pitch_range[0], 0].numpy()
    line = [(66, 0.0, 2.5, 100)]
    want = render_melody(instrument, notes(line), morph=0.0)
    x = signals(line, len(want), channels=2 + len(z))
    x[0, 2:] = z[:, None]
    np.testing.assert_allclose(drive(module, "decode", x, 512), want, atol=1e-4, rtol=0)


def test_stealing_a_voice_in_its_release_from_the_loop(tmp_path):
    """Two voices: a new note steals a voice playing the decoded release of a note held into its loop, once
    past the loop's crossfade into the release and once inside it (20 ms after its key-up)."""
    from musicvae.export.synth_module import build_synth_module

    instrument = Instrument.load("flute-guitar")
    path = tmp_path / "fg2.ts"
    torch.jit.script(build_synth_module(instrument, voices=2)).save(str(path))
    line = [(60, 0.0, 1.5, 100), (64, 1.5, 1.6, 90), (67, 1.6, 3.0, 110), (62, 3.0, 3.02, 80), (65, 3.02, 3.3, 70)]
    want = render_melody(instrument, notes(line), morph=0.6, voices=2)
    x = signals(line, len(want), blend=lambda t: 0.6)
    for block in (64, 4096):
        module = torch.jit.load(str(path))
        np.testing.assert_allclose(drive(module, "play", x, block), want, atol=1e-4, rtol=0, err_msg=f"{block}")
        assert module.stolen == 2


def test_the_loop_of_every_note_is_the_engines():
    """Across the pitch range and the blend: the module's loop starts, entry, decay and key-up are the Python
    synth's (:func:`musicvae.realtime.synth.timbre_note_decoder`), the loop buffer its samples."""
    from musicvae import blend as blend_lib
    from musicvae.export.graphs.timbre import timbre_notes
    from musicvae.export.sustain_module import sustain_loop
    from musicvae.realtime.synth import timbre_note_decoder

    instrument = Instrument.load("flute-guitar")
    decode = timbre_note_decoder(instrument)
    module_notes = torch.jit.script(timbre_notes(instrument))
    n_out = instrument.config.model.spectrogram.n_samples
    loop = torch.jit.script(sustain_loop(instrument, out_rate=RATE, n_out=n_out))
    low, high = instrument.model.pitch_range
    decays = []
    for amount in (0.0, 0.5, 1.0):
        for pitch in range(low, high + 1, 3):
            za, zb = (blend_lib.family_latent(instrument, family, pitch) for family in ("flute", "guitar"))
            z = torch.from_numpy(blend_lib.mix_latent(za, zb, amount, method="slerp")).float()
            want = decode(pitch, amount)
            with torch.no_grad():  # as the synth module decodes
                audio, frames = module_notes(z.unsqueeze(0), torch.tensor([pitch]), torch.tensor([100.0]))
                got = loop(frames[0], audio[0].contiguous(), pitch)
            assert want.loop is not None and got.loop.numel() == len(want.loop), (amount, pitch)
            assert (got.entry, got.crossfade, got.release) == (want.entry, want.crossfade, want.release)
            assert got.decay == pytest.approx(want.decay, rel=1e-9, abs=1e-15)
            np.testing.assert_allclose(got.loop.numpy(), want.loop, atol=1e-4, rtol=0)
            decays.append(want.decay)
    assert min(decays) < 0.0 == max(decays)  # some notes decay (guitar), none rises
