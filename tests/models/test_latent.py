"""Posterior, KL, free bits, beta schedule and interpolation."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from musicvae.errors import ConfigError
from musicvae.models.latent import (
    GaussianPosterior,
    beta_schedule,
    free_bits_kl,
    interpolate,
    kl_divergence,
    lerp,
    reparameterize,
    slerp,
)


def test_kl_matches_hand_computation():
    mu = torch.tensor([[0.5, -1.0]])
    sigma = torch.tensor([[2.0, 0.5]])
    # 1/2 * sum(sigma^2 + mu^2 - log sigma^2 - 1), dim by dim.
    expected = 0.5 * ((4.0 + 0.25 - math.log(4.0) - 1.0) + (0.25 + 1.0 - math.log(0.25) - 1.0))
    assert kl_divergence(mu, sigma).item() == pytest.approx(expected, rel=1e-6)


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 7, generator=gen)
    sigma = torch.rand(4, 7, generator=gen) + 0.1
    reference = torch_kl(Normal(mu, sigma), Normal(torch.zeros_like(mu), torch.ones_like(sigma))).sum(-1)
    torch.testing.assert_close(kl_divergence(mu, sigma), reference)


def test_kl_is_zero_at_prior_and_positive_elsewhere():
    zero = kl_divergence(torch.zeros(1, 5), torch.ones(1, 5))
    assert zero.item() == pytest.approx(0.0, abs=1e-7)
    for mu, sigma in [(0.1, 1.0), (0.0, 0.9), (0.0, 1.1), (-0.2, 0.5)]:
        assert kl_divergence(torch.full((1, 5), mu), torch.full((1, 5), sigma)).item() > zero.item()


def test_free_bits():
    kl = torch.tensor([0.0, 1.0, 10.0])
    out = free_bits_kl(kl, 2.0)  # 2 bits = 2 ln 2 nats ~ 1.386
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 10.0 - 2 * math.log(2)]))
    torch.testing.assert_close(free_bits_kl(kl, 0.0), kl)


def test_beta_schedule_endpoints():
    assert beta_schedule(0, max_beta=0.2, rate=0.999) == 0.0
    assert beta_schedule(10**6, max_beta=0.2, rate=0.999) == pytest.approx(0.2)
    assert beta_schedule(100, max_beta=0.2, rate=0.99) == pytest.approx((1 - 0.99**100) * 0.2)
    assert beta_schedule(5, max_beta=0.0, rate=0.99) == 0.0


def test_posterior_shapes_and_positive_sigma():
    head = GaussianPosterior(6, 3)
    mu, sigma = head(torch.randn(4, 6) * 100)
    assert mu.shape == sigma.shape == (4, 3)
    assert (sigma > 0).all()


def test_reparameterize_is_seeded_and_differentiable():
    mu = torch.zeros(2, 3, requires_grad=True)
    sigma = torch.ones(2, 3, requires_grad=True)
    a = reparameterize(mu, sigma, generator=torch.Generator().manual_seed(1))
    b = reparameterize(mu, sigma, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    a.sum().backward()
    assert mu.grad is not None and sigma.grad is not None


def test_slerp_endpoints_and_unit_norm():
    gen = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(16, generator=gen), dim=0)
    b = torch.nn.functional.normalize(torch.randn(16, generator=gen), dim=0)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    for t in (0.1, 0.5, 0.9):
        assert slerp(a, b, t).norm().item() == pytest.approx(1.0, abs=1e-5)
    # The linear midpoint of two unit vectors falls inside the sphere.
    assert lerp(a, b, 0.5).norm().item() < 1.0


def test_slerp_falls_back_to_lerp_for_parallel_vectors():
    a = torch.tensor([1.0, 2.0, 3.0])
    for b in (2 * a, a.clone()):
        out = slerp(a, b, 0.25)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, lerp(a, b, 0.25))


def test_interpolate_includes_endpoints():
    a, b = torch.randn(8), torch.randn(8)
    for method in ("slerp", "lerp"):
        path = interpolate(a, b, steps=5, method=method)
        assert path.shape == (5, 8)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(interpolate(a, b, steps=3, method="lerp")[1], (a + b) / 2)
    with pytest.raises(ConfigError):
        interpolate(a, b, steps=3, method="cubic")
    with pytest.raises(ConfigError):
        interpolate(a, b, steps=0)
