"""Ableton Link as a clock: the session's tempo and beat phase give each step its deadline.

Link (through the ``aalink`` binding) keeps a beat timeline shared by every
peer on the local network: tempo, the beat at any time, the phase within a
bar (the quantum, 4 beats) and, for peers that enable it, a start/stop state.
A step here is a sixteenth of the session's beat: step ``n`` falls on beat
``n / 4``, so a two-bar phrase starts on a bar line of the session, and every
peer hears the same downbeat. Deadlines are computed from the session at each
step (:meth:`LinkClock.time_of`), so a peer's tempo change takes effect at the
next step, and a timeline that jumps (joining a session re-aligns the beat) is
caught up with rather than replayed.

aalink delivers its callbacks through asyncio; nothing here needs them (the
tempo, beat, peers and playing state are read when needed), but the binding
wants an event loop, which runs on a thread of its own.

A session whose other peers leave is still a session: Link keeps the tempo and
the timeline, the player plays on, and the run warns once.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from musicvae.errors import InputError, SystemDependencyError
from musicvae.realtime.clock import now
from musicvae.realtime.stopping import join

#: Beats per bar of the session (Link's quantum): the phrase's bar lines fall on the session's.
QUANTUM = 4.0
#: Seconds a new peer looks for a running session before it plays on its own tempo.
DISCOVERY = 1.0


def _aalink():
    try:
        import aalink
    except ImportError as error:
        raise SystemDependencyError(f"--clock link needs the aalink package ({error}); pip install aalink") from None
    return aalink


class LinkClock:
    """A Link session peer; deadlines of 16th steps on the session's beat timeline.

    Parameters
    ----------
    bpm : float
        Tempo proposed to the session (a session that has peers already keeps its own).
    steps_per_quarter : int, keyword-only
        4: a step is a sixteenth.
    start_stop : bool, keyword-only
        Take part in Link's start/stop sync: :meth:`start` starts the session's transport, and a peer's
        stop is seen in :attr:`playing`.
    """

    def __init__(self, bpm: float, *, steps_per_quarter: int = 4, start_stop: bool = True) -> None:
        if not 20.0 <= bpm <= 999.0:  # Link's own tempo range is 20..999
            raise InputError(f"--bpm must lie in 20..999 with --clock link, got {bpm:g}")
        aalink = _aalink()
        self.steps_per_quarter = steps_per_quarter
        self.start_stop = start_stop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link", daemon=True)
        self._thread.start()

        async def make():
            return aalink.Link(float(bpm))  # bound to the running loop

        self.link = asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=5.0)
        self.link.quantum = QUANTUM
        self.link.start_stop_sync_enabled = start_stop
        self.link.enabled = True

    @property
    def bpm(self) -> float:
        return float(self.link.tempo)

    @property
    def peers(self) -> int:
        """Other peers in the session now."""
        return int(self.link.num_peers)

    @property
    def playing(self) -> bool:
        """The session's transport (always True without start/stop sync)."""
        return bool(self.link.playing) if self.start_stop else True

    @property
    def period(self) -> float:
        """Seconds per step at the session's tempo now."""
        return 60.0 / self.bpm / self.steps_per_quarter

    def step_at(self, t: float) -> float:
        """Fractional step of the session's timeline at time ``t`` (:func:`now`'s base)."""
        t0, beat, tempo = now(), float(self.link.beat), float(self.link.tempo)
        return (beat + (t - t0) * tempo / 60.0) * self.steps_per_quarter

    def next_step(self) -> int:
        """The first step whose deadline is still ahead."""
        return math.floor(self.step_at(now())) + 1

    def time_of(self, step: int) -> float:
        """Deadline of ``step`` from the session's beat and tempo now."""
        t0, beat, tempo = now(), float(self.link.beat), float(self.link.tempo)
        return t0 + (step / self.steps_per_quarter - beat) * 60.0 / tempo

    def find_peers(self, timeout: float = DISCOVERY, *, stop: threading.Event | None = None) -> int:
        """Wait up to ``timeout`` seconds for a session's peers (Link finds them in 0.1-0.6 s), so that the
        first steps already play on the session's tempo and phase; returns the peers found."""
        end = now() + timeout
        while not self.link.num_peers and now() < end and not (stop is not None and stop.is_set()):
            if stop is not None:
                stop.wait(0.02)
            else:
                time.sleep(0.02)
        return self.peers

    def start(self) -> None:
        """Start the session's transport (with start/stop sync): peers that sync start/stop start with us."""
        if self.start_stop and not self.link.playing:
            self.link.playing = True

    def close(self) -> None:
        """Leave the session (peers are told at once) and stop the event loop, each bounded."""
        try:
            self.link.enabled = False
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            join(self._thread, 1.0)
