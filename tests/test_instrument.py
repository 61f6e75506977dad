"""Instrument folders: save -> load gives identical output; broken folders give one-line errors."""

import dataclasses

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.config import get_config, registered_configs
from musicvae.errors import InstrumentError
from musicvae.instrument import Instrument, available_instruments


def tiny(name: str = "2bar-small"):
    config = get_config(name)
    model = dataclasses.replace(config.model, z_dim=8, encoder_sizes=(16,), decoder_sizes=(16,),
                                conductor_sizes=(8,) if config.model.conductor_sizes else ())
    return dataclasses.replace(config, model=model)


def make_instrument(tmp_path, name="2bar-small", seed=0):
    torch.manual_seed(seed)
    config = tiny(name)
    return Instrument(config=config, model=build_model(config).eval()).save(tmp_path / "inst")


@pytest.mark.parametrize("name", [n for n, c in registered_configs().items() if c.kind == "melody"])
def test_build_save_load_identical_output(tmp_path, name):
    path = make_instrument(tmp_path, name)
    first = Instrument.load(path)
    again = Instrument.load(path)
    steps = first.config.model.representation.steps
    events = torch.randint(0, 90, (3, steps))
    with torch.inference_mode():
        z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
        assert torch.equal(first.model.decode(z), again.model.decode(z))
        assert torch.allclose(first.model.encode(events)[0], again.model.encode(events)[0])
    assert (path / "weights.safetensors").stat().st_size > 0


def test_extras_round_trip(tmp_path):
    config = tiny()
    inst = Instrument(config=config, model=build_model(config), extras={"flute_mean": torch.ones(8)})
    path = inst.save(tmp_path / "inst", card="# card\n")
    loaded = Instrument.load(path)
    assert torch.equal(loaded.extras["flute_mean"], torch.ones(8))
    assert (path / "card.md").read_text() == "# card\n"
    # Saving again without a card keeps the existing one.
    loaded.save(path)
    assert (path / "card.md").read_text() == "# card\n"


def test_missing_folder_lists_shipped_instruments(tmp_path):
    with pytest.raises(InstrumentError, match="no instrument at"):
        Instrument.load(tmp_path / "nothing")
    assert isinstance(available_instruments(), list)


def test_missing_weights(tmp_path):
    path = make_instrument(tmp_path)
    (path / "weights.safetensors").unlink()
    with pytest.raises(InstrumentError, match="no weights.safetensors"):
        Instrument.load(path)


def test_corrupt_weights(tmp_path):
    path = make_instrument(tmp_path)
    (path / "weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InstrumentError, match="not a readable safetensors"):
        Instrument.load(path)


def test_mismatched_weights_name_the_tensor(tmp_path):
    path = make_instrument(tmp_path)
    toml = (path / "instrument.toml").read_text().replace("z_dim = 8", "z_dim = 9")
    (path / "instrument.toml").write_text(toml)
    with pytest.raises(InstrumentError, match="weights do not match instrument.toml"):
        Instrument.load(path)


def test_unknown_key_in_instrument_toml(tmp_path):
    path = make_instrument(tmp_path)
    (path / "instrument.toml").write_text((path / "instrument.toml").read_text() + "\nlearning_rat = 3\n")
    with pytest.raises(InstrumentError, match="unknown config key 'train.learning_rat'"):
        Instrument.load(path)


def test_wrong_kind_is_refused(tmp_path):
    inst = Instrument.load(make_instrument(tmp_path))
    with pytest.raises(InstrumentError, match="melody instrument; this command needs a timbre one"):
        inst.require_kind("timbre")
    assert inst.require_kind("melody") is inst
    assert np.isfinite(inst.config.model.kl_weight)


def test_half_precision_weights_halve_the_file_and_load_as_float32(tmp_path):
    config = tiny()
    model = build_model(config).eval()
    full = Instrument(config=config, model=model).save(tmp_path / "full")
    half = Instrument(config=config, model=model).save(tmp_path / "half", half=True)
    full_size = (full / "weights.safetensors").stat().st_size
    assert (half / "weights.safetensors").stat().st_size < 0.6 * full_size
    loaded = Instrument.load(half)
    for name, tensor in loaded.model.state_dict().items():
        assert tensor.dtype == model.state_dict()[name].dtype
        assert torch.allclose(tensor, model.state_dict()[name], atol=1e-3, rtol=1e-3)
