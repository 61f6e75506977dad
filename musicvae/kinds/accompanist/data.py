"""Chorale datasets: put every four-voice Bach chorale on the step grid once, then cut windows fast.

``build_chorale_dataset`` parses the chorales (music21 corpus files) in
parallel, keeps the 4/4 ones with four named voices, and stores each chorale's
pitch/onset grid, not its windows, so that windows of any length and any voice
ranges are cut at load time by :func:`load_chorale_split`.

Cache layout (``cache_root()/<name>-<hash12>/``, the hash covering the recipe
and :data:`CODE_VERSION`):

- ``chorales.npz``: ``pitches`` int8 [4, S] (every chorale's grid concatenated,
  -1 = rest), ``onsets`` bool [4, S], ``fermatas`` bool [S] (a soprano note with a
  fermata starts: the phrase ends), ``offsets`` int64 [P + 1], ``piece_ids``
  str [P], ``piece_split`` uint8 [P] (index into :data:`SPLITS`), ``status`` and
  ``detail`` str [P] (``"ok"`` or why a piece was skipped), ``stats`` int64 [P, 3]
  (notes, notes moved to the grid, pickup steps);
- ``meta.json``: recipe hash, code version and the build report.

A build keeps finished chunks of :data:`CHUNK_PIECES` chorales under
``.partial-<name>-<hash12>/``, so a killed build resumes; the final folder is
written under a temporary name and renamed (see :mod:`musicvae.data.cache`).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musicvae.config import RecipeConfig, SourceConfig
from musicvae.data import cache
from musicvae.data.recipes import (
    SPLITS,
    cache_path,
    check_split,
    load_recipe,
    music21_corpus_fingerprint,
    recipe_hash,
    split_of,
)
from musicvae.errors import DataError, InputError
from musicvae.midi import chorale as codec

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from musicvae.kinds.accompanist.config import ChoraleRepresentation

#: Bump whenever extraction changes what a build produces: old caches then stop matching.
CODE_VERSION = "chorale-2"  # 2: the soprano's fermatas
#: The code version of the recipe hash inside :func:`chorale_hash`. It is melody's "melody-2" because
#: chorale hashes were built on the melody recipe hash before each kind owned its code version; the same
#: string keeps every built chorale cache's hash. Never bump it: bump :data:`CODE_VERSION` instead.
RECIPE_CODE_VERSION = "melody-2"
CHUNK_PIECES = 25
#: The music21 corpus collection whose Riemenschneider chorales a ``music21-corpus`` source names.
CHORALE_COLLECTION = "bach"


@dataclass(frozen=True)
class ChoraleWindows:
    """Token windows of one split, with where each came from.

    Attributes
    ----------
    windows : np.ndarray [N, 4, T] uint8
        Per-voice tokens (see :mod:`musicvae.midi.chorale`).
    piece : np.ndarray [N] int32
        Index into ``piece_ids``.
    start : np.ndarray [N] int32
        First grid step of the window in its chorale.
    piece_ids : np.ndarray [P] str
    dropped : int
        Windows left out because a note lay outside its voice range.
    phrase : np.ndarray [N, T] uint8
        Each window's phrase tokens (:func:`musicvae.midi.chorale.phrase_tokens` of its chorale's fermatas).
    """

    windows: np.ndarray
    piece: np.ndarray
    start: np.ndarray
    piece_ids: np.ndarray
    dropped: int = 0
    phrase: np.ndarray | None = None


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------


def list_chorales(recipe: RecipeConfig) -> list[str]:
    """The corpus ids of a chorale recipe's pieces, sorted, each source capped at its ``max_files``."""
    ids: list[str] = []
    for i, source in enumerate(recipe.sources):
        if source.type != "music21-corpus" or tuple(source.collections) != (CHORALE_COLLECTION,):
            raise DataError(
                f"{recipe.name}: chorale source {i + 1} must be type = 'music21-corpus' with "
                f"collections = ['{CHORALE_COLLECTION}'] (the Riemenschneider chorales)"
            )
        found = codec.bach_chorale_ids()
        ids += found[: source.max_files] if source.max_files > 0 else found
    return sorted(set(ids))


def extract_chorale(piece_id: str, *, steps_per_bar: int) -> dict:
    """One chorale on the grid, or why it was skipped ("excluded", "meter", "voices", "parse error")."""
    result = {"id": piece_id, "status": "ok", "detail": "", "pitches": None, "onsets": None, "fermatas": None,
              "stats": [0, 0, 0]}
    if piece_id in codec.EXCLUDED_CHORALES:
        return {**result, "status": "excluded", "detail": "five voices"}
    try:
        score = codec.parse_corpus_chorale(piece_id)
        grid = codec.score_grid(score, steps_per_bar=steps_per_bar)
        fermatas = np.zeros(grid.steps, bool)
        fermatas[[f for f in codec.fermata_steps(score, steps_per_bar=steps_per_bar) if f < grid.steps]] = True
    except InputError as error:
        status = "meter" if "only 4/4" in str(error) else "voices"
        odd = [ts for ts in codec.time_signatures(score) if ts != "4/4"] if status == "meter" else []
        detail = ", ".join(odd) if odd else str(error)
        return {**result, "status": status, "detail": detail}
    except Exception as error:  # one unreadable file must not stop the build
        return {**result, "status": "parse error", "detail": f"{type(error).__name__}: {error}"[:200]}
    notes = int(grid.onsets.sum())
    return {
        **result,
        "pitches": grid.pitches.astype(np.int8),
        "onsets": grid.onsets,
        "fermatas": fermatas,
        "stats": [notes, grid.off_grid, grid.pickup_steps],
    }


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


def _source_fingerprint(source: SourceConfig) -> str:
    """What a source adds to the hash: music21's version for a corpus source (the corpus ships with it), else ``""``."""
    return music21_corpus_fingerprint() if source.type == "music21-corpus" else ""


def chorale_hash(recipe: RecipeConfig) -> str:
    """The recipe's hash (recipe text and sources) combined with this module's :data:`CODE_VERSION`."""
    inner = recipe_hash(recipe, code_version=RECIPE_CODE_VERSION, source_fingerprint=_source_fingerprint)
    return hashlib.sha256(f"{inner}\0{CODE_VERSION}".encode()).hexdigest()


def _save_chunk(path: Path, results: list[dict]) -> None:
    ok = [r for r in results if r["status"] == "ok"]
    arrays = {
        "pitches": np.concatenate([r["pitches"] for r in ok], axis=1) if ok else np.zeros((4, 0), np.int8),
        "onsets": np.concatenate([r["onsets"] for r in ok], axis=1) if ok else np.zeros((4, 0), bool),
        "fermatas": np.concatenate([r["fermatas"] for r in ok]) if ok else np.zeros(0, bool),
        "lengths": np.array([r["pitches"].shape[1] if r["status"] == "ok" else 0 for r in results], np.int64),
        "piece_ids": np.array([r["id"] for r in results], dtype=str),
        "status": np.array([r["status"] for r in results], dtype=str),
        "detail": np.array([r["detail"] for r in results], dtype=str),
        "stats": np.array([r["stats"] for r in results], np.int64).reshape(-1, 3),
    }
    cache.save_npz(path, arrays)


def _assemble(chunk_files: list[Path], recipe: RecipeConfig) -> dict[str, np.ndarray]:
    parts = [dict(np.load(f)) for f in chunk_files]
    lengths = np.concatenate([p["lengths"] for p in parts])
    piece_ids = np.concatenate([p["piece_ids"] for p in parts])
    return {
        "pitches": np.concatenate([p["pitches"] for p in parts], axis=1).astype(np.int8),
        "onsets": np.concatenate([p["onsets"] for p in parts], axis=1).astype(bool),
        "fermatas": np.concatenate([p["fermatas"] for p in parts]).astype(bool),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "piece_ids": piece_ids,
        "piece_split": np.array([SPLITS.index(split_of(str(i), recipe.split)) for i in piece_ids], np.uint8),
        "status": np.concatenate([p["status"] for p in parts]),
        "detail": np.concatenate([p["detail"] for p in parts]),
        "stats": np.concatenate([p["stats"] for p in parts]),
    }


def _report(data: dict[str, np.ndarray], recipe: RecipeConfig) -> dict:
    status = data["status"].tolist()
    counts = Counter(status)
    used = data["status"] == "ok"
    notes, off_grid, _ = data["stats"].sum(axis=0).tolist()
    report = {
        "name": recipe.name,
        "pieces_read": len(status),
        "pieces_used": counts.pop("ok", 0),
        "pieces_skipped": dict(counts.most_common()),
        "skipped_meters": dict(Counter(d for s, d in zip(status, data["detail"].tolist()) if s == "meter")),
        "pickups": int(np.count_nonzero(used & (data["stats"][:, 2] > 0))),
        "pieces_per_split": {s: int(np.count_nonzero(used & (data["piece_split"] == i))) for i, s in enumerate(SPLITS)},
        "notes": notes,
        "notes_off_grid": off_grid,
        "windows": {},
    }
    # The build report counts windows at the codec's default (Bach's) ranges; an instrument
    # cuts its own windows at load time over its representation's ranges (training_windows).
    ranges = codec.VOICE_RANGES
    for split in SPLITS:
        chunk = _split_windows(data, split=split, ranges=ranges)
        report["windows"][split] = len(chunk.windows)
        report.setdefault("windows_out_of_range", {})[split] = chunk.dropped
        if split == "train" and len(chunk.windows):
            shifts = codec.valid_shifts(chunk.windows, ranges=ranges, max_shift=12)
            report["train_transpositions_per_window"] = round(float(shifts.sum(axis=1).mean()), 2)
    return report


def build_chorale_dataset(
    recipe: RecipeConfig | str | Path,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Put every chorale of a recipe on the grid into a versioned cache (or reuse a matching one).

    Parallel over chorales, resumable (finished chunks survive a killed build),
    atomic (temporary folder + rename).

    Parameters
    ----------
    recipe : RecipeConfig, recipe name or .toml path
        A ``kind = "chorale"`` recipe.
    cache_dir : path, optional, keyword-only
        Root folder of caches (default ``$MUSICVAE_CACHE`` or ``~/.cache/musicvae``).
    workers : int, optional, keyword-only
        Processes (default ``min(2, cpu count)``); 1 runs in this process.
    force : bool, keyword-only
        Rebuild from scratch even if a cache or a partial build exists.
    progress : bool, keyword-only
        Show a progress bar.

    Returns
    -------
    dict
        The build report (see :func:`format_report`); ``reused`` says whether a cache was reused.
    """
    recipe = load_recipe(recipe)
    if recipe.kind != "chorale":
        raise DataError(f"{recipe.name}: recipe kind {recipe.kind!r} is not 'chorale'")
    if recipe.steps_per_bar % 4:
        raise DataError(f"{recipe.name}: steps_per_bar must be a multiple of 4, got {recipe.steps_per_bar}")
    digest = chorale_hash(recipe)
    final = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    meta = cache.reusable_meta(final, expected={"hash": digest}, force=force)
    if meta:
        return {**meta["report"], "path": str(final), "reused": True}

    began = time.perf_counter()
    items = list_chorales(recipe)
    if not items:
        raise DataError(f"{recipe.name}: its sources hold no chorales")
    workers = cache.worker_count(workers)
    extract = functools.partial(extract_chorale, steps_per_bar=recipe.steps_per_bar)
    chunk_files = cache.run_chunks(
        extract,
        items,
        _save_chunk,
        final=final,
        plan={"hash": digest, "pieces": len(items), "chunk": CHUNK_PIECES},
        chunk_pieces=CHUNK_PIECES,
        workers=workers,
        chunksize=2,
        progress=progress,
        unit="chorale",
        desc=f"building {recipe.name}",
    )

    data = _assemble(chunk_files, recipe)
    report = _report(data, recipe)
    report.update(
        hash=digest, code_version=CODE_VERSION, workers=workers, build_seconds=round(time.perf_counter() - began, 1)
    )
    meta = {"hash": digest, "code_version": CODE_VERSION, "report": report}
    cache.finish_cache(final, meta, lambda folder: cache.save_npz(folder / "chorales.npz", data))
    return {**report, "path": str(final), "reused": False}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _split_windows(
    data: dict[str, np.ndarray],
    *,
    split: str,
    bars: int = 4,
    hop_bars: int = 1,
    steps_per_bar: int = 16,
    ranges: Sequence[tuple[int, int]],
) -> ChoraleWindows:
    windows, pieces, starts, phrases, dropped = [], [], [], [], 0
    steps = bars * steps_per_bar
    for p in np.flatnonzero((data["status"] == "ok") & (data["piece_split"] == SPLITS.index(split))):
        grid = _grid_of(data, int(p))
        w, s, d = codec.grid_windows(grid, ranges=ranges, window_steps=steps, hop_steps=hop_bars * steps_per_bar)
        phrase = codec.phrase_tokens(grid.fermatas, grid.onsets[0] | (grid.pitches[0] < 0))
        windows.append(w)
        starts.append(s)
        phrases.append(np.stack([phrase[a : a + steps] for a in s]) if len(s) else np.zeros((0, steps), np.uint8))
        pieces.append(np.full(len(w), p, np.int32))
        dropped += d
    return ChoraleWindows(
        windows=np.concatenate(windows) if windows else np.zeros((0, len(ranges), steps), np.uint8),
        piece=np.concatenate(pieces) if pieces else np.zeros(0, np.int32),
        start=np.concatenate(starts) if starts else np.zeros(0, np.int32),
        piece_ids=data["piece_ids"],
        dropped=dropped,
        phrase=np.concatenate(phrases) if phrases else np.zeros((0, steps), np.uint8),
    )


def _load_cache(recipe: RecipeConfig | str | Path, cache_dir: str | Path | None) -> tuple[RecipeConfig, dict]:
    hint = cache.build_hint(recipe)
    recipe = load_recipe(recipe)
    if recipe.kind != "chorale":
        raise DataError(f"{recipe.name}: recipe kind {recipe.kind!r} is not 'chorale'")
    digest = chorale_hash(recipe)
    folder = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    cache.built_meta(folder, name=recipe.name, hint=hint, expected={"hash": digest})
    with np.load(folder / "chorales.npz") as npz:
        return recipe, {key: npz[key] for key in npz.files}


def load_chorale_split(
    recipe: RecipeConfig | str | Path,
    *,
    split: str,
    bars: int = 4,
    hop_bars: int = 1,
    ranges: Sequence[tuple[int, int]] = codec.VOICE_RANGES,
    cache_dir: str | Path | None = None,
) -> ChoraleWindows:
    """Bar-aligned token windows of one split of a built chorale dataset, with their chorale and start step.

    ``bars`` and ``ranges`` default to the codec's (4 bars, Bach's written ranges); an
    instrument's windows must be cut with its representation's (see :func:`training_windows`).

    Raises
    ------
    DataError
        If the dataset is not built (the message gives the command) or the split is unknown.
    """
    check_split(split)
    recipe, data = _load_cache(recipe, cache_dir)
    return _split_windows(
        data, split=split, bars=bars, hop_bars=hop_bars, steps_per_bar=recipe.steps_per_bar, ranges=ranges
    )


def load_chorale_windows(
    recipe: RecipeConfig | str | Path, *, split: str, cache_dir: str | Path | None = None
) -> np.ndarray:
    """4-bar windows (1-bar hop) of one split: per-voice token ids [N, 4, 64] (see :func:`load_chorale_split`).

    Returns
    -------
    np.ndarray [N, 4, 4 * steps_per_bar] uint8
    """
    return load_chorale_split(recipe, split=split, cache_dir=cache_dir).windows


def _grid_of(data: dict[str, np.ndarray], p: int) -> codec.ChoraleGrid:
    a, b = int(data["offsets"][p]), int(data["offsets"][p + 1])
    return codec.ChoraleGrid(pitches=data["pitches"][:, a:b].astype(np.int16), onsets=data["onsets"][:, a:b],
                             pickup_steps=int(data["stats"][p, 2]),
                             fermatas=tuple(int(f) for f in np.flatnonzero(data["fermatas"][a:b])))


def load_chorale_grids(
    recipe: RecipeConfig | str | Path, *, split: str, cache_dir: str | Path | None = None
) -> dict[str, codec.ChoraleGrid]:
    """Whole chorales of one split, by corpus id (e.g. ``"bach/bwv269"``), as grids [4, T]."""
    check_split(split)
    _, data = _load_cache(recipe, cache_dir)
    keep = np.flatnonzero((data["status"] == "ok") & (data["piece_split"] == SPLITS.index(split)))
    return {str(data["piece_ids"][p]): _grid_of(data, int(p)) for p in keep}


def training_windows(
    recipe: RecipeConfig | str | Path,
    representation: ChoraleRepresentation,
    *,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Train and valid windows of a chorale recipe for a representation, building its cache first if needed.

    The windows are ``representation.bars`` long and tokenised over
    ``representation.ranges`` (a window with a note outside them is dropped),
    so that their token offsets are the model's.

    Returns
    -------
    train, valid : np.ndarray [N, representation.rows, representation.steps] uint8
        The four voices' tokens, then (``representation.phrases``) the phrase tokens.
    report : str
        The build report when a build ran, else ``""``.

    Raises
    ------
    DataError
        If the recipe's grid (``steps_per_bar``) is not the representation's.
    """
    loaded = load_recipe(recipe)
    if loaded.steps_per_bar != representation.steps_per_bar:
        raise DataError(f"{loaded.name}: steps_per_bar {loaded.steps_per_bar} differs from the model "
                        f"representation's {representation.steps_per_bar}")
    report = ""
    try:
        _load_cache(recipe, cache_dir)
    except DataError:
        name = recipe.name if isinstance(recipe, RecipeConfig) else str(recipe)
        print(f"building dataset {name!r} first")
        report = format_report(build_chorale_dataset(recipe, cache_dir=cache_dir, progress=progress))
        print(report)
    cut = {"bars": representation.bars, "ranges": representation.ranges, "cache_dir": cache_dir}
    train, valid = (load_chorale_split(recipe, split=split, **cut) for split in ("train", "valid"))
    if representation.phrases:
        # The phrase tokens ride as a fifth row (:attr:`ChoraleRepresentation.rows`).
        return with_phrase_row(train), with_phrase_row(valid), report
    return train.windows, valid.windows, report


def with_phrase_row(split: ChoraleWindows) -> np.ndarray:
    """A split's windows [N, 4, T] with its phrase tokens as a fifth row: [N, 5, T] uint8."""
    return np.concatenate([split.windows, split.phrase[:, None].astype(np.uint8)], axis=1)


def format_report(report: dict) -> str:
    """The build report as a few lines of text for the CLI."""

    def listing(counts: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

    skipped = sum(report["pieces_skipped"].values())
    lines = [
        f"{report['name']}: {report['pieces_read']} chorales read, {report['pieces_used']} used"
        + (
            " (cache reused)"
            if report.get("reused")
            else f" in {report.get('build_seconds', 0):g} s with {report.get('workers', 1)} workers"
        ),
        f"  skipped {skipped}: {listing(report['pieces_skipped'])}"
        + (f" (meters: {listing(report['skipped_meters'])})" if report.get("skipped_meters") else ""),
        f"  chorales per split: {listing(report['pieces_per_split'])}; {report['pickups']} start with a pickup",
        f"  notes {report['notes']}, {report['notes_off_grid']} moved to the 16th grid",
        f"  4-bar windows (1-bar hop): {listing(report['windows'])}"
        f" (out of voice range, dropped: {listing(report.get('windows_out_of_range', {}))})",
    ]
    if "train_transpositions_per_window" in report:
        lines.append(f"  in-range transpositions per train window: {report['train_transpositions_per_window']:g}")
    if report.get("path"):
        lines.append(f"  cache: {report['path']}")
    return "\n".join(lines)
