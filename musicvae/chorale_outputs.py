"""Writing harmonised chorales: four-track MIDI, MusicXML (music21) and a piano-roll PNG, atomically.

Shared by ``musicvae harmonize`` and the demo so that both write the same files the same way.

The score is what notation software (MuseScore, Finale, Sibelius, Dorico) expects of SATB in
open score: four parts named Soprano, Alto, Tenor and Bass (vocal instruments, abbreviated
S., A., T., B.), soprano and alto on treble clefs, the tenor on the octave-transposing treble
clef (treble-8, ``<clef-octave-change>-1``: it sounds an octave below what it shows, as tenors
read), the bass on a bass clef; the melody's key signature in every part, and every pitch
spelled in that key (:func:`spell_pitch`: A-flat, not G-sharp, in A-flat major or F minor).
Both files carry the key: MusicXML as ``<key>``, MIDI as a key-signature meta message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musicvae.io import atomic_path, atomic_write
from musicvae.midi import chorale as codec

VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
VOICE_ABBREVIATIONS = ("S.", "A.", "T.", "B.")
_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd")


#: Semitones above the tonic -> (scale degree, semitones it is raised or lowered by): the seven degrees of
#: the scale and the five chromatic ones tonal music uses most (the leading tones of secondary dominants
#: and the borrowed degrees). In C major: C C# D Eb E F F# G G# A Bb B; in A minor: A Bb B C C# D D# E F F# G G#.
_DEGREES = {
    "major": {0: (1, 0), 1: (1, 1), 2: (2, 0), 3: (3, -1), 4: (3, 0), 5: (4, 0), 6: (4, 1), 7: (5, 0), 8: (5, 1),
              9: (6, 0), 10: (7, -1), 11: (7, 0)},
    # Natural minor, with the lowered 2nd (Neapolitan), raised 3rd (Picardy), raised 4th, and the melodic
    # minor's raised 6th and 7th.
    "minor": {0: (1, 0), 1: (2, -1), 2: (2, 0), 3: (3, 0), 4: (3, 1), 5: (4, 0), 6: (4, 1), 7: (5, 0), 8: (6, 0),
              9: (6, 1), 10: (7, 0), 11: (7, 1)},
}
#: Degrees spelled as the key has them whatever their accidentals: minor's raised 3rd, 6th and 7th (the
#: leading tone of G-sharp minor is F-double-sharp, never G).
_KEPT = {"major": set(), "minor": {4, 9, 11}}


def key_spellings(key_name: str) -> dict[int, str]:
    """The name (music21's: ``"A-"``, ``"F#"``, ``"E"``) of each of the 12 pitch classes in a key.

    The key's own seven pitches as its scale spells them (A-flat, never G-sharp, in A-flat major and
    F minor; G-sharp in E major), and in minor its raised 3rd, 6th and 7th. Any other pitch takes
    the spelling with fewer accidentals (C, not B-sharp, in E major; A, not B-double-flat, in G-flat
    major), a tie going to the chromatic degree tonal music uses most (:data:`_DEGREES`: in major the
    raised 1st, 4th and 5th, the lowered 3rd and 7th; in minor the lowered 2nd and raised 4th).
    """
    from music21 import key

    k = key.Key(key_name)
    mode = "minor" if k.mode == "minor" else "major"
    names = {}
    for semitones, (degree, alter) in _DEGREES[mode].items():
        spelled = k.pitchFromDegree(degree)
        if alter:
            spelled = spelled.transpose("A1" if alter > 0 else "-A1")  # the same letter, a semitone up or down
        if alter and semitones not in _KEPT[mode]:
            other = spelled.getEnharmonic()  # the spelling of the neighbouring letter
            if abs(other.alter) < abs(spelled.alter):
                spelled = other
        names[(k.tonic.pitchClass + semitones) % 12] = spelled.name
    return names


def spell_pitch(midi: int, spellings: dict[int, str]):
    """A music21 Pitch of MIDI number ``midi`` spelled as ``spellings`` (:func:`key_spellings`) names it."""
    from music21 import pitch

    spelled = pitch.Pitch(spellings[midi % 12] + "4")
    spelled.octave += (midi - int(round(spelled.ps))) // 12  # C-flat 5 is MIDI 71, B-sharp 3 is 60
    assert int(round(spelled.ps)) == midi, (midi, spelled)
    spelled.spellingIsInferred = False
    return spelled


def _key_number(key_name: str) -> int:
    """pretty_midi's key number (0-11 major from C, 12-23 minor from C) of a music21 key name."""
    from music21 import key

    k = key.Key(key_name)
    return k.tonic.pitchClass + (12 if k.mode == "minor" else 0)


def variation_path(path: str | Path, k: int, count: int) -> Path:
    """``chorale.mid`` for the first of ``count`` variations, ``chorale_var2.mid`` ... for the others."""
    path = Path(path)
    return path if k == 0 or count == 1 else path.with_name(f"{path.stem}_var{k + 1}{path.suffix}")


def write_chorale_midi(grid: codec.ChoraleGrid, path: str | Path, *, qpm: float = 80.0,
                       steps_per_bar: int = 16, key: str | None = None) -> Path:
    """A MIDI file with one track per voice (Soprano, Alto, Tenor, Bass), starting where the melody starts,
    with ``key`` (a music21 key name) as its key signature."""
    midi = codec.grid_to_midi(grid.pitches, grid.onsets, qpm=qpm, steps_per_bar=steps_per_bar,
                              names=VOICE_NAMES, skip_steps=grid.pickup_steps)
    if key is not None:
        import pretty_midi

        midi.key_signature_changes.append(pretty_midi.KeySignature(_key_number(key), 0.0))
    return atomic_write(path, lambda tmp: midi.write(str(tmp)))


def chorale_score(grid: codec.ChoraleGrid, *, qpm: float = 80.0, steps_per_bar: int = 16, title: str = "",
                  key: str = "C"):
    """A music21 Score of a four-voice grid: 4/4, notes tied across bar lines, a pickup as an anacrusis; named
    SATB parts on their clefs, ``key`` (a music21 key name: ``"A-"``, ``"f"``) signed and spelled in every part."""
    from music21 import clef, instrument, metadata, meter, note, stream, tempo
    from music21 import key as m21key

    steps_per_quarter = steps_per_bar / 4
    pad = grid.pickup_steps / steps_per_quarter
    clefs = (clef.TrebleClef, clef.TrebleClef, clef.Treble8vbClef, clef.BassClef)
    voices = (instrument.Soprano, instrument.Alto, instrument.Tenor, instrument.Bass)
    spellings = key_spellings(key)
    score = stream.Score()
    if title:
        score.insert(0, metadata.Metadata(title=title))
    for v in range(len(grid.pitches)):
        part = stream.Part(id=VOICE_NAMES[v % 4])
        singer = voices[v % 4]()
        singer.partName, singer.partAbbreviation = VOICE_NAMES[v % 4], VOICE_ABBREVIATIONS[v % 4]
        part.append(singer)
        part.append(clefs[v % 4]())
        part.append(m21key.Key(key))
        part.append(meter.TimeSignature("4/4"))
        if v == 0:
            part.append(tempo.MetronomeMark(number=round(qpm)))
        cursor = 0
        for pitch, start, end in codec.grid_notes(grid.pitches[v], grid.onsets[v]):
            if start > cursor:
                part.append(note.Rest(quarterLength=(start - cursor) / steps_per_quarter))
            part.append(note.Note(spell_pitch(int(pitch), spellings), quarterLength=(end - start) / steps_per_quarter))
            cursor = end
        if cursor < grid.steps:
            part.append(note.Rest(quarterLength=(grid.steps - cursor) / steps_per_quarter))
        measured = part.makeMeasures()
        # makeMeasures returns a new Part: the names go on it (what <part-name> is written from).
        measured.id, measured.partName = VOICE_NAMES[v % 4], VOICE_NAMES[v % 4]
        measured.partAbbreviation = VOICE_ABBREVIATIONS[v % 4]
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
                           steps_per_bar: int = 16, title: str = "", key: str = "C") -> Path:
    """Write :func:`chorale_score` as MusicXML atomically."""
    score = chorale_score(grid, qpm=qpm, steps_per_bar=steps_per_bar, title=title, key=key)
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
                                          steps_per_bar=steps_per_bar, key=result.key))
        if musicxml:
            written.append(write_chorale_musicxml(grid, variation_path(musicxml, k, count), qpm=result.qpm,
                                                  steps_per_bar=steps_per_bar, title=title, key=result.key))
    if plot:
        titles = [f"variation {k + 1}" + (" (posterior mean)" if k == 0 else "") for k in range(count)]
        written.append(chorale_piano_roll(result.grids, plot, titles=titles, steps_per_bar=steps_per_bar))
    return written
