"""Chorale metrics: voice leading against music21's definitions, accuracy, baselines, the full report."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.config import get_config
from musicvae.kinds.accompanist.evaluate import (
    NearestNeighbour,
    accuracy_counts,
    evaluate_accompanist,
    format_report,
    most_frequent_predictor,
    voice_leading_counts,
    voice_leading_rates,
)
from musicvae.midi import chorale as codec

RANGES = codec.VOICE_RANGES


@pytest.fixture(scope="module")
def grids():
    return [codec.score_grid(codec.parse_corpus_chorale(p)) for p in ("bach/bwv1.6", "bach/bwv10.7")]


def _pair_grid(upper, lower):
    pitches = np.full((4, len(upper)), -1, np.int16)
    pitches[0], pitches[3] = upper, lower
    return pitches


@pytest.mark.parametrize(
    ("upper", "lower", "fifths", "octaves"),
    [
        (("G4", "A4"), ("C4", "D4"), 1, 0),  # parallel fifths
        (("G4", "A5"), ("C4", "D4"), 1, 0),  # fifth to twelfth
        (("G4", "A4"), ("C4", "D3"), 1, 0),  # antiparallel fifths
        (("C5", "D5"), ("C4", "D4"), 0, 1),  # parallel octaves
        (("C6", "D6"), ("C4", "D4"), 0, 1),  # double octave
        (("G4", "B4"), ("C4", "D4"), 0, 0),  # fifth to sixth
        (("G4", "G4"), ("C4", "C4"), 0, 0),  # no motion
    ],
)
def test_parallels_agree_with_music21(upper, lower, fifths, octaves):
    from music21 import note, pitch
    from music21.voiceLeading import VoiceLeadingQuartet

    vlq = VoiceLeadingQuartet(note.Note(upper[0]), note.Note(upper[1]), note.Note(lower[0]), note.Note(lower[1]))
    assert vlq.parallelFifth() == bool(fifths) and vlq.parallelOctave() == bool(octaves)
    midi = [[pitch.Pitch(p).midi for p in voice] for voice in (upper, lower)]
    counts = voice_leading_counts(_pair_grid(*midi), ranges=RANGES)
    assert counts["parallel_fifths"] == fifths and counts["parallel_octaves"] == octaves


def test_crossings_and_out_of_range_are_counted():
    pitches = np.array([[60, 60], [64, 64], [50, 50], [40, 70]])  # alto above soprano; bass above all at step 1
    counts = voice_leading_counts(pitches, ranges=RANGES)
    assert counts["pair_checks"] == 12 and counts["crossings"] == 2 + 3
    assert counts["out_of_range"] == 1  # bass 70 > 64; the soprano at 60 is in range
    rates = voice_leading_rates(counts)
    assert rates["crossings"] == pytest.approx(100 * 5 / 12)


def test_bach_rates_on_real_chorales_are_low(grids):
    counts = {}
    for grid in grids:
        for k, v in voice_leading_counts(grid.pitches, ranges=RANGES).items():
            counts[k] = counts.get(k, 0) + v
    rates = voice_leading_rates(counts)
    assert counts["pair_moves"] > 200 and rates["parallel_fifths_and_octaves"] < 1.0 and rates["out_of_range"] == 0


def test_accuracy_counts_ignore_the_pickup_padding(grids):
    grid = grids[0]
    counts = accuracy_counts(grid, grid)
    assert (counts[:, 0] == counts[:, 1]).all() and (counts[:, 2] == counts[:, 3]).all()
    assert counts[0, 1] == np.count_nonzero((grid.pitches >= 0).any(axis=0)) < grid.steps


def test_nearest_neighbour_copies_the_closest_training_window(grids):
    train, _, _ = codec.grid_windows(grids[0], ranges=codec.VOICE_RANGES)
    nn = NearestNeighbour(train, ranges=RANGES)
    assert (nn.nearest(train[:, 0]) == np.arange(len(train))).all() or len(np.unique(train[:, 0], axis=0)) < len(train)
    probs = nn(train[:3, 0].astype(np.int64))
    assert [p.shape for p in probs] == [(3, 64, codec.num_classes(r)) for r in codec.VOICE_RANGES[1:]]
    frequent = most_frequent_predictor(train, ranges=RANGES)(train[:2, 0])
    assert all((p.argmax(-1) == p[0, 0].argmax()).all() for p in frequent)


def test_report_has_every_system_and_the_targets(grids):
    config = get_config("minibach-small")
    config = replace(config, model=replace(config.model, hidden_size=16, z_dim=4))
    torch.manual_seed(0)
    model = build_model(config).eval()
    train, _, _ = codec.grid_windows(grids[1], ranges=codec.VOICE_RANGES)
    report = evaluate_accompanist(model, test_grids=grids[:1], train_windows=train, ranges=RANGES, max_shift=2,
                                  progress=False)
    assert set(report["systems"]) == {"model", "model_argmax", "nearest_neighbour", "most_frequent", "bach"}
    bach = report["systems"]["bach"]
    assert bach["frame_accuracy"]["mean"] == 1.0 and bach["onset_accuracy"]["mean"] == 1.0
    for system in report["systems"].values():
        assert set(system["frame_accuracy"]) == {"alto", "tenor", "bass", "mean"}
        assert 0 <= system["voice_leading"]["parallel_fifths"] <= 100
    assert {"beats_nearest_neighbour", "beats_most_frequent", "parallels_vs_bach"} <= set(report["targets"])
    text = format_report(report)
    assert "nearest_neighbour" in text and "Bach (REFERENCE)" in text


def test_cli_builds_chorale_data_and_evaluates_an_accompanist_into_its_card(tmp_path, monkeypatch, capsys):
    from musicvae.cli import main
    from musicvae.instrument import Instrument

    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    recipe = tmp_path / "four.toml"
    recipe.write_text('name = "four"\nkind = "chorale"\n[[sources]]\ntype = "music21-corpus"\n'
                      'collections = ["bach"]\nmax_files = 4\n[split]\nvalid = 0.3\ntest = 0.3\nsalt = "t"\n')
    assert main(["data", "build", str(recipe), "--workers", "1", "--quiet"]) == 0
    assert "4 chorales read" in capsys.readouterr().out
    config = get_config("minibach-small")
    config = replace(config, data=str(recipe), model=replace(config.model, hidden_size=16, z_dim=4))
    torch.manual_seed(0)
    folder = Instrument(config=config, model=build_model(config).eval()).save(tmp_path / "acc", card="# acc\n")
    assert main(["evaluate", str(folder), "--card", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "nearest_neighbour" in out and "most_frequent" in out
    card = (folder / "card.md").read_text()
    assert "<!-- metrics:begin -->" in card and "frame acc" in card
