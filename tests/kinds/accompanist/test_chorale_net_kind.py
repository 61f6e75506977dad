"""A chorale net end to end: trains through the CLI on real chorales, harmonises with ranked Gibbs
variations, and is evaluated against the baselines with the harmony and variation measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from chorale_fixtures import train_tiny_net

from musicvae.kinds.accompanist import data as chorale_data
from musicvae.kinds.accompanist.harmony import notes_differ


@pytest.fixture(scope="module")
def trained(recipe, tmp_path_factory):
    return train_tiny_net(recipe, tmp_path_factory.mktemp("net") / "net", config="chorale-net-small", gibbs_steps=3)


def test_the_validation_accuracy_is_logged_and_the_instrument_loads(trained):
    from musicvae.instrument import Instrument

    instrument = Instrument.load(trained)
    assert instrument.config.model.architecture == "chorale-net"
    assert type(instrument.model).__name__ == "ChoraleNet"
    metrics = (trained.parent / "run").rglob("metrics.csv")
    header = next(metrics).read_text().splitlines()[0]
    assert "val/frame_accuracy" in header and "val/kl" in header


def test_harmonize_gives_ranked_variations_that_differ(trained, tmp_path, capsys):
    from musicvae.cli import main
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument
    from musicvae.io import repo_root

    instrument = Instrument.load(trained)
    melody = repo_root() / "examples" / "chorale_soprano.musicxml"
    result = harmonize(instrument, melody, variations=3, seed=0)
    assert len(result.grids) == 3 and len(result.scores) == 3
    assert result.scores == sorted(result.scores, reverse=True)  # best first
    rep = instrument.config.model.representation
    for grid in result.grids:
        for v in range(1, 4):
            low, high = rep.ranges[v]
            sung = grid.pitches[v][grid.pitches[v] >= 0] + result.transposed
            assert sung.size and sung.min() >= low and sung.max() <= high
    a, b = result.grids[0], result.grids[1]
    assert notes_differ(a.pitches, b.pitches, onsets_a=a.onsets, onsets_b=b.onsets) > 0
    again = harmonize(instrument, melody, variations=3, seed=0)
    for x, y in zip(result.grids, again.grids):
        np.testing.assert_array_equal(x.pitches, y.pitches)  # seeded
    # Variation 1 is the first pass; without Gibbs rounds every variation is that pass.
    plain = harmonize(instrument, melody, variations=2, seed=0, gibbs_steps=0)
    np.testing.assert_array_equal(plain.grids[0].pitches, plain.grids[1].pitches)
    first = harmonize(instrument, melody, variations=1, seed=0)
    assert any(np.array_equal(first.grids[0].pitches, g.pitches) for g in result.grids)
    # The CLI takes --gibbs-steps and writes the variations.
    out = tmp_path / "h.mid"
    assert main(["harmonize", str(trained), str(melody), "-o", str(out), "--variations", "2",
                 "--gibbs-steps", "2", "--seed", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert main(["harmonize", str(trained), str(melody), "-o", str(out), "--gibbs-steps", "101"]) == 2
    assert "--gibbs-steps" in capsys.readouterr().err


def test_verbs_decode_given_a_soprano(trained):
    from musicvae.errors import InputError
    from musicvae.instrument import Instrument

    instrument = Instrument.load(trained)
    verbs, rep = instrument.verbs, instrument.config.model.representation
    soprano = np.full(rep.steps, rep.FIRST_PITCH + 10)
    lower = verbs.sample(2, soprano, seed=0)
    assert lower.shape == (2, 3, rep.steps)
    with pytest.raises(InputError, match="given a soprano"):
        verbs.sample(2, seed=0)
    with pytest.raises(InputError, match="four-voice windows"):
        verbs.encode(np.zeros((2, rep.steps), int))


def test_evaluate_reports_harmony_variations_and_targets(trained, recipe, monkeypatch, capsys, tmp_path):
    from PIL import Image

    from musicvae.cli import main

    path, cache = recipe
    monkeypatch.setenv("MUSICVAE_CACHE", str(cache))
    plot = tmp_path / "eval.png"
    assert main(["evaluate", str(trained), "--json", "--quiet", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)
    with Image.open(plot) as image:
        assert image.size[0] > 1.3 * image.size[1]  # three panels: accuracy, voice leading, harmony
    systems = report["systems"]
    assert {"model", "model_argmax", "nearest_neighbour", "most_frequent", "bach"} <= set(systems)
    bach = systems["bach"]
    assert bach["frame_accuracy"]["mean"] == 1.0
    # Bach's chorales end phrases on root-position triads most of the time, and his cadences are his own.
    assert bach["harmony"]["cadences_as_bach"] == 100.0 and bach["harmony"]["root_position_cadences"] > 50
    assert bach["harmony_counts"]["cadences"] > 0
    variations = report["variations"]
    assert variations["count"] == 3 and set(variations["each"]) == {"1", "2", "3"}
    assert 0 < variations["min_notes_differ"] <= 1
    assert {"frame_over_nearest_neighbour", "variations_differ_at_least_25%", "voice_leading_met"} <= set(
        report["targets"])


def _midi(path, notes, *, qpm=100.0, key_number=None):
    """notes: (pitch, start_quarter, end_quarter); key_number: pretty_midi's (0-11 major, 12-23 minor from C)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    if key_number is not None:
        midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    track = pretty_midi.Instrument(program=0)
    q = 60.0 / qpm
    track.notes += [pretty_midi.Note(80, p, s * q, e * q) for p, s, e in notes]
    midi.instruments.append(track)
    midi.write(str(path))
    return path


HARD_MELODIES = {
    # Two bars of melody, four bars of rest, two bars of melody.
    "long-rests": [(p, i, i + 1) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69])]
                  + [(p, 24 + i, 25 + i) for i, p in enumerate([67, 71, 69, 67, 66, 67, 69, 67])],
    "one-note": [(67, i, i + 1) for i in range(16)],
    "octave-leaps": [(p, i, i + 1) for i, p in enumerate([60, 74, 62, 76, 64, 77, 62, 74] * 2)],
    # A minor with G sharp leading notes.
    "minor-raised": [(p, i, i + 1) for i, p in enumerate([69, 71, 72, 74, 76, 74, 72, 71, 72, 71, 69, 68,
                                                          69, 68, 69, 69])],
}


@pytest.mark.parametrize("name", sorted(HARD_MELODIES))
def test_hard_melodies_are_harmonised_in_range_with_three_variations(name, trained, tmp_path):
    import pretty_midi

    from musicvae.chorale_outputs import write_harmonization
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument

    instrument = Instrument.load(trained)
    rep = instrument.config.model.representation
    path = _midi(tmp_path / f"{name}.mid", HARD_MELODIES[name], key_number=21 if name == "minor-raised" else None)
    result = harmonize(instrument, path, variations=3, seed=0)
    assert len(result.grids) == 3 and result.scores == sorted(result.scores, reverse=True)
    sung = [n for n in HARD_MELODIES[name]]
    for grid in result.grids:
        # The melody is the soprano, note for note.
        soprano = grid.pitches[0]
        for pitch, start, end in sung:
            assert (soprano[start * 4 : end * 4] == pitch).all()
        for v in range(1, 4):
            low, high = rep.ranges[v]
            lower = grid.pitches[v][grid.pitches[v] >= 0] + result.transposed
            assert lower.size and lower.min() >= low and lower.max() <= high
    written = write_harmonization(result, tmp_path / f"{name}-out.mid", musicxml=tmp_path / f"{name}.musicxml")
    midi = pretty_midi.PrettyMIDI(str(written[0]))
    assert [i.name for i in midi.instruments][:4] == ["Soprano", "Alto", "Tenor", "Bass"]
    if name == "minor-raised":
        assert result.key == "a"
        assert "<step>G</step>" in (tmp_path / f"{name}.musicxml").read_text() and "<alter>1</alter>" in (
            tmp_path / f"{name}.musicxml").read_text()


def test_the_chorale_memory_is_stored_and_mixed_in(trained, recipe, monkeypatch):
    from dataclasses import replace

    from musicvae.errors import InstrumentError
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument
    from musicvae.io import repo_root

    instrument = Instrument.load(trained)
    assert instrument.config.model.memory > 0
    memory = instrument.extras["memory"].numpy()
    path, cache = recipe
    monkeypatch.setenv("MUSICVAE_CACHE", str(cache))
    train = chorale_data.load_chorale_split(path, split="train", bars=4,
                                            ranges=instrument.config.model.representation.ranges).windows
    np.testing.assert_array_equal(memory, train)  # the training windows themselves

    melody = repo_root() / "examples" / "chorale_soprano.musicxml"
    with_memory = harmonize(instrument, melody, seed=0)
    alone = replace(instrument, config=replace(instrument.config,
                                               model=replace(instrument.config.model, memory=0.0)))
    without = harmonize(alone, melody, seed=0)
    assert not np.array_equal(with_memory.grids[0].pitches, without.grids[0].pitches)

    forgot = replace(instrument, extras={})
    with pytest.raises(InstrumentError, match="holds no training windows"):
        harmonize(forgot, melody, seed=0)
