"""Melody sources: the recipe's ``music21-corpus`` and ``midi-folder`` sources, their pieces and their notes.

:func:`load_melody_recipe` reads a melody recipe (see
:func:`musicvae.data.recipes.load_recipe`) and checks its sources; a folder of
MIDI files becomes an ad-hoc ``midi-folder`` recipe named after it, so users
can train on their own files without a conversion step.
:func:`source_fingerprint` is what a source adds to the cache hash
(:func:`musicvae.kinds.melody.data.melody_recipe_hash`).

The rest reads the pieces a recipe names: :func:`list_pieces` lists one tune of
a music21 ABC collection or one MIDI file per piece, and
:func:`abc_tune_notes` / :func:`midi_piece_notes` (run in the build's worker
processes) turn one into notes on the step grid with bars aligned to
multiples of ``steps_per_bar``.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from musicvae.config import RecipeConfig, SourceConfig
from musicvae.data.recipes import files_fingerprint, load_recipe, music21_corpus_fingerprint, safe_name
from musicvae.errors import DataError, InputError
from musicvae.midi import melody as codec
from musicvae.midi.meter import DEFAULT_METER, bar_quarters, bar_steps, meter_name, parse_meter, takes

SOURCE_TYPES = ("music21-corpus", "midi-folder")
MIDI_SUFFIXES = (".mid", ".midi")

# A work item is (piece id, kind, payload): ("abc", tune text) or ("midi", file path).
WorkItem = tuple[str, str, str]


# ---------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------


def check_sources(recipe: RecipeConfig) -> None:
    """Check the sources this module reads: a ``midi-folder`` needs a path, a ``music21-corpus`` collections.

    Other source types (other kinds' data) pass through for their own builders to check.
    """
    for i, source in enumerate(recipe.sources):
        if source.type == "midi-folder" and not source.path:
            raise DataError(f"{recipe.name}: midi-folder source {i + 1} needs a path")
        if source.type == "music21-corpus" and not source.collections:
            raise DataError(f"{recipe.name}: music21-corpus source {i + 1} names no collections")


def load_melody_recipe(name_or_path: str | Path | RecipeConfig) -> RecipeConfig:
    """Find and parse a melody recipe.

    Parameters
    ----------
    name_or_path : str, Path or RecipeConfig
        A recipe name in :func:`~musicvae.data.recipes.datasets_dir`, a path to
        a ``.toml`` recipe, or a folder of MIDI files (an ad-hoc ``midi-folder``
        recipe named after it). A RecipeConfig is returned with its sources
        checked and paths resolved.

    Raises
    ------
    DataError
        For an unknown recipe (the message lists the available ones) or an invalid one.
    """
    if not isinstance(name_or_path, RecipeConfig):
        path = Path(str(name_or_path)).expanduser()
        if path.is_dir():
            source = SourceConfig(type="midi-folder", path=str(path.resolve()))
            return RecipeConfig(name=safe_name(path.resolve().name), sources=(source,))
    return load_recipe(name_or_path, check=check_sources, midi_folders=True)


def recipe_for_meter(recipe: RecipeConfig, meter: str) -> RecipeConfig:
    """The recipe a model of ``meter`` trains on: the same sources, keeping tunes of that meter.

    Its cache is its own (the meter enters the hash when it is not 4/4); 2/4 pairing is a 4/4 option.

    Raises
    ------
    DataError
        If a bar of ``meter`` is not a whole number of the recipe's grid steps.
    """
    try:
        bar_steps(meter, steps_per_whole_bar=recipe.steps_per_bar)
    except InputError as error:
        raise DataError(f"{recipe.name}: {error}") from None
    if parse_meter(meter) == parse_meter(recipe.meter):
        return recipe
    pair = recipe.pair_two_four and parse_meter(meter) == (4, 4)
    return replace(recipe, meter=meter_name(meter), pair_two_four=pair)


def recipe_bar_steps(recipe: RecipeConfig) -> int:
    """Grid steps of one bar of the recipe's meter (its ``steps_per_bar`` is the 4/4 bar's)."""
    return bar_steps(recipe.meter, steps_per_whole_bar=recipe.steps_per_bar)


def source_fingerprint(source: SourceConfig) -> str:
    """What a source's content depends on beyond the recipe text: its files' names and contents, or music21's
    version."""
    if source.type == "music21-corpus":
        return music21_corpus_fingerprint()
    if source.type != "midi-folder":
        return ""
    folder = Path(source.path)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES) if folder.is_dir() else []
    return files_fingerprint([(str(file.relative_to(folder)), file) for file in files])


# ---------------------------------------------------------------------------
# Listing pieces
# ---------------------------------------------------------------------------


def split_abc_tunes(text: str) -> list[tuple[str, str]]:
    """Split a multi-tune ABC file at its ``X:`` headers.

    Returns
    -------
    list of (reference number, tune text)
        Each tune text starts with the file header's field and comment lines
        (free text there could be misread as notes, so it is left out).
    """
    parts = re.split(r"(?m)^(?=X:)", text)
    header = "".join(line for line in parts[0].splitlines(True) if re.match(r"[A-Za-z]:|%", line))
    tunes, seen = [], Counter()
    for part in parts[1:]:
        number = re.match(r"X:\s*(\S*)", part).group(1) or "?"
        seen[number] += 1
        # Ids must be unique even if a file repeats a reference number.
        tunes.append((number if seen[number] == 1 else f"{number}~{seen[number]}", header + part))
    return tunes


def _corpus_dir(collection: str) -> Path:
    import music21

    folder = Path(music21.__file__).parent / "corpus" / collection
    if not folder.is_dir():
        names = sorted(p.name for p in folder.parent.iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise DataError(f"music21 corpus has no collection {collection!r}; available: {', '.join(names)}")
    return folder


def list_pieces(source: SourceConfig) -> list[WorkItem]:
    """The pieces of one source, in a stable order, capped at ``source.max_files`` pieces when it is > 0.

    For a ``music21-corpus`` source a piece is one tune of an ABC file (id
    ``collection/file.abc#X``), so the cap counts tunes; for a ``midi-folder``
    it is one file (id = path relative to the folder).
    """
    items: list[WorkItem] = []
    if source.type == "music21-corpus":
        for collection in source.collections:
            for path in sorted(_corpus_dir(collection).glob("*.abc")):
                text = path.read_text(encoding="utf-8", errors="replace")
                items += [(f"{collection}/{path.name}#{x}", "abc", tune) for x, tune in split_abc_tunes(text)]
    elif source.type == "midi-folder":
        folder = Path(source.path)
        if not folder.is_dir():
            raise DataError(f"{folder}: MIDI folder not found")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
        items = [(str(p.relative_to(folder)), "midi", str(p)) for p in files]
    else:
        raise DataError(f"unknown melody source type {source.type!r}; use one of: {', '.join(SOURCE_TYPES)}")
    return items[: source.max_files] if source.max_files > 0 else items


# ---------------------------------------------------------------------------
# Extracting one piece (runs in worker processes)
# ---------------------------------------------------------------------------


def abc_meters(tune: str) -> list[str]:
    """The meters of an ABC tune as written (``M:`` fields and inline ``[M:...]``), its own, else the header's."""
    pattern = r"(?m)^M:([^\n%]*)|\[M:([^\]]*)\]"
    body = tune[tune.index("X:") :] if "X:" in tune else tune
    return [(a or b).strip().replace(" ", "") for a, b in re.findall(pattern, body) or re.findall(pattern, tune)]


def abc_odd_meter(tune: str, *, meter: str = DEFAULT_METER, pair_two_four: bool = False) -> str:
    """The first meter of an ABC tune that a ``meter`` model does not take, ``"missing"`` if it has none, else ``""``.

    Reads the tune's meters from the text (:func:`abc_meters`), so that tunes in
    other meters are skipped without being parsed. A 4/4 model takes 4/4, 2/2
    (and any n/n), C and C| (and 2/4 with ``pair_two_four``); see :func:`musicvae.midi.meter.takes`.
    """
    meters = abc_meters(tune)
    for written in meters:
        try:
            taken = takes(meter, parse_meter(written), pair_two_four=pair_two_four)
        except InputError:
            taken = False
        if not taken:
            return written
    return "" if meters else "missing"


def _abc_parts(tune: str) -> list:
    """Parse one ABC tune into music21 Parts (one per voice) without beaming.

    Same steps as ``converter.parse(text, format="abc")``, but beams (notation
    only, about 2/3 of music21's ABC import time) are skipped.
    """
    from music21 import abcFormat, stream
    from music21.abcFormat import translate

    class UnbeamedPart(stream.Part):
        def makeBeams(self, *args, **kwargs):  # noqa: N802 - music21's name
            return None

    handler = abcFormat.ABCFile().readstr(tune)
    voices = handler.splitByVoice()
    if len(voices) > 1:  # voices[0] holds the shared header, as in music21's abcToStreamScore
        voices = [voices[0] + voice for voice in voices[1:]]
    return [translate.abcToStreamPart(voice, UnbeamedPart()) for voice in voices]


def _bar_shift(part, *, bar: float = 4.0, grid: float = 4.0, meter: str = DEFAULT_METER) -> tuple[float, str]:
    """Quarter notes to add to offsets so that bar lines fall on multiples of ``grid``, or why there is none.

    Every full measure (``bar`` quarters: 4 for 4/4, 3 for 3/4 and 6/8, 2 for
    2/4 tunes paired into ``grid`` = 4) must then start on a bar line: this copes
    with a pickup and with short measures that pair up around repeats, and
    rejects tunes whose bars drift (a short or long bar without its partner;
    music21 splits over-full bars and gives the pieces odd time signatures).

    Returns
    -------
    shift : float
    problem : str
        ``""``, or a description of the first measure off the bar grid.
    """
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    full = [(i, m) for i, m in enumerate(measures, 1) if abs(float(m.duration.quarterLength) - bar) < 1e-9]
    if not full:
        return 0.0, f"no complete {meter} bar"
    shift = -float(full[0][1].offset) % grid
    for number, measure in full:
        phase = (float(measure.offset) + shift) % bar
        if min(phase, bar - phase) > 1e-6:
            return shift, f"bar {number} starts {phase:g} quarters off the bar grid"
    return shift, ""


def abc_tune_notes(tune: str, *, steps_per_bar: int = 16, meter: str = DEFAULT_METER,
                   pair_two_four: bool = False) -> tuple[list[codec.StepNote], int, str, str]:
    """Notes of one ABC tune on the step grid, with bars aligned to multiples of a ``meter`` bar.

    ``steps_per_bar`` is the grid of a 4/4 bar (16: sixteenths); a bar of
    ``meter`` has its share (3/4: 12). Tunes of meters a ``meter`` model does not
    take are skipped (:func:`abc_odd_meter`); with ``pair_two_four`` a 4/4
    model's tunes in 2/4 pair their bars two to one.

    Ties are merged, chords give their top note, chord symbols and grace notes
    are ignored, and onsets/offsets off the grid (e.g. triplets) are rounded.

    Returns
    -------
    notes : list of StepNote
    off_grid : int
        How many notes had an onset or end off the grid.
    reason, detail : str
        Why the tune cannot be used (``"meter"`` with the meter, or
        ``"irregular bars"``), with no notes; ``""`` when it can.
    """
    from music21 import harmony

    odd = abc_odd_meter(tune, meter=meter, pair_two_four=pair_two_four)
    if odd:
        return [], 0, "meter", odd
    with contextlib.redirect_stderr(io.StringIO()):  # music21 prints warnings for odd tunes
        parts = _abc_parts(tune)
    spq = steps_per_bar / 4
    grid = float(bar_quarters(meter))
    bar = float(bar_quarters(abc_meters(tune)[0]))  # every meter of the tune has this bar (checked above)
    notes, off_grid = [], 0
    for part in parts:
        shift, problem = _bar_shift(part, bar=bar, grid=grid, meter=meter_name(meter) if bar == grid else "2/4")
        if problem:
            return [], 0, "irregular bars", problem
        spans: list[list] = []  # [pitch, start quarter, end quarter]
        open_ties: dict[int, list] = {}
        for element in part.flatten().notes:
            if isinstance(element, harmony.Harmony) or element.duration.isGrace or element.quarterLength == 0:
                continue
            pitch = max(p.midi for p in element.pitches)
            start = float(element.offset) + shift
            end = start + float(element.quarterLength)
            tie = element.tie.type if element.tie is not None else None
            # Merging ties here gives what stripTies() gives, at a fraction of its cost (it
            # takes longer than the parse). Ties between different pitches are not merged.
            span = open_ties.pop(pitch, None)
            if tie in ("stop", "continue") and span is not None and abs(span[2] - start) < 1e-6:
                span[2] = end
            else:
                span = [pitch, start, end]
                spans.append(span)
            if tie in ("start", "continue"):
                open_ties[pitch] = span
        for pitch, start, end in spans:
            s, e = start * spq, end * spq
            off_grid += abs(s - round(s)) > 1e-6 or abs(e - round(e)) > 1e-6
            notes.append(codec.StepNote(int(pitch), round(s), max(round(e), round(s) + 1)))
    return notes, off_grid, "", ""


def midi_piece_notes(path: str, *, steps_per_bar: int, meter: str = DEFAULT_METER,
                     pair_two_four: bool = False) -> tuple[list[codec.StepNote], int, str, str]:
    """Notes of a MIDI file, how many were off the grid, and a skip reason and detail (``""`` if usable).

    ``steps_per_bar`` is the grid of a 4/4 bar; a file with any time signature a ``meter`` model
    does not take is skipped for its meter.
    """
    try:
        midi = codec.read_midi(path)
    except InputError as error:
        return [], 0, "no notes" if "no notes" in str(error) else "unreadable", str(error)
    odd = [f"{s.numerator}/{s.denominator}" for s in midi.time_signature_changes
           if not takes(meter, (s.numerator, s.denominator), pair_two_four=pair_two_four)]
    if odd:
        return [], 0, "meter", odd[0]
    if all(instrument.is_drum for instrument in midi.instruments if instrument.notes):
        return [], 0, "drums only", ""
    notes, _ = codec.midi_to_step_notes(midi, steps_per_bar=bar_steps(meter, steps_per_whole_bar=steps_per_bar),
                                        meter=meter, pair_two_four=pair_two_four)
    # Performed MIDI is rarely on the grid; count notes whose onset moved by over a tenth of a step.
    times = [n.start for instrument in midi.instruments if not instrument.is_drum for n in instrument.notes]
    steps = codec.quarter_positions(midi, np.array(times)) * steps_per_bar / 4
    return notes, int(np.count_nonzero(np.abs(steps - np.rint(steps)) > 0.1)), "", ""
