"""Melody dataset recipes and caches, built for real from generated MIDI files and music21's corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

import musicvae.kinds.melody.data as data_melody
from musicvae.config import RecipeConfig, SourceConfig, SplitConfig
from musicvae.data.recipes import cache_path, split_of
from musicvae.errors import DataError
from musicvae.kinds.melody.data import build_melody_dataset, format_report, load_melody_windows, melody_recipe_hash
from musicvae.kinds.melody.sources import abc_odd_meter, abc_tune_notes, load_melody_recipe, split_abc_tunes
from musicvae.midi.melody import StepNote, midi_file_events
from musicvae.midi.windows import slice_windows

SPLIT = SplitConfig(valid=0.25, test=0.25, salt="tests")


def write_midi(path: Path, notes: list[tuple[int, int, int]], *, meter=(4, 4), drum=False) -> None:
    """(pitch, start step, end step) notes at 120 qpm, 16 steps per bar."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    instrument = pretty_midi.Instrument(0, is_drum=drum)
    instrument.notes = [pretty_midi.Note(80, p, s * 0.125, e * 0.125) for p, s, e in notes]
    midi.instruments.append(instrument)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))


def random_tune(rng: np.random.Generator, bars: int) -> list[tuple[int, int, int]]:
    notes, t = [], 0
    while t < bars * 16:
        length = int(rng.choice([2, 4, 4, 8]))
        notes.append((int(rng.integers(55, 80)), t, t + length))
        t += length
    return notes


def piece_name(split: str, index: int, folder: str = "") -> str:
    """A file path that :func:`split_of` puts in ``split`` (found by trying names in order)."""
    found = [f"{folder}tune{i:03d}.mid" for i in range(500) if split_of(f"{folder}tune{i:03d}.mid", SPLIT) == split]
    return found[index]


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    """Six usable files (one with two melodies, one repeated in train and test) and three to skip."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "midi"
    shared = random_tune(rng, 3)
    write_midi(folder / piece_name("train", 0), shared)
    write_midi(folder / piece_name("test", 0), shared)  # the same tune under another id
    write_midi(folder / piece_name("train", 1), random_tune(rng, 4))
    write_midi(folder / piece_name("valid", 0), random_tune(rng, 3))
    two = random_tune(rng, 2) + [(p, s + 64, e + 64) for p, s, e in random_tune(rng, 2)]  # 2 silent bars between
    write_midi(folder / piece_name("train", 2), two)
    write_midi(folder / piece_name("test", 0, "sub/"), random_tune(rng, 5))
    write_midi(folder / "waltz.mid", random_tune(rng, 2), meter=(3, 4))
    write_midi(folder / "drums.mid", random_tune(rng, 2), drum=True)
    (folder / "broken.mid").write_text("not a midi file")
    return folder


def recipe_for(folder: Path, **changes) -> RecipeConfig:
    source = SourceConfig(type="midi-folder", path=str(folder))
    return RecipeConfig(name="tiny", sources=(source,), split=SPLIT, **changes)


def test_midi_folder_build_counts_and_splits(midi_folder, tmp_path):
    report = build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert not report["reused"]
    assert report["pieces_read"] == 9 and report["pieces_used"] == 6
    assert report["pieces_skipped"] == {"meter": 1, "drums only": 1, "unreadable": 1}
    assert report["skipped_meters"] == {"3/4": 1}
    assert report["melodies"] == 7  # one file holds two melodies
    assert report["pieces_per_split"] == {"train": 3, "valid": 1, "test": 2}
    assert report["windows_dropped_as_in_train"]["2bar"]["test"] == 2  # the shared 3-bar tune's 2 windows
    assert "tiny: 9 pieces read, 6 used" in format_report(report)

    cache = Path(report["path"])
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["recipe_hash"] == melody_recipe_hash(load_melody_recipe(recipe_for(midi_folder)))
    with np.load(cache / "melodies.npz") as npz:
        ids, piece, melody_split = npz["piece_ids"], npz["melody_piece"], npz["melody_split"]
        offsets = npz["offsets"]
    assert offsets[-1] == len(np.load(cache / "melodies.npz")["events"]) and np.all(np.diff(offsets) % 16 == 0)
    for index, split in zip(piece, melody_split):  # a piece's melodies all sit in that piece's split
        assert data_melody.SPLITS[split] == split_of(str(ids[index]), SPLIT)


def test_windows_are_bar_aligned_deduped_and_held_out_minus_train(midi_folder, tmp_path):
    recipe = recipe_for(midi_folder)
    build_melody_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    train = load_melody_windows(recipe, split="train", bars=2, cache_dir=tmp_path)
    test = load_melody_windows(recipe, split="test", bars=2, cache_dir=tmp_path)
    assert train.dtype == np.uint8 and train.shape[1] == 32 and test.shape[1] == 32
    assert len(np.unique(train, axis=0)) == len(train)
    train_rows = {row.tobytes() for row in train}
    assert not any(row.tobytes() in train_rows for row in test)
    alone, _ = midi_file_events(midi_folder / piece_name("test", 0, "sub/"))  # the test tune not shared with train
    np.testing.assert_array_equal(test, slice_windows(alone, window_steps=32, hop_steps=16))
    assert load_melody_windows(recipe, split="train", bars=16, cache_dir=tmp_path).shape == (0, 256)
    with pytest.raises(DataError, match="unknown split"):
        load_melody_windows(recipe, split="dev", bars=2, cache_dir=tmp_path)


def test_rerun_reuses_and_changed_recipe_rebuilds(midi_folder, tmp_path):
    first = build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path, workers=1, progress=False)
    again = build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path, workers=1, progress=False)
    assert again["reused"] and again["path"] == first["path"]
    changed = build_melody_dataset(recipe_for(midi_folder, gap_bars=4), cache_dir=tmp_path, workers=1, progress=False)
    assert not changed["reused"] and changed["path"] != first["path"]
    assert changed["melodies"] == first["melodies"] - 1  # two silent bars no longer split a melody
    write_midi(midi_folder / "new.mid", [(60, 0, 16)])  # a changed folder is a different dataset
    assert (
        build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path, workers=1, progress=False)["pieces_read"]
        == 10
    )


def test_interrupted_build_resumes_from_finished_chunks(midi_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(data_melody, "CHUNK_PIECES", 2)
    real = data_melody.extract_piece
    calls = []

    def crash_on_fifth(item, **kwargs):
        calls.append(item[0])
        if len(calls) == 5:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C
        return real(item, **kwargs)

    monkeypatch.setattr(data_melody, "extract_piece", crash_on_fifth)
    recipe = recipe_for(midi_folder)
    with pytest.raises(KeyboardInterrupt):
        build_melody_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    loaded = load_melody_recipe(recipe)
    final = cache_path(loaded, cache_dir=tmp_path, digest=melody_recipe_hash(loaded))
    partial = final.with_name(f".partial-{final.name}")
    assert not final.exists() and len(list(partial.glob("chunk-*.npz"))) == 2

    calls.clear()
    monkeypatch.setattr(data_melody, "extract_piece", lambda item, **kw: calls.append(item[0]) or real(item, **kw))
    report = build_melody_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    assert len(calls) == 9 - 4 and report["pieces_read"] == 9 and report["melodies"] == 7
    assert final.exists() and not partial.exists()


def test_parallel_build_matches_serial(midi_folder, tmp_path):
    serial = build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path / "a", workers=1, progress=False)
    parallel = build_melody_dataset(recipe_for(midi_folder), cache_dir=tmp_path / "b", workers=2, progress=False)
    for key in ("pieces_read", "pieces_skipped", "melodies", "windows", "notes"):
        assert serial[key] == parallel[key]


def test_not_built_dataset_says_how_to_build(midi_folder, tmp_path):
    with pytest.raises(DataError, match=f"not built; run: musicvae data build {midi_folder}"):
        load_melody_windows(str(midi_folder), split="train", bars=2, cache_dir=tmp_path)


def test_load_recipe_by_name_path_and_folder(midi_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICVAE_DATASETS", str(tmp_path / "recipes"))
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "mine.toml").write_text('[[sources]]\ntype = "midi-folder"\npath = "../midi"\n')
    recipe = load_melody_recipe("mine")
    assert recipe.name == "mine" and Path(recipe.sources[0].path) == midi_folder.resolve()
    assert load_melody_recipe(tmp_path / "recipes" / "mine.toml") == recipe
    adhoc = load_melody_recipe(midi_folder)
    assert adhoc.name == "midi" and adhoc.sources[0].type == "midi-folder"
    with pytest.raises(DataError, match="unknown dataset recipe 'nope'; available: mine"):
        load_melody_recipe("nope")
    (tmp_path / "recipes" / "bad.toml").write_text('[[sources]]\ntype = "midi-folder"\nfolder = "x"\n')
    with pytest.raises(DataError, match="unknown config key"):
        load_melody_recipe("bad")
    folk = load_melody_recipe(Path(__file__).parents[3] / "datasets" / "folk-melodies.toml")
    assert folk.sources[0].collections == ("essenFolksong", "oneills1850", "ryansMammoth")
    assert (folk.split.valid, folk.split.test) == (0.05, 0.05)


def test_melody_recipe_checks_its_sources():
    with pytest.raises(DataError, match="x: midi-folder source 1 needs a path"):
        load_melody_recipe(RecipeConfig(name="x", sources=(SourceConfig(type="midi-folder"),)))
    with pytest.raises(DataError, match="x: music21-corpus source 2 names no collections"):
        corpus = SourceConfig(type="music21-corpus", collections=("bach",))
        load_melody_recipe(RecipeConfig(name="x", sources=(corpus, SourceConfig(type="music21-corpus"))))
    with pytest.raises(DataError, match="x: the recipe names no sources"):
        load_melody_recipe(RecipeConfig(name="x"))


def test_split_of_is_stable_and_proportional():
    split = SplitConfig(valid=0.1, test=0.2, salt="x")
    assignments = [split_of(f"piece-{i}", split) for i in range(4000)]
    assert assignments == [split_of(f"piece-{i}", split) for i in range(4000)]
    shares = {s: assignments.count(s) / 4000 for s in ("train", "valid", "test")}
    assert abs(shares["valid"] - 0.1) < 0.02 and abs(shares["test"] - 0.2) < 0.03


# ---------------------------------------------------------------------------
# music21 ABC tunes
# ---------------------------------------------------------------------------

ABC = """%abc
Free text in the file header must not become notes.
M:4/4

X:1
T:Pickup, tie, chord, triplet
L:1/8
K:C
G | c2 c2- c2 d2 | [ce]4 (3ABc d2 | e8 |]

X:2
T:A waltz
M:3/4
L:1/4
K:C
c d e | c3 |]

X:3
T:A half bar without its partner
L:1/4
K:C
c d e f | g2 | c d e f |]
"""


def test_abc_tunes_are_split_and_aligned_to_bars():
    tunes = split_abc_tunes(ABC)
    assert [number for number, _ in tunes] == ["1", "2", "3"]
    assert tunes[0][1].startswith("%abc\nM:4/4\nX:1")  # header fields kept, free text left out
    notes, off_grid, reason, _ = abc_tune_notes(tunes[0][1])
    assert reason == ""
    assert notes == [
        StepNote(67, 14, 16),  # the pickup ends on the first bar line
        StepNote(72, 16, 20),
        StepNote(72, 20, 28),  # c2- c2 tied into one note
        StepNote(74, 28, 32),
        StepNote(76, 32, 40),  # chord [ce]: its top note
        StepNote(69, 40, 41),  # triplet eighths (4/3 steps each), rounded to the grid
        StepNote(71, 41, 43),
        StepNote(72, 43, 44),
        StepNote(74, 44, 48),
        StepNote(76, 48, 64),
    ]
    assert off_grid == 3
    assert abc_tune_notes(tunes[1][1]) == ([], 0, "meter", "3/4")
    assert abc_tune_notes(tunes[2][1])[2:] == ("irregular bars", "bar 3 starts 2 quarters off the bar grid")


@pytest.mark.parametrize(
    ("fields", "odd"),
    [
        ("M:C|\n", ""),
        ("M:2/2 % cut time\n", ""),
        ("M:4/4\n", ""),
        ("", "missing"),
        ("M:4/4\n[M:3/4]", "3/4"),
        ("M:6/8\n", "6/8"),
    ],
)
def test_abc_meter_check_reads_the_text(fields, odd):
    assert abc_odd_meter(f"X:1\n{fields}K:C\nc4|") == odd


def test_tie_merging_matches_music21_strip_ties():
    from music21 import converter

    tune = split_abc_tunes(ABC)[0][1]
    stripped = converter.parse(tune, format="abc").parts[0].stripTies().flatten().notes
    lengths = [float(n.quarterLength) * 4 for n in stripped]
    notes, *_ = abc_tune_notes(tune)
    assert [n.end - n.start for n in notes] == pytest.approx(lengths, abs=1)


def test_music21_corpus_recipe_builds_twenty_tunes(tmp_path):
    source = SourceConfig(type="music21-corpus", collections=("oneills1850",), max_files=20)
    recipe = RecipeConfig(name="oneills-20", sources=(source,))
    report = build_melody_dataset(recipe, cache_dir=tmp_path, workers=1, progress=False)
    assert report["pieces_read"] == 20
    assert report["pieces_used"] + sum(report["pieces_skipped"].values()) == 20
    assert report["pieces_used"] >= 2 and set(report["pieces_skipped"]) <= {"meter", "irregular bars"}
    assert report["melodies"] >= report["pieces_used"]
    windows = load_melody_windows(recipe, split="train", bars=2, cache_dir=tmp_path)
    assert len(windows) > 20 and windows.max() < 90
    with np.load(Path(report["path"]) / "melodies.npz") as npz:
        assert str(npz["piece_ids"][0]) == "oneills1850/0001-0050.abc#1"
