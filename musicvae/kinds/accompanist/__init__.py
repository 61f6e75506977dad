"""The accompanist kind: a mapper from a soprano to alto, tenor and bass (MiniBach's, or the chorale net).

- :mod:`.config`: the chorale representation, :class:`~.config.AccompanistConfig` and the named configs;
- :mod:`.data`: four-voice chorale windows from music21's Bach chorales, cached;
- :mod:`.training`: transposition, masks, frame accuracy and the Lightning module;
- :mod:`.evaluate`: agreement with Bach, voice leading and harmony against the baselines;
- :mod:`.harmony`: chords, spacing and cadences of four-voice grids, and how variations differ;
- :mod:`.gibbs`: block Gibbs sampling of the lower voices with a chorale net;
- :mod:`.figures`: the evaluation figure;
- :mod:`.verbs`: :class:`~.verbs.AccompanistVerbs` (the job verb, harmonize, is in :mod:`musicvae.harmonize`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvae.errors import ConfigError, DataError
from musicvae.kinds.accompanist.config import AccompanistConfig, named_configs
from musicvae.kinds.base import EvaluateOptions, Kind, TrainingData
from musicvae.midi import chorale as codec

#: The networks an accompanist config can name (``model.architecture``).
ARCHITECTURES = ("minibach", "chorale-net")


class AccompanistKind(Kind):
    name = "accompanist"
    model_config = AccompanistConfig
    recipe_kind = "chorale"
    export_formats = ("onnx", "torchscript")
    # Accuracy, not the ELBO, picks the checkpoint: the KL term rewards a mapper that ignores its input.
    monitor = ("val/frame_accuracy", "max")

    def named_configs(self) -> dict:
        return named_configs()

    def model_kwargs(self, model_config: AccompanistConfig) -> dict[str, Any]:
        rep = model_config.representation
        for voice in ("soprano", "alto", "tenor", "bass"):
            pair = getattr(rep, voice)
            if len(pair) != 2 or not pair[0] < pair[1]:
                raise ConfigError(f"model.representation.{voice} must be [low, high] with low < high, "
                                  f"got {list(pair)}")
        m = model_config
        classes = rep.num_classes
        if m.architecture not in ARCHITECTURES:
            raise ConfigError(f"model.architecture must be one of {', '.join(ARCHITECTURES)}, got {m.architecture!r}")
        if rep.steps < 1 or m.z_dim < 1:
            raise ConfigError("accompanist steps and z_dim must be at least 1")
        if not 0 <= m.dropout < 1:
            raise ConfigError("accompanist dropout must lie in [0, 1)")
        if not 0 <= m.memory < 1 or not 0 <= m.memory_twin < 1:
            raise ConfigError("accompanist memory and memory_twin must lie in [0, 1)")
        if not 0 < m.hold_scale <= 1:
            raise ConfigError(f"accompanist hold_scale must lie in (0, 1], got {m.hold_scale:g}")
        common = {"soprano_classes": classes[0], "voice_classes": classes[1:], "steps": rep.steps, "z_dim": m.z_dim,
                  "dropout": m.dropout,
                  # kl_weight 0 is a deterministic autoencoder: z is the posterior mean.
                  "variational": m.kl_weight > 0}
        if m.architecture == "chorale-net":
            if min(m.channels, m.layers, m.embed_size) < 1 or m.kernel_size < 1 or m.kernel_size % 2 == 0:
                raise ConfigError("chorale-net channels, layers and embed_size must be at least 1, kernel_size odd")
            if not 0 <= m.hide_all <= 1 or m.gibbs_steps < 0:
                raise ConfigError("chorale-net hide_all must lie in [0, 1] and gibbs_steps be 0 or more")
            if not 0 <= m.phrase_dropout <= 1:
                raise ConfigError("chorale-net phrase_dropout must lie in [0, 1]")
            return {**common, "steps_per_bar": rep.steps_per_bar, "channels": m.channels, "layers": m.layers,
                    "kernel_size": m.kernel_size, "embed_size": m.embed_size,
                    "phrase_classes": codec.PHRASE_CLASSES if rep.phrases else 0}
        if rep.phrases:
            raise ConfigError("model.representation.phrases needs model.architecture = 'chorale-net'")
        if m.hidden_size < 1 or m.depth < 1 or m.rank < 0:
            raise ConfigError("accompanist hidden_size and depth must be at least 1, rank at least 0")
        if not 0 <= m.input_dropout < 1:
            raise ConfigError("accompanist input_dropout must lie in [0, 1)")
        return {**common, "hidden_size": m.hidden_size, "depth": m.depth, "input_dropout": m.input_dropout,
                "rank": m.rank}

    def build_model(self, model_config: AccompanistConfig):
        """MiniBach's mapper or the chorale net, as ``model.architecture`` says."""
        kwargs = self.model_kwargs(model_config)
        if model_config.architecture == "chorale-net":
            from musicvae.models.chorale_net import ChoraleNet

            return ChoraleNet(**kwargs)
        return self.model_class()(**kwargs)

    def describe(self, config) -> str:
        m = config.model
        size = (f"{m.layers}x{m.channels} conv" if m.architecture == "chorale-net" else
                f"{m.depth}x{m.hidden_size} dense")
        return f"data={config.data} {m.architecture} {size} z={m.z_dim} kl_weight={m.kl_weight}"

    def add_commands(self, sub) -> None:
        from musicvae.kinds.accompanist.commands import add_commands

        add_commands(sub)

    def model_class(self) -> type:
        from musicvae.models.accompanist import Accompanist

        return Accompanist

    # -- data ----------------------------------------------------------------------

    def load_recipe(self, name_or_path):
        from musicvae.data.recipes import load_recipe

        return load_recipe(name_or_path)

    def build_data(self, recipe, *, workers: int | None, force: bool, progress: bool) -> str:
        from musicvae.kinds.accompanist.data import build_chorale_dataset, format_report

        return format_report(build_chorale_dataset(recipe, workers=workers, force=force, progress=progress))

    def training_data(self, config, *, progress: bool, log: Callable[[str], None]) -> TrainingData:
        import numpy as np
        import torch

        from musicvae.kinds.accompanist.data import training_windows

        recipe = self.load_recipe(config.data)
        rep = config.model.representation
        # Cut over the representation's ranges: the model's vocabulary, harmonize and evaluate use them.
        train, valid, report = training_windows(recipe, rep, progress=progress)
        if len(train) == 0:
            raise DataError(f"dataset {recipe.name!r} has no {rep.bars}-bar training windows")
        def extras_of(model) -> dict:
            # The chorale memory: the training windows themselves (uint8, about 0.7 MB for Bach's).
            # Its four voices only: a fifth row (phrase tokens) is no part of a remembered harmonisation.
            return {"memory": torch.as_tensor(np.asarray(train[:, :4], np.uint8))} if config.model.memory > 0 else {}

        return TrainingData(train, valid, counts={"train windows": len(train), "valid windows": len(valid)},
                            summary=f"{len(train)} train / {len(valid)} valid windows of {rep.bars} bars",
                            report=report, extras_of=extras_of)

    # -- training ------------------------------------------------------------------

    def check_training_data(self, data, what: str, *, config):
        from musicvae.kinds.accompanist.training import check_chorale_windows

        return check_chorale_windows(data, what, representation=config.model.representation)

    def lightning_module(self, config):
        from musicvae.kinds.accompanist.training import AccompanistModule

        return AccompanistModule(config)

    # -- playing and evaluation ----------------------------------------------------

    def verbs(self, instrument):
        from musicvae.kinds.accompanist.verbs import AccompanistVerbs

        return AccompanistVerbs(instrument)

    def export_module(self, instrument, fmt: str, *, sample_rate: int | None = None):
        from musicvae.export.graphs.accompanist import exportable

        return exportable(instrument, fmt, sample_rate=sample_rate)

    def evaluate(self, instrument, options: EvaluateOptions) -> dict:
        from musicvae.kinds.accompanist.evaluate import evaluate_instrument

        return evaluate_instrument(instrument, data=options.data, split=options.split,
                                   max_chorales=options.max_items, progress=options.progress)

    def format_report(self, report: dict) -> str:
        from musicvae.kinds.accompanist.evaluate import format_report

        return format_report(report)

    def figure(self, report: dict, path: str | Path) -> Path:
        from musicvae.kinds.accompanist.figures import evaluation_figure

        return evaluation_figure(report, path)


KIND = AccompanistKind()
