"""``musicvae demo``: play the shipped instruments into a folder, in under a minute on a CPU."""

from __future__ import annotations

from pathlib import Path

from musicvae.io import repo_root

#: Two held-out folk tunes shipped with the repository (music21 corpus, public domain).
DEMO_TUNES = ("examples/folk_a.mid", "examples/folk_b.mid")


def run_demo(output: Path, *, seed: int = 0) -> list[Path]:
    """Write a morph between two folk tunes, a few prior samples (2 and 16 bars), timbre blends and a chorale.

    Returns
    -------
    list of Path
        Every file written.
    """
    from musicvae import generate
    from musicvae.instrument import Instrument
    from musicvae.outputs import write_morph, write_samples

    written: list[Path] = []
    melody = Instrument.load("melody-2bar")
    rep = melody.config.model.representation
    a, b = (repo_root() / tune for tune in DEMO_TUNES)
    morph = generate.morph(melody, a, b, steps=5, seed=seed)
    written += write_morph(morph.steps, output / "melody-morph.mid", representation=rep, per_step=True,
                           plot=output / "melody-morph.png")
    samples = generate.sample(melody, n=8, temperature=0.5, seed=seed)
    written += write_samples(samples, output / "melody-samples", representation=rep, plot=True)
    # Whole 16-bar tunes from the hierarchical model: what it draws, not a morph of the 8-bar demo tunes,
    # which it would pad with 8 bars of rests.
    long = Instrument.load("melody-16bar")
    written += write_samples(generate.sample(long, n=2, temperature=0.5, seed=seed), output / "melody-16bar-samples",
                             representation=long.config.model.representation, plot=True)
    written += timbre_demo(output)
    written += chorale_demo(output, seed=seed)
    return written


#: A short phrase (MIDI pitch, beats) for the timbre demo: in code, so the demo needs no data.
TIMBRE_PHRASE = ((67, 1), (69, 0.5), (71, 0.5), (72, 1), (71, 0.5), (67, 0.5), (64, 1), (62, 1), (60, 2))


def timbre_demo(output: Path, *, instrument_name: str = "flute-guitar", bpm: float = 100.0) -> list[Path]:
    """Flute -> guitar blends at three pitches, and a phrase played at morph 0, 0.5 and 1 (WAV + PNG each).

    Returns
    -------
    list of Path
        Every file written.
    """
    import numpy as np
    import torch

    from musicvae import blend
    from musicvae.audio.spectrogram import Spectrogram
    from musicvae.instrument import Instrument
    from musicvae.midi.reader import MidiNote
    from musicvae.render import render_melody

    instrument = Instrument.load(instrument_name)
    written: list[Path] = []
    for pitch, name in ((55, "G3"), (67, "G4"), (79, "G5")):
        result = blend.blend(instrument, pitch=pitch, steps=5)
        stem = output / f"timbre-blend-{name}"
        written += blend.write_blend(result, stem.with_suffix(".wav"), plot=stem.with_suffix(".png"))
    beat, notes, time = 60.0 / bpm, [], 0.0
    for pitch, beats in TIMBRE_PHRASE:
        notes.append(MidiNote(pitch, 96, time, time + 0.9 * beats * beat))
        time += beats * beat
    rate = blend.sample_rate(instrument)
    # Played by the synth engine, as `blend --midi` and `synth --midi-file` play a MIDI file.
    renders = {amount: render_melody(instrument, notes, morph=amount) for amount in (0.0, 0.5, 1.0)}
    for amount, audio in renders.items():
        written.append(blend.write_audio(audio, output / f"timbre-phrase-morph{amount:.2f}.wav", sample_rate=rate))
    # One spectrogram strip of the three renders, with the instrument's own analysis settings.
    cfg = instrument.config.model.spectrogram
    length = min(len(a) for a in renders.values())
    analysis = Spectrogram(sample_rate=rate, n_samples=length, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                           n_mels=cfg.n_mels or 128, floor_db=cfg.floor_db, norm_center_db=cfg.norm_center_db,
                           norm_scale_db=cfg.norm_scale_db)
    specs = analysis.analyze(torch.from_numpy(np.stack([a[:length] for a in renders.values()]))).numpy()
    written.append(blend.spectrogram_strip(specs, output / "timbre-phrase.png",
                                           titles=[f"morph {a:g}" for a in renders],
                                           suptitle="the same phrase, flute (0) to guitar (1)",
                                           band_hz=analysis.frequencies, seconds=length / rate))
    return written


#: The soprano of a held-out Bach chorale (BWV 144.6, music21 corpus, test split), with its pickup measure.
CHORALE_SOPRANO = "examples/chorale_soprano.musicxml"


def chorale_demo(output: Path, *, instrument_name: str = "bach-chorale-net", seed: int = 0) -> list[Path]:
    """A held-out chorale melody harmonised by the accompanist: MIDI + MusicXML of three variations, one PNG.

    Returns
    -------
    list of Path
        Every file written.
    """
    from musicvae.chorale_outputs import write_harmonization
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument

    instrument = Instrument.load(instrument_name)
    result = harmonize(instrument, repo_root() / CHORALE_SOPRANO, variations=3, seed=seed)
    return write_harmonization(result, output / "chorale-bwv144.6.mid", musicxml=output / "chorale-bwv144.6.musicxml",
                               plot=output / "chorale-bwv144.6.png", title="BWV 144.6 soprano, harmonised")
