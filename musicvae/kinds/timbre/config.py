"""The timbre kind's configs: the spectrogram, the convolutional VAE, and the named configs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from musicvae.config.schema import InstrumentConfig, TrainConfig


@dataclass(frozen=True)
class SpectrogramConfig:
    """How a note becomes a log-spectrogram and back (see :mod:`musicvae.audio.spectrogram`).

    ``n_mels = 0`` means the linear STFT magnitude (inverts better, 6.4x more
    rows). ``inversion_iters`` fast Griffin-Lim iterations turn a decoded
    spectrogram into audio. 12 keeps decoding and inverting a 1-s note under
    20 ms at p99 on one CPU thread (``bench/bench_timbre.py``; 16 measured
    22 ms); on the flute-guitar instrument 12, 16, 24 and 32 gave the same pitch
    accuracy, monotonicity and endpoint classes, and log-mel distances between
    the decoded and the inverted note of 1.9, 1.7, 1.5 and 1.3 dB.
    """

    sample_rate: int = 16_000
    n_samples: int = 16_000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    floor_db: float = -80.0
    norm_center_db: float = -30.0
    norm_scale_db: float = 50.0
    inversion_iters: int = 12


@dataclass(frozen=True)
class SpectrogramVAEConfig:
    """Convolutional VAE over log-spectrograms of single notes, decoder conditioned on pitch and velocity.

    ``channels`` are the encoder's conv widths (each halves frequency and
    time; the decoder mirrors them). The decoder gets a learned pitch
    embedding (and the velocity) through FiLM, so the latent carries timbre.
    ``kl_weight`` is the maximum beta on the KL (reconstruction is a sum of
    squared errors over the normalised spectrogram); 0 makes a plain
    autoencoder. ``input_noise`` > 0 adds Gaussian noise of that standard
    deviation to the encoder's input while training (a denoising autoencoder).
    ``augment_db`` is the size of a random smooth EQ curve and loudness contour
    added to 3/4 of the training spectrograms (0 = off): three SoundFont
    instruments are too few timbres to generalise from; with it the log-mel
    distance on an unseen SoundFont fell from 7.9 to 6.9 dB at 400 steps.
    """

    spectrogram: SpectrogramConfig = SpectrogramConfig()
    min_pitch: int = 48
    max_pitch: int = 84
    z_dim: int = 32
    channels: tuple[int, ...] = (32, 64, 96, 128)
    pitch_embedding: int = 32
    condition_velocity: bool = True
    kl_weight: float = 0.05
    beta_rate: float = 0.999
    free_bits: float = 0.0
    input_noise: float = 0.0
    augment_db: float = 8.0


def named_configs() -> dict[str, InstrumentConfig]:
    """Timbre blenders: a small 80-band mel model for one CPU core (of two families, or of eight:
    ``timbre-8-small``), a linear-STFT one for GPUs."""
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
    # Eight families from three training SoundFonts (datasets/timbre-8.toml): 6,211 training notes
    # to flute-guitar's 888, so the same model, on the same pitches, trains for 4x the steps.
    eight = replace(small, data="timbre-8", train=replace(small.train, max_steps=12_000))
    return {
        "timbre-small": small,
        "timbre-8-small": eight,
        "timbre-small-ae": replace(small, model=replace(small.model, kl_weight=0.0)),
        "timbre-small-denoise": replace(small, model=replace(small.model, input_noise=0.1)),
        "timbre-large": large,
    }
