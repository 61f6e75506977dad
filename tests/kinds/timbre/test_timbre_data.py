"""Timbre recipes: real FluidSynth renders into a cache, splits by SoundFont, reuse, staleness, bad recipes."""

import json

import numpy as np
import pytest
import soundfile

from musicvae.config import NoteRecipe, RecipeConfig, SourceConfig
from musicvae.data.recipes import recipe_kind
from musicvae.errors import DataError
from musicvae.kinds.timbre.data import (
    build_timbre_dataset,
    format_timbre_report,
    load_timbre_notes,
    load_timbre_recipe,
)

NOTES = NoteRecipe(min_pitch=60, max_pitch=61, velocities=(100,), valid_velocities=(70,), seconds=0.5,
                   hold_seconds=0.3)


def tiny_recipe(**kwargs) -> RecipeConfig:
    sources = (
        SourceConfig(type="soundfont", soundfont="TimGM6mb", programs=(73, 24), split="train"),
        SourceConfig(type="soundfont", soundfont="TimGM6mb", programs=(25,), split="test"),
    )
    return RecipeConfig(name="tiny-timbre", kind="timbre", sources=sources, notes=NOTES, **kwargs)


def test_build_splits_by_source_and_velocity(tmp_path):
    report = build_timbre_dataset(tiny_recipe(), cache_dir=tmp_path, progress=False)
    assert not report["reused"]
    train = load_timbre_notes(tiny_recipe(), split="train", cache_dir=tmp_path)
    valid = load_timbre_notes(tiny_recipe(), split="valid", cache_dir=tmp_path)
    test = load_timbre_notes(tiny_recipe(), split="test", cache_dir=tmp_path)
    # 2 pitches x 2 programs at velocity 100 train; the held-out velocity 70 validates.
    assert len(train) == 4 and len(valid) == 4 and len(test) == 4
    assert set(train.velocity) == {100} and set(valid.velocity) == {70}
    assert train.audio.shape == (4, 8000) and train.audio.dtype == np.float32
    assert sorted(train.family) == [0, 0, 1, 1] and set(test.family) == {1}
    assert train.families == ["flute", "guitar"]
    assert {train.instruments[i] for i in test.instrument} == {"TimGM6mb:25"}
    assert np.allclose(np.abs(train.audio).max(axis=1), 0.5, atol=1e-3)
    assert "train" in format_timbre_report(report)
    again = build_timbre_dataset(tiny_recipe(), cache_dir=tmp_path, progress=False)
    assert again["reused"]


def test_changed_recipe_is_not_reused(tmp_path):
    build_timbre_dataset(tiny_recipe(), cache_dir=tmp_path, progress=False)
    changed = tiny_recipe()
    changed = RecipeConfig(**{**changed.__dict__, "notes": NoteRecipe(**{**NOTES.__dict__, "max_pitch": 62})})
    with pytest.raises(DataError, match="not built.*older recipe"):
        load_timbre_notes(changed, split="train", cache_dir=tmp_path)


def test_recipe_file_and_kind(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'kind = "timbre"\n[notes]\nmin_pitch = 60\nmax_pitch = 60\n'
        '[[sources]]\ntype = "soundfont"\nsoundfont = "TimGM6mb"\nprograms = [73]\nsplit = "train"\n'
    )
    assert recipe_kind(path) == "timbre"
    recipe = load_timbre_recipe(path)
    assert recipe.name == "mine" and recipe.notes.families == ("flute", "guitar")
    assert recipe_kind("flute-guitar") == "timbre"
    shipped = load_timbre_recipe("flute-guitar")
    assert [s.split for s in shipped.sources] == ["train", "test"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (SourceConfig(type="wav-pile", path="x"), "unknown type"),
        (SourceConfig(type="soundfont", soundfont="TimGM6mb", programs=(0,)), "program 0 is a keyboard"),
        (SourceConfig(type="soundfont", soundfont="TimGM6mb"), "needs a soundfont and programs"),
        (SourceConfig(type="nsynth"), "needs a path"),
        (SourceConfig(type="soundfont", soundfont="TimGM6mb", programs=(73,), split="holdout"), "split"),
    ],
)
def test_bad_sources(source, message):
    with pytest.raises(DataError, match=message):
        load_timbre_recipe(RecipeConfig(name="bad", kind="timbre", sources=(source,)))


def test_melody_recipe_is_refused():
    with pytest.raises(DataError, match="not 'timbre'"):
        load_timbre_recipe(RecipeConfig(name="m", kind="melody"))


def test_nsynth_and_audio_folder_sources(tmp_path):
    rate = 16_000
    t = np.arange(rate) / rate
    nsynth = tmp_path / "nsynth"
    (nsynth / "audio").mkdir(parents=True)
    examples = {}
    for name, family, pitch in (("flute_acoustic_002-060-100", "flute", 60), ("guitar_acoustic_010-061-100",
                                                                               "guitar", 61)):
        soundfile.write(nsynth / "audio" / f"{name}.wav", 0.3 * np.sin(2 * np.pi * 262 * t), rate)
        examples[name] = {"pitch": pitch, "velocity": 100, "instrument_family_str": family}
    (nsynth / "examples.json").write_text(json.dumps(examples))
    folder = tmp_path / "mine" / "guitar"
    folder.mkdir(parents=True)
    soundfile.write(folder / "G3.wav", np.stack([0.2 * np.sin(2 * np.pi * 196 * t)] * 2, axis=1), 44_100)
    recipe = RecipeConfig(
        name="user-notes", kind="timbre", notes=NoteRecipe(min_pitch=50, max_pitch=70),
        sources=(SourceConfig(type="nsynth", path=str(nsynth), split="train"),
                 SourceConfig(type="audio-folder", path=str(tmp_path / "mine"), split="test")),
    )
    build_timbre_dataset(recipe, cache_dir=tmp_path / "cache", progress=False)
    train = load_timbre_notes(recipe, split="train", cache_dir=tmp_path / "cache")
    test = load_timbre_notes(recipe, split="test", cache_dir=tmp_path / "cache")
    assert sorted(train.pitch) == [60, 61] and list(test.pitch) == [55] and list(test.family) == [1]
    # An NSynth folder without examples.json is a one-line data error.
    (nsynth / "examples.json").unlink()
    with pytest.raises(DataError, match="no examples.json"):
        build_timbre_dataset(recipe, cache_dir=tmp_path / "cache2", progress=False)


def test_data_build_command_dispatches_on_kind(tmp_path, monkeypatch, capsys):
    from musicvae.cli import main

    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'kind = "timbre"\n[notes]\nmin_pitch = 60\nmax_pitch = 60\nseconds = 0.5\nhold_seconds = 0.2\n'
        '[[sources]]\ntype = "soundfont"\nsoundfont = "TimGM6mb"\nprograms = [73, 24]\nsplit = "train"\n'
    )
    assert main(["data", "build", str(recipe), "--quiet"]) == 0
    assert "flute 1, guitar 1" in capsys.readouterr().out
    assert main(["data", "build", str(recipe), "--quiet"]) == 0
    assert "cache reused" in capsys.readouterr().out
    assert main(["data", "build", str(tmp_path / "missing.toml")]) == 2
