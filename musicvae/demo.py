"""``musicvae demo``: play the shipped instruments into a folder, in under a minute on a CPU."""

from __future__ import annotations

from pathlib import Path

from musicvae.io import repo_root

#: Two held-out folk tunes shipped with the repository (music21 corpus, public domain).
DEMO_TUNES = ("examples/folk_a.mid", "examples/folk_b.mid")


def run_demo(output: Path, *, seed: int = 0) -> list[Path]:
    """Write a morph between two folk tunes and a few prior samples into ``output``.

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
    return written
