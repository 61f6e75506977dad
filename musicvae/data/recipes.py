"""Dataset recipes (``datasets/<name>.toml``): finding, reading, hashing and splitting them, for every kind.

A recipe is named by a bare name (looked up in the repository's ``datasets/``
folder, or ``$MUSICVAE_DATASETS``) or by a path to a ``.toml`` file;
:func:`recipe_kind` says which kind's builder reads it, and :func:`load_recipe`
parses it with source paths made absolute. What a source type means, how its
pieces are read and which checks it needs belong to the kind that reads it
(:mod:`musicvae.kinds.melody.sources` for ``music21-corpus`` and
``midi-folder`` melodies, which also turns a folder of MIDI files into an
ad-hoc recipe; :mod:`musicvae.kinds.accompanist.data`;
:mod:`musicvae.kinds.timbre.data`).

A built cache lives in :func:`cache_root` under ``<name>-<hash12>``
(:func:`cache_path`). Each kind computes the hash with :func:`recipe_hash`,
passing its own code version and its own fingerprint of a source's files, so a
changed recipe, extraction code or input folder never reuses a stale cache.
Every kind assigns pieces to :data:`SPLITS` with :func:`split_of`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import musicvae
from musicvae.config import RecipeConfig, SourceConfig, SplitConfig, from_dict, to_dict
from musicvae.errors import ConfigError, DataError

#: The splits every dataset kind assigns its pieces to; caches store a split as its index here.
SPLITS = ("train", "valid", "test")


def datasets_dir() -> Path:
    """The folder of recipe files: ``$MUSICVAE_DATASETS`` or the repository's ``datasets/``."""
    override = os.environ.get("MUSICVAE_DATASETS")
    return Path(override) if override else Path(musicvae.__file__).resolve().parents[1] / "datasets"


def cache_root() -> Path:
    """Where built datasets live: ``$MUSICVAE_CACHE`` or ``~/.cache/musicvae``."""
    override = os.environ.get("MUSICVAE_CACHE")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "musicvae"


def available_recipes() -> list[str]:
    """Names of the recipes in :func:`datasets_dir`."""
    folder = datasets_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


# ---------------------------------------------------------------------------
# Finding and reading recipes
# ---------------------------------------------------------------------------


def find_recipe_file(name_or_path: str | Path, *, midi_folders: bool = False) -> Path:
    """The ``.toml`` file a recipe name (in :func:`datasets_dir`) or path stands for.

    Parameters
    ----------
    name_or_path : str or Path
    midi_folders : bool, keyword-only
        Whether the caller also accepts a MIDI folder, which the error messages then mention.

    Raises
    ------
    DataError
        For a missing file or an unknown name (the message lists the available recipes).
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix == ".toml" and path.is_file():
        return path
    if "/" in text or text.endswith(".toml"):
        raise DataError(f"{text}: no such recipe file" + (" or MIDI folder" if midi_folders else ""))
    path = datasets_dir() / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(available_recipes()) or "none"
        alternatives = " (or give a .toml or a MIDI folder)" if midi_folders else ""
        raise DataError(f"unknown dataset recipe {text!r}; available: {names}{alternatives}")
    return path


def read_recipe_file(path: Path) -> RecipeConfig:
    """Parse a recipe file as it stands (its name defaults to the file's stem); sources are not checked.

    Raises
    ------
    DataError
        For invalid TOML or fields the recipe config does not accept.
    """
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: not valid TOML ({error})") from None
    data.setdefault("name", path.stem)
    try:
        return from_dict(RecipeConfig, data)
    except ConfigError as error:
        raise DataError(f"{path}: {error}") from None


def safe_name(text: str) -> str:
    """``text`` as a cache folder name: runs of other characters than letters, digits, ``_.-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "recipe"


def load_recipe(
    name_or_path: str | Path | RecipeConfig,
    *,
    check: Callable[[RecipeConfig], None] | None = None,
    midi_folders: bool = False,
) -> RecipeConfig:
    """Find and parse a recipe: a file-safe name (for a file) and absolute source paths.

    Parameters
    ----------
    name_or_path : str, Path or RecipeConfig
        A recipe name in :func:`datasets_dir` or a path to a ``.toml`` recipe. A
        RecipeConfig is returned with its source paths resolved from the working folder.
    check : callable, optional, keyword-only
        The kind's checks of the recipe's sources (raising DataError), run before
        relative source paths are resolved from the recipe file's folder.
    midi_folders : bool, keyword-only
        Whether the caller also accepts a MIDI folder (see :func:`find_recipe_file`).

    Raises
    ------
    DataError
        For an unknown recipe (the message lists the available ones), an invalid one, or one with no sources.
    """
    if isinstance(name_or_path, RecipeConfig):
        recipe, base = name_or_path, Path.cwd()
    else:
        path = find_recipe_file(name_or_path, midi_folders=midi_folders)
        recipe, base = read_recipe_file(path), path.parent
        recipe = replace(recipe, name=safe_name(recipe.name))
    if check is not None:
        check(recipe)
    sources = tuple(
        replace(source, path=str((base / Path(source.path).expanduser()).resolve())) if source.path else source
        for source in recipe.sources
    )
    if not sources:
        raise DataError(f"{recipe.name}: the recipe names no sources")
    return replace(recipe, sources=sources)


def recipe_kind(name_or_path: str | Path | RecipeConfig) -> str:
    """The ``kind`` of a recipe (``"melody"`` when unset or for a folder of files), without validating it."""
    if isinstance(name_or_path, RecipeConfig):
        return name_or_path.kind
    if Path(str(name_or_path)).expanduser().is_dir():
        return "melody"
    path = find_recipe_file(name_or_path)
    try:
        return str(tomllib.loads(path.read_text()).get("kind", "melody"))
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: not valid TOML ({error})") from None


# ---------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------


def json_hash(payload: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``payload`` (sorted keys, no spaces): the form every cache hash takes."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


#: Files up to this size are hashed whole; larger ones (SoundFonts of 40-150 MB) by their size and both ends.
_WHOLE_FILE_BYTES = 2 << 20
_END_BYTES = 1 << 20


def files_fingerprint(files: list[tuple[str, Path]]) -> str:
    """SHA-256 (hex) of the names and contents of ``(name, file)`` pairs, in the order given.

    Content, not modification times: the same SoundFont installed into another virtual environment (TimGM6mb
    ships inside pretty_midi) or unpacked on another day must give the same cache. A file over 2 MiB is
    read by its size and its first and last MiB, which any rebuilt SoundFont changes, in milliseconds.
    """
    digest = hashlib.sha256()
    for name, file in files:
        size = file.stat().st_size
        digest.update(f"{name}\0{size}\0".encode())
        with open(file, "rb") as handle:
            if size <= _WHOLE_FILE_BYTES:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_END_BYTES))
                handle.seek(size - _END_BYTES)
                digest.update(handle.read(_END_BYTES))
        digest.update(b"\n")
    return digest.hexdigest()


def music21_corpus_fingerprint() -> str:
    """What a ``music21-corpus`` source's content depends on: the corpus ships with music21, so its version."""
    return f"music21-{importlib.metadata.version('music21')}"


#: Recipe fields hashed even at their default value, so that changing a default rebuilds caches.
_HASHED_FIELDS = {
    "RecipeConfig": ("name", "kind", "sources", "split", "steps_per_bar", "gap_bars"),
    "SourceConfig": ("type", "collections", "path", "max_files"),
    "SplitConfig": ("valid", "test", "salt"),
}


def _hashed_dict(config: Any) -> Any:
    """``to_dict(config)`` without fields outside :data:`_HASHED_FIELDS` that are at their default.

    A field added to the recipe config later (with a default) then leaves
    existing recipe hashes, and so built caches, unchanged.
    """
    if isinstance(config, tuple):
        return [_hashed_dict(item) for item in config]
    if not dataclasses.is_dataclass(config):
        return to_dict(config)
    kept, always = {}, _HASHED_FIELDS.get(type(config).__name__, ())
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = field.default
        if field.name in always or default is dataclasses.MISSING or value != default:
            kept[field.name] = _hashed_dict(value)
    return kept


#: Recipe fields added after every kind's caches were first keyed, and the value at which a
#: recipe's hash leaves them out (so that caches built before them still match).
LATER_RECIPE_FIELDS = {"meter": "4/4", "pair_two_four": False}


def stable_recipe_dict(recipe: RecipeConfig) -> dict:
    """``to_dict(recipe)`` without the :data:`LATER_RECIPE_FIELDS` that are at their old value.

    For a kind that hashes the whole recipe dict (timbre).
    """
    return {key: value for key, value in to_dict(recipe).items()
            if not (key in LATER_RECIPE_FIELDS and value == LATER_RECIPE_FIELDS[key])}


def recipe_hash(recipe: RecipeConfig, *, code_version: str, source_fingerprint: Callable[[SourceConfig], str]) -> str:
    """SHA-256 (hex) of the canonical JSON of the recipe, a kind's code version and its sources' fingerprints.

    The recipe enters as :func:`musicvae.config.to_dict`, except that fields
    added to the config after :data:`_HASHED_FIELDS` count only when set, so a
    new config field does not invalidate every built cache.

    Parameters
    ----------
    recipe : RecipeConfig
        As the kind loaded it (source paths absolute).
    code_version : str, keyword-only
        The kind's extraction version: bumping it stops old caches matching.
    source_fingerprint : callable, keyword-only
        What one source's content depends on beyond the recipe text (file list,
        sizes and times, a library version), as a string; ``""`` for nothing.
    """
    payload = {
        "recipe": _hashed_dict(recipe),
        "code_version": code_version,
        "sources": [source_fingerprint(source) for source in recipe.sources],
    }
    return json_hash(payload)


def cache_path(recipe: RecipeConfig, *, digest: str, cache_dir: str | Path | None = None) -> Path:
    """The folder a recipe's built cache lives in: ``<cache root>/<name>-<hash12>``, for the kind's hash ``digest``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / f"{recipe.name}-{digest[:12]}"


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


def split_of(piece_id: str, split: SplitConfig) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for a piece, from a stable hash of its id and the split salt.

    hashlib (not ``hash()``) keeps the assignment identical across processes and runs.
    """
    digest = hashlib.sha256(f"{split.salt}\0{piece_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < split.valid:
        return "valid"
    if u < split.valid + split.test:
        return "test"
    return "train"


def check_split(split: str) -> None:
    """Raise DataError unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
