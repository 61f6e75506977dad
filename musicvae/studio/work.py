"""The studio's jobs: each one the library call its command makes, then the files the page shows and plays.

Morph, sample, blend and harmonize call :func:`musicvae.generate.morph`,
:func:`musicvae.generate.sample`, :func:`musicvae.blend.blend` and
:func:`musicvae.harmonize.harmonize` and write with the writers their commands
use (:mod:`musicvae.outputs`, :func:`musicvae.blend.write_blend`,
:mod:`musicvae.chorale_outputs`), so a download is the file the command would
have written. What only the page needs is added: the notes of each piano roll,
an audio file of each step (melodies through FluidSynth, timbre notes as the
instrument played them), and a score drawn by Verovio.

Every function takes the :class:`Studio`, the job and its inputs, reports
progress on the job, and returns plain JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicvae.instrument import Instrument
from musicvae.studio.jobs import Job, JobRunner
from musicvae.studio.sound import MidiRenderer

#: Tempo of the melodies the page plays and writes (the commands' default).
BPM = 120.0


@dataclass
class Studio:
    """The instruments the page plays and what serves it.

    Attributes
    ----------
    melody, timbre, accompanist : Instrument
        One of each kind (``--melody``, ``--timbre``, ``--accompanist``).
    root : Path
        The studio's temporary folder: every upload and output lies under it.
    runner : JobRunner
    renderer : MidiRenderer
    sessions : musicvae.studio.sessions.Sessions
    """

    melody: Instrument
    timbre: Instrument
    accompanist: Instrument
    root: Path
    runner: JobRunner = field(init=False)
    renderer: MidiRenderer = field(default_factory=MidiRenderer)
    sessions: Any = None

    def __post_init__(self) -> None:
        from musicvae.studio.sessions import Sessions

        self.runner = JobRunner(self.root)
        if self.sessions is None:
            self.sessions = Sessions(self)

    def warm(self) -> None:
        """Pay for the first use before anyone clicks: librosa's import and mel filters, the timbre decoder's
        first run, and the SoundFont's load (a few seconds together on a small machine)."""
        from musicvae import blend
        from musicvae.midi.melody import FIRST_PITCH_CLASS, events_to_midi
        from musicvae.outputs import write_midi

        low, _ = self.timbre.model.pitch_range
        blend.decode(self.timbre, np.zeros((1, self.timbre.config.model.z_dim), np.float32), low)
        rep = self.melody.config.model.representation
        events = np.zeros(rep.steps, dtype=np.int64)
        events[0] = FIRST_PITCH_CLASS + 60 - rep.min_pitch  # one note, so that FluidSynth plays
        self.renderer.render(write_midi(events_to_midi(events, steps_per_bar=rep.steps_per_bar,
                                                       min_pitch=rep.min_pitch), self.root / "warm.mid"))

    def close(self) -> None:
        self.sessions.close()
        self.runner.close()
        self.renderer.close()

    def describe(self) -> dict[str, Any]:
        """What the page needs to draw its controls: instruments, families, ranges, limits."""
        from musicvae import blend
        from musicvae import options as opt
        from musicvae.realtime.midi_io import API_NAMES
        from musicvae.realtime.synth import MORPH_STEPS

        low, high = self.timbre.model.pitch_range
        rep = self.melody.config.model.representation
        return {
            "melody": {"name": self.melody.name, "steps": rep.steps, "steps_per_bar": rep.steps_per_bar,
                       "max_steps": opt.MAX_STEPS, "max_temperature": opt.MAX_TEMPERATURE},
            "timbre": {"name": self.timbre.name, "families": blend.families(self.timbre), "pitch_range": [low, high],
                       "morph_steps": MORPH_STEPS},
            "accompanist": {"name": self.accompanist.name, "max_variations": opt.MAX_VARIATIONS},
            "midi_apis": list(API_NAMES),
        }


def url(job: Job, path: Path) -> str:
    """Where the page fetches one of the job's files."""
    return f"/api/files/{job.id}/{path.relative_to(job.folder).as_posix()}"


def _melody_notes(events: np.ndarray, min_pitch: int) -> list[list[int]]:
    from musicvae.midi.melody import decode

    return [[n.pitch, n.start, n.end] for n in decode(events, min_pitch=min_pitch)]


def _melody_steps(studio: Studio, job: Job, sequences: np.ndarray, files: list[Path], labels: list[str],
                  *, done: int, total: int) -> list[dict]:
    """Each sequence's notes, MIDI file and audio (rendered here, one progress step each)."""
    from musicvae import blend

    rep = studio.melody.config.model.representation
    steps = []
    for i, (seq, midi, label) in enumerate(zip(sequences, files, labels)):
        job.progress(done + i, total, f"rendering audio {i + 1} of {len(files)}")
        wav = blend.write_audio(studio.renderer.render(midi), midi.with_suffix(".wav"),
                                sample_rate=studio.renderer.sample_rate)
        steps.append({"label": label, "notes": _melody_notes(seq, rep.min_pitch), "midi": url(job, midi),
                      "audio": url(job, wav)})
    return steps


def morph(studio: Studio, job: Job, a: Path, b: Path, *, steps: int, temperature: float,
          seed: int | None) -> dict:
    """``musicvae morph MELODY A B --steps N --temperature T --per-step``, and each step's audio."""
    from musicvae import generate
    from musicvae.outputs import write_morph

    instrument = studio.melody
    total = steps + 2
    job.progress(0, total, "reading the melodies and decoding the morph")
    result = generate.morph(instrument, a, b, steps=steps, temperature=temperature, seed=seed)
    job.progress(1, total, "writing MIDI")
    rep = instrument.config.model.representation
    written = write_morph(result.steps, job.folder / "morph.mid", representation=rep, bpm=BPM, per_step=True)
    labels = [f"step {i}: {i / (steps - 1):.2f}" + (" (A)" if i == 0 else " (B)" if i == steps - 1 else "")
              for i in range(steps)]
    return {"warnings": result.warnings, "midi": url(job, written[0]), "steps_per_bar": rep.steps_per_bar,
            "length": rep.steps,
            "steps": _melody_steps(studio, job, result.steps, written[1:], labels, done=2, total=total)}


def sample(studio: Studio, job: Job, *, n: int, temperature: float, seed: int | None) -> dict:
    """``musicvae sample MELODY -n N --temperature T``, and each sample's audio."""
    from musicvae import generate
    from musicvae.outputs import write_samples, write_sequences

    instrument = studio.melody
    total = n + 2
    job.progress(0, total, "decoding from the prior")
    sequences = generate.sample(instrument, n=n, temperature=temperature, seed=seed)
    job.progress(1, total, "writing MIDI")
    rep = instrument.config.model.representation
    files = write_samples(sequences, job.folder / "samples", representation=rep, bpm=BPM)
    every = write_sequences(sequences, job.folder / "samples.mid", representation=rep, bpm=BPM)
    return {"warnings": [], "midi": url(job, every), "steps_per_bar": rep.steps_per_bar, "length": rep.steps,
            "steps": _melody_steps(studio, job, sequences, files, [f"sample {i}" for i in range(n)], done=2,
                                   total=total)}


def blend(studio: Studio, job: Job, *, source: str | Path, target: str | Path, pitch: int | None) -> dict:
    """``musicvae blend TIMBRE --from A --to B --pitch P --steps 17 --per-step``: the synth's 17 morph
    stops (0, 1/16 ... 1) at one pitch, each with its audio and spectrogram."""
    from musicvae import blend as timbre
    from musicvae.realtime.synth import MORPH_STEPS

    job.progress(0, 2, "decoding the blend")
    result = timbre.blend(studio.timbre, pitch=pitch, steps=MORPH_STEPS + 1, source=source, target=target)
    job.progress(1, 2, "writing audio")
    written = timbre.write_blend(result, job.folder / "blend.wav", per_step=True)
    spectra = result.spectrograms
    low, high = float(spectra.min()), float(spectra.max())
    scaled = np.round((spectra - low) / max(high - low, 1e-6) * 255).astype(np.uint8)
    return {
        "pitch": result.pitch, "labels": list(result.labels), "messages": result.messages(),
        "amounts": [round(float(a), 4) for a in result.amounts], "audio": url(job, written[0]),
        "steps": [{"amount": round(float(a), 4), "audio": url(job, path), "spectrogram": s.tolist()}
                  for a, path, s in zip(result.amounts, written[1:], scaled)],
        "band_hz": [round(float(f), 1) for f in result.band_hz] if result.band_hz is not None else [],
        "sample_rate": result.sample_rate,
    }


def harmonize(studio: Studio, job: Job, melody: Path, *, name: str, variation: int, seed: int) -> dict:
    """Variation ``variation`` of ``musicvae harmonize ACCOMPANIST MELODY --variations K --seed S --musicxml``
    (1 = the most likely), with its piano roll, score and audio."""
    from musicvae import blend
    from musicvae.chorale_outputs import VOICE_NAMES, write_chorale_midi, write_chorale_musicxml
    from musicvae.harmonize import harmonize as harmonize_melody
    from musicvae.midi.chorale import grid_notes

    instrument = studio.accompanist
    spb = instrument.config.model.representation.steps_per_bar
    job.progress(0, 5, "harmonising")
    result = harmonize_melody(instrument, melody, variations=variation, seed=seed)
    grid = result.grids[variation - 1]
    stem = Path(name).stem
    job.progress(1, 5, "writing MIDI and MusicXML")
    midi = write_chorale_midi(grid, job.folder / f"{stem}-chorale.mid", qpm=result.qpm, steps_per_bar=spb,
                              key=result.key)
    xml = write_chorale_musicxml(grid, job.folder / f"{stem}-chorale.musicxml", qpm=result.qpm, steps_per_bar=spb,
                                 title=stem, key=result.key)
    job.progress(2, 5, "engraving the score")
    score = engrave(xml)
    job.progress(3, 5, "rendering audio")
    wav = blend.write_audio(studio.renderer.render(midi), job.folder / f"{stem}-chorale.wav",
                            sample_rate=studio.renderer.sample_rate)
    voices = [{"name": VOICE_NAMES[v], "notes": [[int(p), int(s), int(e)] for p, s, e in
                                                  grid_notes(grid.pitches[v], grid.onsets[v])]}
              for v in range(len(grid.pitches))]
    from music21 import key

    spelled = key.Key(result.key).name.replace("-", "\u266d")  # "A- major" -> "A♭ major"
    return {"variation": variation, "seed": seed, "key": spelled, "warnings": result.warnings,
            "voices": voices, "length": int(grid.steps), "steps_per_bar": spb, "pickup_steps": grid.pickup_steps,
            "midi": url(job, midi), "musicxml": url(job, xml), "audio": url(job, wav), "score": score}


def engrave(musicxml: Path, *, width: int = 2000) -> list[str]:
    """SVG pages of a MusicXML file, engraved by Verovio (offline, on this machine)."""
    import verovio

    toolkit = verovio.toolkit()
    toolkit.setOptions({"pageWidth": width, "adjustPageHeight": True, "scale": 40, "header": "none",
                        "footer": "none", "breaks": "auto"})
    if not toolkit.loadFile(str(musicxml)):
        return []
    return [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]

