"""The timbre model: shapes, pitch conditioning, autoencoder and denoising settings, a few real training steps."""

import pytest
import torch

from musicvae.errors import InputError
from musicvae.models.latent import kl_divergence
from musicvae.models.spectrogram_vae import SpectrogramVAE


def tiny(**kwargs) -> SpectrogramVAE:
    torch.manual_seed(0)
    defaults = dict(n_bins=20, n_frames=15, z_dim=4, channels=(4, 8), min_pitch=60, max_pitch=64, pitch_embedding=4)
    return SpectrogramVAE(**{**defaults, **kwargs})


def test_shapes_and_padding():
    model = tiny()
    spec = torch.rand(3, 20, 15) * 2 - 1
    out = model(spec, torch.tensor([60, 62, 64]), torch.tensor([20.0, 100.0, 127.0]))
    assert out["recon"].shape == (3, 20, 15)
    assert out["mu"].shape == out["sigma"].shape == out["z"].shape == (3, 4)
    assert (out["sigma"] > 0).all()
    # Linear spectrograms (513 bins) pad to a multiple of 2**layers and crop back.
    big = tiny(n_bins=513, n_frames=63, channels=(4, 4, 4))
    assert big(torch.zeros(1, 513, 63), torch.tensor([61]))["recon"].shape == (1, 513, 63)


def test_pitch_outside_the_trained_range_names_the_range():
    model = tiny()
    with pytest.raises(InputError, match=r"pitch 59 .*MIDI 60\.\.64"):
        model.decode(torch.zeros(1, 4), torch.tensor([59]))
    with pytest.raises(InputError, match="pitch 90"):
        model.decode(torch.zeros(2, 4), torch.tensor([60, 90]))


def test_decoder_depends_on_pitch_and_velocity():
    model = tiny()
    for film in model.films:  # FiLM starts as the identity; give it something to say
        torch.nn.init.normal_(film.proj.weight, std=0.5)
    z = torch.zeros(2, 4)
    with torch.no_grad():
        by_pitch = model.decode(z, torch.tensor([60, 64]))
        by_velocity = model.decode(z, torch.tensor([60, 60]), torch.tensor([20.0, 120.0]))
    assert not torch.allclose(by_pitch[0], by_pitch[1])
    assert not torch.allclose(by_velocity[0], by_velocity[1])


def test_autoencoder_setting_is_deterministic_and_denoising_only_while_training():
    spec = torch.rand(2, 20, 15)
    pitch = torch.tensor([60, 61])
    ae = tiny(variational=False)
    a, b = ae(spec, pitch)["recon"], ae(spec, pitch)["recon"]
    assert torch.equal(a, b)
    noisy = tiny(input_noise=0.5)
    noisy.train()
    assert not torch.equal(noisy(spec, pitch, sample_z=False)["mu"], noisy(spec, pitch, sample_z=False)["mu"])
    noisy.eval()
    assert torch.equal(noisy(spec, pitch, sample_z=False)["mu"], noisy(spec, pitch, sample_z=False)["mu"])


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = tiny()
    # Two "instruments": bright and dark spectra, at two pitches.
    freq = torch.linspace(0, 1, 20)[:, None].expand(20, 15)
    spec = torch.stack([freq - 0.5, 0.5 - freq, freq - 0.3, 0.3 - freq])
    pitch = torch.tensor([60, 60, 63, 63])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        out = model(spec, pitch, generator=torch.Generator().manual_seed(1))
        return (out["recon"] - spec).square().sum((1, 2)).mean() + 0.01 * kl_divergence(out["mu"], out["sigma"]).mean()

    first = float(loss().detach())
    for _ in range(60):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss().detach()) < 0.5 * first
