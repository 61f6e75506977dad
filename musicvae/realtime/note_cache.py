"""The synth's note cache: decoded notes keyed by (pitch, morph step), decoded off the audio thread.

A pad (``synth --pad``) keys them by (pitch, x step, y step): each axis of the point is quantised as the
morph is, so a finger moving on the pad reuses a bounded set of notes too.

:class:`NoteCache` holds what :class:`~musicvae.realtime.synth.SynthEngine` plays; its worker thread
decodes the notes a key asked for first, then what :func:`prefetch_keys` says a moving morph needs next.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from musicvae.audio.sustain import SustainedNote
from musicvae.realtime.stopping import WORKER_JOIN, join, track_worker

#: (pitch, morph step), or (pitch, x step, y step) on a pad.
NoteKey = tuple[int, ...]
#: Morph amounts are rounded to 1 / MORPH_STEPS for the note cache, live and offline (:mod:`musicvae.render`).
MORPH_STEPS = 16


class NoteCache:
    """Decoded notes keyed by (pitch, morph step), decoded on a worker thread.

    Parameters
    ----------
    decode : callable(pitch: int, amount) -> np.ndarray [n] float32 or SustainedNote
        Decodes one note at the engine's sample rate; a plain array cannot be held past its end.
        ``amount`` is the morph (a float), or with ``pad`` the point ``(x, y)``.
    morph_steps : int, keyword-only
        Morph amounts (on a pad: x and y each) are rounded to ``1 / morph_steps`` (the cache key), so a
        moving control reuses a bounded set of notes.
    blocking : bool, keyword-only
        Decode misses synchronously in :meth:`get` (offline rendering: exact and repeatable).
    pad : bool, keyword-only
        Notes lie at points (x, y) of a four-corner pad (the parameters' ``x`` and ``y``), not on a morph.
    """

    def __init__(self, decode: Callable[[int, float], np.ndarray], *, morph_steps: int = MORPH_STEPS,
                 blocking: bool = False, pad: bool = False) -> None:
        self.decode, self.morph_steps, self.blocking, self.pad = decode, morph_steps, blocking, pad
        self._notes: dict[NoteKey, SustainedNote] = {}
        self._pending: set[NoteKey] = set()  # queued or decoding
        # Two queues: notes a key asked for go first; prefetched ones wait behind them and are
        # dropped when a newer prefetch replaces them (the morph moved on before they were needed).
        self._urgent: deque[NoteKey] = deque()
        self._background: deque[NoteKey] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self.decoded = 0
        self.errors: list[str] = []
        self._thread: threading.Thread | None = None

    def key(self, pitch: int, morph) -> NoteKey:
        """The key of ``pitch`` at ``morph`` (a float; on a pad the point ``(x, y)``), each rounded to a step."""
        if self.pad:
            return int(pitch), int(round(morph[0] * self.morph_steps)), int(round(morph[1] * self.morph_steps))
        return int(pitch), int(round(morph * self.morph_steps))

    def point(self, params) -> float | tuple[float, float]:
        """Where ``params`` (a :class:`~musicvae.realtime.params.Params`) puts new notes: the morph, or (x, y)."""
        return (params.x, params.y) if self.pad else params.morph

    def step(self, params) -> int | tuple[int, int]:
        """The step ``params`` lie on: the morph's, or on a pad (x step, y step) (what :func:`prefetch_keys` takes)."""
        key = self.key(0, self.point(params))
        return key[1:] if self.pad else key[1]

    def get(self, key: NoteKey) -> SustainedNote | None:
        """The decoded note, or None (after queueing its decode first in line) if it is not ready."""
        note = self._notes.get(key)
        if note is not None:
            return note
        if self.blocking:
            self._decode(key)
            return self._notes.get(key)
        if key in self._pending and key not in self._background:
            return None  # already first in line or decoding: no lock on the audio thread's every block
        with self._wake:
            if key in self._background:  # prefetched but not reached yet: a key wants it now
                self._background.remove(key)
                self._urgent.append(key)
            elif key not in self._pending:
                self._pending.add(key)
                self._urgent.append(key)
            self._start_worker()
            self._wake.notify()
        return None

    def prefetch(self, keys) -> int:
        """Queue ``keys`` behind what keys asked for, replacing an earlier prefetch; never blocks.

        A performer moving the morph to a new step would otherwise wait for the
        first note-on of every pitch there (a cold note starts late).

        Returns
        -------
        int
            How many of ``keys`` were neither decoded nor queued already.
        """
        with self._wake:
            self._pending.difference_update(self._background)
            self._background.clear()
            for key in keys:
                if key not in self._notes and key not in self._pending:
                    self._pending.add(key)
                    self._background.append(key)
            self._start_worker()
            self._wake.notify()
            return len(self._background)

    def _start_worker(self) -> None:
        if self._thread is None and not self._closing:
            self._thread = track_worker(threading.Thread(target=self._run, name="note-decoder", daemon=True))
            self._thread.start()

    def warm(self, keys, *, stop: threading.Event | None = None) -> bool:
        """Decode ``keys`` now (before playing), so that their first note-on is warm.

        Returns False, having stopped after the note in hand, once ``stop`` is set (a Ctrl-C while
        a real instrument decodes its range takes effect within one note, not after the range).
        """
        for key in keys:
            if stop is not None and stop.is_set():
                return False
            if key not in self._notes:
                self._decode(key)
        return True

    def _decode(self, key: NoteKey) -> None:
        try:
            amount = (key[1] / self.morph_steps, key[2] / self.morph_steps) if self.pad else key[1] / self.morph_steps
            note = self.decode(key[0], amount)
            if not isinstance(note, SustainedNote):
                note = SustainedNote(np.ascontiguousarray(note, dtype=np.float32))
        except Exception as error:  # noqa: BLE001 - a failed note stays silent; the synth plays on
            self.errors.append(f"pitch {key[0]}: {type(error).__name__}: {error}")
            note = SustainedNote(np.zeros(0, np.float32))
        self._notes[key] = note
        self.decoded += 1

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._urgent or self._background or self._closing):
                    self._wake.wait()
                if self._closing:
                    return
                key = self._urgent.popleft() if self._urgent else self._background.popleft()
            self._decode(key)
            with self._wake:
                self._pending.discard(key)

    def close(self, timeout: float = WORKER_JOIN) -> bool:
        """Drop what is queued and stop the worker after the note it is decoding (at most ``timeout``
        seconds: see :mod:`musicvae.realtime.stopping`). Returns whether the worker ended."""
        with self._wake:
            self._closing = True
            self._urgent.clear()
            self._background.clear()
            self._wake.notify()
        return join(self._thread, timeout)


def prefetch_keys(previous, current, *, pitches: range, morph_steps: int) -> list[NoteKey]:
    """The notes to decode ahead when the morph moved from step ``previous`` to ``current``.

    Every pitch at the current step, then every pitch at the next step in the
    direction of the move (where a sweep or a turning knob is heading), if
    there is one. On a pad the steps are (x step, y step) pairs, and the next
    one is a step further along each axis that moved.
    """
    if isinstance(current, tuple):
        ahead = current
        if previous is not None:
            ahead = tuple(c + (c > p) - (c < p) for c, p in zip(current, previous, strict=True))
        steps = [current] + ([ahead] if ahead != current and all(0 <= a <= morph_steps for a in ahead) else [])
        return [(pitch, *step) for step in steps for pitch in pitches]
    steps = [current]
    if previous is not None and previous != current:
        ahead = current + (1 if current > previous else -1)
        if 0 <= ahead <= morph_steps:
            steps.append(ahead)
    return [(pitch, step) for step in steps for pitch in pitches]
