"""The melody model, built from every registered melody config shrunk to toy sizes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file, save_file

from musicvae.builders import build_model
from musicvae.config import registered_configs
from musicvae.errors import ConfigError
from musicvae.kinds.melody.config import SequenceVAEConfig
from musicvae.models.sequence_vae import SequenceVAE

MELODY_CONFIGS = {
    name: cfg.model for name, cfg in registered_configs().items() if isinstance(cfg.model, SequenceVAEConfig)
}


def shrink(model: SequenceVAEConfig) -> SequenceVAEConfig:
    """Toy widths, same structure (layer counts, flat vs hierarchical, AE, denoising, length)."""
    return dataclasses.replace(
        model,
        z_dim=6,
        encoder_sizes=tuple(10 + i for i in range(len(model.encoder_sizes))),
        decoder_sizes=tuple(12 - i for i in range(len(model.decoder_sizes))),
        conductor_sizes=tuple(9 + i for i in range(len(model.conductor_sizes))),
    )


@pytest.fixture(params=sorted(MELODY_CONFIGS))
def config(request) -> SequenceVAEConfig:
    return shrink(MELODY_CONFIGS[request.param])


def make_model(config: SequenceVAEConfig, seed: int = 0) -> SequenceVAE:
    torch.manual_seed(seed)
    return build_model(config).eval()


def random_events(model: SequenceVAE, batch: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, model.num_classes, (batch, model.steps), generator=torch.Generator().manual_seed(seed))


def test_registry_has_every_structure():
    models = MELODY_CONFIGS.values()
    assert any(m.conductor_sizes for m in models) and any(not m.conductor_sizes for m in models)
    assert any(m.kl_weight == 0 for m in models) and any(m.input_dropout > 0 for m in models)


def test_forward_and_decode_shapes(config):
    model = make_model(config)
    events = random_events(model)
    out = model(events)
    steps, classes, z_dim = config.representation.steps, config.representation.num_classes, config.z_dim
    assert out["logits"].shape == (3, steps, classes)
    for key in ("mu", "sigma", "z"):
        assert out[key].shape == (3, z_dim)
    assert model.hierarchical == bool(config.conductor_sizes)
    assert model.variational == (config.kl_weight > 0)
    tokens = model.decode(torch.randn(2, z_dim))
    assert tokens.shape == (2, steps) and tokens.dtype == torch.long
    assert tokens.min() >= 0 and tokens.max() < classes


def test_safetensors_round_trip(config, tmp_path):
    model = make_model(config, seed=0)
    path = tmp_path / "weights.safetensors"
    save_file(model.state_dict(), str(path))
    fresh = make_model(config, seed=1)
    fresh.load_state_dict(load_file(str(path)))
    events = random_events(model)
    z = torch.randn(2, config.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(fresh(events)["logits"], model(events)["logits"], rtol=0, atol=0)
    assert torch.equal(fresh.decode(z), model.decode(z))


def test_stepwise_logits_equal_teacher_forced_logits(config):
    model = make_model(config)
    events = random_events(model)
    z = torch.randn(3, config.z_dim)
    with torch.no_grad():
        reference = model.teacher_forced_logits(z, events)
        tokens, stepwise = model.decode_steps(z, targets=events)
        assert torch.equal(tokens, events)
        torch.testing.assert_close(stepwise, reference, rtol=1e-4, atol=1e-5)
        # Free-running decoding, then the same tokens teacher-forced: the same logits.
        tokens, stepwise = model.decode_steps(z, temperature=1.0, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(stepwise, model.teacher_forced_logits(z, tokens), rtol=1e-4, atol=1e-5)


def test_argmax_is_deterministic_and_sampling_is_seeded(config):
    model = make_model(config)
    z = torch.randn(4, config.z_dim)
    assert torch.equal(model.decode(z), model.decode(z))
    a = model.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(7))
    b = model.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(7))
    c = model.decode(z, temperature=1.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_latent_is_mean_for_autoencoder_and_sampled_for_vae(config):
    model = make_model(config).train()
    events = random_events(model)
    out = model(events, generator=torch.Generator().manual_seed(0))
    if model.variational:
        assert not torch.equal(out["z"], out["mu"])
    else:
        assert torch.equal(out["z"], out["mu"])
    model.eval()
    out = model(events)
    assert torch.equal(out["z"], out["mu"])  # evaluation uses the mean unless asked to sample


def test_input_dropout_corrupts_only_in_training(config):
    model = make_model(config)
    events = random_events(model, batch=2)
    mu_eval = model.encode(events)[0]
    torch.testing.assert_close(model.encode(events)[0], mu_eval, rtol=0, atol=0)
    model.train()
    torch.manual_seed(3)
    mu_train = model.encode(events)[0]
    if config.input_dropout > 0:
        assert not torch.allclose(mu_train, mu_eval)
    else:
        torch.testing.assert_close(mu_train, mu_eval, rtol=0, atol=0)


def test_scheduled_sampling_trains_through_the_stepwise_path():
    model = make_model(shrink(MELODY_CONFIGS["2bar-small"])).train()
    events = random_events(model, batch=2)
    out = model(events, sample_prob=0.5, generator=torch.Generator().manual_seed(0))
    assert out["logits"].shape == (2, model.steps, model.num_classes)
    out["logits"].logsumexp(-1).sum().backward()
    assert model.decoder[0].weight_ih_l0.grad is not None
    # Probability 0 of sampling through the stepwise path is teacher forcing.
    model.eval()
    with torch.no_grad():
        z = model(events)["z"]
        _, stepwise = model.decode_steps(z, targets=events, sample_prob=1e-9)
        torch.testing.assert_close(stepwise, model.teacher_forced_logits(z, events), rtol=1e-4, atol=1e-5)


def test_invalid_structures_raise_config_error():
    base = dict(num_classes=90, steps=32, steps_per_bar=16, z_dim=4, encoder_sizes=(8,), decoder_sizes=(8,))
    with pytest.raises(ConfigError):
        SequenceVAE(**{**base, "steps": 40, "conductor_sizes": (8,)})
    with pytest.raises(ConfigError):
        SequenceVAE(**{**base, "encoder_sizes": ()})
    with pytest.raises(ConfigError):
        SequenceVAE(**{**base, "input_dropout": 1.0})
