"""Writing harmonised chorales: four-track MIDI, MusicXML (music21) and a piano-roll PNG, atomically.

Shared by ``musicvae harmonize`` and the demo so that both write the same files the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musicvae.io import atomic_path, atomic_write
from musicvae.midi import chorale as codec

VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd")


def variation_path(path: str | Path, k: int, count: int) -> Path:
    """``chorale.mid`` for the first of ``count`` variations, ``chorale_var2.mid`` ... for the others."""
    path = Path(path)
    return path if k == 0 or count == 1 else path.with_name(f"{path.stem}_var{k + 1}{path.suffix}")


def write_chorale_midi(grid: codec.ChoraleGrid, path: str | Path, *, qpm: float = 80.0,
                       steps_per_bar: int = 16) -> Path:
    """A MIDI file with one track per voice (Soprano, Alto, Tenor, Bass), starting where the melody starts."""
    midi = codec.grid_to_midi(grid.pitches, grid.onsets, qpm=qpm, steps_per_bar=steps_per_bar,
                              names=VOICE_NAMES, skip_steps=grid.pickup_steps)
    return atomic_write(path, lambda tmp: midi.write(str(tmp)))


def chorale_score(grid: codec.ChoraleGrid, *, qpm: float = 80.0, steps_per_bar: int = 16, title: str = ""):
    """A music21 Score of a four-voice grid: 4/4, notes tied across bar lines, a pickup as an anacrusis."""
    from music21 import clef, metadata, meter, note, stream, tempo

    steps_per_quarter = steps_per_bar / 4
    pad = grid.pickup_steps / steps_per_quarter
    clefs = (clef.TrebleClef, clef.TrebleClef, clef.Treble8vbClef, clef.BassClef)
    score = stream.Score()
    if title:
        score.insert(0, metadata.Metadata(title=title))
    for v in range(len(grid.pitches)):
        part = stream.Part(id=VOICE_NAMES[v])
        part.partName = VOICE_NAMES[v]
        part.append(clefs[v % 4]())
        part.append(meter.TimeSignature("4/4"))
        if v == 0:
            part.append(tempo.MetronomeMark(number=round(qpm)))
        cursor = 0
        for pitch, start, end in codec.grid_notes(grid.pitches[v], grid.onsets[v]):
            if start > cursor:
                part.append(note.Rest(quarterLength=(start - cursor) / steps_per_quarter))
            part.append(note.Note(pitch, quarterLength=(end - start) / steps_per_quarter))
            cursor = end
        if cursor < grid.steps:
            part.append(note.Rest(quarterLength=(grid.steps - cursor) / steps_per_quarter))
        measured = part.makeMeasures()
        measured.makeTies(inPlace=True)
        if pad > 0:
            _as_anacrusis(measured, pad)
        score.insert(0, measured)
    return score


def _as_anacrusis(part, pad: float) -> None:
    """Turn the first measure's leading ``pad`` quarters of rest into a pickup measure (numbered 0)."""
    measures = list(part.getElementsByClass("Measure"))
    first = measures[0]
    for element in list(first.notesAndRests):
        if element.offset < pad - 1e-9:
            end = element.offset + element.quarterLength
            if element.isRest and end <= pad + 1e-9:
                first.remove(element)
            elif element.isRest:  # a rest running past the pickup's start keeps its part after it
                element.quarterLength = end - pad
                first.setElementOffset(element, pad)
    for element in list(first.notesAndRests):
        first.setElementOffset(element, element.offset - pad)
    first.paddingLeft = pad
    for number, measure in enumerate(measures):
        measure.number = number


def write_chorale_musicxml(grid: codec.ChoraleGrid, path: str | Path, *, qpm: float = 80.0,
                           steps_per_bar: int = 16, title: str = "") -> Path:
    """Write :func:`chorale_score` as MusicXML atomically."""
    score = chorale_score(grid, qpm=qpm, steps_per_bar=steps_per_bar, title=title)
    return atomic_write(path, lambda tmp: score.write("musicxml", fp=str(tmp)))


def chorale_piano_roll(
    grids: Sequence[codec.ChoraleGrid], path: str | Path, *, titles: Sequence[str] | None = None,
    steps_per_bar: int = 16
) -> Path:
    """One piano roll per grid (rows), the four voices in four colours, bar lines dashed.

    Parameters
    ----------
    grids : sequence of ChoraleGrid, pitches [4, T] each
    path : the PNG to write
    titles : one label per grid
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    steps = max(g.steps for g in grids)
    sounding = np.concatenate([g.pitches[g.pitches >= 0] for g in grids])
    low, high = (int(sounding.min()) - 2, int(sounding.max()) + 2) if sounding.size else (36, 84)
    figure = Figure(figsize=(min(24, 3 + steps / 16 * 1.1), 2.6 * len(grids) + 0.4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(grids), 1, squeeze=False)[:, 0]
    for i, (ax, grid) in enumerate(zip(axes, grids)):
        for v in range(len(grid.pitches)):
            for pitch, start, end in codec.grid_notes(grid.pitches[v], grid.onsets[v]):
                ax.add_patch(_rect(start, pitch, end - start, _COLOURS[v % 4]))
        for bar in range(0, steps + 1, steps_per_bar):
            ax.axvline(bar, color="0.75", lw=0.6, ls="--")
        ax.set_xlim(0, steps)
        ax.set_ylim(low, high)
        ax.set_ylabel("MIDI pitch")
        if titles is not None:
            ax.set_title(titles[i], fontsize=10, loc="left")
    axes[-1].set_xlabel(f"16th steps ({steps_per_bar} per bar)")
    axes[0].legend(handles=[Patch(color=c, label=n) for c, n in zip(_COLOURS, VOICE_NAMES)], loc="upper right",
                   ncol=4, fontsize=8)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return Path(path)


def _rect(start: int, pitch: int, length: int, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((start, pitch - 0.4), length, 0.8, facecolor=colour, edgecolor="black", linewidth=0.3)


def write_harmonization(
    result, output: str | Path, *, musicxml: str | Path | None = None, plot: str | Path | None = None,
    steps_per_bar: int = 16, title: str = ""
) -> list[Path]:
    """Write every variation of a :class:`~musicvae.harmonize.Harmonization`: MIDI, optional MusicXML and PNG.

    Variation 1 goes to ``output`` (and ``musicxml``), variation k to ``<stem>_var<k><suffix>``.
    """
    written = []
    count = len(result.grids)
    for k, grid in enumerate(result.grids):
        written.append(write_chorale_midi(grid, variation_path(output, k, count), qpm=result.qpm,
                                          steps_per_bar=steps_per_bar))
        if musicxml:
            written.append(write_chorale_musicxml(grid, variation_path(musicxml, k, count), qpm=result.qpm,
                                                  steps_per_bar=steps_per_bar, title=title))
    if plot:
        titles = [f"variation {k + 1}" + (" (posterior mean)" if k == 0 else "") for k in range(count)]
        written.append(chorale_piano_roll(result.grids, plot, titles=titles, steps_per_bar=steps_per_bar))
    return written
