"""Training through Lightning, for every instrument kind.

Import lazily (it imports ``lightning``): commands that do not train must start fast.

- :mod:`.trainer`: :func:`train_model` (seeding, trainer factory, checkpoints,
  resume, DDP, thread choice); each kind brings its Lightning module
  (``musicvae/kinds/<kind>/training.py``);
- :mod:`.vae`: :class:`~musicvae.training.vae.VAEModule`, the base of those modules (the ELBO
  with free bits, the beta schedule, logging, the optimizer); a kind writes its reconstruction loss;
- :mod:`.optim`: the learning-rate schedule and the optimizer every module uses;
- :mod:`.instrument`: :func:`~musicvae.training.instrument.train_instrument`, an instrument
  folder end to end (what ``musicvae train`` runs).
"""

from musicvae.training.optim import learning_rate_at
from musicvae.training.trainer import MAX_VAL_WINDOWS, WindowDataset, choose_threads, train_model

__all__ = ["MAX_VAL_WINDOWS", "WindowDataset", "choose_threads", "learning_rate_at", "train_model"]
