"""Spectrogram analysis and inversion: shapes, exactness of our STFT, inversion quality on real renders."""

import numpy as np
import pytest
import torch

from musicvae.audio.spectrogram import (
    Spectrogram,
    _OverlapAdd,
    griffin_lim,
    griffin_lim_plan,
    log_spectral_distance_db,
    mel_inverse,
    phase_gradient_init,
    spectral_convergence_db,
)

RATE = 16_000


def tone(pitch: float, *, seconds: float = 1.0, decay: float = 0.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.3 * wave * np.exp(-decay * t)).astype(np.float32)


def test_shapes_mel_and_linear():
    audio = torch.from_numpy(np.stack([tone(60), tone(72, decay=4)]))
    mel = Spectrogram(sample_rate=RATE, n_samples=RATE)
    assert mel.shape == (80, 63)
    assert mel.analyze(audio).shape == (2, 80, 63)
    linear = Spectrogram(sample_rate=RATE, n_samples=RATE, n_mels=0)
    assert linear.analyze(audio).shape == (2, 513, 63)
    x = mel.analyze(audio)
    assert x.min() >= -1.0 - 1e-6 and x.max() < 1.5  # normalised


def test_row_frequencies_are_where_a_tone_peaks():
    # A pure 1 kHz tone: its loudest row sits at the row frequency nearest 1 kHz, mel and linear.
    t = np.arange(RATE) / RATE
    audio = torch.from_numpy((0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    for spec in (Spectrogram(sample_rate=RATE, n_samples=RATE), Spectrogram(sample_rate=RATE, n_samples=RATE,
                                                                            n_mels=0)):
        hz = spec.frequencies
        assert hz.shape == (spec.n_bins,) and np.all(np.diff(hz) > 0) and hz[-1] <= RATE / 2
        loudest = int(spec.analyze(audio)[:, 30].argmax())
        assert abs(loudest - int(np.abs(hz - 1000.0).argmin())) <= 1


def test_our_transforms_equal_torch_stft_istft():
    torch.manual_seed(0)
    x = torch.randn(2, RATE)
    window = torch.hann_window(1024)
    ola = _OverlapAdd(n_fft=1024, hop_length=256, frames=63, length=RATE, window=window)
    reference = torch.stft(x, 1024, 256, window=window, center=True, pad_mode="constant", return_complex=True)
    padded = torch.nn.functional.pad(x, (512, 512))[:, : ola.padded]
    assert torch.allclose(ola.stft(padded), reference.transpose(1, 2), atol=1e-3)
    back = ola.crop(ola.istft_padded(reference.transpose(1, 2)))
    assert torch.allclose(back, x, atol=1e-4)


def test_mel_inverse_maps_flat_spectrum_to_itself():
    spec = Spectrogram(sample_rate=RATE, n_samples=RATE)
    flat = torch.ones(513, 1)
    back = mel_inverse(spec.mel_basis) @ (spec.mel_basis @ flat)
    covered = spec.mel_basis.sum(0) > 0
    assert torch.allclose(back[covered], flat[covered], atol=1e-4)


def test_phase_gradient_init_follows_a_steady_tone():
    spec = Spectrogram(sample_rate=RATE, n_samples=RATE, n_mels=0)
    stft = spec.stft(torch.from_numpy(tone(69)))
    phase = phase_gradient_init(stft.abs(), n_fft=1024, hop_length=256)
    peak = int(stft.abs()[:, 30].argmax())
    # Frame-to-frame advance of the true phase and of the estimate agree at the peak bin.
    true_step = torch.angle(stft[peak, 31] / stft[peak, 30])
    est_step = torch.angle(torch.polar(torch.ones(()), phase[peak, 31] - phase[peak, 30]))
    assert abs(float(true_step - est_step)) < 0.3


@pytest.mark.parametrize("n_mels", [0, 80])
def test_inversion_of_real_renders_converges(rendered_notes, n_mels):
    spec = Spectrogram(sample_rate=RATE, n_samples=RATE, n_mels=n_mels)
    audio = torch.from_numpy(rendered_notes)
    logspec = spec.analyze(audio)
    out = spec.invert(logspec, iters=16)
    assert out.shape == audio.shape and torch.isfinite(out).all()
    sc = spectral_convergence_db(spec.from_log(logspec), spec.from_log(spec.analyze(out)))
    lsd = log_spectral_distance_db(spec.log_to_db(logspec), spec.log_to_db(spec.analyze(out)))
    assert float(sc.max()) < (-25.0 if n_mels == 0 else -15.0)
    assert float(lsd.max()) < 3.0
    # Starting from zero phase and a random one is worse at the same iteration count.
    worse = spec.invert(logspec, iters=16, init="zeros")
    sc_worse = spectral_convergence_db(spec.from_log(logspec), spec.from_log(spec.analyze(worse)))
    assert float(sc.mean()) <= float(sc_worse.mean()) + 1.0


def test_griffin_lim_checks_shapes():
    with pytest.raises(ValueError, match="does not fit"):
        griffin_lim(torch.ones(100, 63), n_fft=1024, hop_length=256, length=RATE)
    with pytest.raises(ValueError, match="unknown phase init"):
        griffin_lim(torch.ones(513, 63), n_fft=1024, hop_length=256, length=RATE, init="pghi-heap")


@pytest.mark.parametrize("n_mels", [80, 0])
def test_an_inversion_plan_changes_nothing_but_the_time(n_mels):
    """A plan built once (what a Spectrogram keeps) inverts exactly as the plan built inside each call."""
    spec = Spectrogram(sample_rate=RATE, n_samples=RATE, n_mels=n_mels)
    magnitude = spec.from_log(spec.analyze(torch.from_numpy(np.stack([tone(60), tone(67, decay=3)]))))
    basis = spec.mel_basis if n_mels else None
    alone = griffin_lim(magnitude, n_fft=1024, hop_length=256, length=RATE, window=spec.window, mel_basis=basis,
                        iters=6)
    planned = griffin_lim(magnitude, n_fft=1024, hop_length=256, length=RATE, iters=6, plan=spec.inversion_plan)
    assert torch.equal(alone, planned)
    assert spec.inversion_plan is spec.inversion_plan  # built once
    assert torch.equal(spec.invert_magnitude(magnitude, iters=6), planned)
    with pytest.raises(ValueError, match="plan is for"):
        griffin_lim(magnitude, n_fft=1024, hop_length=128, length=RATE, plan=spec.inversion_plan)
    with pytest.raises(ValueError, match="multiple of the hop"):
        griffin_lim_plan(n_fft=1000, hop_length=256, length=RATE)
