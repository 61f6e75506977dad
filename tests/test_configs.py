"""Every registered config, of every kind: build -> forward (the verbs) -> save -> load gives identical output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.config import registered_configs
from musicvae.instrument import Instrument
from musicvae.kinds import Verbs

#: Paper-size models (over 100 M parameters): a few seconds each to build, save and decode on a CPU.
LARGE = {"2bar-big", "16bar-hier"}


def _inputs(config, rng: np.random.Generator) -> tuple[np.ndarray, object]:
    """Two inputs the kind's encoder takes, and the condition its decoder takes."""
    model = config.model
    if config.kind == "melody":
        rep = model.representation
        return rng.integers(0, rep.num_classes, (2, rep.steps)), None
    if config.kind == "accompanist":
        rep = model.representation
        if model.architecture == "chorale-net":  # a conditional VAE: whole chorales in, decoded given a soprano
            chorales = np.stack([rng.integers(0, c, (2, rep.steps)) for c in rep.num_classes], axis=1)
            return chorales, rng.integers(0, rep.num_classes[0], rep.steps)
        return rng.integers(0, rep.num_classes[0], (2, rep.steps)), None
    if config.kind == "timbre":
        spec = model.spectrogram
        t = np.arange(spec.n_samples) / spec.sample_rate
        notes = np.stack([np.sin(2 * np.pi * f * t) * np.exp(-3 * t) for f in (261.6, 392.0)]).astype(np.float32)
        return notes, (model.min_pitch + model.max_pitch) // 2
    raise AssertionError(f"no example inputs for kind {config.kind!r}: add them here")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n
                                  for n in registered_configs()])
def test_build_forward_save_load_identical(name, tmp_path):
    config = registered_configs()[name]
    torch.manual_seed(0)
    built = Instrument(config=config, model=build_model(config).eval())
    loaded = Instrument.load(built.save(tmp_path / name))
    assert isinstance(built.verbs, Verbs) and isinstance(loaded.verbs, Verbs)

    inputs, condition = _inputs(config, np.random.default_rng(0))
    mu, sigma = built.verbs.encode(inputs)
    assert mu.shape == sigma.shape == (2, config.model.z_dim) and np.isfinite(mu).all() and (sigma > 0).all()
    again_mu, again_sigma = loaded.verbs.encode(inputs)
    np.testing.assert_array_equal(mu, again_mu)
    np.testing.assert_array_equal(sigma, again_sigma)

    z = np.random.default_rng(1).standard_normal((2, config.model.z_dim)).astype(np.float32)
    out = built.verbs.decode(z, condition)
    assert len(out) == 2
    np.testing.assert_array_equal(out, loaded.verbs.decode(z, condition))
    path = built.verbs.interpolate(inputs[0], inputs[1], condition, steps=3)
    assert len(path) == 3
    np.testing.assert_array_equal(path, loaded.verbs.interpolate(inputs[0], inputs[1], condition, steps=3))
