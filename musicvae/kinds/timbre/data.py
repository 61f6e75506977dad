"""Timbre datasets: single notes rendered from SoundFonts or read from NSynth and audio folders.

A recipe of kind ``"timbre"`` names its sources (``soundfont``, ``nsynth``,
``audio-folder``; see :class:`musicvae.config.SourceConfig`) and its notes
(:class:`musicvae.config.NoteRecipe`). ``build_timbre_dataset`` renders or reads
every note once, prepared as the model wants it (mono, 16 kHz, onset first,
fixed length, fixed peak), and stores the audio, not spectrograms, so a model
may analyse it any way.

Splits are by instrument, never by note: a source sends every note to one
split (``split = "test"`` for a held-out SoundFont, the way NSynth holds out
instruments), except that notes of a training source at one of
``valid_velocities`` go to validation.

Cache layout (``cache_root()/<name>-<hash12>/``): ``<split>.audio.npy``
float32 [N, n_samples] (memory-mapped when read), ``<split>.labels.npz``
(``pitch``, ``velocity``, ``family`` index into the recipe's families,
``instrument`` index into ``instruments``), and ``meta.json``. A build keeps
finished work items under ``.partial-<name>-<hash12>/`` (resumable) and renames
a complete temporary folder into place (atomic; see :mod:`musicvae.data.cache`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from musicvae.config import NoteRecipe, RecipeConfig, SourceConfig
from musicvae.data import cache
from musicvae.data.recipes import (
    SPLITS,
    cache_path,
    check_split,
    files_fingerprint,
    find_recipe_file,
    json_hash,
    read_recipe_file,
    split_of,
    stable_recipe_dict,
)
from musicvae.errors import DataError, InputError

#: Bump whenever rendering or note preparation changes what a build produces.
TIMBRE_CODE_VERSION = "timbre-1"
SOURCE_TYPES = ("soundfont", "nsynth", "audio-folder")


# ---------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------


def load_timbre_recipe(name_or_path: str | Path | RecipeConfig) -> RecipeConfig:
    """Find, parse and check a timbre recipe; source paths become absolute (relative to the recipe's folder).

    Raises
    ------
    DataError
        For an unknown recipe, one of another kind, or an invalid source.
    """
    if isinstance(name_or_path, RecipeConfig):
        recipe, base = name_or_path, Path.cwd()
    else:
        path = find_recipe_file(name_or_path)
        recipe, base = read_recipe_file(path), path.parent
    if recipe.kind != "timbre":
        raise DataError(f"{recipe.name}: recipe kind {recipe.kind!r} is not 'timbre'")
    notes = recipe.notes
    if not 0 <= notes.min_pitch <= notes.max_pitch <= 127:
        raise DataError(f"{recipe.name}: pitches {notes.min_pitch}..{notes.max_pitch} are not a MIDI range")
    if not notes.families:
        raise DataError(f"{recipe.name}: notes.families names no instrument family")
    sources = []
    for i, source in enumerate(recipe.sources):
        where = f"{recipe.name}: source {i + 1}"
        if source.type not in SOURCE_TYPES:
            raise DataError(f"{where} has unknown type {source.type!r}; use one of {SOURCE_TYPES}")
        if source.split not in ("", *SPLITS):
            raise DataError(f"{where} has split {source.split!r}; use one of {SPLITS} or leave it out")
        if source.type == "soundfont":
            if not source.soundfont or not source.programs:
                raise DataError(f"{where} needs a soundfont and programs")
            _check_programs(source, notes, where)
        else:
            if not source.path:
                raise DataError(f"{where} ({source.type}) needs a path")
            source = replace(source, path=str((base / Path(source.path).expanduser()).resolve()))
        sources.append(source)
    if not sources:
        raise DataError(f"{recipe.name}: the recipe names no sources")
    return replace(recipe, sources=tuple(sources))


def _check_programs(source: SourceConfig, notes: NoteRecipe, where: str) -> None:
    from musicvae.audio.soundfont import gm_family

    for program in source.programs:
        try:
            family = gm_family(program)
        except InputError as error:
            raise DataError(f"{where}: {error}") from None
        if family not in notes.families:
            raise DataError(f"{where}: program {program} is a {family}, not one of {', '.join(notes.families)}")


def _source_fingerprint(source: SourceConfig) -> str:
    """What a source's notes depend on beyond the recipe text (its files' contents)."""
    if source.type == "soundfont":
        from musicvae.audio.soundfont import find_soundfont

        files = [find_soundfont(source.soundfont)]
    else:
        folder = Path(source.path)
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return files_fingerprint([(file.name, file) for file in files])


def timbre_recipe_hash(recipe: RecipeConfig) -> str:
    """SHA-256 (hex) of the recipe, :data:`TIMBRE_CODE_VERSION` and its sources' fingerprints."""
    payload = {
        "recipe": stable_recipe_dict(recipe),
        "code_version": TIMBRE_CODE_VERSION,
        "sources": [_source_fingerprint(source) for source in recipe.sources],
    }
    return json_hash(payload)


# ---------------------------------------------------------------------------
# Work items (one SoundFont program, or one folder) -> arrays
# ---------------------------------------------------------------------------


def _work_items(recipe: RecipeConfig) -> list[tuple[str, int, int]]:
    """``(item id, source index, program)``; program -1 for folder sources."""
    items = []
    for i, source in enumerate(recipe.sources):
        if source.type == "soundfont":
            stem = Path(source.soundfont).stem
            items += [(f"{stem}:{program}", i, program) for program in source.programs]
        else:
            items.append((f"{source.type}:{Path(source.path).name}", i, -1))
    return items


def _note_split(source: SourceConfig, notes: NoteRecipe, instrument: str, velocity: int, recipe: RecipeConfig) -> str:
    split = source.split or split_of(instrument, recipe.split)
    if split == "train" and velocity in notes.valid_velocities:
        return "valid"
    return split


def _render_item(recipe: RecipeConfig, item: tuple[str, int, int], progress) -> dict:
    """Render or read one work item into label arrays and audio."""
    from musicvae.audio import loaders
    from musicvae.audio.soundfont import NoteSpec, SoundFontRenderer, gm_family

    item_id, index, program = item
    source, notes = recipe.sources[index], recipe.notes
    n_samples = int(round(notes.seconds * notes.sample_rate))
    rows: list[tuple[np.ndarray, int, int, str, str]] = []  # audio, pitch, velocity, family, instrument
    skipped: list[str] = []
    if source.type == "soundfont":
        velocities = sorted(set(notes.velocities) | set(notes.valid_velocities))
        family = gm_family(program)
        with SoundFontRenderer(source.soundfont, sample_rate=notes.sample_rate) as renderer:
            if not renderer.has_program(program):
                raise DataError(f"{renderer.path.name} has no General MIDI program {program}")
            for pitch in range(notes.min_pitch, notes.max_pitch + 1):
                for velocity in velocities:
                    spec = NoteSpec(pitch, velocity, hold_seconds=notes.hold_seconds, seconds=notes.seconds)
                    audio = renderer.render(spec, program=program)
                    try:
                        audio = loaders.prepare_note(audio, sample_rate=notes.sample_rate, n_samples=n_samples,
                                                     silence_db=notes.silence_db, where=f"{item_id} {pitch}/{velocity}")
                    except InputError as error:
                        skipped.append(str(error))
                        continue
                    rows.append((audio, pitch, velocity, family, item_id))
                progress(len(velocities))
    else:
        kwargs = dict(sample_rate=notes.sample_rate, n_samples=n_samples, min_pitch=notes.min_pitch,
                      max_pitch=notes.max_pitch, silence_db=notes.silence_db)
        try:
            if source.type == "nsynth":
                found, skipped = loaders.load_nsynth(source.path, families=source.families or notes.families, **kwargs)
            else:
                found, skipped = loaders.load_audio_folder(source.path, families=source.families or notes.families,
                                                           **kwargs)
        except InputError as error:
            raise DataError(f"{recipe.name}: {error}") from None
        # NSynth instruments are named in the note_str; a folder's notes belong to their folder.
        for note in found:
            instrument = note.source.rsplit("-", 2)[0] if source.type == "nsynth" else str(Path(note.source).parent)
            rows.append((note.audio, note.pitch, note.velocity, note.family, instrument))
        if source.max_files > 0:
            rows = rows[: source.max_files]
        progress(1)
    return {"rows": rows, "skipped": skipped}


def _save_item(path: Path, result: dict, recipe: RecipeConfig, source: SourceConfig) -> None:
    notes = recipe.notes
    rows = result["rows"]
    n_samples = int(round(notes.seconds * notes.sample_rate))
    arrays = {
        "audio": np.stack([r[0] for r in rows]) if rows else np.zeros((0, n_samples), np.float32),
        "pitch": np.array([r[1] for r in rows], np.int16),
        "velocity": np.array([r[2] for r in rows], np.int16),
        "family": np.array([notes.families.index(r[3]) for r in rows], np.int8),
        "instrument": np.array([r[4] for r in rows], dtype=str),
        "split": np.array([_note_split(source, notes, r[4], r[2], recipe) for r in rows], dtype=str),
        "skipped": np.array(result["skipped"], dtype=str),
    }
    cache.save_npz(path, arrays)


# ---------------------------------------------------------------------------
# Build and load
# ---------------------------------------------------------------------------


def build_timbre_dataset(
    recipe: RecipeConfig | str | Path,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Render or read every note of a timbre recipe into a versioned cache (or reuse a matching one).

    Resumable (finished work items are kept if the build is killed) and
    atomic (temporary folder + rename). Rendering runs in this process: one
    SoundFont program takes about a second, far less than a worker pool's start.

    Parameters
    ----------
    recipe : RecipeConfig, recipe name or .toml path
    cache_dir : path, optional, keyword-only
        Root folder of caches (default ``cache_root()``).
    workers : int, optional, keyword-only
        Accepted for the CLI's sake; rendering is sequential.
    force : bool, keyword-only
        Rebuild from scratch even if a cache or partial build exists.
    progress : bool, keyword-only
        Show a tqdm progress bar (in notes).

    Returns
    -------
    dict
        The build report (see :func:`format_timbre_report`); ``reused`` says whether a cache was reused.
    """
    from tqdm import tqdm

    recipe = load_timbre_recipe(recipe)
    digest = timbre_recipe_hash(recipe)
    final = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    expected = {"recipe_hash": digest, "code_version": TIMBRE_CODE_VERSION}
    meta = cache.reusable_meta(final, expected=expected, force=force)
    if meta:
        return {**meta["report"], "path": str(final), "reused": True}

    began = time.perf_counter()
    items = _work_items(recipe)
    plan = {"recipe_hash": digest, "code_version": TIMBRE_CODE_VERSION, "items": [i[0] for i in items]}
    partial = cache.start_partial(final, plan)
    files = [partial / f"item-{k:04d}.npz" for k in range(len(items))]
    notes = recipe.notes
    per_program = (notes.max_pitch - notes.min_pitch + 1) * len(set(notes.velocities) | set(notes.valid_velocities))
    sizes = [per_program if program >= 0 else 1 for _, _, program in items]
    todo = [k for k, f in enumerate(files) if not f.exists()]
    with tqdm(total=sum(sizes), initial=sum(sizes) - sum(sizes[k] for k in todo), unit="note", disable=not progress,
              desc=f"building {recipe.name}", dynamic_ncols=True) as bar:
        for k in todo:
            result = _render_item(recipe, items[k], bar.update)
            _save_item(files[k], result, recipe, recipe.sources[items[k][1]])

    data, report = _assemble(files, recipe)
    report.update(recipe_hash=digest, code_version=TIMBRE_CODE_VERSION,
                  build_seconds=round(time.perf_counter() - began, 1))

    def write(folder: Path) -> None:
        for split, arrays in data.items():
            np.save(folder / f"{split}.audio.npy", arrays.pop("audio"))
            with open(folder / f"{split}.labels.npz", "wb") as handle:
                np.savez(handle, **arrays)

    meta = {"recipe_hash": digest, "code_version": TIMBRE_CODE_VERSION, "report": report}
    cache.finish_cache(final, meta, write)
    return {**report, "path": str(final), "reused": False}


def _assemble(files: list[Path], recipe: RecipeConfig) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    parts = []
    for file in files:
        with np.load(file) as npz:
            parts.append({key: npz[key] for key in npz.files})
    instruments = sorted({str(i) for p in parts for i in p["instrument"]})
    data, counts = {}, {}
    for split in SPLITS:
        chosen = [{k: v[p["split"] == split] for k, v in p.items() if k != "skipped"} for p in parts]
        joined = {k: np.concatenate([c[k] for c in chosen]) for k in ("audio", "pitch", "velocity", "family")}
        names = np.concatenate([c["instrument"] for c in chosen]).astype(str)
        joined["instrument"] = np.array([instruments.index(n) for n in names], np.int32)
        data[split] = joined
        counts[split] = {
            family: int(np.sum(joined["family"] == k)) for k, family in enumerate(recipe.notes.families)
        }
        counts[split]["instruments"] = sorted({instruments[i] for i in joined["instrument"]})
    skipped = [str(s) for p in parts for s in p["skipped"]]
    report = {
        "name": recipe.name,
        "kind": "timbre",
        "families": list(recipe.notes.families),
        "instruments": instruments,
        "splits": counts,
        "skipped": len(skipped),
        "skipped_examples": skipped[:5],
        "sample_rate": recipe.notes.sample_rate,
        "seconds": recipe.notes.seconds,
    }
    return data, report


@dataclass
class TimbreNotes:
    """One split of a built timbre dataset.

    Attributes
    ----------
    audio : np.ndarray [N, n_samples] float32 (memory-mapped)
    pitch, velocity : np.ndarray [N] int
    family : np.ndarray [N] int, index into ``families``
    instrument : np.ndarray [N] int, index into ``instruments``
    families, instruments : list of str
    sample_rate : int
    """

    audio: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    family: np.ndarray
    instrument: np.ndarray
    families: list[str]
    instruments: list[str]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.pitch)


def load_timbre_notes(
    recipe: RecipeConfig | str | Path, *, split: str, cache_dir: str | Path | None = None
) -> TimbreNotes:
    """One split of a built timbre dataset.

    Raises
    ------
    DataError
        If the dataset is not built (the message gives the command) or the split is unknown.
    """
    check_split(split)
    hint = cache.build_hint(recipe)
    recipe = load_timbre_recipe(recipe)
    digest = timbre_recipe_hash(recipe)
    folder = cache_path(recipe, cache_dir=cache_dir, digest=digest)
    meta = cache.built_meta(folder, name=recipe.name, hint=hint, expected={"recipe_hash": digest})
    with np.load(folder / f"{split}.labels.npz") as npz:
        labels = {key: npz[key] for key in npz.files}
    report = meta["report"]
    return TimbreNotes(
        audio=np.load(folder / f"{split}.audio.npy", mmap_mode="r"),
        pitch=labels["pitch"].astype(np.int64),
        velocity=labels["velocity"].astype(np.int64),
        family=labels["family"].astype(np.int64),
        instrument=labels["instrument"].astype(np.int64),
        families=list(report["families"]),
        instruments=list(report["instruments"]),
        sample_rate=int(report["sample_rate"]),
    )


# ---------------------------------------------------------------------------
# The training notes' level
# ---------------------------------------------------------------------------

#: RMS level (dBFS) of a training note when a recipe's notes cannot be measured (no cache built, no
#: FluidSynth, folder sources): the median over the flute-guitar recipe's training notes (FluidR3_GM's
#: flute, nylon and steel guitars, C3..C6, each prepared at a -6 dBFS peak), -20.4 dBFS.
TYPICAL_NOTE_DB = -20.4
#: Without a cache, the level is measured on every program's renders at every LEVEL_PITCH_STEP-th pitch.
LEVEL_PITCH_STEP = 6


def training_level_db(recipe: str | Path) -> float:
    """The median RMS level in dBFS of a timbre recipe's training notes, as the model was trained on them.

    Read from the built cache (every training note) when there is one; else measured on a sample of the
    recipe's training SoundFont renders (every program, every :data:`LEVEL_PITCH_STEP`-th pitch, the middle
    velocity: about 3 s, FluidSynth loading the SoundFont); else :data:`TYPICAL_NOTE_DB`. Remembered per
    recipe for the process. No retraining: this is what a user's note to encode is matched to
    (:func:`musicvae.audio.loaders.at_level`).
    """
    return _training_level_db(str(recipe))


@functools.lru_cache(maxsize=16)
def _training_level_db(recipe: str) -> float:
    from musicvae.audio import loaders
    from musicvae.errors import MusicVAEError

    try:
        notes = load_timbre_notes(recipe, split="train")
        if len(notes):
            return _median_level(np.asarray(notes.audio))
    except MusicVAEError:  # not built: measure a few renders instead
        pass
    try:
        loaded = load_timbre_recipe(recipe)
        wanted = loaded.notes
        sources = [s for s in loaded.sources if s.type == "soundfont" and s.split in ("", "train")]
        if not sources:
            return TYPICAL_NOTE_DB
        from musicvae.audio.soundfont import NoteSpec, SoundFontRenderer

        n_samples = int(round(wanted.seconds * wanted.sample_rate))
        velocity = int(np.median(wanted.velocities)) if wanted.velocities else 100
        rendered = []
        for source in sources:
            with SoundFontRenderer(source.soundfont, sample_rate=wanted.sample_rate) as renderer:
                for program in source.programs:
                    for pitch in range(wanted.min_pitch, wanted.max_pitch + 1, LEVEL_PITCH_STEP):
                        spec = NoteSpec(pitch, velocity, hold_seconds=wanted.hold_seconds, seconds=wanted.seconds)
                        audio = renderer.render(spec, program=program)
                        rendered.append(loaders.prepare_note(audio, sample_rate=wanted.sample_rate,
                                                             n_samples=n_samples, silence_db=wanted.silence_db))
        return _median_level(np.stack(rendered)) if rendered else TYPICAL_NOTE_DB
    except (MusicVAEError, OSError):  # no FluidSynth, no SoundFont, a silent render: the typical level
        return TYPICAL_NOTE_DB


def _median_level(audio: np.ndarray) -> float:
    power = np.mean(np.square(audio.astype(np.float64)), axis=1)
    return float(10.0 * np.log10(np.median(power[power > 0]))) if (power > 0).any() else TYPICAL_NOTE_DB


def format_timbre_report(report: dict) -> str:
    """The build report as a few lines of text for the CLI."""
    head = f"{report['name']}: {len(report['instruments'])} instruments"
    head += " (cache reused)" if report.get("reused") else f", built in {report.get('build_seconds', 0):g} s"
    lines = [head]
    for split, counts in report["splits"].items():
        per_family = ", ".join(f"{family} {counts.get(family, 0)}" for family in report["families"])
        lines.append(f"  {split:5s}: {per_family} notes from {', '.join(counts['instruments']) or 'nothing'}")
    if report["skipped"]:
        lines.append(f"  skipped {report['skipped']} notes, e.g. {report['skipped_examples'][0]}")
    lines.append(f"  cache: {report.get('path', '?')}")
    return "\n".join(lines)
