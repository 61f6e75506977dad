"""Attribute vectors: the measures, the quartile rule, storing them, --add, and the Spearman check of evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from musicvae import generate
from musicvae.errors import InputError, InstrumentError
from musicvae.instrument import Instrument
from musicvae.kinds.melody.attributes import (
    ATTRIBUTES,
    ATTRIBUTES_FILE,
    attribute_control,
    instrument_attributes,
    latent_offset,
    load_attribute_vectors,
    measure_attributes,
    parse_add,
    quartile_vectors,
)
from musicvae.midi.melody import StepNote, encode
from tests.kinds.melody.test_meter_data import write_midi
from tests.test_instrument import make_instrument


def window(notes, steps=32):
    return encode([StepNote(p, s, e) for p, s, e in notes], num_steps=steps)


def test_measures_of_hand_written_windows():
    plain = window([(60, 0, 4), (64, 4, 8), (67, 8, 16)])  # on the beats
    offbeat = window([(60, 0, 2), (62, 2, 6), (65, 6, 7), (67, 7, 8)])  # a long note on the "and" of 1
    values = measure_attributes(np.stack([plain, offbeat, np.zeros(32, np.int64)]))
    assert values["density"].tolist() == [3, 4, 0]
    assert values["interval"][:2].tolist() == pytest.approx([3.5, (2 + 3 + 2) / 3])
    assert values["syncopation"][:2].tolist() == [0.0, 0.25]  # 62 at step 2 lasts 4; 65 and 67 are sixteenths
    assert values["range"][:2].tolist() == [7, 7] and values["pitch"][0] == pytest.approx(191 / 3)
    assert values["length"][:2].tolist() == pytest.approx([16 / 3, 2.0])
    assert np.isnan(values["interval"][2]) and np.isnan(values["pitch"][2])  # no notes: undefined


def test_quartile_vectors_point_along_what_carries_the_attribute():
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((400, 6)).astype(np.float32)
    values = {"density": mu[:, 2] * 3 + 10, "range": np.where(np.arange(400) % 5, -mu[:, 4], np.nan)}
    vectors, stats = quartile_vectors(mu, values)
    assert np.argmax(np.abs(vectors["density"])) == 2 and vectors["density"][2] > 2
    assert np.argmax(np.abs(vectors["range"])) == 4 and vectors["range"][4] < -2
    assert stats["range"]["windows"] == 320 and stats["density"]["top_mean"] > stats["density"]["bottom_mean"]
    with pytest.raises(InputError, match="too few windows"):
        quartile_vectors(mu[:3], {"density": values["density"][:3]})


def test_parse_add_names_the_known_attributes():
    assert parse_add("density=+1.5") == ("density", 1.5) and parse_add(" range=-2") == ("range", -2.0)
    with pytest.raises(InputError, match="unknown attribute 'loudness'; known: " + ", ".join(ATTRIBUTES)):
        parse_add("loudness=1")
    for bad in ("density", "density=", "density=abc", "density=nan", "density=1e6"):
        with pytest.raises(InputError, match="NAME=AMOUNT"):
            parse_add(bad)


class DensityModel:
    """A stand-in decoder whose output has round(z[0]) + 8 quarter notes: density is what z[0] carries."""

    num_classes = 90

    def encode(self, events):
        count = (events >= 2).sum(dim=1).float()
        z = torch.zeros(len(events), 4)
        z[:, 0] = count - 8
        z[:, 1] = events[:, 0].float() / 100  # something else
        return z, torch.ones_like(z)

    def decode(self, z, temperature=0.0):
        out = torch.zeros(len(z), 64, dtype=torch.long)
        counts = torch.clamp(torch.round(z[:, 0]) + 8, 0, 16).long()
        for i, n in enumerate(counts.tolist()):
            out[i, torch.arange(n) * 4] = 2 + 40 + torch.arange(n) % 5
        return out


def test_attribute_control_measures_the_rank_correlation():
    model = DensityModel()
    rng = np.random.default_rng(1)
    windows = np.stack([window([(60 + k % 7, 4 * k, 4 * k + 2) for k in range(int(n))], 64)
                        for n in rng.integers(3, 14, 40)])
    mu = model.encode(torch.as_tensor(windows))[0].numpy()
    vectors, _ = quartile_vectors(mu, measure_attributes(windows))
    report = attribute_control(model, {"density": vectors["density"], "pitch": np.zeros(4, np.float32)}, windows)
    density = report["attributes"]["density"]
    assert density["rho"] > 0.95 and density["rho_of_mean"] == pytest.approx(1.0)
    assert density["mean"][0] < density["mean"][4] < density["mean"][-1]
    assert report["attributes"]["pitch"]["rho"] is None  # a zero vector changes nothing: no window varies


@pytest.fixture
def trained_on_a_folder(tmp_path, monkeypatch):
    """A tiny melody instrument whose recipe is a folder of real MIDI files (built on first use)."""
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    for i in range(12):
        write_midi(folder / f"reel{i}.mid", 4, 6, (4, 4))
    path = make_instrument(tmp_path / "inst")
    instrument = Instrument.load(path)
    instrument.config = dataclasses.replace(instrument.config, data=str(folder))
    instrument.save(path)
    return Instrument.load(path)


def test_vectors_are_computed_stored_loaded_and_added(trained_on_a_folder, tmp_path):
    instrument = trained_on_a_folder
    with pytest.raises(InstrumentError, match="has no attribute vectors .* musicvae attributes"):
        latent_offset(instrument, [("density", 1.0)])
    from musicvae.kinds import get_kind

    get_kind("melody").build_data(get_kind("melody").recipe_for(instrument.config.data,
                                                                instrument.config.model.representation),
                                  workers=1, force=False, progress=False)
    path, info = instrument_attributes(instrument)
    assert path == instrument.path / ATTRIBUTES_FILE and path.stat().st_size < 10_000
    assert info["windows"] > 20 and set(info["attributes"]) == set(ATTRIBUTES)
    vectors = load_attribute_vectors(instrument)
    assert set(vectors) == set(ATTRIBUTES) and all(v.shape == (8,) for v in vectors.values())
    offset = latent_offset(instrument, [("density", 1.5), ("range", -1.0)])
    np.testing.assert_allclose(offset, 1.5 * vectors["density"] - vectors["range"], rtol=1e-6)
    # --add moves every code: far along the vector, samples differ from the plain ones.
    plain = generate.sample(instrument, n=4, temperature=0.0, seed=3)
    moved = generate.sample(instrument, n=4, temperature=0.0, seed=3, add=50 * vectors["density"])
    assert not np.array_equal(plain, moved)
    np.testing.assert_array_equal(plain, generate.sample(instrument, n=4, temperature=0.0, seed=3, add=None))
    # A vector file that does not fit the model is one line.
    from safetensors.numpy import save_file

    save_file({"density": np.zeros(5, np.float32)}, str(path))
    with pytest.raises(InstrumentError, match="is not \\[8\\]"):
        load_attribute_vectors(instrument)


def test_live_decoders_add_the_offset(tmp_path):
    from musicvae.realtime.params import Params
    from musicvae.realtime.player import morph_decoder, response_decoder

    instrument = Instrument.load(make_instrument(tmp_path))
    rng = np.random.default_rng(0)
    a, b = (window([(int(p), 4 * k, 4 * k + 3) for k, p in enumerate(rng.integers(55, 80, 8))]) for _ in range(2))
    offset = 40 * rng.standard_normal(8).astype(np.float32)
    mu, _ = generate.encode(instrument, np.stack([a, b]))
    for params in (Params(morph=0.0), Params(morph=1.0)):
        end = mu[0] if params.morph == 0 else mu[1]
        np.testing.assert_array_equal(morph_decoder(instrument, a, b, add=offset)(params),
                                      generate.decode(instrument, end[None] + offset)[0])
    np.testing.assert_array_equal(response_decoder(instrument, add=offset)(a, Params()),
                                  generate.decode(instrument, mu[:1] + offset)[0])
    assert not np.array_equal(morph_decoder(instrument, a, b)(Params()), morph_decoder(instrument, a, b,
                                                                                       add=offset)(Params()))
