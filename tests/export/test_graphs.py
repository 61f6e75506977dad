"""ONNX (through onnxruntime) and TorchScript (through torch.jit.load) exports of every kind against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae import blend
from musicvae.export import export_instrument
from musicvae.export.onnx import run_onnx
from musicvae.kinds import get_kind

KINDS = ["melody", "melody-hier", "accompanist", "accompanist-net", "timbre"]


def _chorale_net(instrument) -> bool:
    return instrument.kind == "accompanist" and instrument.config.model.architecture == "chorale-net"


def _reference(instrument, z: torch.Tensor, pitch=None, velocity=None):
    """What the instrument's own Python decoder gives (argmax events, or audio and spectrograms); for a chorale
    net ``pitch`` is the soprano and ``velocity`` the known lower tokens."""
    model = instrument.model
    with torch.no_grad():
        if instrument.kind == "melody":
            tokens, logits = model.decode_steps(z, want_logits=True)
            return tokens.numpy(), logits.numpy()
        if _chorale_net(instrument):
            soprano, lower = pitch, velocity
            logits = model.decode_logits(z, soprano, lower)
            predicted = torch.stack([voice.argmax(-1) for voice in logits], dim=1)
            masks = torch.tensor(model.mask_tokens()).view(1, -1, 1)
            return torch.where(lower == masks, predicted, lower).numpy(), torch.cat(logits, dim=-1).numpy()
        if instrument.kind == "accompanist":
            return instrument.verbs.decode(z.numpy()), torch.cat(model.decode_logits(z), dim=-1).numpy()
    spec = blend.decode_spectrograms(instrument, z.numpy(), pitch.numpy(), velocity.numpy())
    return blend.invert(instrument, spec), spec


def _inputs(instrument, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, instrument.config.model.z_dim, generator=g)
    if _chorale_net(instrument):  # a soprano, and lower voices with about a third of their notes known
        model = instrument.model
        soprano = torch.randint(0, model.soprano_classes, (batch, model.steps), generator=g)
        given = torch.stack([torch.randint(0, c, (batch, model.steps), generator=g) for c in model.voice_classes], 1)
        masks = torch.tensor(model.mask_tokens()).view(1, -1, 1).expand_as(given)
        known = torch.rand(given.shape, generator=g) < 1 / 3
        return z, soprano, torch.where(known, given, masks)
    if instrument.kind != "timbre":
        return (z,)
    low, high = instrument.model.pitch_range
    return z, torch.randint(low, high + 1, (batch,), generator=g), torch.randint(40, 128, (batch,), generator=g).float()


@pytest.mark.parametrize("name", KINDS)
def test_torchscript_file_decodes_as_the_python_decoder(tmp_path, small, name):
    instrument = small(name)
    path, summary = export_instrument(instrument, "torchscript", tmp_path / "decoder.ts")
    loaded = torch.jit.load(str(path))
    for batch, seed in ((1, 1), (5, 2)):  # another batch size than the example's
        inputs = _inputs(instrument, batch, seed)
        with torch.no_grad():
            first, second = loaded(*inputs)
        want_first, want_second = _reference(instrument, *inputs)
        if instrument.kind == "timbre":  # audio [B, n] and spectrograms: the same operations as the Python decode
            np.testing.assert_allclose(first.numpy(), want_first, atol=1e-4, rtol=0)
            np.testing.assert_allclose(second.numpy(), want_second, atol=1e-4, rtol=0)
        else:  # events or tokens must be the same; logits to 1e-4
            np.testing.assert_array_equal(first.numpy(), want_first)
            np.testing.assert_allclose(second.numpy(), want_second, atol=1e-4, rtol=0)
    assert str(instrument.config.model.z_dim) in summary


@pytest.mark.parametrize("name", KINDS)
def test_onnx_file_runs_in_onnxruntime_as_pytorch(tmp_path, small, name):
    instrument = small(name)
    path, _ = export_instrument(instrument, "onnx", tmp_path / "decoder.onnx")
    exportable = get_kind(instrument.kind).export_module(instrument, "onnx")
    for batch, seed in ((1, 3), (4, 4)):  # the batch axis is dynamic
        inputs = _inputs(instrument, batch, seed)
        first, second = run_onnx(path, exportable, inputs)
        with torch.no_grad():
            own_first, own_second = exportable.module(*inputs)  # the PyTorch module it was exported from
        want_first, want_second = _reference(instrument, *inputs)
        if instrument.kind == "timbre":
            np.testing.assert_allclose(first, own_first.numpy(), atol=1e-4, rtol=0)
            np.testing.assert_allclose(second, want_second, atol=1e-4, rtol=0)  # the decoder itself
        else:
            np.testing.assert_array_equal(first, want_first)
            np.testing.assert_allclose(second, want_second, atol=1e-4, rtol=0)
            np.testing.assert_allclose(second, own_second.numpy(), atol=1e-4, rtol=0)


def test_onnx_inversion_is_the_python_griffin_lim_in_real_arithmetic(small):
    """The graph's inversion (DFT matrices, (re, im) pairs, float64) against the Python one's operations (FFTs on
    complex tensors) run in float64: the same algorithm. In float32 the Python decode's own rounding grows through
    the iterations (1e-3 on flute-guitar's notes), which is why the graph does not invert in float32."""
    from musicvae.audio.spectrogram import DEFAULT_MOMENTUM
    from musicvae.export.graphs.timbre import GriffinLim, RealGriffinLim

    instrument = small("timbre")
    spectrogram = blend.spectrogram(instrument)
    logspec = torch.from_numpy(blend.decode_spectrograms(instrument, np.zeros((2, 4), np.float32), [60, 64]))
    options = dict(iters=6, momentum=DEFAULT_MOMENTUM)
    with torch.no_grad():
        real = RealGriffinLim(spectrogram, **options)(logspec)
        complex_ = GriffinLim(spectrogram, **options).double()(logspec.double())
        python = blend.invert(instrument, logspec.numpy(), iters=6)
    np.testing.assert_allclose(real.numpy(), complex_.numpy(), atol=1e-6, rtol=0)
    assert 0.01 < np.max(np.abs(python)) and np.max(np.abs(real.numpy() - python)) < 0.05 * np.max(np.abs(python))


def test_chorale_net_torchscript_without_lower_voices_harmonises_the_bare_soprano(tmp_path, small):
    """``lower`` omitted is every note unknown: the verbs' argmax decode given the soprano; known notes stay."""
    instrument = small("accompanist-net")
    path, summary = export_instrument(instrument, "torchscript", tmp_path / "decoder.ts")
    loaded = torch.jit.load(str(path))
    z, soprano, lower = _inputs(instrument, 3, 5)
    with torch.no_grad():
        tokens, logits = loaded(z, soprano)
        given_tokens, given_logits = loaded(z, soprano, lower)
    np.testing.assert_array_equal(tokens.numpy(), instrument.verbs.decode(z.numpy(), soprano.numpy()))
    known = lower != torch.tensor(instrument.model.mask_tokens()).view(1, -1, 1)
    assert known.any() and torch.equal(given_tokens[known], lower[known])
    assert not torch.allclose(given_logits, logits)  # the known notes condition the others
    assert "MASK = " in summary and "lower [B, 3, 64]" in summary
    with pytest.raises(Exception, match=r"soprano must be \[B, 64\] tokens"):
        loaded(z, soprano[:, :32])
    with pytest.raises(Exception, match=r"lower must be \[B, 3, 64\] tokens"):
        loaded(z, soprano, lower[:, :2])
