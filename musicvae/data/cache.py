"""The build machinery the dataset builders share: resumable, atomic, versioned cache folders.

Every kind's data builder (``musicvae.kinds.<kind>.data``) follows the same
protocol, implemented here once:

1. :func:`reusable_meta`: reuse ``<cache root>/<name>-<hash12>/`` when its
   ``meta.json`` matches the expected hash (and code version), else clear it;
2. :func:`start_partial`: keep finished work in ``.partial-<name>-<hash12>/``
   while its ``meta.json`` still describes the same plan, else start over;
3. :func:`run_chunks`: map the pieces over worker processes with a progress
   bar, saving each finished chunk there (:func:`save_npz`: complete or absent,
   never half-written);
4. :func:`finish_cache`: write the final folder under a temporary name and
   rename it into place, then drop the partial folder.

:func:`built_meta` is the loading side: the ``meta.json`` of a built cache, or
a :class:`DataError` that names the command to build it. What a piece is, what
a chunk holds and what a report says stay in each builder.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from musicvae.config import RecipeConfig
from musicvae.errors import DataError


def read_meta(folder: Path) -> dict | None:
    """The parsed ``meta.json`` of a folder, or None when it is missing or unreadable."""
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def partial_path(final: Path) -> Path:
    """Where the finished chunks of a build of ``final`` wait: ``.partial-<name>`` beside it."""
    return final.with_name(f".partial-{final.name}")


def reusable_meta(final: Path, *, expected: dict[str, Any], force: bool) -> dict | None:
    """The ``meta.json`` of a built cache when it matches, else None with the folder removed.

    Parameters
    ----------
    final : Path
        The cache folder (see :func:`musicvae.data.recipes.cache_path`).
    expected : dict
        Entries ``meta.json`` must hold (hash, code version) for the cache to be reused.
    force : bool
        Remove the cache and any partial build first, so nothing is reused.

    Returns
    -------
    dict or None
    """
    if force:
        shutil.rmtree(final, ignore_errors=True)
        shutil.rmtree(partial_path(final), ignore_errors=True)
    meta = read_meta(final)
    if meta and all(meta.get(key) == value for key, value in expected.items()):
        return meta
    shutil.rmtree(final, ignore_errors=True)  # incomplete or foreign: never reuse it
    return None


def start_partial(final: Path, plan: dict[str, Any]) -> Path:
    """The partial folder of a build of ``final``, emptied unless it holds chunks of the same ``plan``."""
    partial = partial_path(final)
    if read_meta(partial) != plan:  # a partial build of something else: start over
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "meta.json").write_text(json.dumps(plan))
    return partial


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays to ``path`` (``.npz``) through a temporary file, so the file is complete or absent."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(temporary, path)


def worker_count(workers: int | None) -> int:
    """Processes a build uses: ``workers``, by default ``min(2, cpu count)``, and at least 1."""
    return max(1, min(2, os.cpu_count() or 1) if workers is None else workers)


@contextlib.contextmanager
def mapper(function: Callable, items: list, workers: int, *, chunksize: int) -> Iterator[Iterator]:
    """An ordered iterator of ``function(item)``: in this process for 1 worker, else a process pool."""
    if workers <= 1 or len(items) < 2:
        yield map(function, items)
        return
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers with music21 already imported; spawn is the portable fallback.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(workers) as pool:
        yield pool.imap(function, items, chunksize=chunksize)


def run_chunks(
    function: Callable,
    items: list,
    save: Callable[[Path, list], None],
    *,
    final: Path,
    plan: dict[str, Any],
    chunk_pieces: int,
    workers: int,
    chunksize: int,
    progress: bool,
    unit: str,
    desc: str,
) -> list[Path]:
    """Map ``function`` over ``items`` in chunks saved in the partial folder, skipping chunks saved before.

    Parameters
    ----------
    function : callable
        One piece to its result (picklable when ``workers > 1``).
    items : list
        The pieces, in order.
    save : callable
        ``save(path, results)`` writes one chunk's results, in piece order.
    final : Path, keyword-only
        The cache folder being built; the chunks go to its partial folder (see :func:`start_partial`).
    plan : dict, keyword-only
        What the build is (hash, code version, piece count, chunk size); a partial
        folder with another plan is emptied first.
    chunk_pieces : int, keyword-only
        Pieces per chunk.
    workers : int, keyword-only
        Processes; 1 runs in this process.
    chunksize : int, keyword-only
        Pieces a pool worker takes at a time.
    progress : bool, keyword-only
        Show a tqdm progress bar, counting ``unit`` with the label ``desc``.

    Returns
    -------
    list of Path
        Every chunk's file, in piece order.
    """
    from tqdm import tqdm

    chunks = [items[i : i + chunk_pieces] for i in range(0, len(items), chunk_pieces)]
    partial = start_partial(final, plan)
    chunk_files = [partial / f"chunk-{i:05d}.npz" for i in range(len(chunks))]
    todo = [i for i, f in enumerate(chunk_files) if not f.exists()]
    todo_items = [item for i in todo for item in chunks[i]]
    # The pool is started before tqdm's monitor thread exists, so fork never copies a running thread.
    with mapper(function, todo_items, workers, chunksize=chunksize) as results:
        with tqdm(
            total=len(items),
            initial=len(items) - len(todo_items),
            unit=unit,
            disable=not progress,
            desc=desc,
            dynamic_ncols=True,
        ) as bar:
            for i in todo:
                chunk_results = []
                for _ in chunks[i]:
                    chunk_results.append(next(results))
                    bar.update(1)
                save(chunk_files[i], chunk_results)
    return chunk_files


def finish_cache(final: Path, meta: dict, write: Callable[[Path], None]) -> None:
    """Write a cache folder atomically: ``write(folder)`` and ``meta.json`` into a temporary one, then rename.

    The partial folder of the build is removed afterwards.
    """
    temporary = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    write(temporary)
    (temporary / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.rename(temporary, final)
    except OSError:  # another build finished first; its cache has the same content
        shutil.rmtree(temporary, ignore_errors=True)
    shutil.rmtree(partial_path(final), ignore_errors=True)


def build_hint(recipe: RecipeConfig | str | Path) -> str:
    """How the user named a recipe, for the ``musicvae data build`` command an error message suggests."""
    return str(recipe) if isinstance(recipe, (str, Path)) else recipe.name


def built_meta(folder: Path, *, name: str, hint: str, expected: dict[str, Any]) -> dict:
    """The ``meta.json`` of a built cache folder.

    Raises
    ------
    DataError
        If the folder holds no cache whose ``meta.json`` matches ``expected``;
        the message says whether an older cache of the recipe exists and gives
        the command that builds it (``musicvae data build <hint>``).
    """
    meta = read_meta(folder)
    if not meta or any(meta.get(key) != value for key, value in expected.items()):
        stale = any(folder.parent.glob(f"{name}-*"))
        note = " (a cache exists for an older recipe or code version)" if stale else ""
        raise DataError(f"dataset {name!r} is not built{note}; run: musicvae data build {hint}")
    return meta
