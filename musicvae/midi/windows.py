"""Fixed-length windows of melody event sequences (:mod:`musicvae.midi.melody`'s codec).

Checking them, slicing a sequence into bar-aligned windows, removing
duplicates, transposing, and choosing the window at a bar. Pure functions of
numpy arrays, like the codec.
"""

from __future__ import annotations

import numpy as np

from musicvae.errors import InputError, NoWindowError
from musicvae.midi.melody import FIRST_PITCH_CLASS


def check_windows(windows: np.ndarray, *, steps: int | None = None, num_classes: int | None = None,
                  what: str = "melody", allow_empty: bool = False, allow_single: bool = False,
                  dtype=np.int64) -> np.ndarray:
    """Event windows as an array [N, T] of ``dtype``, or :class:`InputError` saying what is wrong.

    Parameters
    ----------
    windows : array-like [N, T] (or [T] with ``allow_single``)
        Integer event classes.
    steps : int, optional
        The ``T`` required (None = any).
    num_classes : int, optional
        Classes must lie in 0..num_classes - 1 (None = any non-negative class).
    what : str
        Names the windows in messages ("training", "validation", ...).
    allow_empty : bool
        Accept N = 0.
    allow_single : bool
        Accept one window [T] (returned as [1, T]).
    dtype : numpy dtype
        Of the returned array (uint8 keeps a large training set small).
    """
    array = np.asarray(windows)
    if allow_single and array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or (steps is not None and array.shape[1] != steps):
        raise InputError(f"{what} windows have shape {array.shape}; expected [N, {steps or 'T'}]")
    if not allow_empty and array.shape[0] == 0:
        raise InputError(f"no {what} windows")
    if array.size:
        if not np.issubdtype(array.dtype, np.integer):
            raise InputError(f"{what} windows must hold integer event classes, not {array.dtype}")
        if array.min() < 0 or (num_classes is not None and array.max() >= num_classes):
            top = "" if num_classes is None else f"..{num_classes - 1}"
            raise InputError(f"{what} windows hold event classes outside 0{top}")
    return array.astype(dtype, copy=False)


def dedupe_windows(windows: np.ndarray) -> np.ndarray:
    """Drop repeated rows, keeping the first occurrence of each, in order.

    Parameters
    ----------
    windows : np.ndarray, shape [N, T]

    Returns
    -------
    np.ndarray, shape [M, T], M <= N, same dtype
    """
    windows = np.ascontiguousarray(windows)
    if len(windows) < 2:
        return windows.copy()
    # Viewing each row as one opaque byte string lets np.unique compare whole rows at C speed.
    rows = windows.view(np.dtype((np.void, windows.dtype.itemsize * windows.shape[1]))).ravel()
    _, first = np.unique(rows, return_index=True)
    return windows[np.sort(first)]


def slice_windows(events: np.ndarray, *, window_steps: int, hop_steps: int, steps_per_bar: int = 16) -> np.ndarray:
    """Bar-aligned windows of an event sequence that starts on a bar line.

    Windows that contain no onset are dropped and duplicates removed (first
    occurrence kept). A window starting inside a held note begins with
    ``NO_EVENT``, read as a rest.

    Parameters
    ----------
    events : np.ndarray, shape [T]
    window_steps, hop_steps : int, keyword-only
        Window length and hop in steps; the hop must be a whole number of bars.

    Returns
    -------
    windows : np.ndarray, uint8, shape [N, window_steps]
    """
    if hop_steps <= 0 or hop_steps % steps_per_bar:
        raise InputError(f"hop of {hop_steps} steps is not a whole number of {steps_per_bar}-step bars")
    events = np.asarray(events)
    count = (len(events) - window_steps) // hop_steps + 1 if len(events) >= window_steps else 0
    index = np.arange(count)[:, None] * hop_steps + np.arange(window_steps)[None, :]
    windows = events[index].astype(np.uint8)
    windows = windows[(windows >= FIRST_PITCH_CLASS).any(axis=1)]
    return dedupe_windows(windows)


def transpose_windows(windows: np.ndarray, shifts: np.ndarray | int, *, num_classes: int = 90) -> np.ndarray:
    """Transpose each row's pitch classes by its own shift, in one vectorised step.

    A row whose shifted pitches would leave the vocabulary is returned
    untransposed (its shift becomes 0), so the output never holds an invalid class.

    Parameters
    ----------
    windows : np.ndarray, shape [N, T]
    shifts : np.ndarray of int, shape [N] (or a scalar)
        Semitones per row.

    Returns
    -------
    np.ndarray, shape [N, T], same dtype as ``windows``
    """
    windows = np.asarray(windows)
    shifts = np.broadcast_to(np.asarray(shifts, dtype=np.int64), (len(windows),))
    pitched = windows >= FIRST_PITCH_CLASS
    wide = windows.astype(np.int64)
    lowest = np.where(pitched, wide, num_classes).min(axis=1, initial=num_classes)
    highest = np.where(pitched, wide, 0).max(axis=1, initial=0)
    fits = (lowest + shifts >= FIRST_PITCH_CLASS) & (highest + shifts <= num_classes - 1)
    applied = np.where(fits, shifts, 0)
    return (wide + pitched * applied[:, None]).astype(windows.dtype)


def transpose(events: np.ndarray, shift: int, *, num_classes: int = 90) -> np.ndarray | None:
    """Transpose one event sequence by ``shift`` semitones; ``None`` if a pitch would leave the range."""
    events = np.asarray(events)
    pitched = events >= FIRST_PITCH_CLASS
    if pitched.any():
        shifted = events[pitched].astype(np.int64) + shift
        if shifted.min() < FIRST_PITCH_CLASS or shifted.max() > num_classes - 1:
            return None
    out = events.copy()
    out[pitched] = events[pitched] + shift
    return out


def window_at(events: np.ndarray, *, bar: int, window_steps: int, steps_per_bar: int = 16) -> np.ndarray:
    """The window of ``window_steps`` starting at bar ``bar`` (0-based; messages count bars from 1).

    Returns
    -------
    np.ndarray, shape [window_steps], same dtype as ``events``

    Raises
    ------
    NoWindowError
        If the sequence is too short for the window, or the window holds no onset.
    """
    events = np.asarray(events)
    have, need = len(events) / steps_per_bar, window_steps / steps_per_bar
    start = bar * steps_per_bar
    if bar < 0:
        raise NoWindowError(f"bar {bar + 1} does not exist; bars are counted from 1")
    if start + window_steps > len(events):
        if bar == 0:
            raise NoWindowError(f"too short: {have:g} bars, needs {need:g}")
        raise NoWindowError(f"too short: {have:g} bars, a {need:g}-bar window from bar {bar + 1} needs {bar + need:g}")
    window = events[start : start + window_steps].copy()
    if not (window >= FIRST_PITCH_CLASS).any():
        raise NoWindowError(f"no notes in bars {bar + 1}–{bar + need:g}")
    return window


def first_window(events: np.ndarray, *, window_steps: int, steps_per_bar: int = 16) -> np.ndarray:
    """The first bar-aligned window of ``window_steps`` that contains an onset.

    Raises
    ------
    NoWindowError
        If the sequence is shorter than the window or no window has a note.
    """
    events = np.asarray(events)
    bars = (len(events) - window_steps) // steps_per_bar + 1 if len(events) >= window_steps else 0
    for bar in range(bars):
        start = bar * steps_per_bar
        if (events[start : start + window_steps] >= FIRST_PITCH_CLASS).any():
            return events[start : start + window_steps].copy()
    if bars == 0:
        return window_at(events, bar=0, window_steps=window_steps, steps_per_bar=steps_per_bar)
    raise NoWindowError(f"no notes in any {window_steps / steps_per_bar:g}-bar window")
