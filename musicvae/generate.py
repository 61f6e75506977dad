"""The verbs every melody instrument answers: sample, encode, decode, interpolate, morph.

Inputs and outputs are numpy event arrays ([N, T] uint8/int64, MusicVAE's 90
classes) so that the CLI, the realtime player and notebooks share one path.
Temperature follows Magenta: logits / T, argmax when T = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musicvae.errors import InputError
from musicvae.instrument import Instrument
from musicvae.midi import melody as codec
from musicvae.midi.windows import check_windows, first_window, window_at
from musicvae.models.latent import interpolate as interpolate_latents

#: Magenta's default sampling temperature.
DEFAULT_TEMPERATURE = 0.5


def _generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    """A generator seeded with ``seed``; a generator passes through (a stream its caller keeps drawing from)."""
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(seed)


def _model(instrument: Instrument):
    return instrument.require_kind("melody").model


def sample(
    instrument: Instrument, *, n: int = 8, temperature: float = DEFAULT_TEMPERATURE, seed: int | None = None
) -> np.ndarray:
    """Decode ``n`` latents drawn from the prior N(0, I).

    Returns
    -------
    np.ndarray
        [n, T] int64 event sequences.
    """
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    model = _model(instrument)
    z_dim = instrument.config.model.z_dim
    gen = _generator(seed)
    with torch.inference_mode():
        z = torch.randn(n, z_dim, generator=gen)
        return model.decode(z, temperature=temperature, generator=gen).numpy()


def encode(instrument: Instrument, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and standard deviations of windows [N, T] -> ([N, Z], [N, Z])."""
    model = _model(instrument)
    rep = instrument.config.model.representation
    windows = check_windows(windows, steps=rep.steps, num_classes=rep.num_classes, allow_empty=True,
                            allow_single=True)
    with torch.inference_mode():
        mu, sigma = model.encode(torch.as_tensor(windows, dtype=torch.long))
    return mu.numpy(), sigma.numpy()


def decode(instrument: Instrument, z: np.ndarray, *, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
    """Decode latents [N, Z] into event sequences [N, T] (argmax when temperature is 0)."""
    model = _model(instrument)
    with torch.inference_mode():
        out = model.decode(
            torch.as_tensor(np.asarray(z), dtype=torch.float32), temperature=temperature, generator=_generator(seed)
        )
    return out.numpy()


def interpolate(
    instrument: Instrument,
    a: np.ndarray,
    b: np.ndarray,
    *,
    steps: int = 5,
    method: str = "slerp",
    temperature: float = 0.0,
    seed: int | None = None,
) -> np.ndarray:
    """Decode the path between the encoded means of windows ``a`` and ``b`` ([T] each).

    Endpoints are included, as Magenta does: step 0 decodes A's mean, the last
    step B's. Returns [steps, T].
    """
    if steps < 2:
        raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}")
    if method not in ("slerp", "lerp"):
        raise InputError(f"unknown interpolation {method!r}; use slerp or lerp")
    mu, _ = encode(instrument, np.stack([a, b]))
    path = interpolate_latents(torch.as_tensor(mu[0]), torch.as_tensor(mu[1]), steps=steps, method=method)
    return decode(instrument, path.numpy(), temperature=temperature, seed=seed)


@dataclass
class MidiWindow:
    """A window read from a MIDI file, with what was done to it."""

    events: np.ndarray
    bar: int | None
    warnings: list[str] = field(default_factory=list)


def window_from_midi(instrument: Instrument, path: str | Path, *, bar: int | None = None) -> MidiWindow:
    """Read the window the model needs from a MIDI file: the first usable one, or the one at ``bar``.

    ``bar`` counts from 0 (the first bar is 0), as Python does; error messages and the CLI's ``--bar``
    count from 1, as musicians do (``musicvae morph --bar 3`` is ``bar=2``).

    Raises
    ------
    InputError
        With the reason when the file yields no usable window (too short, no notes, drums only...).
    """
    rep = instrument.config.model.representation
    events, warnings = codec.midi_file_events(
        path, steps_per_bar=rep.steps_per_bar, min_pitch=rep.min_pitch, max_pitch=rep.max_pitch
    )
    try:
        if bar is None:
            window = first_window(events, window_steps=rep.steps, steps_per_bar=rep.steps_per_bar)
        else:
            window = window_at(events, bar=bar, window_steps=rep.steps, steps_per_bar=rep.steps_per_bar)
    except InputError as error:
        raise type(error)(f"{path}: {error}") from None
    return MidiWindow(events=window, bar=bar, warnings=[f"{Path(path).name}: {w}" for w in warnings])


@dataclass
class Morph:
    """The decoded steps of a morph, A first, B last."""

    steps: np.ndarray
    warnings: list[str]


def morph(
    instrument: Instrument,
    a_path: str | Path,
    b_path: str | Path,
    *,
    steps: int = 5,
    bar: int | None = None,
    method: str = "slerp",
    temperature: float = 0.0,
    seed: int | None = None,
) -> Morph:
    """Morph between the windows of two MIDI files (see :func:`interpolate`).

    ``bar`` is the first bar of both windows, counted from 0 (``--bar`` on the command line counts from 1);
    None takes each file's first usable window (:func:`window_from_midi`).
    """
    a = window_from_midi(instrument, a_path, bar=bar)
    b = window_from_midi(instrument, b_path, bar=bar)
    out = interpolate(instrument, a.events, b.events, steps=steps, method=method, temperature=temperature, seed=seed)
    return Morph(steps=out, warnings=a.warnings + b.warnings)
