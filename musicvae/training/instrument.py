"""Train an instrument folder end to end: its data (built first when missing), Lightning, card, curves, weights.

What ``musicvae train`` runs, for every instrument kind: the kind
(:meth:`musicvae.kinds.base.Kind.training_data`) supplies the data, building its recipe
first when no cache exists, and the tensors stored beside the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvae.config import InstrumentConfig
from musicvae.errors import InputError


def train_instrument(
    folder: str | Path,
    config: InstrumentConfig,
    *,
    command: str,
    out_dir: str | Path | None = None,
    half: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    init_from: str | Path | None = None,
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
    init_from : str or Path, optional
        A trained instrument of the same kind to start from (name or folder): its
        tensors of the same names and shapes are copied in before the first step.
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
    InputError
        ``init_from`` is of another kind, or none of its tensors fits.
    """
    from musicvae.card import training_card
    from musicvae.instrument import Instrument
    from musicvae.kinds import get_kind
    from musicvae.training import train_model

    folder = Path(folder)
    kind = get_kind(config.kind)
    start = None
    if init_from is not None:  # before the data build, so a wrong name fails at once
        source = Instrument.load(init_from)
        if source.config.kind != config.kind:
            raise InputError(f"--init-from {init_from} is {_article(source.config.kind)} instrument, "
                             f"this is {_article(config.kind)} one")
        start = source.model.state_dict()
    data = kind.training_data(config, progress=progress, log=log)
    log(f"training {folder.name}: {data.summary}")
    model, summary = train_model(config, data.train, data.valid, out_dir=Path(out_dir or Path("runs") / folder.name),
                                 progress=progress, init_from=start, **trainer_options)
    if model is None:
        return None
    if "warm_start" in summary:
        log(f"started from {init_from}: {summary['warm_start']}")
    # A run that learnt nothing (a collapsed posterior) still writes its instrument, but says so.
    for line in kind.warnings(kind.training_check(model, data, config)):
        log(f"warning: {line}")
    card = training_card(folder.name, config, command=command, summary={**data.counts, **summary},
                         data_report=data.report)
    if summary.get("log_dir"):
        _plot_curves(Path(summary["log_dir"]), log=log)
    return Instrument(config=config, model=model, extras=data.extras_of(model)).save(folder, card=card, half=half)


def _plot_curves(log_dir: Path, *, log: Callable[[str], None]) -> None:
    """Draw the run's loss and metric curves beside its metrics.csv."""
    from musicvae.plots import training_curves

    try:
        log(f"wrote {training_curves(log_dir / 'metrics.csv', log_dir / 'curves.png')}")
    except InputError:  # a run too short to have logged a value: nothing to draw, and no reason to fail it
        pass


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"
