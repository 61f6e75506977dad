"""Melody data by meter: ABC tunes and MIDI files of 3/4, 6/8 and 2/4 (paired into 4/4), built for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from musicvae.config import RecipeConfig, SourceConfig, SplitConfig
from musicvae.errors import DataError
from musicvae.kinds import get_kind
from musicvae.kinds.melody.config import for_meter
from musicvae.kinds.melody.data import build_melody_dataset, load_melody_windows, melody_recipe_hash
from musicvae.kinds.melody.sources import abc_odd_meter, abc_tune_notes, load_melody_recipe, recipe_for_meter
from musicvae.midi.melody import StepNote

WALTZ = """X:1
T:A waltz with a pickup
M:3/4
L:1/8
K:G
D2 | G2 B2 d2 | g6 |]
"""
JIG = """X:1
T:A jig
M:6/8
L:1/8
K:D
A | dfa afd | e3 e2 |]
"""
MARCH = """X:1
T:A march with a pickup
M:2/4
L:1/8
K:C
G | c2 e2 | g4 | e2 c2 | G4 |]
"""


def test_a_waltz_has_twelve_step_bars_and_its_pickup_ends_the_first():
    notes, off_grid, reason, _ = abc_tune_notes(WALTZ, meter="3/4")
    assert reason == "" and off_grid == 0
    assert notes == [StepNote(62, 8, 12), StepNote(67, 12, 16), StepNote(71, 16, 20), StepNote(74, 20, 24),
                     StepNote(79, 24, 36)]
    assert abc_tune_notes(WALTZ)[2:] == ("meter", "3/4")  # a 4/4 build skips it
    assert abc_tune_notes(WALTZ, meter="6/8")[2:] == ("meter", "3/4")  # so does a jig build


def test_a_jig_has_twelve_step_bars():
    notes, _, reason, _ = abc_tune_notes(JIG, meter="6/8")
    assert reason == ""
    assert [(n.start, n.end) for n in notes] == [(10, 12), (12, 14), (14, 16), (16, 18), (18, 20), (20, 22),
                                                  (22, 24), (24, 30), (30, 34)]


def test_two_four_pairs_into_four_four_bars_only_when_asked():
    assert abc_odd_meter(MARCH) == "2/4" and abc_odd_meter(MARCH, pair_two_four=True) == ""
    notes, _, reason, _ = abc_tune_notes(MARCH, pair_two_four=True)
    assert reason == ""
    # The pickup eighth ends the first 4/4 bar; two 2/4 bars fill each 4/4 bar after it.
    assert [(n.pitch, n.start, n.end) for n in notes] == [(67, 14, 16), (72, 16, 20), (76, 20, 24), (79, 24, 32),
                                                           (76, 32, 36), (72, 36, 40), (67, 40, 48)]


def test_recipes_for_a_meter_keep_old_hashes_and_get_their_own():
    recipe = load_melody_recipe("folk-melodies")
    assert recipe_for_meter(recipe, "4/4") is recipe
    waltz = recipe_for_meter(recipe, "3/4")
    assert waltz.meter == "3/4" and melody_recipe_hash(waltz) != melody_recipe_hash(recipe)
    paired = load_melody_recipe("folk-melodies-paired")
    assert paired.pair_two_four and melody_recipe_hash(paired) != melody_recipe_hash(recipe)
    assert not recipe_for_meter(paired, "6/8").pair_two_four  # pairing is a 4/4 option
    with pytest.raises(DataError, match="not a whole number"):
        recipe_for_meter(recipe, "5/32")


def write_midi(path: Path, quarters_per_bar: float, bars: int, meter: tuple[int, int]) -> Path:
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    inst = pretty_midi.Instrument(0)
    rng = np.random.default_rng(list(path.name.encode()))
    for k in range(int(bars * quarters_per_bar)):
        inst.notes.append(pretty_midi.Note(90, int(rng.integers(60, 72)), k * 0.5, k * 0.5 + 0.4))
    midi.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path


@pytest.mark.parametrize("meter, bar", [("3/4", 12), ("6/8", 12), ("4/4", 16)])
def test_a_midi_folder_builds_per_meter(tmp_path, meter, bar):
    folder = tmp_path / "midi"
    for i in range(6):
        write_midi(folder / f"waltz{i}.mid", 3, 4, (3, 4))
        write_midi(folder / f"jig{i}.mid", 3, 4, (6, 8))
        write_midi(folder / f"reel{i}.mid", 4, 4, (4, 4))
    recipe = recipe_for_meter(RecipeConfig(name="mixed", sources=(SourceConfig(type="midi-folder", path=str(folder)),),
                                           split=SplitConfig(valid=0.0, test=0.0)), meter)
    report = build_melody_dataset(recipe, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert report["pieces_used"] == 6 and report["pieces_skipped"] == {"meter": 12}
    windows = load_melody_windows(recipe, split="train", bars=2, steps_per_bar=bar, cache_dir=tmp_path / "cache")
    assert windows.shape == (18, 2 * bar)  # 3 windows (1-bar hop) of each 4-bar tune
    with pytest.raises(DataError, match=f"built with {bar} steps per {meter} bar, not 16" if bar != 16 else "12"):
        load_melody_windows(recipe, split="train", bars=2, steps_per_bar=12 if bar == 16 else 16,
                            cache_dir=tmp_path / "cache")


def test_the_kind_trains_a_waltz_config_on_its_meter(tmp_path, monkeypatch):
    """train --config 2bar-waltz reads the waltzes of its recipe: 12-step bars, 24-step windows."""
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "midi"
    for i in range(8):
        write_midi(folder / f"waltz{i}.mid", 3, 4, (3, 4))
        write_midi(folder / f"reel{i}.mid", 4, 4, (4, 4))
    config = get_kind("melody").named_configs()["2bar-waltz"]
    assert config.model.representation == for_meter("3/4")
    import dataclasses

    config = dataclasses.replace(config, data=str(folder))
    data = get_kind("melody").training_data(config, progress=False, log=lambda line: None)
    assert data.train.shape[1] == 24 and len(data.train) + len(data.valid) > 0
