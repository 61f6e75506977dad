"""Small instruments of every kind, random weights: exports are checked against the PyTorch they came from.

A module of its own name (not conftest): every test folder's conftest is a module called ``conftest``, and
the first one imported is the one ``from conftest import`` finds."""

from __future__ import annotations

import torch

from musicvae.builders import build_model
from musicvae.config import apply_overrides, get_config
from musicvae.instrument import Instrument

SMALL = {
    "melody": ("2bar-small", ["model.z_dim=8", "model.encoder_sizes=[16]", "model.decoder_sizes=[16, 12]"]),
    "melody-hier": ("16bar-hier-small", ["model.z_dim=8", "model.encoder_sizes=[16]", "model.decoder_sizes=[16]",
                                         "model.conductor_sizes=[12]"]),
    "accompanist": ("minibach-small", ["model.z_dim=8", "model.hidden_size=32"]),
    "accompanist-net": ("chorale-net-small", ["model.channels=8", "model.layers=2", "model.embed_size=4",
                                              "model.z_dim=4"]),
    "timbre": ("timbre-small", ["model.channels=[4, 8]", "model.z_dim=4", "model.pitch_embedding=4",
                                "model.min_pitch=60", "model.max_pitch=64", "model.spectrogram.n_samples=4000",
                                "model.spectrogram.inversion_iters=4"]),
}


def small_instrument(name: str, seed: int = 0) -> Instrument:
    """A freshly initialised instrument of a small config (timbre: with flute and guitar latents)."""
    torch.manual_seed(seed)
    config_name, overrides = SMALL[name]
    config = apply_overrides(get_config(config_name), overrides)
    model = build_model(config).eval()
    extras = {}
    if config.kind == "timbre":
        # FiLM starts as the identity; give it a pitch dependence, as training does.
        for film in model.films:
            torch.nn.init.normal_(film.proj.weight, std=0.1)
        extras = {f"mean_latent.{f}": torch.randn(config.model.z_dim) for f in ("flute", "guitar")}
    return Instrument(config=config, model=model, extras=extras)
