"""The verbs every melody instrument answers: sample, encode, decode, interpolate, morph.

Inputs and outputs are numpy event arrays ([N, T] uint8/int64, MusicVAE's 90
classes) so that the CLI, the realtime player and notebooks share one path.
Temperature follows Magenta: logits / T, argmax when T = 0. ``add``, where a
verb takes it, is a latent vector [Z] added to every code before decoding
(attribute vectors: :mod:`musicvae.kinds.melody.attributes`).

:func:`morph` morphs one window of each file; :func:`morph_tune` morphs whole
tunes, window by window, in one decode call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musicvae.errors import InputError, MeterError, NoWindowError
from musicvae.instrument import Instrument
from musicvae.midi import melody as codec
from musicvae.midi.meter import parse_meter, taken_meters, takes
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


def _shifted(z: torch.Tensor, add: np.ndarray | None) -> torch.Tensor:
    return z if add is None else z + torch.as_tensor(np.asarray(add), dtype=z.dtype)


def sample(
    instrument: Instrument, *, n: int = 8, temperature: float = DEFAULT_TEMPERATURE, seed: int | None = None,
    add: np.ndarray | None = None,
) -> np.ndarray:
    """Decode ``n`` latents drawn from the prior N(0, I) (plus ``add`` [Z], if given).

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
        z = _shifted(torch.randn(n, z_dim, generator=gen), add)
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


def decode(instrument: Instrument, z: np.ndarray, *, temperature: float = 0.0, seed: int | None = None,
           add: np.ndarray | None = None) -> np.ndarray:
    """Decode latents [N, Z] (plus ``add`` [Z], if given) into event sequences [N, T] (argmax when temperature is 0)."""
    model = _model(instrument)
    with torch.inference_mode():
        out = model.decode(
            _shifted(torch.as_tensor(np.asarray(z), dtype=torch.float32), add), temperature=temperature,
            generator=_generator(seed),
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
    add: np.ndarray | None = None,
) -> np.ndarray:
    """Decode the path between the encoded means of windows ``a`` and ``b`` ([T] each).

    Endpoints are included, as Magenta does: step 0 decodes A's mean, the last
    step B's. Returns [steps, T].
    """
    _check_path(steps, method)
    mu, _ = encode(instrument, np.stack([a, b]))
    path = interpolate_latents(torch.as_tensor(mu[0]), torch.as_tensor(mu[1]), steps=steps, method=method)
    return decode(instrument, path.numpy(), temperature=temperature, seed=seed, add=add)


def _check_path(steps: int, method: str) -> None:
    if steps < 2:
        raise InputError(f"--steps must be at least 2 (the two endpoints), got {steps}")
    if method not in ("slerp", "lerp"):
        raise InputError(f"unknown interpolation {method!r}; use slerp or lerp")


def tune_events(instrument: Instrument, path: str | Path) -> tuple[np.ndarray, list[str]]:
    """A MIDI file's whole melody on the instrument's grid, from step 0, padded to a bar line.

    A 4/4 instrument also takes 2/2 and 2/4 (two bars to one of its bars).

    Returns
    -------
    events : np.ndarray, int64, shape [bars * steps_per_bar]
    warnings : list of str

    Raises
    ------
    MeterError
        For a meter the instrument does not take: the line names the shipped instruments that take
        it, or says that none does and which meters they take.
    InputError
        For a file with no usable melody (see :func:`musicvae.midi.melody.midi_file_events`).
    """
    rep = instrument.config.model.representation
    try:
        return codec.midi_file_events(path, steps_per_bar=rep.steps_per_bar, meter=rep.meter,
                                      pair_two_four=parse_meter(rep.meter) == (4, 4), min_pitch=rep.min_pitch,
                                      max_pitch=rep.max_pitch)
    except MeterError as error:
        meter = error.meter
        raise MeterError(f"{path}: {meter} input: {instrument.name} takes {taken_meters(rep.meter)}; "
                         f"{meter_hint(meter)}", meter=meter) from None


def meter_hint(meter: str) -> str:
    """Which shipped melody instruments take ``meter``, or that none does and what each takes."""
    from musicvae.config import load_instrument_config
    from musicvae.errors import MusicVAEError
    from musicvae.instrument import INSTRUMENT_FILE, available_instruments, instruments_dir

    meters = {}
    for name in available_instruments():
        try:
            config = load_instrument_config(instruments_dir() / name / INSTRUMENT_FILE)
        except MusicVAEError:
            continue  # a broken folder is not this input's problem
        if config.kind == "melody":
            meters[name] = config.model.representation.meter
    willing = [name for name, own in meters.items() if takes(own, meter, pair_two_four=parse_meter(own) == (4, 4))]
    if willing:
        return "use " + ", ".join(f"{name} ({meters[name]})" for name in willing)
    listing = ", ".join(f"{name} {own}" for name, own in meters.items()) or "none"
    return f"no shipped instrument takes {meter} (melody instruments: {listing})"


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
    events, warnings = tune_events(instrument, path)
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
    add: np.ndarray | None = None,
) -> Morph:
    """Morph between one window of each of two MIDI files (see :func:`interpolate`; whole tunes: :func:`morph_tune`).

    ``bar`` is the first bar of both windows, counted from 0 (``--bar`` on the command line counts from 1);
    None takes each file's first usable window (:func:`window_from_midi`).
    """
    a = window_from_midi(instrument, a_path, bar=bar)
    b = window_from_midi(instrument, b_path, bar=bar)
    out = interpolate(instrument, a.events, b.events, steps=steps, method=method, temperature=temperature, seed=seed,
                      add=add)
    return Morph(steps=out, warnings=a.warnings + b.warnings)


@dataclass
class TuneMorph:
    """A whole-tune morph: each step the tune's length, A first, B last.

    Attributes
    ----------
    steps : np.ndarray, int64, shape [S, L]
        Events of each step (L steps: the shorter tune's bars, or the chosen window's).
    amounts : np.ndarray, float, shape [S]
        Blend amount of each step, 0 (A) .. 1 (B).
    windows : int
        Model windows each step was decoded as (one decode call for all S * windows).
    first_bar : int
        Bar of the tunes where the steps start, counted from 0 (not 0 only for ``window``).
    warnings : list of str
    """

    steps: np.ndarray
    amounts: np.ndarray
    windows: int
    first_bar: int
    warnings: list[str]


def tune_windows(events: np.ndarray, *, bars: int, window_bars: int, steps_per_bar: int) -> np.ndarray:
    """The first ``bars`` bars of a tune cut into consecutive windows of ``window_bars``, the last padded with rests.

    Returns
    -------
    np.ndarray, int64, shape [ceil(bars / window_bars), window_bars * steps_per_bar]
    """
    count = -(-bars // window_bars)
    padded = np.zeros(count * window_bars * steps_per_bar, dtype=np.int64)
    length = min(len(events), bars * steps_per_bar)
    padded[:length] = events[:length]
    return padded.reshape(count, window_bars * steps_per_bar)


@dataclass
class TunePair:
    """Two tunes cut into aligned windows of the model's length: window ``k`` of A goes to window ``k`` of B.

    Attributes
    ----------
    a, b : np.ndarray, int64, shape [K, T]
        The windows (the last one padded with rests).
    bars : int
        Bars the windows hold (the shorter tune's, or the chosen window's).
    first_bar : int
        Bar of the tunes where window 0 starts, counted from 0.
    warnings : list of str
    """

    a: np.ndarray
    b: np.ndarray
    bars: int
    first_bar: int
    warnings: list[str]

    @property
    def silent(self) -> np.ndarray:
        """[K] bool: windows with no note in either tune (they stay silent at every blend amount)."""
        return codec.silent_windows(self.a, self.b)


def tune_window_pairs(instrument: Instrument, a_path: str | Path, b_path: str | Path, *,
                      window: int | None = None) -> TunePair:
    """Cut two MIDI tunes into aligned windows of the model's length, phrase by phrase from bar 1.

    The shorter tune sets the length (a warning says so when they differ); ``window`` (counted
    from 0) keeps one phrase. Shared by :func:`morph_tune` and the live player, so that a live
    session loops exactly the windows an offline morph decodes.

    Raises
    ------
    InputError
        For unusable files, or a ``window`` past the shorter tune's end.
    """
    rep = instrument.config.model.representation
    a_events, a_warnings = tune_events(instrument, a_path)
    b_events, b_warnings = tune_events(instrument, b_path)
    warnings = [f"{Path(a_path).name}: {w}" for w in a_warnings] + [f"{Path(b_path).name}: {w}" for w in b_warnings]
    a_bars, b_bars = len(a_events) // rep.steps_per_bar, len(b_events) // rep.steps_per_bar
    bars = min(a_bars, b_bars)
    if a_bars != b_bars:
        longer, shorter = (a_path, b_path) if a_bars > b_bars else (b_path, a_path)
        warnings.append(f"{Path(longer).name} is {max(a_bars, b_bars)} bars, {Path(shorter).name} {bars}: "
                        f"the morph keeps the shorter tune's {bars} bars")
    a_windows = tune_windows(a_events, bars=bars, window_bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    b_windows = tune_windows(b_events, bars=bars, window_bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    first_bar = 0
    if window is not None:
        if not 0 <= window < len(a_windows):
            raise NoWindowError(f"--window {window + 1}: the tunes hold {len(a_windows)} windows of "
                                f"{rep.bars} bars ({bars} bars)")
        a_windows, b_windows = a_windows[window : window + 1], b_windows[window : window + 1]
        first_bar = window * rep.bars
        bars = min(rep.bars, bars - first_bar)
    if bars < rep.bars:
        warnings.append(f"{bars} bars is shorter than the model's {rep.bars}-bar window: padded with rests")
    return TunePair(a=a_windows, b=b_windows, bars=bars, first_bar=first_bar, warnings=warnings)


def morph_tune(
    instrument: Instrument,
    a_path: str | Path,
    b_path: str | Path,
    *,
    steps: int = 5,
    window: int | None = None,
    method: str = "slerp",
    temperature: float = 0.0,
    seed: int | None = None,
    add: np.ndarray | None = None,
) -> TuneMorph:
    """Morph whole tunes: each window of A to the matching window of B, at the same blend amount.

    The tunes are cut into consecutive windows of the model's length (phrase by
    phrase, from bar 1); window ``k`` of A is interpolated to window ``k`` of B
    (:func:`interpolate`'s path, endpoints included), every window of every
    step is decoded in one call, and each step's windows are joined back into
    one tune. The shorter tune sets the length (a warning says so when they
    differ); a last partial window and a tune shorter than one window are
    padded with rests to the model's length and the output cut back to the
    tune's. A window silent in both tunes stays silent.

    Parameters
    ----------
    instrument : Instrument
        A melody instrument.
    a_path, b_path : str or Path
        MIDI files.
    steps : int, keyword-only
        Blend amounts, endpoints included.
    window : int, optional, keyword-only
        Morph only this window (phrase), counted from 0 (``--window`` counts from 1).
    method : {"slerp", "lerp"}, keyword-only
    temperature : float, keyword-only
        0 = argmax.
    seed : int, optional, keyword-only
    add : np.ndarray [Z], optional, keyword-only
        Added to every code before decoding (attribute vectors).

    Returns
    -------
    TuneMorph
        ``steps`` [S, L] int64.

    Raises
    ------
    InputError
        For unusable files, or a ``window`` past the shorter tune's end.
    """
    _check_path(steps, method)
    rep = instrument.config.model.representation
    pair = tune_window_pairs(instrument, a_path, b_path, window=window)
    a_windows, b_windows, bars = pair.a, pair.b, pair.bars
    count = len(a_windows)
    mu, _ = encode(instrument, np.concatenate([a_windows, b_windows]))
    paths = torch.stack([
        interpolate_latents(torch.as_tensor(mu[k]), torch.as_tensor(mu[count + k]), steps=steps, method=method)
        for k in range(count)
    ], dim=1)  # [S, K, Z]: every window of a step shares the step's blend amount
    decoded = decode(instrument, paths.reshape(steps * count, -1).numpy(), temperature=temperature, seed=seed,
                     add=add).reshape(steps, count, rep.steps)
    decoded[:, pair.silent] = codec.NO_EVENT
    out = decoded.reshape(steps, count * rep.steps)[:, : bars * rep.steps_per_bar].astype(np.int64)
    return TuneMorph(steps=out, amounts=np.linspace(0.0, 1.0, steps), windows=count, first_bar=pair.first_bar,
                     warnings=pair.warnings)
