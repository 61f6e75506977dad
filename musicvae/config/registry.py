"""The named configs, each derived from another with :func:`dataclasses.replace`, never copied and edited."""

from __future__ import annotations

from dataclasses import replace

from musicvae.config.schema import (
    AccompanistConfig,
    InstrumentConfig,
    MelodyRepresentation,
    SequenceVAEConfig,
    SpectrogramConfig,
    SpectrogramVAEConfig,
    TrainConfig,
)
from musicvae.errors import ConfigError


def _accompanist_registry() -> dict[str, InstrumentConfig]:
    """MiniBach accompanists: a small one that trains on a laptop CPU in minutes, a deeper one for GPUs."""
    small = InstrumentConfig(
        kind="accompanist",
        # No dropout and a light KL: the mapper must memorise the many hymn tunes Bach harmonised
        # more than once (a held-out chorale often shares its tune with a training one).
        model=AccompanistConfig(hidden_size=512, depth=1, z_dim=64, dropout=0.0, kl_weight=0.01, beta_rate=0.999),
        data="bach-chorales",
        # transpose 12: each window is drawn at any in-range transposition (about 10 per window).
        # 3000 steps: validation frame accuracy peaks there; later steps overfit the training chorales.
        train=TrainConfig(batch_size=128, max_steps=3000, learning_rate=2e-3, decay_rate=0.9999,
                          sampling_rate=0.0, transpose=12, val_every=500),
    )
    return {
        "minibach-small": small,
        "minibach-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "minibach": replace(
            small,
            model=replace(small.model, hidden_size=1024, depth=2, z_dim=128, dropout=0.1),
            train=replace(small.train, batch_size=256, max_steps=30_000),
        ),
    }


def _timbre_registry() -> dict[str, InstrumentConfig]:
    """Timbre blenders: a small 80-band mel model for one CPU core, a linear-STFT one for GPUs."""
    small = InstrumentConfig(
        kind="timbre",
        model=SpectrogramVAEConfig(),
        data="flute-guitar",
        # No transposition or scheduled sampling: those are melody settings.
        train=TrainConfig(batch_size=32, max_steps=3000, learning_rate=1e-3, min_learning_rate=1e-4,
                          decay_rate=0.9995, sampling_rate=0.0, transpose=0, val_every=250),
    )
    large = replace(
        small,
        model=replace(small.model, spectrogram=SpectrogramConfig(n_mels=0), z_dim=64,
                      channels=(32, 64, 128, 192, 256), pitch_embedding=64),
        train=replace(small.train, batch_size=64, max_steps=50_000, decay_rate=0.9999),
    )
    return {
        "timbre-small": small,
        "timbre-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "timbre-small-denoise": replace(small, model=replace(small.model, input_noise=0.1)),
        "timbre-large": large,
    }


def _registry() -> dict[str, InstrumentConfig]:
    small = InstrumentConfig(
        kind="melody",
        model=SequenceVAEConfig(
            z_dim=128,
            encoder_sizes=(256,),
            decoder_sizes=(256, 256),
            kl_weight=0.2,
            # A CPU run is a few thousand steps, not MusicVAE's 200k: beta still starts near 0 so the
            # decoder learns to rely on z before the KL squeezes it (a 0.9995 ramp plateaued at 18 nats
            # and 0.72 sampled accuracy after 1,750 steps), then rises to 0.2 * 0.6 by 10k steps.
            beta_rate=0.9999,
            free_bits=0.0,
        ),
        data="folk-melodies",
        train=TrainConfig(batch_size=128, max_steps=20_000, sampling_rate=0.0, val_every=500),
    )
    big = replace(
        small,
        model=SequenceVAEConfig(
            z_dim=512, encoder_sizes=(2048,), decoder_sizes=(2048, 2048, 2048), kl_weight=0.5
        ),
        train=TrainConfig(),
    )
    hier = replace(
        big,
        model=SequenceVAEConfig(
            representation=MelodyRepresentation(bars=16),
            z_dim=512,
            encoder_sizes=(2048, 2048),
            decoder_sizes=(1024, 1024),
            conductor_sizes=(1024, 1024),
            kl_weight=0.2,
            free_bits=256.0,
        ),
        train=replace(TrainConfig(), sampling_rate=0.0),
    )
    return {
        "2bar-small": small,
        "2bar-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "2bar-small-denoise": replace(small, model=replace(small.model, input_dropout=0.2)),
        "2bar-big": big,
        "16bar-hier": hier,
        "16bar-hier-small": replace(
            hier,
            model=replace(
                small.model,
                representation=MelodyRepresentation(bars=16),
                encoder_sizes=(256,),
                conductor_sizes=(256,),
                free_bits=32.0,
            ),
            train=small.train,
        ),
    } | _accompanist_registry() | _timbre_registry()


def registered_configs() -> dict[str, InstrumentConfig]:
    """The named configs, freshly built (a new dict each call; the configs are frozen)."""
    return _registry()


def get_config(name: str) -> InstrumentConfig:
    """Return the registered config called ``name``.

    Raises
    ------
    ConfigError
        If no config has that name; the message lists the valid names.
    """
    configs = _registry()
    if name not in configs:
        raise ConfigError(f"unknown config {name!r}; choose one of: {', '.join(sorted(configs))}")
    return configs[name]
