"""Writing generated melodies: MIDI files and piano-roll plots, atomically.

Shared by the CLI and the demo so that both write the same files the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicvae.io import atomic_write
from musicvae.kinds.melody.config import MelodyRepresentation
from musicvae.midi.melody import events_to_midi


def write_midi(midi, path: str | Path) -> Path:
    """Write a ``pretty_midi.PrettyMIDI`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: midi.write(str(tmp)))


def write_sequences(
    sequences: np.ndarray, path: str | Path, *, representation: MelodyRepresentation, bpm: float = 120.0
) -> Path:
    """Write event sequences [K, T] one after another into one MIDI file, in the representation's meter."""
    midi = events_to_midi(
        np.asarray(sequences), qpm=bpm, steps_per_bar=representation.steps_per_bar, meter=representation.meter,
        min_pitch=representation.min_pitch,
    )
    return write_midi(midi, path)


def write_samples(
    sequences: np.ndarray,
    folder: str | Path,
    *,
    representation: MelodyRepresentation,
    bpm: float = 120.0,
    plot: bool = False,
) -> list[Path]:
    """Write each sequence [T] of ``sequences`` [N, T] to ``folder/sample_XX.mid``; optionally ``samples.png``."""
    folder = Path(folder)
    written = [
        write_sequences(seq[None], folder / f"sample_{i:02d}.mid", representation=representation, bpm=bpm)
        for i, seq in enumerate(sequences)
    ]
    if plot:
        from musicvae.plots import piano_roll_grid

        titles = [f"sample {i}" for i in range(len(sequences))]
        written.append(
            piano_roll_grid(list(sequences), folder / "samples.png", titles=titles,
                            steps_per_bar=representation.steps_per_bar, min_pitch=representation.min_pitch)
        )
    return written


def write_morph(
    steps: np.ndarray,
    path: str | Path,
    *,
    representation: MelodyRepresentation,
    bpm: float = 120.0,
    per_step: bool = False,
    plot: str | Path | None = None,
) -> list[Path]:
    """Write a morph's steps [K, T] in sequence to ``path``; optionally one file per step and a PNG."""
    path = Path(path)
    written = [write_sequences(steps, path, representation=representation, bpm=bpm)]
    if per_step:
        for i, seq in enumerate(steps):
            step_path = path.with_name(f"{path.stem}_step{i:02d}{path.suffix or '.mid'}")
            written.append(write_sequences(seq[None], step_path, representation=representation, bpm=bpm))
    if plot:
        from musicvae.plots import piano_roll_grid

        n = len(steps)
        titles = [
            f"step {i}: {i / (n - 1):.2f}" + (" (A)" if i == 0 else " (B)" if i == n - 1 else "") for i in range(n)
        ]
        written.append(
            piano_roll_grid(list(steps), plot, titles=titles,
                            steps_per_bar=representation.steps_per_bar, min_pitch=representation.min_pitch)
        )
    return written
