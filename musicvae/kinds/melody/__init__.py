"""The melody kind: MusicVAE's sequence VAE over melody events.

- :mod:`.config`: the representation, :class:`~.config.SequenceVAEConfig` and the named configs;
- :mod:`.sources`: a melody recipe's sources, its pieces (ABC tunes, MIDI files) and their notes;
- :mod:`.data`: melody windows from a recipe's tunes or MIDI files, cached;
- :mod:`.training`: MusicVAE's schedules and the Lightning module;
- :mod:`.features`, :mod:`.metrics`, :mod:`.evaluate`: the evaluation and its report;
- :mod:`.figures`: the evaluation figure;
- :mod:`.verbs`: :class:`~.verbs.MelodyVerbs` (the job verb, morph, is in :mod:`musicvae.generate`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvae.errors import ConfigError, DataError, InputError
from musicvae.kinds.base import EvaluateOptions, Kind, TrainingData
from musicvae.kinds.melody.config import SequenceVAEConfig, named_configs


class MelodyKind(Kind):
    name = "melody"
    model_config = SequenceVAEConfig
    recipe_kind = "melody"
    export_formats = ("onnx", "torchscript")

    def named_configs(self) -> dict:
        return named_configs()

    def model_kwargs(self, model_config: SequenceVAEConfig) -> dict[str, Any]:
        from musicvae.errors import InputError
        from musicvae.midi.meter import meter_name

        rep = model_config.representation
        if rep.steps_per_bar < 1 or rep.bars < 1 or not 0 <= rep.min_pitch <= rep.max_pitch <= 127:
            raise ConfigError("melody representation needs steps_per_bar and bars >= 1 and a MIDI pitch range")
        try:
            quarter = rep.steps_per_quarter
        except InputError as error:
            raise ConfigError(f"melody representation: {error}") from None
        if quarter != int(quarter):
            # Bars of one meter on a grid of whole steps per quarter: 3/4 of sixteenths is 12 steps, not 16.
            raise ConfigError(f"melody representation: a {meter_name(rep.meter)} bar of {rep.steps_per_bar} steps "
                              f"is not a whole number of steps per quarter note (3/4 and 6/8 on the sixteenth "
                              "grid are 12 steps a bar)")
        return {
            "num_classes": rep.num_classes,
            "steps": rep.steps,
            "steps_per_bar": rep.steps_per_bar,
            "z_dim": model_config.z_dim,
            "encoder_sizes": tuple(model_config.encoder_sizes),
            "decoder_sizes": tuple(model_config.decoder_sizes),
            "conductor_sizes": tuple(model_config.conductor_sizes),
            # kl_weight 0 means a plain autoencoder: z is the posterior mean.
            "variational": model_config.kl_weight > 0,
            "input_dropout": model_config.input_dropout,
        }

    def add_commands(self, sub) -> None:
        from musicvae.kinds.melody.commands import add_commands

        add_commands(sub)

    def model_class(self) -> type:
        from musicvae.models.sequence_vae import SequenceVAE

        return SequenceVAE

    # -- data ----------------------------------------------------------------------

    def load_recipe(self, name_or_path):
        from musicvae.kinds.melody.sources import load_melody_recipe

        return load_melody_recipe(name_or_path)

    def recipe_for(self, name_or_path, representation):
        """The recipe a model of ``representation`` trains and is measured on: its meter's tunes only."""
        from musicvae.kinds.melody.sources import recipe_for_meter

        return recipe_for_meter(self.load_recipe(name_or_path), representation.meter)

    def build_data(self, recipe, *, workers: int | None, force: bool, progress: bool) -> str:
        from musicvae.kinds.melody.data import build_melody_dataset, format_report

        return format_report(build_melody_dataset(recipe, workers=workers, force=force, progress=progress))

    def training_data(self, config, *, progress: bool, log: Callable[[str], None]) -> TrainingData:
        from musicvae.kinds.melody.data import load_melody_windows

        rep = config.model.representation
        recipe = self.recipe_for(config.data, rep)

        def windows(split: str):
            return load_melody_windows(recipe, split=split, bars=rep.bars, steps_per_bar=rep.steps_per_bar)

        report = ""
        try:
            train = windows("train")
        except DataError:
            # Users train on their own MIDI folder without a separate conversion step.
            log(f"building dataset {recipe.name!r} first")
            report = self.build_data(recipe, workers=None, force=False, progress=progress)
            log(report)
            train = windows("train")
        valid = windows("valid")
        if len(train) == 0:
            raise DataError(f"dataset {recipe.name!r} has no {rep.bars}-bar training windows")
        return TrainingData(train, valid, counts={"train windows": len(train), "valid windows": len(valid)},
                            summary=f"{len(train)} train / {len(valid)} valid windows of {rep.bars} bars",
                            report=report)

    # -- training ------------------------------------------------------------------

    def check_training_data(self, data, what: str, *, config):
        from musicvae.kinds.melody.training import check_melody_windows

        rep = config.model.representation
        return check_melody_windows(data, what, steps=rep.steps, num_classes=rep.num_classes)

    def lightning_module(self, config):
        from musicvae.kinds.melody.training import SequenceVAEModule

        return SequenceVAEModule(config)

    # -- playing and evaluation ----------------------------------------------------

    def verbs(self, instrument):
        from musicvae.kinds.melody.verbs import MelodyVerbs

        return MelodyVerbs(instrument)

    def export_module(self, instrument, fmt: str, *, sample_rate: int | None = None):
        from musicvae.export.graphs.melody import exportable

        return exportable(instrument, fmt, sample_rate=sample_rate)

    def evaluate(self, instrument, options: EvaluateOptions) -> dict:
        from musicvae.kinds.melody.data import load_melody_windows
        from musicvae.kinds.melody.evaluate import evaluate_melody, stitched_baseline

        rep = instrument.config.model.representation
        flat = self._baseline_instrument(instrument, options)  # before the minutes of evaluation: a bad name fails now
        recipe = self.recipe_for(options.data or instrument.config.data, rep)
        test = load_melody_windows(recipe, split=options.split, bars=rep.bars, steps_per_bar=rep.steps_per_bar)
        train = load_melody_windows(recipe, split="train", bars=rep.bars, steps_per_bar=rep.steps_per_bar)
        if options.max_items and len(test) > options.max_items:
            test = test[:: max(1, len(test) // options.max_items)][: options.max_items]
        report = evaluate_melody(instrument.model, test_windows=test, train_windows=train, n_prior=options.n_prior,
                                 seed=options.seed, progress=options.progress)
        control = self._attribute_control(instrument, test, seed=options.seed)
        stitched = {} if flat is None else {"stitched_baseline": stitched_baseline(
            flat.model, test_windows=test, phrase_steps=flat.config.model.representation.steps,
            z_dim=flat.config.model.z_dim, name=flat.name, n_prior=options.n_prior, seed=options.seed)}
        return {"instrument": instrument.name, "data": recipe.name, "split": options.split, "windows": len(test),
                **report, **stitched, **control}

    def _baseline_instrument(self, instrument, options: EvaluateOptions):
        """The flat instrument run phrase by phrase beside a longer model (``--baseline``, else
        :func:`flat_baseline_for`); None for a flat model with no ``--baseline``.

        Raises
        ------
        InputError
            If the named instrument's phrases do not tile this instrument's windows.
        """
        from musicvae.instrument import Instrument

        name = options.baseline or flat_baseline_for(instrument.config)
        if name is None:
            return None
        flat = Instrument.load(name).require_kind(self.name)
        problem = _phrase_mismatch(instrument.config.model.representation, flat.config.model.representation)
        if problem:
            raise InputError(f"--baseline {name}: {problem}")
        return flat

    #: Held-out windows the attribute evaluation decodes (each at every amount).
    ATTRIBUTE_WINDOWS = 200

    def _attribute_control(self, instrument, test, *, seed: int) -> dict:
        """How the instrument's attribute vectors steer (none: no section), on a seeded subset of ``test``."""
        import numpy as np

        from musicvae.kinds.melody.attributes import ATTRIBUTES_FILE, attribute_control, load_attribute_vectors

        if instrument.path is None or not (instrument.path / ATTRIBUTES_FILE).is_file():
            return {}
        rep = instrument.config.model.representation
        rng = np.random.default_rng(seed)
        subset = test[np.sort(rng.permutation(len(test))[: self.ATTRIBUTE_WINDOWS])]
        return {"attribute_control": attribute_control(instrument.model, load_attribute_vectors(instrument), subset,
                                                       min_pitch=rep.min_pitch,
                                                       steps_per_quarter=int(rep.steps_per_quarter))}

    def format_report(self, report: dict) -> str:
        from musicvae.kinds.melody.evaluate import format_report

        return format_report(report)

    def figure(self, report: dict, path: str | Path) -> Path:
        from musicvae.kinds.melody.figures import evaluation_figure

        return evaluation_figure(report, path)

    def warnings(self, report: dict) -> list[str]:
        from musicvae.kinds.melody.evaluate import collapse_warnings

        return collapse_warnings(report)

    def training_check(self, model, data: TrainingData, config) -> dict:
        from musicvae.kinds.melody.evaluate import collapse_check

        return collapse_check(model, data.valid if len(data.valid) else data.train)


def _phrase_mismatch(long, flat) -> str | None:
    """Why a flat model of representation ``flat`` cannot be run phrase by phrase over ``long``'s windows."""
    if (flat.meter, flat.steps_per_bar) != (long.meter, long.steps_per_bar):
        return f"its bars are {flat.meter} ({flat.steps_per_bar} steps), this instrument's {long.meter} " \
               f"({long.steps_per_bar} steps)"
    if (flat.min_pitch, flat.max_pitch) != (long.min_pitch, long.max_pitch):
        return f"its pitch range {flat.min_pitch}..{flat.max_pitch} is not {long.min_pitch}..{long.max_pitch}"
    if flat.bars >= long.bars or long.bars % flat.bars:
        return f"its {flat.bars}-bar phrases do not tile this instrument's {long.bars}-bar windows"
    return None


def flat_baseline_for(config) -> str | None:
    """The first shipped flat melody instrument (by name) whose phrases tile ``config``'s longer windows, or
    None (a flat config, or no such instrument)."""
    from musicvae.config import load_instrument_config
    from musicvae.errors import MusicVAEError
    from musicvae.instrument import INSTRUMENT_FILE, available_instruments, instruments_dir

    if not config.model.conductor_sizes and config.model.representation.bars <= 2:
        return None
    for name in available_instruments():
        try:
            other = load_instrument_config(instruments_dir() / name / INSTRUMENT_FILE)
        except MusicVAEError:
            continue
        if other.kind == "melody" and not other.model.conductor_sizes and other.model.kl_weight > 0 \
                and _phrase_mismatch(config.model.representation, other.model.representation) is None:
            return name
    return None


KIND = MelodyKind()
