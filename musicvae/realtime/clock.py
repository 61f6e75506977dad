"""Clocks: absolute deadlines on an internal tempo, and following an external MIDI clock.

Deadlines are always ``anchor + n * period`` computed from the step number,
never accumulated sleeps: a late wake-up delays one event, not every event
after it. The monotonic ``time.perf_counter`` is the time base everywhere
(rtmidi callbacks are stamped with it too), so input and output share one clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from musicvae.errors import InputError

#: MIDI clock: 24 pulses per quarter note, so 6 per sixteenth (one melody step).
PPQN = 24
TICKS_PER_STEP = 6
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
#: Waking this long before a deadline and sleeping the rest keeps Event.wait's coarse
#: wake-up off the deadline while still letting a stop request interrupt long waits.
_INTERRUPT_MARGIN = 0.002


def now() -> float:
    """The realtime time base (seconds, monotonic)."""
    return time.perf_counter()


def sleep_until(deadline: float, *, stop: threading.Event | None = None) -> float:
    """Sleep until the absolute time ``deadline`` (:func:`now`'s base); return the lateness in seconds.

    Returns early (lateness < 0) if ``stop`` is set while waiting.
    """
    remaining = deadline - now()
    if stop is not None and remaining > _INTERRUPT_MARGIN:
        if stop.wait(remaining - _INTERRUPT_MARGIN):
            return now() - deadline
    remaining = deadline - now()
    if remaining > 0:
        time.sleep(remaining)
    return now() - deadline


class StepClock:
    """An internal tempo: the deadline of step ``n`` is ``anchor_time + (n - anchor_step) * period``.

    Parameters
    ----------
    bpm : float
        Quarter notes per minute.
    steps_per_quarter : int, keyword-only
        4 for the 16th-note grid of the melody codec.
    start : float, keyword-only
        Time of step 0 (default: now plus ``lead`` seconds).
    lead : float, keyword-only
        Headroom before step 0 when ``start`` is not given, so the first events are not late.
    """

    def __init__(self, bpm: float, *, steps_per_quarter: int = 4, start: float | None = None,
                 lead: float = 0.05) -> None:
        self.steps_per_quarter = steps_per_quarter
        self.period = self._period(bpm)
        self._anchor_time = now() + lead if start is None else start
        self._anchor_step = 0

    def _period(self, bpm: float) -> float:
        if not 1.0 <= bpm <= 999.0:
            raise InputError(f"--bpm must lie in 1..999, got {bpm:g}")
        return 60.0 / bpm / self.steps_per_quarter

    @property
    def bpm(self) -> float:
        return 60.0 / self.period / self.steps_per_quarter

    def time_of(self, step: int) -> float:
        """Deadline of ``step`` (seconds on :func:`now`'s base)."""
        return self._anchor_time + (step - self._anchor_step) * self.period

    def step_at(self, t: float) -> float:
        """Fractional step position at time ``t``."""
        return self._anchor_step + (t - self._anchor_time) / self.period

    def set_bpm(self, bpm: float, *, at_step: int) -> None:
        """Change tempo from ``at_step`` on; earlier deadlines are unchanged."""
        self._anchor_time, self._anchor_step = self.time_of(at_step), at_step
        self.period = self._period(bpm)


class MidiClockFollower:
    """Follows an external MIDI clock: steps on every 6th pulse, tempo from a least-squares fit.

    Feed every received realtime message with its arrival time; callbacks run
    on the caller's (MIDI input) thread.

    Parameters
    ----------
    on_step : callable(step: int, t: float), keyword-only
        Called on the pulse that starts each 16th step while running.
    on_start, on_stop : callable(), keyword-only
        Called on Start/Continue and on Stop.
    window : int, keyword-only
        Pulses the tempo estimate fits over (48 = two quarters).
    """

    def __init__(self, *, on_step: Callable[[int, float], None] | None = None,
                 on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None,
                 window: int = 48) -> None:
        self.on_step, self.on_start, self.on_stop = on_step, on_start, on_stop
        self.running = False
        self.position = 0  # pulses since song start
        self._times: deque[float] = deque(maxlen=window)
        self.last_pulse: float | None = None

    def feed(self, message: Sequence[int], t: float) -> bool:
        """Handle one message; returns whether it was a clock message (anything else is ignored)."""
        if not message:
            return False
        status = message[0]
        if status == CLOCK:
            self._pulse(t)
        elif status == START:
            self.position, self.running = 0, True
            self._call(self.on_start)
        elif status == CONTINUE:
            self.running = True
            self._call(self.on_start)
        elif status == STOP:
            self.running = False
            self._call(self.on_stop)
        elif status == SONG_POSITION and len(message) >= 3:
            self.position = TICKS_PER_STEP * ((message[1] & 0x7F) | (message[2] & 0x7F) << 7)
        else:
            return False
        return True

    def _pulse(self, t: float) -> None:
        # A gap of more than a few expected pulses (the clock source paused) breaks the fit.
        if self._times and self.bpm is not None and t - self._times[-1] > 4 * 60.0 / (self.bpm * PPQN):
            self._times.clear()
        self._times.append(t)
        self.last_pulse = t
        if not self.running:
            return
        if self.position % TICKS_PER_STEP == 0 and self.on_step is not None:
            self.on_step(self.position // TICKS_PER_STEP, t)
        self.position += 1

    @staticmethod
    def _call(callback: Callable[[], None] | None) -> None:
        if callback is not None:
            callback()

    @property
    def bpm(self) -> float | None:
        """Estimated tempo (quarters per minute), or None before 3 pulses."""
        if len(self._times) < 3:
            return None
        times = np.fromiter(self._times, dtype=np.float64)
        # Least squares over the window: pulse jitter averages out, unlike a last-interval estimate.
        slope = np.polyfit(np.arange(len(times), dtype=np.float64), times - times[0], 1)[0]
        return 60.0 / (slope * PPQN) if slope > 0 else None

    def stalled(self, t: float, *, pulses: float = 12.0) -> bool:
        """Whether a running clock has sent no pulse for ``pulses`` expected intervals (source gone)."""
        if not self.running or self.last_pulse is None:
            return False
        bpm = self.bpm or 120.0
        return t - self.last_pulse > pulses * 60.0 / (bpm * PPQN)
