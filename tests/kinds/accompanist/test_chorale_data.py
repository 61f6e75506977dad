"""Chorale dataset builds on a handful of real corpus chorales: windows, splits, resume, staleness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicvae.config import RecipeConfig, SourceConfig, SplitConfig
from musicvae.errors import DataError
from musicvae.kinds.accompanist import data
from musicvae.midi import chorale as codec


def _recipe(max_files: int = 6, **split) -> RecipeConfig:
    return RecipeConfig(
        name="chorale-test",
        kind="chorale",
        sources=(SourceConfig(type="music21-corpus", collections=("bach",), max_files=max_files),),
        split=SplitConfig(**{"valid": 0.3, "test": 0.3, "salt": "t", **split}),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    report = data.build_chorale_dataset(_recipe(), cache_dir=cache, workers=1, progress=False)
    return cache, report


def test_build_reports_and_windows_have_the_model_shape(built):
    cache, report = built
    assert report["pieces_read"] == 6 and not report["reused"]
    assert report["pieces_used"] + sum(report["pieces_skipped"].values()) == 6
    windows = data.load_chorale_windows(_recipe(), split="train", cache_dir=cache)
    assert windows.ndim == 3 and windows.shape[1:] == (4, 64) and windows.dtype == np.uint8
    for v, r in enumerate(codec.VOICE_RANGES):
        assert windows[:, v].max() < codec.num_classes(r)
    assert "4-bar windows" in data.format_report(report)


def test_splits_are_by_chorale_file(built):
    cache, _ = built
    seen = {}
    for split in data.SPLITS:
        chunk = data.load_chorale_split(_recipe(), split=split, cache_dir=cache)
        for piece in set(chunk.piece.tolist()):
            assert seen.setdefault(str(chunk.piece_ids[piece]), split) == split
        grids = data.load_chorale_grids(_recipe(), split=split, cache_dir=cache)
        assert set(grids) == {str(chunk.piece_ids[p]) for p in set(chunk.piece.tolist())}
    assert len(set(seen.values())) >= 2


def test_second_build_reuses_the_cache(built):
    cache, _ = built
    again = data.build_chorale_dataset(_recipe(), cache_dir=cache, workers=1, progress=False)
    assert again["reused"]


def test_unbuilt_or_stale_dataset_says_how_to_build(tmp_path, built):
    cache, _ = built
    with pytest.raises(DataError, match="musicvae data build"):
        data.load_chorale_windows(_recipe(max_files=5), split="train", cache_dir=tmp_path)
    with pytest.raises(DataError, match="older recipe or code version"):
        data.load_chorale_windows(_recipe(salt="other"), split="train", cache_dir=cache)
    with pytest.raises(DataError, match="unknown split"):
        data.load_chorale_windows(_recipe(), split="dev", cache_dir=cache)


def test_wrong_recipe_kind_or_source_is_refused(tmp_path):
    melody = RecipeConfig(name="m", sources=(SourceConfig(type="music21-corpus", collections=("bach",)),))
    with pytest.raises(DataError, match="not 'chorale'"):
        data.build_chorale_dataset(melody, cache_dir=tmp_path, progress=False)
    other = RecipeConfig(name="c", kind="chorale",
                         sources=(SourceConfig(type="music21-corpus", collections=("essenFolksong",)),))
    with pytest.raises(DataError, match="Riemenschneider"):
        data.build_chorale_dataset(other, cache_dir=tmp_path, progress=False)


def test_killed_build_resumes_from_finished_chunks(tmp_path, monkeypatch):
    recipe = _recipe(max_files=4)
    monkeypatch.setattr(data, "CHUNK_PIECES", 2)
    calls = []
    real = data.extract_chorale

    def flaky(piece_id, **kwargs):
        calls.append(piece_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(piece_id, **kwargs)

    monkeypatch.setattr(data, "extract_chorale", flaky)
    with pytest.raises(KeyboardInterrupt):
        data.build_chorale_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]
    assert len(partial) == 1 and len(list(partial[0].glob("chunk-*.npz"))) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("chorale-test-")]  # nothing half-written
    calls.clear()
    monkeypatch.setattr(data, "extract_chorale", real)
    report = data.build_chorale_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    assert report["pieces_read"] == 4
    final = [p for p in tmp_path.iterdir() if p.name.startswith("chorale-test-")]
    assert len(final) == 1 and json.loads((final[0] / "meta.json").read_text())["code_version"] == data.CODE_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_shipped_recipe_loads():
    from musicvae.data.recipes import load_recipe

    recipe = load_recipe("bach-chorales")
    assert recipe.kind == "chorale" and recipe.steps_per_bar == 16
    assert recipe.sources[0].collections == ("bach",)


def test_chorale_hash_owns_its_code_version(monkeypatch):
    """Melody's code version does not reach the chorale hash; the chorale's own does."""
    import musicvae.kinds.melody.data as melody_data

    before = data.chorale_hash(_recipe())
    monkeypatch.setattr(melody_data, "CODE_VERSION", "melody-next")
    assert data.chorale_hash(_recipe()) == before
    monkeypatch.setattr(data, "CODE_VERSION", "chorale-next")
    assert data.chorale_hash(_recipe()) != before
