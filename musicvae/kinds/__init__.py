"""The instrument kinds: one package each, found here by name.

- :mod:`.melody`: MusicVAE's sequence VAE over melody events (morph, sample);
- :mod:`.timbre`: the convolutional spectrogram VAE over single notes (blend, synth);
- :mod:`.accompanist`: the MiniBach mapper from a soprano to alto, tenor and bass (harmonize).

Each package exposes ``KIND``, a :class:`~musicvae.kinds.base.Kind`. The core asks
this module for the kind of an instrument (``kind`` in its TOML), of a model config
(its class) or of a recipe (``kind`` in the recipe file) and never branches on a
kind's name itself. :func:`registered` adds a kind for the length of a ``with``
block (tests, notebooks); a package that ships one more kind adds it to
:data:`BUILTIN_KINDS`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from musicvae.errors import ConfigError
from musicvae.kinds.base import EvaluateOptions, Kind, TrainingData, Verbs

#: The packages of the kinds that ship, in the order ``musicvae configs`` lists them.
BUILTIN_KINDS = ("musicvae.kinds.melody", "musicvae.kinds.accompanist", "musicvae.kinds.timbre")

# Kinds added with ``registered`` (a stack, so nested blocks unwind in order).
_added: list[Kind] = []

__all__ = ["EvaluateOptions", "Kind", "TrainingData", "Verbs", "all_kinds", "get_kind", "kind_of_config",
           "kind_of_recipe", "registered"]


def all_kinds() -> dict[str, Kind]:
    """Every kind by name: the built-in ones, then those added with :func:`registered`."""
    kinds = {}
    for module in BUILTIN_KINDS:
        kind = importlib.import_module(module).KIND
        kinds[kind.name] = kind
    for kind in _added:
        kinds[kind.name] = kind
    return kinds


def get_kind(name: str) -> Kind:
    """The kind called ``name``.

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the known ones.
    """
    kinds = all_kinds()
    if not isinstance(name, str) or name not in kinds:
        raise ConfigError(f"unknown instrument kind {name!r}; choose one of: {', '.join(kinds)}")
    return kinds[name]


def kind_of_config(model_config: Any) -> Kind:
    """The kind whose model config class ``model_config`` is an instance of (an InstrumentConfig: its model's).

    Raises
    ------
    ConfigError
        For a config no kind builds a model from.
    """
    model_config = getattr(model_config, "model", model_config)
    for kind in all_kinds().values():
        if isinstance(model_config, kind.model_config):
            return kind
    raise ConfigError(f"no model is built from a {type(model_config).__name__}")


def kind_of_recipe(recipe_kind: str) -> Kind:
    """The kind that trains on recipes declaring ``kind = recipe_kind``.

    Raises
    ------
    ConfigError
        For a recipe kind no instrument kind reads; the message lists those that are read.
    """
    kinds = list(all_kinds().values())
    for kind in kinds:
        if kind.recipe_kind == recipe_kind:
            return kind
    known = ", ".join(k.recipe_kind for k in kinds)
    raise ConfigError(f"unknown recipe kind {recipe_kind!r}; choose one of: {known}")


@contextlib.contextmanager
def registered(kind: Kind) -> Iterator[Kind]:
    """Add ``kind`` to the registry inside a ``with`` block.

    Raises
    ------
    ConfigError
        If a kind of that name is registered already.
    """
    if kind.name in all_kinds():
        raise ConfigError(f"an instrument kind named {kind.name!r} is registered already")
    _added.append(kind)
    try:
        yield kind
    finally:
        _added.remove(kind)
