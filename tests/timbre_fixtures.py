"""A tiny timbre instrument for tests: real TimGM6mb renders, a real (short) Lightning training run."""

from __future__ import annotations

import os
from pathlib import Path

from musicvae.config import apply_overrides, get_config

RECIPE = """
name = "tiny-flute-guitar"
kind = "timbre"
[notes]
seconds = 0.5
hold_seconds = 0.3
min_pitch = 60
max_pitch = 62
velocities = [100]
valid_velocities = [80]
[[sources]]
type = "soundfont"
soundfont = "TimGM6mb"
programs = [73, 24]
split = "train"
[[sources]]
type = "soundfont"
soundfont = "TimGM6mb"
programs = [25]
split = "test"
"""


#: Four families, for a pad: flute, guitar, violin and trumpet from TimGM6mb.
RECIPE_4 = RECIPE.replace('name = "tiny-flute-guitar"', 'name = "tiny-four"').replace(
    "valid_velocities = [80]", 'valid_velocities = [80]\nfamilies = ["flute", "guitar", "string", "brass"]').replace(
    "programs = [73, 24]", "programs = [73, 24, 40, 56]")


def make_tiny_instrument(root: Path, *, recipe_text: str = RECIPE, name: str = "tiny-flute-guitar",
                         folder: str = "tiny-timbre") -> Path:
    """Build the tiny dataset under ``root`` (``MUSICVAE_CACHE`` must point there) and train for a few steps."""
    import torch

    from musicvae.instrument import Instrument
    from musicvae.kinds.timbre import build_spectrogram
    from musicvae.kinds.timbre.data import build_timbre_dataset, load_timbre_notes
    from musicvae.kinds.timbre.training import family_mean_latents, spectrogram_set
    from musicvae.training import train_model

    assert os.environ.get("MUSICVAE_CACHE"), "set MUSICVAE_CACHE first"
    recipe = root / f"{name}.toml"
    recipe.write_text(recipe_text)
    config = apply_overrides(get_config("timbre-small"), [
        f"data={str(recipe)!r}", "model.channels=[4, 8]", "model.z_dim=4", "model.pitch_embedding=4",
        "model.min_pitch=60", "model.max_pitch=62", "model.spectrogram.n_samples=8000",
        "model.spectrogram.inversion_iters=8", "train.batch_size=4", "train.val_every=2",
    ])
    build_timbre_dataset(str(recipe), progress=False)
    train, valid = (load_timbre_notes(str(recipe), split=s) for s in ("train", "valid"))
    spectrogram = build_spectrogram(config)
    train_set, valid_set = spectrogram_set(train, spectrogram), spectrogram_set(valid, spectrogram)
    model, summary = train_model(config, train_set, valid_set, out_dir=root / "run", threads=1, max_steps=4,
                                 progress=False, accelerator="cpu")
    assert summary["steps"] == 4 and torch.isfinite(torch.tensor(summary["val"]["loss"]))
    extras = family_mean_latents(model, train_set, train.families)
    return Instrument(config=config, model=model, extras=extras).save(root / folder)
