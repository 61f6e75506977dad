"""The contract every instrument kind fulfils: :class:`Kind` (what the core calls) and :class:`Verbs`.

The core (CLI, training loop, instrument loading, evaluation, plots) never names a
kind: it looks one up in :mod:`musicvae.kinds` by an instrument's ``kind`` or a
recipe's ``kind`` and calls these methods. A kind package imports its heavy
modules (torch models, Lightning, music21, librosa) inside the methods, so that
listing the kinds stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import lightning
    from torch import nn
    from torch.utils.data import Dataset

    from musicvae.config import InstrumentConfig, RecipeConfig
    from musicvae.instrument import Instrument


@runtime_checkable
class Verbs(Protocol):
    """What every instrument answers, with one argument order and one set of return types.

    Inputs and outputs are numpy arrays; ``condition`` is what the kind's decoder is
    conditioned on besides the latent (``None`` where it takes nothing, a MIDI pitch for a
    timbre note). ``seed`` is an int, a ``torch.Generator`` (a stream the caller keeps, as
    the live player does), or ``None``.
    """

    def encode(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and standard deviations of a batch of inputs -> ([N, Z], [N, Z]) float32."""

    def decode(self, z: np.ndarray, condition: Any = None, *, temperature: float = 0.0,
               seed: Any = None) -> np.ndarray:
        """Latents [N, Z] -> N outputs of the kind (argmax or the mean where temperature is 0)."""

    def sample(self, n: int, condition: Any = None, *, temperature: float = 0.5, seed: Any = None) -> np.ndarray:
        """``n`` outputs decoded from latents drawn from the prior N(0, I)."""

    def interpolate(self, a: np.ndarray, b: np.ndarray, condition: Any = None, *, steps: int = 5,
                    method: str = "slerp", temperature: float = 0.0, seed: Any = None) -> np.ndarray:
        """``steps`` outputs along the path between the encoded means of inputs ``a`` and ``b``, endpoints included."""


@dataclass
class TrainingData:
    """What a kind hands the training loop for one instrument.

    Attributes
    ----------
    train, valid
        The kind's training and validation sets, in the form :meth:`Kind.dataset` takes.
    counts : dict[str, int]
        Sizes for the card ("train windows", "train notes"...).
    summary : str
        One line on what is trained on ("1200 train / 60 valid windows of 2 bars").
    report : str
        The dataset build report when the data was built on the way, else "".
    extras_of : callable(model) -> dict[str, Tensor]
        Tensors to store beside the trained weights (a timbre kind's family latents).
    """

    train: Any
    valid: Any
    counts: dict[str, int]
    summary: str
    report: str = ""
    extras_of: Callable[[Any], dict] = field(default=lambda model: {})


@dataclass(frozen=True)
class EvaluateOptions:
    """The options of ``musicvae evaluate`` every kind receives (each uses those that apply to it)."""

    data: str | None = None
    split: str = "test"
    n_prior: int = 1000
    max_items: int = 0
    seed: int = 0
    progress: bool = True
    baseline: str | None = None


class Kind:
    """One instrument kind: its configs, model, data, training, verbs, evaluation and figures.

    Subclasses set the class attributes and implement the methods that raise
    ``NotImplementedError``. See docs/DESIGN.md ("Adding a kind") and the toy kind in
    ``tests/kinds/test_kind_contract.py``.

    Attributes
    ----------
    name : str
        The ``kind`` written in ``instrument.toml``.
    model_config : type
        The frozen dataclass of its ``[model]`` table.
    recipe_kind : str
        The ``kind`` its dataset recipes declare.
    monitor : tuple[str, str]
        The logged metric that picks the best checkpoint, and ``"min"`` or ``"max"``.
    """

    name: ClassVar[str]
    model_config: ClassVar[type]
    recipe_kind: ClassVar[str]
    monitor: ClassVar[tuple[str, str]] = ("val/loss", "min")
    #: The ``musicvae export`` formats :meth:`export_module` answers (of ``musicvae.export.FORMATS``).
    export_formats: ClassVar[tuple[str, ...]] = ()

    # -- configs and model ----------------------------------------------------------

    def named_configs(self) -> dict[str, InstrumentConfig]:
        """The kind's registered configs by name (``musicvae configs``)."""
        return {}

    def model_kwargs(self, model_config: Any) -> dict[str, Any]:
        """Constructor keyword arguments of the model ``model_config`` describes (checked, plain values)."""
        raise NotImplementedError

    def model_class(self) -> type[nn.Module]:
        raise NotImplementedError

    def build_model(self, model_config: Any) -> nn.Module:
        """A freshly initialised model; raises ConfigError for sizes that do not fit."""
        return self.model_class()(**self.model_kwargs(model_config))

    def add_commands(self, sub: Any) -> None:
        """Add the kind's own subcommands (its job verbs) to the ``musicvae`` parser's ``sub`` parsers."""

    def describe(self, config: InstrumentConfig) -> str:
        """One line of ``musicvae configs`` after the name and kind."""
        model = config.model
        return f"data={config.data} z={model.z_dim} kl_weight={model.kl_weight}"

    # -- data ----------------------------------------------------------------------

    def load_recipe(self, name_or_path: Any) -> RecipeConfig:
        """Find, parse and check one of the kind's recipes (paths resolved)."""
        raise NotImplementedError

    def build_data(self, recipe: Any, *, workers: int | None, force: bool, progress: bool) -> str:
        """Build the recipe's cache (``musicvae data build``) and return the report to print."""
        raise NotImplementedError

    def training_data(self, config: InstrumentConfig, *, progress: bool, log: Callable[[str], None]) -> TrainingData:
        """The instrument's training and validation sets, its recipe built first when no cache exists."""
        raise NotImplementedError

    # -- training ------------------------------------------------------------------

    def check_training_data(self, data: Any, what: str, *, config: InstrumentConfig) -> Any:
        """Validate a training or validation set (``what``) for ``config``; raises InputError."""
        return data

    def lightning_module(self, config: InstrumentConfig) -> lightning.LightningModule:
        """The module that trains the model (a VAE kind subclasses :class:`musicvae.training.vae.VAEModule`)."""
        raise NotImplementedError

    def dataset(self, data: Any) -> Dataset:
        """The torch dataset the loaders draw batches from (rows of a window array by default)."""
        from musicvae.training.trainer import WindowDataset

        return WindowDataset(data)

    # -- playing -------------------------------------------------------------------

    def verbs(self, instrument: Instrument) -> Verbs:
        """The instrument's :class:`Verbs`."""
        raise NotImplementedError

    def export_module(self, instrument: Instrument, fmt: str, *, sample_rate: int | None = None) -> Any:
        """The decoder ``musicvae export`` writes in ``fmt`` (one of :attr:`export_formats`): a
        :class:`musicvae.export.exportable.Exportable` (its modules are in :mod:`musicvae.export.graphs`).
        ``sample_rate`` is the rate an export that plays audio plays at (``--sample-rate``); an export that
        does not raises InputError for one."""
        raise NotImplementedError

    # -- evaluation ----------------------------------------------------------------

    def evaluate(self, instrument: Instrument, options: EvaluateOptions) -> dict:
        """The report of ``musicvae evaluate``: plain JSON values; :func:`musicvae.kinds.evaluate` adds ``kind``."""
        raise NotImplementedError

    def format_report(self, report: dict) -> str:
        """The report as the text a researcher reads (and the card stores)."""
        raise NotImplementedError

    def figure(self, report: dict, path: str | Path) -> Path:
        """Draw the report as one PNG (``musicvae evaluate --plot``)."""
        raise NotImplementedError

    def warnings(self, report: dict) -> list[str]:
        """Lines warning of a model that trained badly (a collapsed posterior...) in ``report``: an
        :meth:`evaluate` report or a :meth:`training_check` one. Default: none."""
        return []

    def training_check(self, model: nn.Module, data: TrainingData, config: InstrumentConfig) -> dict:
        """A few seconds' measurement of a freshly trained ``model`` on its validation data, in the form
        :meth:`warnings` reads (``train`` warns with it). Default: nothing measured."""
        return {}
