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


@dataclass(frozen=True)
class SplitConfig:
    """Shares of held-out pieces; a piece's split is a stable hash of its id and ``salt``."""

    valid: float = 0.05
    test: float = 0.05
    salt: str = "musicvae"


@dataclass(frozen=True)
class RecipeConfig:
    """A dataset recipe: where the pieces come from, how they split, how melodies are cut."""

    name: str
    kind: str = "melody"
    sources: tuple[SourceConfig, ...] = ()
    split: SplitConfig = SplitConfig()
    steps_per_bar: int = 16
    gap_bars: int = 1

# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------

ModelConfig = Union[SequenceVAEConfig]

#: Which model config class each instrument kind uses.
MODEL_CONFIG_CLASSES: dict[str, type] = {"melody": SequenceVAEConfig}


@dataclass(frozen=True)
class InstrumentConfig:
    """Everything needed to build, train and rebuild one instrument."""

    kind: str
    model: ModelConfig
    data: str
    train: TrainConfig = TrainConfig()


def _registry() -> dict[str, InstrumentConfig]:
    small = InstrumentConfig(
        kind="melody",
        model=SequenceVAEConfig(
            z_dim=128,
            encoder_sizes=(256,),
            decoder_sizes=(256, 256),
            kl_weight=0.2,
            beta_rate=0.9995,
            free_bits=0.0,
        ),
        data="folk-melodies",
        train=TrainConfig(batch_size=128, max_steps=20_000, decay_rate=0.9997, sampling_rate=0.0, val_every=250),
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
    }


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
            raise ConfigError(f"instrument config needs {' and '.join(missing)} (or a registered 'config' to start from)")
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
