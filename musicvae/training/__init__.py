"""Training through Lightning, for every instrument kind.

Import lazily (it imports ``lightning``): commands that do not train must start fast.

- :mod:`.trainer`: :func:`train_model` (seeding, trainer factory, checkpoints,
  resume, DDP, thread choice), the sampling schedule, and the melody module;
- :mod:`.optim`: the learning-rate schedule and the optimizer every module uses;
- :mod:`.chorale`: the accompanist's Lightning module and metrics;
- :mod:`.timbre`: the spectrogram VAE's module, data set and family latents;
- :mod:`.instrument`: :func:`~musicvae.training.instrument.train_instrument`, an instrument
  folder end to end (what ``musicvae train`` runs).
"""

from musicvae.training.optim import learning_rate_at
from musicvae.training.trainer import (
    MAX_VAL_WINDOWS,
    SequenceVAEModule,
    WindowDataset,
    choose_threads,
    sampling_probability,
    train_model,
    transpose_events,
)

__all__ = [
    "MAX_VAL_WINDOWS",
    "SequenceVAEModule",
    "WindowDataset",
    "choose_threads",
    "learning_rate_at",
    "sampling_probability",
    "train_model",
    "transpose_events",
]
