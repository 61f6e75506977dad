"""Configs to and from dicts and TOML (``instrument.toml``), type-checked, and ``--set key.path=value``."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any, Union

from musicvae.config.registry import get_config
from musicvae.config.schema import InstrumentConfig
from musicvae.errors import ConfigError


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
    from musicvae.kinds import get_kind  # the kinds import their config classes from this package

    model_config = get_kind(kind).model_config
    if base is None:
        missing = [k for k in ("model", "data") if k not in data]
        if missing:
            needed = " and ".join(missing)
            raise ConfigError(f"instrument config needs {needed} (or a registered 'config' to start from)")
        base = InstrumentConfig(kind=kind, model=model_config(), data=str(data["data"]))
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
