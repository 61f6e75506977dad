"""How a live run stops: signals only set an event, workers are joined with a bound, the process exits fast.

A run never relies on Python's default ``KeyboardInterrupt``. A process
started as a background job of a non-interactive shell (``make test &``, a
launcher script's ``musicvae live ... &``) inherits SIGINT *ignored*, and
Python keeps that: Ctrl-C or ``kill -INT`` never reached such a run, which
played on forever (the flaky ``test_ctrl_c_stops_with_all_notes_off``). And a
``KeyboardInterrupt`` raised between any two bytecodes can land inside a
``finally``, a lock or a port's close. :class:`StopSignals` instead installs
handlers for SIGINT and SIGTERM (overriding an inherited "ignore") that only
set the run's stop event; the run loop sees it within one wait, the stop
sequence runs undisturbed, and the signal is raised again afterwards
(:meth:`StopSignals.raise_received`) so that a Ctrl-C still ends the command
with status 130 and SIGTERM with 143. Only set-up before anything sounds
(:meth:`StopSignals.set_up`: the first phrase, the synth's starting range,
run on a worker while the main thread waits) is cut at once, as Python's own
handler would.

:func:`deferred_signals` does the same around a port's close, so that a
second Ctrl-C during the stop cannot cut the close short.

Threads that libraries start (JACK's process and notification threads,
PortAudio's) are started inside :func:`blocked_signals`: they inherit a mask
that blocks SIGINT and SIGTERM, so the kernel never hands a stop signal to
one of them. Such a thread, interrupted inside a system call by a signal
meant for the process, sees the call fail (a socket read, a wait for the next
cycle) and may give its client up; and a signal taken there reaches Python
only through the main thread's next check.

Decode workers are daemon threads; a stop waits for the decode in flight for
at most :data:`WORKER_JOIN` seconds (its result is no longer needed), and the
interpreter's exit waits for any still running for at most :data:`EXIT_JOIN`
seconds: a daemon thread inside a torch call when the interpreter finalises
aborts the process ("terminate called without an active exception", status
134). At exit the collector's objects are also frozen (:func:`gc.freeze`):
the final collection over torch's and the other libraries' objects took 0.7
to 2 s on a loaded 2-core machine, 0.15 s frozen.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import signal
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

#: Seconds a stop waits for a worker thread (a decode in flight) to finish.
WORKER_JOIN = 0.5
#: Seconds the interpreter's exit waits, in all, for decode workers still running.
EXIT_JOIN = 2.0
#: Seconds between a set-up wait's checks (the wait itself is where a signal lands: see StopSignals.set_up).
_SET_UP_POLL = 0.05
#: The signals that stop a run, and how a report names them.
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

T = TypeVar("T")

_workers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_exit_lock = threading.Lock()
_exit_registered = False


class StopSignals:
    """While active (a context manager), SIGINT and SIGTERM set ``stop`` instead of raising.

    Installed only on the main thread (the only one Python runs handlers on);
    elsewhere it does nothing and the caller's ``stop`` event is the way to
    stop. The previous handlers come back on exit. Inside
    :meth:`interruptible` a signal raises at once as well.

    Parameters
    ----------
    stop : threading.Event
        Set by the first signal (and again by any later one).

    Attributes
    ----------
    received : int or None
        The first signal received (``signal.SIGINT`` / ``signal.SIGTERM``).
    count : int
        Signals received in all (a second Ctrl-C during the stop is counted, nothing more).
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.received: int | None = None
        self.count = 0
        self._previous: dict[int, object] = {}
        self._raise_now = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame) -> None:
        # Nothing else: this runs between two bytecodes of whatever the main thread was doing.
        if self.received is None:
            self.received = signum
        self.count += 1
        self.stop.set()
        if self._raise_now:  # set-up (see interruptible): end it at once
            self._raise_now = False
            raise self._exception(signum)

    @contextlib.contextmanager
    def interruptible(self):
        """Within this block a signal also raises at once, as Python's default handler would: for set-up
        before anything sounds or any port is open, which can take a while (a timbre instrument's first
        note imports librosa: 1.5 s) and needs no orderly stop."""
        self._raise_now = self.received is None
        try:
            yield
        finally:
            self._raise_now = False

    def set_up(self, job: Callable[[], T]) -> T:
        """Run set-up ``job`` (the first phrase, the synth's starting range) on a worker thread while this
        thread waits, cut at once by a signal as within :meth:`interruptible`; returns what ``job`` returns
        and raises what it raises.

        The signal raises here, in the wait, never inside ``job``: Python runs handlers on the main thread
        between any two bytecodes, and an exception raised inside the entry of torch's ``inference_mode()``
        or ``no_grad()`` leaves that mode switched on for the thread for good (in a process that goes on, as
        the tests' does, its next training step had no gradients). ``stop`` is set before the exception, so a
        job that watches it ends after the work in hand; the worker is tracked, so the exit waits for it
        (bounded).
        """
        result: list = []
        failure: list[BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                result.append(job())
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread, raised there
                failure.append(error)
            finally:
                done.set()

        worker = track_worker(threading.Thread(target=work, name="set-up", daemon=True))
        with self.interruptible():
            worker.start()
            while not done.wait(_SET_UP_POLL):
                pass
        if failure:
            raise failure[0]
        return result[0]

    def __exit__(self, *_exc) -> bool:
        while self._previous:
            signum, previous = self._previous.popitem()
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        return False

    @property
    def reason(self) -> str | None:
        """"Ctrl-C" or "SIGTERM" once a signal came, else None."""
        return SIGNAL_NAMES.get(self.received) if self.received is not None else None

    def raise_received(self, previous=None, *, report=None) -> None:
        """Raise what the received signal means once the stop is done: KeyboardInterrupt for SIGINT
        (status 130 from the CLI), ``SystemExit(143)`` for SIGTERM; nothing if none came.

        ``previous`` is the handler that was in place before (call it after :meth:`__exit__`):
        a Python handler of the caller's own runs instead, so that a nested use hands the signal on.
        ``report`` (the stopped run's) rides on the exception as ``.report``.
        """
        if self.received is None:
            return
        if callable(previous) and previous is not signal.default_int_handler:
            previous(self.received, None)
            return
        error = self._exception(self.received)
        error.report = report
        raise error

    @staticmethod
    def _exception(signum: int) -> BaseException:
        return KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT and SIGTERM off for the ``with`` body (a port's close), then act on them.

    A signal that came meanwhile is handed to the handler that was in place (a
    run's :class:`StopSignals` just sets its event again) or, if that was Python's
    default or none, raised as :class:`KeyboardInterrupt` / ``SystemExit(143)``.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    held = StopSignals(threading.Event())
    with held:
        yield
    held.raise_received(previous)


@contextlib.contextmanager
def blocked_signals():
    """Block SIGINT and SIGTERM on the calling thread for the ``with`` body (opening a JACK client or an audio
    stream): threads started meanwhile inherit the mask and never take those signals. One that came meanwhile
    stays pending, and is delivered to the caller when the body ends (to the run's handler, on the main thread).
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks, and no such delivery either
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, tuple(SIGNAL_NAMES))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def track_worker(thread: threading.Thread) -> threading.Thread:
    """Register a decode worker: the interpreter's exit waits for it (see the module docstring)."""
    _workers.add(thread)
    exit_quickly()
    return thread


def join(thread: threading.Thread | None, timeout: float = WORKER_JOIN) -> bool:
    """Join ``thread`` for at most ``timeout`` seconds; returns whether it ended."""
    if thread is None or thread is threading.current_thread():
        return True
    thread.join(timeout=max(0.0, timeout))
    return not thread.is_alive()


def exit_quickly() -> None:
    """Make this process's exit wait for decode workers (bounded) and skip the final collection's walk."""
    global _exit_registered
    with _exit_lock:
        if not _exit_registered:
            atexit.register(_at_exit)
            _exit_registered = True


def _at_exit() -> None:
    deadline = time.monotonic() + EXIT_JOIN
    for thread in list(_workers):
        join(thread, deadline - time.monotonic())
    gc.freeze()
