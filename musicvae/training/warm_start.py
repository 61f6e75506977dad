"""Start a model from another trained model's weights, tensor by tensor where names and shapes match.

Why: a CPU run is a few thousand steps. A hierarchical 16-bar melody model whose
conductor is as wide as the flat 2-bar model's latent has a bar decoder, an encoder
and a posterior of exactly the 2-bar model's shapes; starting those from the trained
2-bar instrument leaves the conductor (z -> one embedding per bar) as the only part
that learns from nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from musicvae.errors import InputError


@dataclass(frozen=True)
class WarmStart:
    """What :func:`warm_start` copied.

    Attributes
    ----------
    copied : tuple of str
        Tensors taken from the source (same name, same shape).
    reshaped : tuple of str
        Same name, another shape: left as initialised.
    fresh : tuple of str
        Not in the source: left as initialised.
    copied_values, total_values : int
        Numbers of values copied and in the model.
    """

    copied: tuple[str, ...]
    reshaped: tuple[str, ...]
    fresh: tuple[str, ...]
    copied_values: int
    total_values: int

    def summary(self) -> str:
        share = self.copied_values / max(1, self.total_values)
        return (f"{len(self.copied)} of {len(self.copied) + len(self.reshaped) + len(self.fresh)} tensors "
                f"({share:.0%} of the values); new: {', '.join(self.reshaped + self.fresh) or 'none'}")


def warm_start(model: nn.Module, source: Mapping[str, Tensor]) -> WarmStart:
    """Copy into ``model`` every tensor of ``source`` with the same name and shape.

    Parameters
    ----------
    model : nn.Module
        Changed in place; dtypes follow the model's.
    source : mapping of str to Tensor
        Another model's ``state_dict()``.

    Returns
    -------
    WarmStart

    Raises
    ------
    InputError
        Nothing matches (a model of another kind or layout).
    """
    target = model.state_dict()
    copied, reshaped, fresh = [], [], []
    copied_values = 0
    for name, tensor in target.items():
        if name not in source:
            fresh.append(name)
        elif tuple(source[name].shape) != tuple(tensor.shape):
            reshaped.append(name)
        else:
            copied.append(name)
            copied_values += tensor.numel()
    if not copied:
        raise InputError("no tensor of the starting weights matches this model's names and shapes")
    with torch.no_grad():
        for name in copied:
            target[name].copy_(source[name].to(target[name].dtype))
    return WarmStart(copied=tuple(copied), reshaped=tuple(reshaped), fresh=tuple(fresh),
                     copied_values=copied_values, total_values=sum(t.numel() for t in target.values()))
