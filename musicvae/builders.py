"""The one bridge from config dataclasses to model objects.

Models take plain keyword arguments and never import :mod:`musicvae.config`; each
kind translates its model config (:meth:`musicvae.kinds.base.Kind.model_kwargs`),
and this module finds the kind a config belongs to.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from musicvae.kinds import kind_of_config


def model_init_kwargs(config: Any) -> dict[str, Any]:
    """Constructor keyword arguments of the model a config describes.

    Parameters
    ----------
    config : a kind's model config, or an InstrumentConfig

    Returns
    -------
    dict
        Plain values (ints, floats, tuples, bools) for the model's constructor.

    Raises
    ------
    ConfigError
        For a config type no model is built from, or sizes that do not fit.
    """
    model = getattr(config, "model", config)
    return kind_of_config(model).model_kwargs(model)


def build_model(config: Any) -> nn.Module:
    """A freshly initialised model for ``config`` (a kind's model config or an InstrumentConfig).

    Raises
    ------
    ConfigError
        For a config type no model is built from, or an invalid combination of sizes.
    """
    model = getattr(config, "model", config)
    return kind_of_config(model).build_model(model)
