"""The config dataclasses: one frozen dataclass per model, training run and dataset recipe.

Each carries its data representation (steps, pitch range, spectrogram setting),
so an instrument's config alone rebuilds its model and its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# ---------------------------------------------------------------------------
# Melody (sequence VAE)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MelodyRepresentation:
    """MusicVAE's melody events: 0 = no event, 1 = note off, 2.. = pitches.

    Attributes
    ----------
    steps_per_bar : int
        Grid steps per 4/4 bar (16 = sixteenth notes).
    bars : int
        Window length in bars (2 for flat models, 16 for the hierarchical one).
    min_pitch, max_pitch : int
        Inclusive MIDI pitch range of the event vocabulary (21..108 = 88 keys).
    """

    steps_per_bar: int = 16
    bars: int = 2
    min_pitch: int = 21
    max_pitch: int = 108

    @property
    def num_classes(self) -> int:
        return self.max_pitch - self.min_pitch + 1 + 2

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar


@dataclass(frozen=True)
class SequenceVAEConfig:
    """Sequence VAE over melody events (MusicVAE).

    ``conductor_sizes`` empty means a flat decoder; non-empty means a
    hierarchical decoder whose conductor emits one embedding per bar.
    ``kl_weight`` is the maximum beta; 0 turns the model into a plain
    autoencoder (z is the posterior mean, no KL). ``input_dropout`` > 0 replaces
    that share of encoder input tokens with "no event" while training, making
    it a denoising autoencoder.
    """

    representation: MelodyRepresentation = MelodyRepresentation()
    z_dim: int = 256
    encoder_sizes: tuple[int, ...] = (512,)
    decoder_sizes: tuple[int, ...] = (256, 256)
    conductor_sizes: tuple[int, ...] = ()
    kl_weight: float = 0.2
    beta_rate: float = 0.99999
    free_bits: float = 0.0
    input_dropout: float = 0.0


# ---------------------------------------------------------------------------
# Chorale accompanist (MiniBach mapper)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoraleRepresentation:
    """Four voices on a sixteenth grid, one token per voice per step: hold, rest, or a pitch of its range.

    Attributes
    ----------
    steps_per_bar : int
        Grid steps per 4/4 bar (16 = sixteenth notes).
    bars : int
        Window length in bars (MiniBach: 4, i.e. 64 steps).
    soprano, alto, tenor, bass : tuple of two ints
        Inclusive MIDI pitch range of each voice (Bach's written ranges by default).
    """

    steps_per_bar: int = 16
    bars: int = 4
    soprano: tuple[int, ...] = (57, 81)
    alto: tuple[int, ...] = (53, 74)
    tenor: tuple[int, ...] = (48, 69)
    bass: tuple[int, ...] = (36, 64)

    @property
    def steps(self) -> int:
        return self.bars * self.steps_per_bar

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """``((low, high), ...)`` for soprano, alto, tenor, bass."""
        return tuple((int(r[0]), int(r[-1])) for r in (self.soprano, self.alto, self.tenor, self.bass))

    @property
    def num_classes(self) -> tuple[int, ...]:
        """Tokens per voice: hold, rest and one per pitch of its range."""
        return tuple(high - low + 3 for low, high in self.ranges)


@dataclass(frozen=True)
class AccompanistConfig:
    """MiniBach mapper (soprano -> alto, tenor, bass) through a variational bottleneck.

    ``depth`` hidden layers of ``hidden_size`` units on each side of a
    ``z_dim`` Gaussian bottleneck. ``kl_weight`` is the maximum beta; 0 makes it
    the deterministic MiniBach (z is the posterior mean, no KL). ``input_dropout``
    > 0 replaces that share of soprano steps with "hold" while training
    (a denoising autoencoder). ``rank`` > 0 factorises the one-hot input and
    output layers through that width (0 = MiniBach's dense layers).
    """

    representation: ChoraleRepresentation = ChoraleRepresentation()
    hidden_size: int = 256
    depth: int = 1
    z_dim: int = 32
    dropout: float = 0.3
    kl_weight: float = 0.1
    beta_rate: float = 0.999
    free_bits: float = 0.0
    input_dropout: float = 0.0
    rank: int = 0


# ---------------------------------------------------------------------------
# Timbre (convolutional spectrogram VAE)
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every model kind.

    The learning rate follows MusicVAE: ``(lr - min_lr) * decay_rate**step + min_lr``.
    ``sampling_rate`` is k of the inverse-sigmoid scheduled-sampling schedule;
    0 means plain teacher forcing.
    """

    batch_size: int = 512
    max_steps: int = 200_000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.9999
    grad_clip: float = 1.0
    sampling_rate: float = 1000.0
    transpose: int = 5
    val_every: int = 500
    seed: int = 0



# ---------------------------------------------------------------------------
# Dataset recipes (datasets/<name>.toml)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """One source of a recipe.

    ``type`` is ``"music21-corpus"`` (``collections`` names music21 corpus
    folders, e.g. ``essenFolksong``) or ``"midi-folder"`` (``path`` is a folder
    searched recursively for .mid/.midi files; relative paths are taken from
    the recipe file's folder).
    """

    type: str
    collections: tuple[str, ...] = ()
    path: str = ""
    max_files: int = 0  # 0 = all; a cap for quick trials and tests
    # Timbre recipes (kind "timbre"): type "soundfont" renders ``programs`` from
    # ``soundfont`` (a name such as FluidR3_GM or TimGM6mb, or a .sf2 path);
    # "nsynth" reads an NSynth folder keeping ``families``; "audio-folder"
    # reads WAV/FLAC files labelled by their folder's name. ``split`` sends a
    # whole source to one split ("train", "valid", "test"); "" splits by hash.
    soundfont: str = ""
    programs: tuple[int, ...] = ()
    families: tuple[str, ...] = ()
    split: str = ""


@dataclass(frozen=True)
class SplitConfig:
    """Shares of held-out pieces; a piece's split is a stable hash of its id and ``salt``."""

    valid: float = 0.05
    test: float = 0.05
    salt: str = "musicvae"


@dataclass(frozen=True)
class NoteRecipe:
    """Single notes of a timbre recipe: which, how long, at what rate.

    ``families`` are the class labels in order (NSynth's family names; GM
    programs map to them, e.g. 73 -> flute, 24 and 25 -> guitar).
    Notes of a ``split = "train"`` source whose velocity is in
    ``valid_velocities`` go to the validation split instead: every pitch stays
    in training (the pitch embedding needs them all), one loudness is held out.
    """

    families: tuple[str, ...] = ("flute", "guitar")
    sample_rate: int = 16_000
    seconds: float = 1.0
    hold_seconds: float = 0.75
    min_pitch: int = 48
    max_pitch: int = 84
    velocities: tuple[int, ...] = (100,)
    valid_velocities: tuple[int, ...] = ()
    silence_db: float = -60.0


@dataclass(frozen=True)
class RecipeConfig:
    """A dataset recipe: where the pieces come from, how they split, how melodies are cut."""

    name: str
    kind: str = "melody"
    sources: tuple[SourceConfig, ...] = ()
    split: SplitConfig = SplitConfig()
    steps_per_bar: int = 16
    gap_bars: int = 1
    notes: NoteRecipe = NoteRecipe()  # kind "timbre" only

# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------

ModelConfig = Union[SequenceVAEConfig, AccompanistConfig, SpectrogramVAEConfig]

#: Which model config class each instrument kind uses.
MODEL_CONFIG_CLASSES: dict[str, type] = {"melody": SequenceVAEConfig, "accompanist": AccompanistConfig}
MODEL_CONFIG_CLASSES["timbre"] = SpectrogramVAEConfig


@dataclass(frozen=True)
class InstrumentConfig:
    """Everything needed to build, train and rebuild one instrument."""

    kind: str
    model: ModelConfig
    data: str
    train: TrainConfig = TrainConfig()
