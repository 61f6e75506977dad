"""The named configs: each kind's, gathered from :mod:`musicvae.kinds`.

Within a kind each is derived from another with :func:`dataclasses.replace`, never copied and edited
(see ``musicvae/kinds/<kind>/config.py``).
"""

from __future__ import annotations

from musicvae.config.schema import InstrumentConfig
from musicvae.errors import ConfigError


def registered_configs() -> dict[str, InstrumentConfig]:
    """The named configs of every kind, freshly built (a new dict each call; the configs are frozen)."""
    from musicvae.kinds import all_kinds  # the kinds import this package's schema

    configs: dict[str, InstrumentConfig] = {}
    for kind in all_kinds().values():
        configs |= kind.named_configs()
    return configs


def get_config(name: str) -> InstrumentConfig:
    """Return the registered config called ``name``.

    Raises
    ------
    ConfigError
        If no config has that name; the message lists the valid names.
    """
    configs = registered_configs()
    if name not in configs:
        raise ConfigError(f"unknown config {name!r}; choose one of: {', '.join(sorted(configs))}")
    return configs[name]
