"""Train an instrument folder end to end: its data (built first when missing), Lightning, card, curves, weights.

What ``musicvae train`` runs, for every instrument kind:

- melody: event windows of the recipe (a MIDI folder is turned into a dataset on the way);
- accompanist: four-voice chorale windows;
- timbre: note spectrograms, and afterwards each family's mean latent, the blend endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvae.config import InstrumentConfig
from musicvae.errors import DataError, InputError


def train_instrument(
    folder: str | Path,
    config: InstrumentConfig,
    *,
    command: str,
    out_dir: str | Path | None = None,
    half: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **trainer_options: Any,
) -> Path | None:
    """Train ``config`` on its data and write the instrument to ``folder``.

    Parameters
    ----------
    folder : str or Path
        The instrument folder to write (``instrument.toml``, weights, ``card.md``).
    config : InstrumentConfig
    command : str
        The command that retrains it, written in the card.
    out_dir : str or Path, optional
        Checkpoints and logs (default ``runs/<folder name>``); the loss curves are drawn
        beside the logged ``metrics.csv`` as ``curves.png``.
    half : bool
        Store the weights as float16.
    progress : bool
        Progress bars (dataset build and training).
    log : callable(str)
        Where the one-line reports go.
    **trainer_options
        Passed to :func:`musicvae.training.train_model` (``devices``, ``threads``, ``max_steps``, ``resume``...).

    Returns
    -------
    Path or None
        The instrument folder; None on a DDP rank other than 0 (rank 0 writes it).

    Raises
    ------
    DataError
        The recipe yields no training data.
    """
    from musicvae.card import training_card
    from musicvae.instrument import Instrument
    from musicvae.training import train_model

    folder = Path(folder)
    train, valid, extras_of, counts, data_report = _training_data(config, folder=folder, progress=progress, log=log)
    model, summary = train_model(config, train, valid, out_dir=Path(out_dir or Path("runs") / folder.name),
                                 progress=progress, **trainer_options)
    if model is None:
        return None
    card = training_card(folder.name, config, command=command, summary={**counts, **summary},
                         data_report=data_report)
    if summary.get("log_dir"):
        _plot_curves(Path(summary["log_dir"]), log=log)
    return Instrument(config=config, model=model, extras=extras_of(model)).save(folder, card=card, half=half)


def _training_data(config: InstrumentConfig, *, folder: Path, progress: bool, log: Callable[[str], None]):
    """(train, valid, extras_of(model), counts, data report) of an instrument's recipe, built first if missing."""
    from musicvae.data.recipes import load_recipe

    recipe = load_recipe(config.data)
    if config.kind == "timbre":
        return _timbre_data(config, recipe, folder=folder, progress=progress, log=log)
    rep = config.model.representation
    data_report = ""
    if config.kind == "accompanist":
        from musicvae.data.chorale import training_windows

        train, valid, data_report = training_windows(recipe, bars=rep.bars, progress=progress)
    else:
        from musicvae.data.melody import build_melody_dataset, format_report, load_melody_windows

        try:
            train = load_melody_windows(recipe, split="train", bars=rep.bars, steps_per_bar=rep.steps_per_bar)
        except DataError:
            # Users train on their own MIDI folder without a separate conversion step.
            log(f"building dataset {recipe.name!r} first")
            data_report = format_report(build_melody_dataset(recipe, progress=progress))
            log(data_report)
            train = load_melody_windows(recipe, split="train", bars=rep.bars, steps_per_bar=rep.steps_per_bar)
        valid = load_melody_windows(recipe, split="valid", bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    if len(train) == 0:
        raise DataError(f"dataset {recipe.name!r} has no {rep.bars}-bar training windows")
    log(f"training {folder.name}: {len(train)} train / {len(valid)} valid windows of {rep.bars} bars")
    counts = {"train windows": len(train), "valid windows": len(valid)}
    return train, valid, lambda model: {}, counts, data_report


def _timbre_data(config: InstrumentConfig, recipe, *, folder: Path, progress: bool, log: Callable[[str], None]):
    from musicvae.builders import build_spectrogram
    from musicvae.data.timbre import build_timbre_dataset, format_timbre_report, load_timbre_notes
    from musicvae.training.timbre import family_mean_latents, spectrogram_set

    data_report = ""
    try:
        train = load_timbre_notes(recipe, split="train")
    except DataError:
        log(f"building dataset {recipe.name!r} first")
        data_report = format_timbre_report(build_timbre_dataset(recipe, progress=progress))
        log(data_report)
        train = load_timbre_notes(recipe, split="train")
    valid = load_timbre_notes(recipe, split="valid")
    spectrogram = build_spectrogram(config)
    train_set, valid_set = spectrogram_set(train, spectrogram), spectrogram_set(valid, spectrogram)
    log(f"training {folder.name}: {len(train_set)} train / {len(valid_set)} valid notes "
        f"({', '.join(train.families)}), spectrograms {tuple(train_set.spec.shape[1:])}")

    def extras_of(model) -> dict:
        # The blend endpoints: each family's mean latent over its (clean) training notes.
        return family_mean_latents(model, train_set, train.families)

    counts = {"train notes": len(train_set), "valid notes": len(valid_set)}
    return train_set, valid_set, extras_of, counts, data_report


def _plot_curves(log_dir: Path, *, log: Callable[[str], None]) -> None:
    """Draw the run's loss and metric curves beside its metrics.csv."""
    from musicvae.plots import training_curves

    try:
        log(f"wrote {training_curves(log_dir / 'metrics.csv', log_dir / 'curves.png')}")
    except InputError:  # a run too short to have logged a value: nothing to draw, and no reason to fail it
        pass
