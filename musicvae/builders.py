"""The one bridge from config dataclasses to model objects.

Models take plain keyword arguments and never import :mod:`musicvae.config`;
this module translates. Each model kind is one branch of :func:`model_init_kwargs`
and one entry of the class table in :func:`build_model`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from musicvae.config import AccompanistConfig, InstrumentConfig, SequenceVAEConfig, SpectrogramVAEConfig
from musicvae.errors import ConfigError


def _model_config(config: Any) -> Any:
    """Accept an :class:`InstrumentConfig` as well as a bare model config."""
    return config.model if isinstance(config, InstrumentConfig) else config


def model_init_kwargs(config: Any) -> dict[str, Any]:
    """Constructor keyword arguments of the model a config describes.

    Parameters
    ----------
    config : SequenceVAEConfig or InstrumentConfig

    Returns
    -------
    dict
        Plain values (ints, floats, tuples, bools) for the model's constructor.

    Raises
    ------
    ConfigError
        For a config type no model is built from.
    """
    model = _model_config(config)
    if isinstance(model, SequenceVAEConfig):
        rep = model.representation
        return {
            "num_classes": rep.num_classes,
            "steps": rep.steps,
            "steps_per_bar": rep.steps_per_bar,
            "z_dim": model.z_dim,
            "encoder_sizes": tuple(model.encoder_sizes),
            "decoder_sizes": tuple(model.decoder_sizes),
            "conductor_sizes": tuple(model.conductor_sizes),
            # kl_weight 0 means a plain autoencoder: z is the posterior mean.
            "variational": model.kl_weight > 0,
            "input_dropout": model.input_dropout,
        }
    if isinstance(model, AccompanistConfig):
        return _accompanist_kwargs(model)
    if isinstance(model, SpectrogramVAEConfig):
        return _spectrogram_vae_kwargs(model)
    raise ConfigError(f"no model is built from a {type(model).__name__}")


def _spectrogram_vae_kwargs(model: SpectrogramVAEConfig) -> dict[str, Any]:
    if not 0 <= model.min_pitch <= model.max_pitch <= 127:
        raise ConfigError(f"model pitches {model.min_pitch}..{model.max_pitch} are not a MIDI range")
    if not model.channels or min(model.channels) < 1 or model.z_dim < 1 or model.pitch_embedding < 1:
        raise ConfigError("timbre model channels, z_dim and pitch_embedding must be at least 1")
    spectrogram = build_spectrogram(model)
    return {
        "n_bins": spectrogram.n_bins,
        "n_frames": spectrogram.n_frames,
        "z_dim": model.z_dim,
        "channels": tuple(model.channels),
        "min_pitch": model.min_pitch,
        "max_pitch": model.max_pitch,
        "pitch_embedding": model.pitch_embedding,
        "condition_velocity": model.condition_velocity,
        # kl_weight 0 means a plain autoencoder: z is the posterior mean.
        "variational": model.kl_weight > 0,
        "input_noise": model.input_noise,
    }


def build_spectrogram(config: Any):
    """The :class:`~musicvae.audio.spectrogram.Spectrogram` (analysis and inversion) of a timbre config.

    Raises
    ------
    ConfigError
        For a config that is not a timbre one, or an STFT setting that does not fit.
    """
    model = _model_config(config)
    if not isinstance(model, SpectrogramVAEConfig):
        raise ConfigError(f"a {type(model).__name__} has no spectrogram")
    s = model.spectrogram
    if s.n_fft < 16 or s.hop_length < 1 or s.n_fft % s.hop_length or s.n_samples < s.n_fft:
        raise ConfigError("spectrogram needs n_fft >= 16, a multiple of hop_length, and n_samples >= n_fft")
    if s.n_mels < 0 or s.norm_scale_db <= 0:
        raise ConfigError("spectrogram n_mels must be >= 0 and norm_scale_db > 0")
    from musicvae.audio.spectrogram import Spectrogram

    return Spectrogram(
        sample_rate=s.sample_rate,
        n_samples=s.n_samples,
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        n_mels=s.n_mels,
        floor_db=s.floor_db,
        norm_center_db=s.norm_center_db,
        norm_scale_db=s.norm_scale_db,
    )


def _accompanist_kwargs(model: AccompanistConfig) -> dict[str, Any]:
    rep = model.representation
    for voice in ("soprano", "alto", "tenor", "bass"):
        pair = getattr(rep, voice)
        if len(pair) != 2 or not pair[0] < pair[1]:
            raise ConfigError(f"model.representation.{voice} must be [low, high] with low < high, got {list(pair)}")
    if rep.steps < 1 or model.hidden_size < 1 or model.depth < 1 or model.z_dim < 1 or model.rank < 0:
        raise ConfigError("accompanist steps, hidden_size, depth and z_dim must be at least 1, rank at least 0")
    if not (0 <= model.dropout < 1 and 0 <= model.input_dropout < 1):
        raise ConfigError("accompanist dropout and input_dropout must lie in [0, 1)")
    classes = rep.num_classes
    return {
        "soprano_classes": classes[0],
        "voice_classes": classes[1:],
        "steps": rep.steps,
        "hidden_size": model.hidden_size,
        "depth": model.depth,
        "z_dim": model.z_dim,
        "dropout": model.dropout,
        # kl_weight 0 is the deterministic MiniBach: z is the posterior mean.
        "variational": model.kl_weight > 0,
        "input_dropout": model.input_dropout,
        "rank": model.rank,
    }


def build_model(config: Any) -> nn.Module:
    """A freshly initialised model for ``config``.

    Parameters
    ----------
    config : SequenceVAEConfig or InstrumentConfig

    Returns
    -------
    torch.nn.Module
        A :class:`~musicvae.models.sequence_vae.SequenceVAE` for melody configs.

    Raises
    ------
    ConfigError
        For a config type no model is built from, or an invalid combination of sizes.
    """
    model = _model_config(config)
    kwargs = model_init_kwargs(model)
    if isinstance(model, SequenceVAEConfig):
        from musicvae.models.sequence_vae import SequenceVAE

        return SequenceVAE(**kwargs)
    if isinstance(model, AccompanistConfig):
        from musicvae.models.accompanist import Accompanist

        return Accompanist(**kwargs)
    if isinstance(model, SpectrogramVAEConfig):
        from musicvae.models.spectrogram_vae import SpectrogramVAE

        return SpectrogramVAE(**kwargs)
    raise ConfigError(f"no model is built from a {type(model).__name__}")  # pragma: no cover
