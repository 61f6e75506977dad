"""The Lightning module every kind trains with: a VAE's objective, beta schedule, logging and optimizer.

A kind's module subclasses :class:`VAEModule`, names the model config it trains
and the metrics it logs, and writes the one hook that differs from kind to kind,
:meth:`VAEModule.reconstruction` (and, where it augments, :meth:`VAEModule.prepare_batch`).
The base owns the rest, so that it means the same for every kind:

``loss = recon + beta * mean_b(max(KL_b - free_bits * ln 2, 0))``, ``KL_b`` the KL of
item b's posterior to N(0, I) in nats (:func:`~musicvae.models.latent.free_bits_kl`),
``beta = (1 - beta_rate**step) * kl_weight`` while training
(:func:`~musicvae.models.latent.beta_schedule`) and the final ``kl_weight`` in
validation, so that ``val/loss`` is comparable across a run and can pick the best
checkpoint. Validation draws its posterior samples from a generator seeded by the
batch index, so the validation ELBO is the same from one validation run to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import lightning
import torch
from torch import Tensor, nn

from musicvae.builders import build_model
from musicvae.config import InstrumentConfig, to_dict
from musicvae.errors import ConfigError
from musicvae.models.latent import beta_schedule, free_bits_kl, kl_divergence
from musicvae.training.optim import decaying_adam


@dataclass
class Reconstruction:
    """What a kind's :meth:`VAEModule.reconstruction` returns for one batch.

    Attributes
    ----------
    outputs : dict
        The model's outputs; ``mu`` and ``sigma`` (Tensor [B, Z]) are the posterior the KL is taken of.
    loss : Tensor []
        The reconstruction loss: per item summed over its steps (voices, bins...), averaged over the batch.
    metrics : dict[str, Tensor or float]
        The kind's other quantities (``accuracy``, ``lsd_db``, ``sample_prob``...), logged under the
        names the module lists in ``train_metrics`` and ``val_metrics``.
    """

    outputs: dict[str, Any]
    loss: Tensor
    metrics: dict[str, Tensor | float] = field(default_factory=dict)


class VAEModule(lightning.LightningModule):
    """Trains one kind's VAE: the ELBO with free bits and a beta schedule, logging, Adam with decay.

    Subclasses set the class attributes and implement :meth:`reconstruction`.
    Every kind logs ``train/loss``, ``train/kl`` (mean KL in nats, before free
    bits), ``train/beta``, ``lr``, ``val/loss``, ``val/recon`` and ``val/kl``,
    plus ``train/<name>`` for each name in ``train_metrics`` (``recon`` is the
    reconstruction loss) and ``val/<name>`` for each in ``val_metrics``. Logged
    values are per step while training and batch-size-weighted means over the
    validation set, reduced across DDP ranks.

    Parameters
    ----------
    config : InstrumentConfig
        Its ``model`` must be a ``config_class``; ``model.kl_weight``, ``model.beta_rate``
        and ``model.free_bits`` set the KL term, ``train`` the optimizer.
    model : nn.Module, optional
        The model to train; built from ``config`` when omitted. Kept as ``self.model``,
        so checkpoints hold its weights under ``model.*``.

    Attributes
    ----------
    config_class : type
        The model config class this module trains.
    trains : str
        What it trains, for the error on a config of another kind ("melody models").
    train_metrics, val_metrics : tuple of str
        The keys of :attr:`Reconstruction.metrics` (or ``recon``) logged while training, in validation.
    progress_metrics : frozenset of str
        Those of them also shown on the progress bar.
    """

    config_class: ClassVar[type]
    trains: ClassVar[str]
    train_metrics: ClassVar[tuple[str, ...]] = ("recon",)
    val_metrics: ClassVar[tuple[str, ...]] = ()
    progress_metrics: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: InstrumentConfig, model: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(config.model, self.config_class):
            raise ConfigError(f"{type(self).__name__} trains {self.trains}, not {type(config.model).__name__}")
        self.config = config
        self.model = model if model is not None else build_model(config.model)
        # Plain dicts only, so that checkpoints load with ``weights_only=True``.
        self.save_hyperparameters({"config": to_dict(config)})

    # -- the kind's hooks -------------------------------------------------------------

    def prepare_batch(self, batch: Any, *, training: bool) -> Any:
        """The loader's batch as :meth:`reconstruction` takes it; augmented when ``training``.

        Runs before the model, so random augmentation draws from the global RNG
        ahead of the model's own draws. The default returns ``batch`` unchanged.
        """
        return batch

    def reconstruction(self, batch: Any, *, generator: torch.Generator | None, sample_z: bool,
                       training: bool) -> Reconstruction:
        """Run the model on a prepared batch and score its reconstruction.

        Parameters
        ----------
        batch
            What :meth:`prepare_batch` returned.
        generator : torch.Generator or None
            For every random draw of the forward pass (None while training: the global RNG).
        sample_z : bool
            Decode a posterior sample (else the posterior mean); :meth:`samples_z`'s answer.
        training : bool
            A training step (True) or validation.

        Returns
        -------
        Reconstruction
        """
        raise NotImplementedError

    def samples_z(self, *, training: bool) -> bool:
        """Whether the forward pass decodes a posterior sample; by default always (the ELBO's sample).

        A model without a posterior (an autoencoder) decodes its mean whatever this says.
        """
        return True

    # -- the objective ----------------------------------------------------------------

    def beta(self) -> float:
        """This step's KL weight: ``(1 - beta_rate**step) * kl_weight``."""
        model_cfg = self.config.model
        return beta_schedule(self.global_step, max_beta=model_cfg.kl_weight, rate=model_cfg.beta_rate)

    def elbo(self, batch: Any, *, beta: float, generator: torch.Generator | None,
             training: bool) -> tuple[Tensor, dict[str, Tensor | float]]:
        """``(loss, parts)`` of a prepared batch: ``loss = recon + beta * kl_cost`` (see the module docstring).

        ``parts`` holds ``recon``, ``kl`` (mean KL before free bits), ``kl_cost`` and the kind's metrics.
        """
        rec = self.reconstruction(batch, generator=generator, sample_z=self.samples_z(training=training),
                                  training=training)
        kl = kl_divergence(rec.outputs["mu"].float(), rec.outputs["sigma"].float())  # [B]
        kl_cost = free_bits_kl(kl, self.config.model.free_bits).mean()
        # beta * kl_cost stays in the graph even at beta = 0, so DDP sees every parameter used.
        loss = rec.loss + beta * kl_cost
        return loss, {**rec.metrics, "recon": rec.loss, "kl": kl.mean(), "kl_cost": kl_cost}

    # -- Lightning ----------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        batch = self.prepare_batch(batch, training=True)
        beta = self.beta()
        loss, parts = self.elbo(batch, beta=beta, generator=None, training=True)
        size = len(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/kl", parts["kl"], prog_bar=True, batch_size=size)
        for name in self.train_metrics:
            self.log(f"train/{name}", parts[name], prog_bar=name in self.progress_metrics, batch_size=size)
        self.log("train/beta", beta, batch_size=size)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=size)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        batch = self.prepare_batch(batch, training=False)
        # A fixed generator per batch makes the posterior samples, hence the
        # validation ELBO, identical from one validation run to the next.
        generator = torch.Generator(device=self.device).manual_seed(batch_idx)
        loss, parts = self.elbo(batch, beta=self.config.model.kl_weight, generator=generator, training=False)
        size = len(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=size)
        self.log("val/recon", parts["recon"], sync_dist=True, batch_size=size)
        self.log("val/kl", parts["kl"], sync_dist=True, batch_size=size)
        for name in self.val_metrics:
            self.log(f"val/{name}", parts[name], prog_bar=name in self.progress_metrics, sync_dist=True,
                     batch_size=size)

    def configure_optimizers(self) -> dict[str, Any]:
        return decaying_adam(self.parameters(), self.config.train)
