"""Melody datasets: extract every melody of a recipe's sources once, then slice windows fast.

``build_melody_dataset`` reads the pieces (one ABC tune or one MIDI file each)
in parallel, reduces each to its top line, cuts it into melodies after a silent
bar (MusicVAE's rule) and stores the melodies, not the windows, so any window
length can be sliced at training time by ``load_melody_windows``.

Cache layout (``cache_root()/<name>-<hash12>/``):

- ``melodies.npz``: ``events`` uint8 [total steps] (every melody's events,
  concatenated, each starting on a bar line and padded to one), ``offsets``
  int64 [M + 1], ``melody_piece`` int32 [M] (index into ``piece_ids``),
  ``melody_split`` uint8 [M] (index into :data:`SPLITS`), ``piece_ids`` str [P];
- ``meta.json``: recipe hash (:func:`melody_recipe_hash`), code version and the build report.

A build works in chunks of :data:`CHUNK_PIECES` pieces saved under
``.partial-<name>-<hash12>/`` so that a killed build resumes where it stopped;
the final folder is written under a temporary name and renamed (the machinery
all builders share is in :mod:`musicvae.data.cache`).
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from pathlib import Path

import numpy as np

from musicvae.config import RecipeConfig
from musicvae.data import cache
from musicvae.data.recipes import SPLITS, cache_path, check_split, recipe_hash, split_of
from musicvae.errors import DataError
from musicvae.kinds.melody import sources
from musicvae.kinds.melody.sources import (
    WorkItem,
    abc_tune_notes,
    list_pieces,
    load_melody_recipe,
    midi_piece_notes,
    recipe_bar_steps,
)
from musicvae.midi import melody as codec
from musicvae.midi.meter import bar_steps
from musicvae.midi.windows import dedupe_windows

#: Bump whenever extraction changes what a build produces: old caches then stop matching.
CODE_VERSION = "melody-2"
CHUNK_PIECES = 500
#: Window lengths (bars) whose counts the build report lists.
REPORT_BARS = (2, 16)


def extract_piece(item: WorkItem, *, steps_per_bar: int, gap_bars: int, min_pitch: int, max_pitch: int,
                  meter: str = "4/4", pair_two_four: bool = False) -> dict:
    """Melodies of one piece, or why it was skipped.

    ``steps_per_bar`` is the grid of a 4/4 bar; pieces in meters a ``meter`` model does not take are
    skipped, and each melody starts on a bar line of ``meter``.

    Returns
    -------
    dict with ``id``, ``status`` ("ok" or a skip reason: "meter", "parse error",
    "irregular bars", "no notes", "drums only", "unreadable", "out of range"), ``detail`` (e.g.
    the meter), ``melodies`` (list of uint8 event arrays [bars * steps_per_bar]),
    ``notes``, ``off_grid``, ``dropped`` (out of range) and ``polyphonic``.
    """
    piece_id, kind, payload = item
    result = {
        "id": piece_id,
        "status": "ok",
        "detail": "",
        "melodies": [],
        "notes": 0,
        "off_grid": 0,
        "dropped": 0,
        "polyphonic": False,
    }
    try:
        read = abc_tune_notes if kind == "abc" else midi_piece_notes
        notes, off_grid, reason, detail = read(payload, steps_per_bar=steps_per_bar, meter=meter,
                                               pair_two_four=pair_two_four)
    except Exception as error:  # one corrupt piece must not stop a build of thousands
        return {**result, "status": "parse error", "detail": f"{type(error).__name__}: {error}"[:200]}
    if reason:
        return {**result, "status": reason, "detail": detail}
    line, polyphonic = codec.top_line(notes)
    kept, dropped = codec.clip_range(line, min_pitch=min_pitch, max_pitch=max_pitch)
    if not kept:
        return {**result, "status": "no notes" if not notes else "out of range"}
    bar = bar_steps(meter, steps_per_whole_bar=steps_per_bar)
    melodies = [
        codec.melody_events(m, steps_per_bar=bar, min_pitch=min_pitch, max_pitch=max_pitch).astype(np.uint8)
        for m in codec.split_melodies(kept, steps_per_bar=bar, gap_bars=gap_bars)
    ]
    return {
        **result,
        "melodies": melodies,
        "notes": len(kept),
        "off_grid": off_grid,
        "dropped": dropped,
        "polyphonic": polyphonic,
    }


def melody_recipe_hash(recipe: RecipeConfig) -> str:
    """The hash a melody cache is keyed by: the recipe, :data:`CODE_VERSION` and its sources' fingerprints.

    See :func:`musicvae.data.recipes.recipe_hash` and :func:`.sources.source_fingerprint`.
    """
    return recipe_hash(recipe, code_version=CODE_VERSION, source_fingerprint=sources.source_fingerprint)


# ---------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------


def melody_windows(
    events: np.ndarray, offsets: np.ndarray, keep: np.ndarray, *, window_steps: int, steps_per_bar: int = 16
) -> np.ndarray:
    """All bar-aligned windows (1-bar hop) of the kept melodies that hold an onset, deduplicated.

    Parameters
    ----------
    events : np.ndarray, uint8, shape [S]
        Concatenated melodies, each starting on a bar line.
    offsets : np.ndarray, int64, shape [M + 1]
    keep : np.ndarray, bool, shape [M]

    Returns
    -------
    np.ndarray, uint8, shape [N, window_steps]
    """
    starts, lengths = offsets[:-1][keep], np.diff(offsets)[keep]
    counts = np.maximum((lengths - window_steps) // steps_per_bar + 1, 0)
    first = np.repeat(starts, counts)
    bar = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    windows = events[(first + bar * steps_per_bar)[:, None] + np.arange(window_steps)[None, :]]
    return dedupe_windows(windows[(windows >= codec.FIRST_PITCH_CLASS).any(axis=1)])


def _minus(held: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Rows of ``held`` that do not occur in ``train`` (both [N, T] of one dtype)."""
    if len(held) == 0 or len(train) == 0:
        return held
    both = np.ascontiguousarray(np.concatenate([train, held]))
    rows = both.view(np.dtype((np.void, both.dtype.itemsize * both.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    inverse = inverse.ravel()
    return held[~np.isin(inverse[len(train) :], inverse[: len(train)])]


def _split_windows(data, split: str, window_steps: int, steps_per_bar: int) -> tuple[np.ndarray, int]:
    """Windows of one split (held-out splits minus windows also in train) and how many were removed."""

    def of(name: str) -> np.ndarray:
        keep = data["melody_split"] == SPLITS.index(name)
        return melody_windows(
            data["events"], data["offsets"], keep, window_steps=window_steps, steps_per_bar=steps_per_bar
        )

    windows = of(split)
    if split == "train":
        return windows, 0
    kept = _minus(windows, of("train"))
    return kept, len(windows) - len(kept)


# ---------------------------------------------------------------------------
# Building and loading
# ---------------------------------------------------------------------------


def _save_chunk(path: Path, results: list[dict]) -> None:
    melodies = [m for r in results for m in r["melodies"]]
    arrays = {
        "events": np.concatenate(melodies) if melodies else np.zeros(0, np.uint8),
        "lengths": np.array([len(m) for m in melodies], np.int64),
        "melody_piece": np.array([i for i, r in enumerate(results) for _ in r["melodies"]], np.int32),
        "piece_ids": np.array([r["id"] for r in results], dtype=str),
        "status": np.array([r["status"] for r in results], dtype=str),
        "detail": np.array([r["detail"] for r in results], dtype=str),
        "stats": np.array([[r["notes"], r["off_grid"], r["dropped"], r["polyphonic"]] for r in results], np.int64),
    }
    cache.save_npz(path, arrays)


def _assemble(chunk_files: list[Path], recipe: RecipeConfig) -> dict[str, np.ndarray]:
    """Concatenate the chunks into the cache arrays (plus per-piece status for the report)."""
    parts = [dict(np.load(f)) for f in chunk_files]
    piece_base = np.cumsum([0] + [len(p["piece_ids"]) for p in parts])
    lengths = np.concatenate([p["lengths"] for p in parts])
    piece_ids = np.concatenate([p["piece_ids"] for p in parts])
    piece_split = np.array([SPLITS.index(split_of(str(i), recipe.split)) for i in piece_ids], np.uint8)
    melody_piece = np.concatenate([p["melody_piece"] + base for p, base in zip(parts, piece_base)]).astype(np.int32)
    return {
        "events": np.concatenate([p["events"] for p in parts]).astype(np.uint8),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "melody_piece": melody_piece,
        "melody_split": piece_split[melody_piece],
        "piece_ids": piece_ids,
        "piece_split": piece_split,
        "piece_status": np.concatenate([p["status"] for p in parts]),
        "piece_detail": np.concatenate([p["detail"] for p in parts]),
        "piece_stats": np.concatenate([p["stats"].reshape(-1, 4) for p in parts]),
    }


def _report(data: dict[str, np.ndarray], recipe: RecipeConfig) -> dict:
    status = data["piece_status"].tolist()
    counts = Counter(status)
    used = data["piece_status"] == "ok"
    notes, off_grid, dropped, polyphonic = data["piece_stats"].sum(axis=0).tolist()
    report = {
        "name": recipe.name,
        "meter": recipe.meter + (" and 2/4 paired" if recipe.pair_two_four else ""),
        "pieces_read": len(status),
        "pieces_used": counts.pop("ok", 0),
        "pieces_skipped": dict(counts.most_common()),
        "skipped_meters": dict(
            Counter(d for s, d in zip(status, data["piece_detail"].tolist()) if s == "meter").most_common()
        ),
        "pieces_per_split": {s: int(np.count_nonzero(used & (data["piece_split"] == i))) for i, s in enumerate(SPLITS)},
        "melodies": len(data["melody_piece"]),
        "melodies_per_split": {s: int(np.count_nonzero(data["melody_split"] == i)) for i, s in enumerate(SPLITS)},
        "notes": notes,
        "notes_off_grid": off_grid,
        "notes_out_of_range": dropped,
        "polyphonic_pieces": polyphonic,
        "windows": {},
        "windows_dropped_as_in_train": {},
        "no_event_share": {},
    }
    for bars in REPORT_BARS:
        key = f"{bars}bar"
        report["windows"][key], report["windows_dropped_as_in_train"][key] = {}, {}
        for split in SPLITS:
            bar = recipe_bar_steps(recipe)
            windows, removed = _split_windows(data, split, bars * bar, bar)
            report["windows"][key][split] = len(windows)
            if split != "train":
                report["windows_dropped_as_in_train"][key][split] = removed
            if bars == REPORT_BARS[0] and len(windows):
                # The accuracy an always-"no event" guess would get: the floor a model must beat.
                report["no_event_share"][split] = round(float(np.mean(windows == codec.NO_EVENT)), 4)
    return report


def build_melody_dataset(
    recipe: RecipeConfig | str | Path,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Extract every melody of a recipe into a versioned cache (or reuse a matching one).

    Parallel over pieces, resumable (finished chunks of :data:`CHUNK_PIECES`
    pieces are kept if the build is killed), atomic (temp folder + rename).

    Parameters
    ----------
    recipe : RecipeConfig, recipe name, .toml path or MIDI folder
    cache_dir : path, optional, keyword-only
        Root folder of caches (default :func:`cache_root`).
    workers : int, optional, keyword-only
        Processes (default ``min(2, cpu count)``); 1 runs in this process.
    force : bool, keyword-only
        Rebuild from scratch even if a cache or partial build exists.
    progress : bool, keyword-only
        Show a tqdm progress bar.

    Returns
    -------
    dict
        The build report (see :func:`format_report`); ``reused`` says whether a cache was reused.
    """
    recipe = load_melody_recipe(recipe)
    if recipe.kind != "melody":
        raise DataError(f"{recipe.name}: recipe kind {recipe.kind!r} is not 'melody'")
    digest = melody_recipe_hash(recipe)
    final = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    meta = cache.reusable_meta(final, expected={"recipe_hash": digest, "code_version": CODE_VERSION}, force=force)
    if meta:
        return {**meta["report"], "path": str(final), "reused": True}

    began = time.perf_counter()
    items = [item for source in recipe.sources for item in list_pieces(source)]
    if not items:
        raise DataError(f"{recipe.name}: its sources hold no pieces")
    duplicates = [piece for piece, n in Counter(i[0] for i in items).items() if n > 1]
    if duplicates:
        raise DataError(f"{recipe.name}: piece id {duplicates[0]!r} occurs in two sources; give them distinct folders")
    workers = cache.worker_count(workers)
    from musicvae.kinds.melody.config import MelodyRepresentation

    vocabulary = MelodyRepresentation()
    extract = functools.partial(
        extract_piece,
        steps_per_bar=recipe.steps_per_bar,
        gap_bars=recipe.gap_bars,
        min_pitch=vocabulary.min_pitch,
        max_pitch=vocabulary.max_pitch,
        meter=recipe.meter,
        pair_two_four=recipe.pair_two_four,
    )
    plan = {"recipe_hash": digest, "code_version": CODE_VERSION, "pieces": len(items), "chunk": CHUNK_PIECES}
    chunk_files = cache.run_chunks(
        extract,
        items,
        _save_chunk,
        final=final,
        plan=plan,
        chunk_pieces=CHUNK_PIECES,
        workers=workers,
        chunksize=4,
        progress=progress,
        unit="piece",
        desc=f"building {recipe.name}",
    )

    data = _assemble(chunk_files, recipe)
    report = _report(data, recipe)
    report.update(
        recipe_hash=digest,
        code_version=CODE_VERSION,
        workers=workers,
        build_seconds=round(time.perf_counter() - began, 1),
    )
    meta = {"recipe_hash": digest, "code_version": CODE_VERSION, "report": report}
    cache.finish_cache(final, meta, lambda folder: cache.save_npz(folder / "melodies.npz", data))
    return {**report, "path": str(final), "reused": False}


def load_melody_windows(
    recipe: RecipeConfig | str | Path,
    *,
    split: str,
    bars: int,
    steps_per_bar: int = 16,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Deduplicated bar-aligned windows (1-bar hop) of one split of a built dataset.

    Held-out splits ("valid", "test") lose every window that also occurs in
    "train", so evaluation never rewards memorising a repeated phrase.

    Returns
    -------
    np.ndarray, uint8, shape [N, bars * steps_per_bar]

    Raises
    ------
    DataError
        If the dataset is not built (the message gives the command to build it) or the split is unknown.
    """
    check_split(split)
    hint = cache.build_hint(recipe)
    recipe = load_melody_recipe(recipe)
    if steps_per_bar != recipe_bar_steps(recipe):
        raise DataError(f"{recipe.name} is built with {recipe_bar_steps(recipe)} steps per {recipe.meter} bar, "
                        f"not {steps_per_bar}")
    digest = melody_recipe_hash(recipe)
    folder = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    cache.built_meta(folder, name=recipe.name, hint=hint, expected={"recipe_hash": digest})
    with np.load(folder / "melodies.npz") as npz:
        data = {key: npz[key] for key in ("events", "offsets", "melody_split")}
    windows, _ = _split_windows(data, split, bars * steps_per_bar, steps_per_bar)
    return windows


def format_report(report: dict) -> str:
    """The build report as a few lines of text for the CLI."""

    def listing(counts: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

    skipped = sum(report["pieces_skipped"].values())
    meters = list(report["skipped_meters"].items())
    lines = [
        f"{report['name']}: {report['pieces_read']} pieces read, {report['pieces_used']} used"
        + (f" ({report['meter']})" if report.get("meter", "4/4") != "4/4" else "")
        + (
            " (cache reused)"
            if report.get("reused")
            else f" in {report.get('build_seconds', 0):g} s with {report.get('workers', 1)} workers"
        ),
        f"  skipped {skipped}: {listing(report['pieces_skipped'])}"
        + (
            f" (meters: {', '.join(f'{m} {n}' for m, n in meters[:8])}{', ...' if len(meters) > 8 else ''})"
            if meters
            else ""
        ),
        f"  pieces per split: {listing(report['pieces_per_split'])}",
        f"  melodies {report['melodies']} ({listing(report['melodies_per_split'])}); notes {report['notes']}, "
        f"{report['notes_off_grid']} moved to the grid, {report['notes_out_of_range']} out of range dropped; "
        f"{report['polyphonic_pieces']} polyphonic pieces reduced to their top line",
    ]
    for key, counts in report["windows"].items():
        dropped = report["windows_dropped_as_in_train"][key]
        lines.append(
            f"  {key} windows: {listing(counts)} (held-out windows also in train, dropped: {listing(dropped)})"
        )
    if report.get("no_event_share"):
        lines.append(f"  share of 'no event' steps in 2-bar windows: {listing(report['no_event_share'])}")
    if report.get("path"):
        lines.append(f"  cache: {report['path']}")
    return "\n".join(lines)
