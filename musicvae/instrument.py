"""Instrument: a trained, playable model in a folder.

An instrument folder holds

- ``instrument.toml``: kind, model config, data recipe and training config;
- ``weights.safetensors``: the model's state dict, plus ``extra.*`` tensors an
  instrument kind stores beside the weights (no pickle is ever loaded);
- ``card.md``: how it was trained and the metrics ``musicvae evaluate`` measured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from musicvae.builders import build_model
from musicvae.config import InstrumentConfig, dump_toml, load_instrument_config
from musicvae.errors import ConfigError, InstrumentError
from musicvae.io import atomic_dir, repo_root

INSTRUMENT_FILE = "instrument.toml"
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "card.md"
_EXTRA_PREFIX = "extra."


def instruments_dir() -> Path:
    """Where bare instrument names are looked up: ``$MUSICVAE_INSTRUMENTS`` or the checkout's ``instruments/``."""
    return Path(os.environ.get("MUSICVAE_INSTRUMENTS", repo_root() / "instruments"))


def available_instruments() -> list[str]:
    """Names of the instrument folders in :func:`instruments_dir`."""
    root = instruments_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / INSTRUMENT_FILE).is_file())


def resolve_instrument(name_or_path: str | Path) -> Path:
    """Turn an instrument name or folder path into a folder path (which may not exist yet)."""
    path = Path(name_or_path)
    if path.is_dir() or len(path.parts) > 1:
        return path
    return instruments_dir() / path


def _article(word: str) -> str:
    """"a" or "an" before ``word`` (by its first letter: the kinds are plain English words)."""
    return "an" if word[:1].lower() in ("a", "e", "i", "o", "u") else "a"


@dataclass
class Instrument:
    """A model with its config, ready to play.

    Attributes
    ----------
    config : InstrumentConfig
        How the model was built and trained.
    model : torch.nn.Module
        The model, in eval mode.
    extras : dict[str, torch.Tensor]
        Tensors stored beside the weights (e.g. per-instrument mean latents).
    path : Path or None
        The folder it was loaded from.
    """

    config: InstrumentConfig
    model: nn.Module
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<unsaved>"

    @property
    def verbs(self):
        """The instrument's :class:`~musicvae.kinds.base.Verbs` (encode, decode, sample, interpolate)."""
        from musicvae.kinds import get_kind

        return get_kind(self.kind).verbs(self)

    def require_kind(self, kind: str) -> Instrument:
        """Return self, or raise InstrumentError if this instrument is of another kind."""
        if self.kind != kind:
            raise InstrumentError(
                f"instrument {self.name!r} is {_article(self.kind)} {self.kind} instrument; "
                f"this command needs {_article(kind)} {kind} one"
            )
        return self

    @classmethod
    def load(cls, name_or_path: str | Path, *, device: str | torch.device = "cpu") -> Instrument:
        """Load an instrument folder (or a name under ``instruments/``).

        Raises
        ------
        InstrumentError
            If the folder, its TOML or its weights are missing, or the weights do not fit the config.
        """
        path = resolve_instrument(name_or_path)
        if not (path / INSTRUMENT_FILE).is_file():
            known = ", ".join(available_instruments()) or "none"
            raise InstrumentError(f"no instrument at {path} (no {INSTRUMENT_FILE}); shipped instruments: {known}")
        try:
            config = load_instrument_config(path / INSTRUMENT_FILE)
        except ConfigError as error:
            raise InstrumentError(f"{path / INSTRUMENT_FILE}: {error}") from None
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise InstrumentError(f"instrument {path} has no {WEIGHTS_FILE}; train it with: musicvae train {path}")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(weights), device=str(device))
        except (SafetensorError, OSError, RuntimeError) as error:
            raise InstrumentError(f"{weights} is not a readable safetensors file ({error})") from None
        state = {k: v for k, v in tensors.items() if not k.startswith(_EXTRA_PREFIX)}
        extras = {k[len(_EXTRA_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_EXTRA_PREFIX)}
        model = build_model(config.model)
        _load_state(model, state, where=weights)
        model.to(device).eval()
        return cls(config=config, model=model, extras=extras, path=path)

    def save(self, path: str | Path, *, card: str | None = None, half: bool = False) -> Path:
        """Write the instrument folder atomically; keeps an existing ``card.md`` unless ``card`` is given.

        Parameters
        ----------
        path : str or Path
            Instrument folder (or a name under ``instruments/``).
        card : str, optional, keyword-only
            Text of ``card.md``.
        half : bool, keyword-only
            Store floating-point weights as float16 (half the size, so that the
            shipped instruments fit the repository's budget); :meth:`load`
            casts them back to the model's float32. Extras stay as they are.
        """
        from safetensors.torch import save_file

        path = resolve_instrument(path)
        old_card = (path / CARD_FILE).read_text() if (path / CARD_FILE).is_file() else None
        tensors = {k: _stored(v, half=half) for k, v in self.model.state_dict().items()}
        tensors.update({_EXTRA_PREFIX + k: v.detach().cpu().contiguous() for k, v in self.extras.items()})
        with atomic_dir(path) as tmp:
            (tmp / INSTRUMENT_FILE).write_text(dump_toml(self.config))
            save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "musicvae", "kind": self.kind})
            text = card if card is not None else old_card
            if text is not None:
                (tmp / CARD_FILE).write_text(text)
        self.path = path
        return path


def _stored(tensor: torch.Tensor, *, half: bool) -> torch.Tensor:
    tensor = tensor.detach().cpu().contiguous()
    if half and tensor.is_floating_point():
        if tensor.abs().max() > torch.finfo(torch.float16).max:
            raise InstrumentError("weights exceed float16's range; save them without half precision")
        return tensor.half()
    return tensor


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], *, where: Path) -> None:
    """load_state_dict with a one-line error naming what does not fit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        def first(keys: list[str]) -> str:
            return keys[0] + (f" and {len(keys) - 1} more" if len(keys) > 1 else "")

        parts = []
        if missing:
            parts.append(f"missing {first(missing)}")
        if unexpected:
            parts.append(f"unexpected {first(unexpected)}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} is {tuple(state[k].shape)}, config needs {tuple(expected[k].shape)}")
        raise InstrumentError(f"{where}: weights do not match instrument.toml ({'; '.join(parts)})")
    # load_state_dict copies into the model's own dtype, so float16-stored weights come back as float32.
    model.load_state_dict(state)
