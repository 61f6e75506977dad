"""Config registry, TOML round trips and --set overrides."""

import dataclasses

import pytest

from musicvae.config import (
    InstrumentConfig,
    RecipeConfig,
    apply_overrides,
    dump_toml,
    from_dict,
    get_config,
    instrument_config_from_dict,
    load_instrument_config,
    registered_configs,
)
from musicvae.errors import ConfigError


@pytest.mark.parametrize("name", sorted(registered_configs()))
def test_every_config_round_trips_through_toml(name, tmp_path):
    config = get_config(name)
    path = tmp_path / "instrument.toml"
    path.write_text(dump_toml(config))
    assert load_instrument_config(path) == config


def test_configs_are_frozen():
    config = get_config("2bar-small")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.z_dim = 3  # type: ignore[misc]


def test_derived_configs_differ_only_where_named():
    small, ae = get_config("2bar-small"), get_config("2bar-small-ae")
    assert ae.model.kl_weight == 0.0
    assert dataclasses.replace(ae.model, kl_weight=small.model.kl_weight) == small.model
    assert get_config("16bar-hier").model.representation.steps == 256
    assert get_config("16bar-hier").model.conductor_sizes


def test_overrides_are_type_checked():
    config = apply_overrides(get_config("2bar-small"), ["model.z_dim=64", "model.encoder_sizes=[32, 16]",
                                                        "train.learning_rate=1", "data=my-folder"])
    assert config.model.z_dim == 64
    assert config.model.encoder_sizes == (32, 16)
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert config.data == "my-folder"
    with pytest.raises(ConfigError, match="expected an integer"):
        apply_overrides(config, ["model.z_dim=1.5"])
    with pytest.raises(ConfigError, match="expected a list"):
        apply_overrides(config, ["model.encoder_sizes=3"])
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides(config, ["model.z_dim"])
    timbre = get_config("timbre-small")
    bad = {
        "train.batch_size=true": "train.batch_size: expected an integer, got True",
        "model.kl_weight=high": "model.kl_weight: expected a number, got 'high'",
        "train.learning_rate=false": "expected a number, got False",
        "model.condition_velocity=1": "model.condition_velocity: expected true or false, got 1",
        "data=3": "data: expected a string, got 3",
        "model.spectrogram=3": "model.spectrogram: expected a table, got 3",
        "model.channels=[32, 'wide']": r"model.channels\[1\]: expected an integer",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            apply_overrides(timbre, [text])
    # A table replaces the fields it names and keeps the rest.
    wider = apply_overrides(timbre, ["model.spectrogram={n_mels = 64}"])
    assert wider.model.spectrogram.n_mels == 64 and wider.model.spectrogram.n_fft == timbre.model.spectrogram.n_fft


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        apply_overrides(get_config("2bar-small"), ["model.zdim=3"])
    message = str(info.value)
    assert "model.zdim" in message and "z_dim" in message and "encoder_sizes" in message


def test_unknown_config_name_lists_names():
    with pytest.raises(ConfigError, match="2bar-small"):
        get_config("3bar-tiny")


def test_instrument_toml_can_start_from_a_registered_config():
    config = instrument_config_from_dict({"config": "2bar-small", "model": {"z_dim": 32}, "train": {"seed": 7}})
    base = get_config("2bar-small")
    assert config.model.z_dim == 32 and config.train.seed == 7
    assert config.model.decoder_sizes == base.model.decoder_sizes
    with pytest.raises(ConfigError, match="kind"):
        instrument_config_from_dict({"kind": "banjo", "model": {}, "data": "x"})
    with pytest.raises(ConfigError, match="needs model"):
        instrument_config_from_dict({"kind": "melody"})


def test_bad_toml_is_one_line_error(tmp_path):
    path = tmp_path / "instrument.toml"
    path.write_text("kind = melody without quotes")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_instrument_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_instrument_config(tmp_path / "missing.toml")


def test_recipe_from_dict():
    recipe = from_dict(RecipeConfig, {"name": "x", "sources": [{"type": "midi-folder", "path": "midi"}],
                                      "split": {"test": 0.1}})
    assert recipe.sources[0].path == "midi" and recipe.split.test == 0.1 and recipe.split.valid == 0.05
    assert isinstance(get_config("2bar-small"), InstrumentConfig)
