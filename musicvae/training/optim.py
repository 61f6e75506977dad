"""The optimizer every Lightning module trains with: Adam with MusicVAE's exponential learning-rate decay.

:meth:`musicvae.training.vae.VAEModule.configure_optimizers` returns it, so every
kind's module trains with it and a change to the schedule reaches them all.
"""

from __future__ import annotations

from typing import Any

import torch

from musicvae.config import TrainConfig


def learning_rate_at(step: int, *, lr: float, min_lr: float, decay: float) -> float:
    """MusicVAE's learning rate: ``(lr - min_lr) * decay**step + min_lr``."""
    return (lr - min_lr) * decay**step + min_lr


def decaying_adam(parameters, cfg: TrainConfig) -> dict[str, Any]:
    """Adam whose learning rate follows :func:`learning_rate_at` per step: a ``configure_optimizers`` result.

    Parameters
    ----------
    parameters : iterable of nn.Parameter
    cfg : TrainConfig
        Its ``learning_rate``, ``min_learning_rate`` and ``decay_rate``.

    Returns
    -------
    dict
        ``{"optimizer": ..., "lr_scheduler": {"scheduler": ..., "interval": "step"}}`` for Lightning.
    """
    optimizer = torch.optim.Adam(parameters, lr=cfg.learning_rate)

    def factor(step: int) -> float:  # LambdaLR multiplies the base lr by this
        lr = learning_rate_at(step, lr=cfg.learning_rate, min_lr=cfg.min_learning_rate, decay=cfg.decay_rate)
        return lr / cfg.learning_rate

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
