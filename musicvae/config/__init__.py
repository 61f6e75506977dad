"""Frozen config dataclasses, the named registry, TOML loading and ``--set`` overrides.

Every config is an immutable dataclass. Named configs are derived from one
another with :func:`dataclasses.replace`, never copied and edited. Models never
import this module: :mod:`musicvae.builders` is the one bridge from a config to
model objects.

Each kind's model config classes live in its package (``musicvae/kinds/<kind>/config.py``).

An instrument's ``instrument.toml`` holds ``kind``, ``data`` (a recipe name or
path) and the ``[model]`` and ``[train]`` tables; it may name a registered
``config`` to start from, in which case the tables override that base.
"""

from musicvae.config.registry import get_config, registered_configs
from musicvae.config.schema import (
    InstrumentConfig,
    NoteRecipe,
    RecipeConfig,
    SourceConfig,
    SplitConfig,
    TrainConfig,
)
from musicvae.config.serialize import (
    apply_overrides,
    dump_toml,
    from_dict,
    instrument_config_from_dict,
    load_instrument_config,
    parse_override,
    to_dict,
)

__all__ = [
    "AccompanistConfig",
    "ChoraleRepresentation",
    "InstrumentConfig",
    "MelodyRepresentation",
    "NoteRecipe",
    "RecipeConfig",
    "SequenceVAEConfig",
    "SourceConfig",
    "SpectrogramConfig",
    "SpectrogramVAEConfig",
    "SplitConfig",
    "TrainConfig",
    "apply_overrides",
    "dump_toml",
    "from_dict",
    "get_config",
    "instrument_config_from_dict",
    "load_instrument_config",
    "parse_override",
    "registered_configs",
    "to_dict",
]

