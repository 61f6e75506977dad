"""Config -> model bridge."""

from __future__ import annotations

import dataclasses

import pytest

from musicvae.builders import build_model, model_init_kwargs
from musicvae.config import TrainConfig, get_config, registered_configs
from musicvae.errors import ConfigError
from musicvae.kinds.melody.config import SequenceVAEConfig
from musicvae.models.sequence_vae import SequenceVAE


def test_kwargs_for_every_registered_melody_config():
    for name, cfg in registered_configs().items():
        if not isinstance(cfg.model, SequenceVAEConfig):
            continue
        kwargs = model_init_kwargs(cfg)
        rep = cfg.model.representation
        assert kwargs["num_classes"] == rep.num_classes == 90, name
        assert kwargs["steps"] == rep.steps and kwargs["steps_per_bar"] == rep.steps_per_bar
        assert kwargs["variational"] == (cfg.model.kl_weight > 0)
        assert kwargs["conductor_sizes"] == cfg.model.conductor_sizes
        assert kwargs == model_init_kwargs(cfg.model)  # instrument config or bare model config


def test_build_small_models():
    small = build_model(get_config("2bar-small"))
    assert isinstance(small, SequenceVAE)
    assert (small.steps, small.z_dim, small.variational, small.hierarchical) == (32, 128, True, False)
    ae = build_model(get_config("2bar-small-ae").model)
    assert not ae.variational
    hier = get_config("16bar-hier-small").model
    hier = build_model(dataclasses.replace(hier, encoder_sizes=(8,), decoder_sizes=(8, 8), conductor_sizes=(8,)))
    assert hier.hierarchical and hier.steps == 256


def test_unknown_config_type_raises():
    with pytest.raises(ConfigError):
        build_model(TrainConfig())
    with pytest.raises(ConfigError):
        model_init_kwargs(object())


def test_bad_sizes_raise_config_error():
    bad = dataclasses.replace(SequenceVAEConfig(), encoder_sizes=())
    with pytest.raises(ConfigError):
        build_model(bad)


@pytest.mark.parametrize("override, message", [
    ("model.min_pitch=90", "model pitches 90..84 are not a MIDI range"),
    ("model.channels=[]", "channels, z_dim and pitch_embedding must be at least 1"),
    ("model.z_dim=0", "channels, z_dim and pitch_embedding must be at least 1"),
    ("model.spectrogram.hop_length=300", "a multiple of hop_length"),
    ("model.spectrogram.n_samples=512", "n_samples >= n_fft"),
    ("model.spectrogram.n_mels=-1", "n_mels must be >= 0"),
    ("model.spectrogram.norm_scale_db=0", "norm_scale_db > 0"),
])
def test_bad_timbre_configs_name_the_setting(override, message):
    from musicvae.config import apply_overrides

    with pytest.raises(ConfigError, match=message):
        build_model(apply_overrides(get_config("timbre-small"), [override]))


def test_only_timbre_configs_have_a_spectrogram():
    from musicvae.kinds.timbre import build_spectrogram

    with pytest.raises(ConfigError, match="a SequenceVAEConfig has no spectrogram"):
        build_spectrogram(get_config("2bar-small"))
    assert build_spectrogram(get_config("timbre-small")).shape == (80, 63)
