"""Frozen config dataclasses, the named registry, TOML loading and ``--set`` overrides.

Every config is an immutable dataclass. Named configs are derived from one
another with :func:`dataclasses.replace`, never copied and edited. Models never
import this module: :mod:`musicvae.builders` is the one bridge from a config to
model objects.

An instrument's ``instrument.toml`` holds ``kind``, ``data`` (a recipe name or
path) and the ``[model]`` and ``[train]`` tables; it may name a registered
``config`` to start from, in which case the tables override that base.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

from musicvae.errors import ConfigError

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


# ---------------------------------------------------------------------------
# dict <-> dataclass, with validation
# ---------------------------------------------------------------------------


def to_dict(config: Any) -> dict[str, Any]:
    """A TOML-ready nested dict of a config dataclass (tuples become lists)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value

    return convert(config)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists to tuples, ints to floats)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_type, *_rest) = typing.get_args(tp)
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return from_dict(tp, value, where=where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")


def from_dict(cls: type, data: dict[str, Any], *, where: str = "", base: Any = None) -> Any:
    """Build dataclass ``cls`` from ``data``, checking every key and type.

    Parameters
    ----------
    cls : type
        The dataclass to build.
    data : dict
        Values by field name; nested dataclasses take nested dicts.
    where : str, keyword-only
        Dotted prefix for error messages.
    base : cls instance, optional, keyword-only
        Defaults for fields missing from ``data`` (else the class defaults).

    Raises
    ------
    ConfigError
        On an unknown key (the message lists the valid ones) or a value of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key {key!r}; valid keys here: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        current = getattr(base, name) if base is not None else None
        if isinstance(value, dict) and dataclasses.is_dataclass(current):
            values[name] = from_dict(type(current), value, where=path, base=current)
        else:
            values[name] = _coerce(value, hints[name], path)
    try:
        return replace(base, **values) if base is not None else cls(**values)
    except TypeError as error:
        raise ConfigError(f"{where or cls.__name__}: {error}") from None


def instrument_config_from_dict(data: dict[str, Any]) -> InstrumentConfig:
    """Build an :class:`InstrumentConfig` from a parsed ``instrument.toml``.

    A ``config`` key names a registered base; the other tables override it.
    """
    data = dict(data)
    base_name = data.pop("config", None)
    base = get_config(base_name) if base_name is not None else None
    kind = data.get("kind", base.kind if base else None)
    if kind not in MODEL_CONFIG_CLASSES:
        raise ConfigError(f"unknown instrument kind {kind!r}; choose one of: {', '.join(MODEL_CONFIG_CLASSES)}")
    if base is None:
        missing = [k for k in ("model", "data") if k not in data]
        if missing:
            needed = " and ".join(missing)
            raise ConfigError(f"instrument config needs {needed} (or a registered 'config' to start from)")
        base = InstrumentConfig(kind=kind, model=MODEL_CONFIG_CLASSES[kind](), data=str(data["data"]))
    elif kind != base.kind:
        raise ConfigError(f"config {base_name!r} is of kind {base.kind!r}, not {kind!r}")
    return from_dict(InstrumentConfig, data, base=base)


def load_instrument_config(path: str | Path) -> InstrumentConfig:
    """Read an ``instrument.toml`` file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return instrument_config_from_dict(data)


def dump_toml(config: Any) -> str:
    """Serialise a config dataclass as TOML text."""
    import tomli_w

    return tomli_w.dumps(to_dict(config))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b=value"`` into its key path and a TOML-parsed value (bare words stay strings)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    keys = [k.strip() for k in key.strip().split(".") if k.strip()]
    if not keys:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return keys, value


def apply_overrides(config: Any, overrides: list[str] | tuple[str, ...]) -> Any:
    """Return ``config`` with ``--set key.path=value`` overrides applied, type-checked.

    Examples
    --------
    >>> cfg = apply_overrides(get_config("2bar-small"), ["model.z_dim=64", "train.batch_size=32"])
    >>> cfg.model.z_dim, cfg.train.batch_size
    (64, 32)
    """
    for text in overrides:
        keys, value = parse_override(text)
        nested: dict[str, Any] = {keys[-1]: value}
        for key in reversed(keys[:-1]):
            nested = {key: nested}
        config = from_dict(type(config), nested, base=config)
    return config
