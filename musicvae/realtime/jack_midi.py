"""JACK-native MIDI ports (the ``JACK-Client`` package): events written at their frame in the period.

python-rtmidi's JACK backend writes every message at the start of the next
period, so a note's arrival is quantised to the period (1.3 ms at 64 frames,
5.3 ms at 256). Here the player hands each message over with its deadline
(``send(message, at=t)``) ahead of time, and the JACK process callback writes
it at frame ``(t - period_start) * sample_rate`` of the period that contains
``t``: a receiver plays it within a frame of its deadline. Inputs stamp each
event with the time of its frame, not with the moment a thread polled it.

Between the player and the process callback there is a bounded queue (a
``collections.deque``: its appends and pops are atomic, so neither side takes
a lock). When it is full a message is dropped, counted in ``dropped`` and
warned about once; nothing is lost silently.

Closing never cancels a thread that runs Python. Deactivating a JACK client
cancels its process thread (asynchronously: anywhere), and cancelled inside a
Python callback it would leave the interpreter's lock taken: every thread
hangs. So the callback itself ends the process thread (``jack.CallbackExit``
after the queue has drained: the client deactivates itself from its own
thread, outside Python), the closer waits, bounded, for that thread to be
gone, and only then closes the client, on a helper thread joined with a bound.

A JACK server that dies calls the shutdown callback: ``failure`` says why, the
run loop stops with one line, and the close skips every wait.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from musicvae.errors import InputError, SystemDependencyError
from musicvae.realtime.clock import now
from musicvae.realtime.stopping import WORKER_JOIN, blocked_signals, deferred_signals, join

#: Messages the queue between the player and the process callback holds (a 16th step sends 2 to 4).
RING_CAPACITY = 4096
#: How far ahead of its deadline, beyond a period, the player hands a message over: the player thread's wake-up
#: lateness on a loaded machine (p99 1-4 ms), with margin. A message handed over later than a period before its
#: deadline may find that period begun, and is written late (12 ms in all at 64 frames, 16 ms at 256).
LOOKAHEAD_MARGIN = 0.0107
#: A message that reaches its period more than this after its deadline counts as late (seconds).
LATE = 0.0001
#: Seconds a close waits for the process callback to write what is queued and end its thread.
_CLOSE_WAIT = 0.3
#: Seconds a close waits for the JACK library's own close (a dead server answers at once; a stuck one never).
_CLIENT_CLOSE = 0.5
#: Seconds a client whose process thread outlived its close waits for that thread to end before it is closed
#: (else it is left to the process's exit).
_LATE_CLOSE = 10.0
#: Clients tried before an activation failure is final. libjack gives a new client's process thread one
#: second to start and fails the activation otherwise, which a machine busy elsewhere sometimes makes happen.
_ACTIVATE_TRIES = 3
#: Closing repeats the last all-notes-off this long after it was sent, in a later period (see midi_io).
_REPEAT_AFTER = 0.03
#: The interpreter's thread switch interval while JACK ports are open (seconds; see _JackPort._activate).
_SWITCH_INTERVAL = 0.0005
#: How often an input's reader thread looks for events (it calls the handler off JACK's process thread).
_POLL_SECONDS = 0.001
#: Realtime status bytes an input passes only with ``clock=True`` (active sensing, 0xFE, never).
_REALTIME = frozenset({0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFF})
_ACTIVE_SENSE = 0xFE
_FLUSH = object()  # queue marker: everything queued before it is dropped (all notes off cancels what is pending)
VIRTUAL = "virtual:"

_NO_JACK_HELP = ("no JACK server is running ({detail}); start one (`jackd --no-realtime -d dummy &`, Debian "
                 "package jackd2) or choose another --midi-api")


def _jack():
    try:
        import jack
    except (ImportError, OSError) as error:  # JACK-Client missing, or libjack missing under it
        raise SystemDependencyError(
            f"JACK MIDI needs the JACK-Client package and libjack ({error}); "
            "pip install JACK-Client, apt-get install libjack-jackd2-0"
        ) from None
    return jack


def _available(ports: list[str]) -> str:
    return ", ".join(repr(p) for p in ports) or "none"


class _JackPort:
    """A JACK client with one MIDI port, its process callback and the safe close (see the module docstring)."""

    def __init__(self, client: str) -> None:
        jack = _jack()
        self._jack = jack
        self._client_name = client
        self._client = self._open_client()
        self.sample_rate = self._client.samplerate
        self.frames = self._client.blocksize  # frames per period (the process callback keeps it current)
        self.failure: str | None = None  # why the server went away, once it did
        self.errors = 0  # exceptions inside the process callback (counted; the callback carries on)
        self._closing = False
        self._exit_next = False
        self._ended = threading.Event()  # the process callback has ended its thread
        self._thread_id: int | None = None
        self._active = False
        self._closed = False
        self.abandoned = False  # closed before its process thread ended: the client closes later (see _close_client)
        self._port = None  # registered once the client runs (see _open_port)

    def _open_client(self):
        try:
            with blocked_signals():  # its notification thread must never take a stop signal (see stopping)
                client = self._jack.Client(self._client_name, no_start_server=True)
        except self._jack.JackOpenError as error:
            raise SystemDependencyError(_NO_JACK_HELP.format(detail=str(error).split(":")[-1].strip())) from None
        client.set_shutdown_callback(self._on_shutdown)
        return client

    def _open_port(self, name: str, process: Callable[[int], None], *, output: bool):
        """Activate the client, then register its MIDI port called ``name``; returns the port (also ``_port``).

        An activation that fails is tried again on a fresh client (see :data:`_ACTIVATE_TRIES`), never on the
        same one: its first process thread may still start late, and two would then wait for the same cycles.
        The port is registered only once a client runs: a port that appeared on a client then closed for a
        retry took with it the connections made to it meanwhile (a patchbay connecting ports as they appear,
        or a test), and the run played on, deaf. Until the port exists, ``process`` is not called.
        """
        for attempt in range(_ACTIVATE_TRIES):
            try:
                self._activate(process)
                break
            except self._jack.JackError:
                if attempt == _ACTIVATE_TRIES - 1:
                    raise
            failed = self._client

            def close(client=failed) -> None:  # never activated: no thread of it runs Python
                with contextlib.suppress(Exception):
                    client.close()

            closer = threading.Thread(target=close, name="jack-close", daemon=True)
            closer.start()
            join(closer, _CLIENT_CLOSE)
            failed._ptr = self._jack._ffi.NULL  # closed above (or left to the exit): never by __del__
            self._client = self._open_client()
        ports = self._client.midi_outports if output else self._client.midi_inports
        self._port = ports.register(name)
        return self._port

    def _activate(self, process: Callable[[int], None]) -> None:
        def callback(frames: int) -> None:
            if self._thread_id is None:
                self._thread_id = threading.get_native_id()
            if self._exit_next:
                if self._port is not None:
                    self._quiet(frames)
                self._ended.set()
                raise self._jack.CallbackExit
            if self._port is None:  # activated, its port not registered yet
                return
            try:
                process(frames)
            except self._jack.CallbackExit:
                raise
            except Exception:  # noqa: BLE001 - an exception would end the callback for good: count, carry on
                self.errors += 1
            if self._closing:
                self._exit_next = self._drained()

        self._client.set_process_callback(callback)
        # The callback needs the interpreter's lock once a period (1.3 ms at 64 frames); a thread running Python
        # (a phrase decode's step loop) keeps it up to the switch interval, 5 ms by default: a period missed.
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL))
        with blocked_signals():  # nor its process thread
            self._client.activate()
        self._active = True

    def _quiet(self, frames: int) -> None:
        """What the last period writes (an output clears its buffer: JACK would repeat the previous one)."""

    def _drained(self) -> bool:
        return True

    def _on_shutdown(self, status, reason: str) -> None:
        # On JACK's notification thread, as a signal handler would run: set a flag, nothing more.
        self.failure = reason or "the JACK server stopped"

    def _connect(self, source: str, destination: str) -> None:
        self._client.connect(source, destination)

    def _find(self, wanted: str, *, is_input: bool) -> tuple[str | None, list[str]]:
        from musicvae.realtime.midi_io import find_port

        own = self._client.name + ":"
        ports = [p.name for p in self._client.get_ports(is_midi=True, is_input=is_input, is_output=not is_input)
                 if not p.name.startswith(own)]
        index = find_port(ports, wanted)
        return (None if index is None else ports[index]), ports

    def _close_client(self, timeout: float = _CLOSE_WAIT) -> None:
        """End the process thread from inside (bounded wait), then close the client on a helper thread."""
        if self._closed:
            return
        self._closed = True
        with deferred_signals():
            if self._active and self.failure is None:
                self._closing = True
                self._ended.wait(timeout)
                end = now() + timeout
                # The thread deactivates the client and exits after the callback returned: wait until it is gone.
                task = f"/proc/self/task/{self._thread_id}" if self._thread_id is not None else None
                while task is not None and os.path.exists(task) and now() < end and self.failure is None:
                    time.sleep(0.001)
                if task is not None and os.path.exists(task) and self.failure is None:
                    # The thread is still there (a callback starved of the interpreter's lock, a server that
                    # stopped running cycles, or a synchronous server stalled by the thread's own deactivation):
                    # closing now would cancel it, perhaps inside Python. Close the client once the thread is
                    # gone, from a thread of its own: a client left open keeps its name, and the next client
                    # asking for that name would be given another.
                    self.abandoned = True
                    threading.Thread(target=self._close_later, args=(self._client, task), name="jack-close-later",
                                     daemon=True).start()
                    return
            client = self._client

            def close() -> None:
                with contextlib.suppress(Exception):
                    client.deactivate()
                    client.close()

            closer = threading.Thread(target=close, name="jack-close", daemon=True)
            closer.start()
            join(closer, _CLIENT_CLOSE)

    def _close_later(self, client, task: str) -> None:
        end = now() + _LATE_CLOSE
        while os.path.exists(task) and now() < end and self.failure is None:
            time.sleep(0.01)
        if os.path.exists(task) and self.failure is None:
            client._ptr = self._jack._ffi.NULL  # left to the process's exit, never to JACK-Client's __del__
            return
        with contextlib.suppress(Exception):
            client.deactivate()
            client.close()

    def __del__(self) -> None:  # never let JACK-Client's own __del__ deactivate a client whose callback runs
        with contextlib.suppress(Exception):
            self._close_client()


class JackMidiOutput(_JackPort):
    """A JACK MIDI output writing each message at the frame of its deadline.

    The same contract as :class:`musicvae.realtime.midi_io.MidiOutput` (``send``, ``all_notes_off``,
    ``close``, ``sounding``, ``channels``, ``sent``), plus a deadline per message.

    Parameters
    ----------
    name : str
        An existing JACK MIDI input port to connect to (by name, as MidiOutput matches names), else the name of
        a new port others connect to (``virtual:NAME`` always makes a new one).
    client : str, keyword-only
        JACK client name.
    capacity : int, keyword-only
        Messages the queue holds; more are dropped and counted in ``dropped``.

    Attributes
    ----------
    lookahead : float
        Seconds before its deadline a message should be handed over: a period plus :data:`LOOKAHEAD_MARGIN`.
    dropped : int
        Messages refused because the queue was full (or too large for a JACK buffer).
    late : int
        Messages that reached the process callback over :data:`LATE` after their deadline, their period
        begun (written at its start): a server that woke late, or a callback that waited for the
        interpreter's lock.
    """

    def __init__(self, name: str, *, client: str = "musicvae", capacity: int = RING_CAPACITY) -> None:
        super().__init__(client)
        self.name = name
        wanted = name[len(VIRTUAL):] if name.startswith(VIRTUAL) else name
        target, _ = (None, []) if name.startswith(VIRTUAL) else self._find(wanted, is_input=True)
        self._queue: deque = deque()
        self._capacity = capacity
        self._lock = threading.Lock()  # senders only (the clock and the stop path); the callback never takes it
        self._flushes = 0
        self._flushed = 0
        self.sent = 0
        self.written = 0
        self.dropped = 0
        self.late = 0
        self.max_late = 0.0
        self.sounding: set[tuple[int, int]] = set()
        self.channels: set[int] = set()
        self._panic: list[list[int]] = []
        self._panic_at = 0.0
        try:
            self._open_port("out" if target else wanted, self._process, output=True)
            if target is not None:
                self._connect(self._port.name, target)
                self.name = target
        except self._jack.JackError as error:
            self._close_client()
            raise InputError(f"cannot open JACK MIDI output {name!r} ({error})") from None

    # -- the player's side -------------------------------------------------------------------------------

    @property
    def lookahead(self) -> float:
        """Seconds before its deadline a message should be handed over (a period plus a margin)."""
        return self.frames / self.sample_rate + LOOKAHEAD_MARGIN

    def send(self, message: list[int], at: float | None = None, *, force: bool = False) -> None:
        """Queue one message for its deadline ``at`` (seconds on :func:`~musicvae.realtime.clock.now`'s base;
        None = the next period's start). Messages must come in time order. Thread-safe. ``force`` queues it
        even when the queue is full (the all-notes-off: bounded, and never dropped)."""
        with self._lock:
            status = message[0] & 0xF0 if message else 0
            channel = message[0] & 0x0F if message else 0
            if status == 0x90 and len(message) == 3 and message[2] > 0:
                self.sounding.add((channel, message[1]))  # before queueing: a drop leaves it for all_notes_off
            if 0x80 <= status <= 0xE0:
                self.channels.add(channel)
            if self.failure is not None:
                return  # the server is gone: nothing can leave (the run stops on `failure`)
            if len(self._queue) >= self._capacity and not force:
                self._drop()
                return
            self._queue.append((at, bytes(message)))
            self.sent += 1
            if status == 0x80 or (status == 0x90 and len(message) == 3 and message[2] == 0):
                self.sounding.discard((channel, message[1]))
            elif status == 0xB0 and len(message) == 3 and message[1] in (120, 123):
                self.sounding = {(c, p) for c, p in self.sounding if c != channel}

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1:
            print(f"warning: the JACK MIDI queue of {self.name!r} is full ({self._capacity} messages): dropping "
                  "messages (counted in the summary)", file=sys.stderr)

    def all_notes_off(self, *, channels=()) -> int:
        """Drop what is queued for later, then a note-off for every note started and not ended and CC 123
        on every channel used, at the next period. Returns the messages sent."""
        with self._lock:
            # A note-on queued for a later deadline must not follow the note-offs: cancel everything pending.
            self._flushes += 1
            self._queue.append((_FLUSH, None))
            notes, channels = sorted(self.sounding), sorted(self.channels | set(channels))
        messages = [[0x80 | c, p, 0] for c, p in notes] + [[0xB0 | c, 123, 0] for c in channels]
        for message in messages:
            self.send(message, force=True)
        self._panic, self._panic_at = messages, time.perf_counter()
        return len(messages)

    def alive(self) -> bool:
        return self.failure is None

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the process callback has written everything queued."""
        end = now() + timeout
        while self._queue and self.failure is None and now() < end:
            time.sleep(0.001)
        return not self._queue

    def close(self) -> None:
        """End what this port started, repeat the all-notes-off a period later, let it leave, close the client
        (bounded: about 0.05 s after anything was sent; at once if the server is gone)."""
        if self._closed:
            return
        with deferred_signals():
            if self.failure is None:
                if self.sounding:
                    self.all_notes_off()
                if self._panic:
                    time.sleep(max(0.0, self._panic_at + _REPEAT_AFTER - time.perf_counter()))
                    for message in self._panic:
                        self.send(message, force=True)
            self._close_client()

    # -- JACK's process thread ---------------------------------------------------------------------------

    def _process(self, frames: int) -> None:
        port, queue, rate = self._port, self._queue, self.sample_rate
        self.frames = frames
        port.clear_buffer()
        # The period's first frame on our clock: now, less the frames the server says have passed since it began.
        start = now() - self._client.frames_since_cycle_start / rate
        end = start + frames / rate
        if self._flushed != self._flushes:
            while queue and self._flushed != self._flushes:
                if queue.popleft()[0] is _FLUSH:
                    self._flushed += 1
        last = -1
        while queue:
            at, data = queue[0]
            if at is _FLUSH:
                break  # a flush queued after the check above: the next period handles it
            if at is not None and at >= end:
                break
            offset = 0 if at is None else int((at - start) * rate + 0.5)
            if offset < 0:
                # A deadline a frame or two before the period's start is the two periods' time estimates
                # disagreeing (each within a frame); later than LATE, the period began after the deadline.
                if at is not None and start - at > LATE:
                    self.late += 1
                    self.max_late = max(self.max_late, start - at)
                offset = 0
            offset = min(max(offset, last, 0), frames - 1)  # in order, as JACK requires
            try:
                port.write_midi_event(offset, data)
            except self._jack.JackError:  # the period's buffer is full
                if last < 0:  # even alone it does not fit: it never will
                    queue.popleft()
                    self.dropped += 1
                break
            queue.popleft()
            self.written += 1
            last = offset

    def _quiet(self, frames: int) -> None:
        self._port.clear_buffer()

    def _drained(self) -> bool:
        return not self._queue


class JackMidiInput(_JackPort):
    """A JACK MIDI input: events stamped at their frame, handed to ``handler`` on a reader thread.

    The same contract as :class:`musicvae.realtime.midi_io.MidiInput` (``handler(message, t)``, ``received``,
    ``errors``, ``alive()``, ``close()``, ``source``). SysEx passes (the handlers ignore it); MIDI clock and other
    realtime messages only with ``clock=True``; active sensing never. A queue of ``capacity`` events sits
    between JACK's process thread and the reader; when a flood fills it, events are dropped and counted in
    ``dropped`` (warned about once).
    """

    def __init__(self, name: str, *, handler: Callable[[list[int], float], None], clock: bool = False,
                 client: str = "musicvae-in", capacity: int = RING_CAPACITY) -> None:
        super().__init__(client)
        self.handler = handler
        self.received = 0
        self.dropped = 0
        self.errors = 0
        self._clock = clock
        self._capacity = capacity
        self._queue: deque = deque()
        self.name = name
        self.source: str | None = None
        if not name.startswith(VIRTUAL):
            self.source, ports = self._find(name, is_input=False)
            if self.source is None:
                self._close_client()
                raise InputError(f"no MIDI input port {name!r}; available inputs: {_available(ports)} "
                                 f"(or use --midi-in {VIRTUAL}{name} to open a new port others connect to)")
        try:
            self._open_port(name[len(VIRTUAL):] if self.source is None else "in", self._process,
                            output=False)
            if self.source is not None:
                self._connect(self.source, self._port.name)
        except self._jack.JackError as error:
            self._close_client()
            raise InputError(f"cannot open JACK MIDI input {name!r} ({error})") from None
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"jack-midi-in {name}", daemon=True)
        self._reader.start()

    def _process(self, frames: int) -> None:
        start = now() - self._client.frames_since_cycle_start / self.sample_rate
        queue, rate = self._queue, self.sample_rate
        for offset, data in self._port.incoming_midi_events():
            message = bytes(data)  # the buffer is reused for the next event (and indexes as bytes)
            if not message:
                continue
            status = message[0]
            if status == _ACTIVE_SENSE or (status in _REALTIME and not self._clock):
                continue
            if len(queue) >= self._capacity:
                self.dropped += 1
                continue
            queue.append((start + offset / rate, message))

    def _read(self) -> None:
        queue = self._queue
        warned = 0
        while not self._stop.is_set():
            if not queue:
                if self.dropped and not warned:
                    warned = 1
                    print(f"warning: MIDI input {self.name!r} floods faster than it is read: dropping events "
                          "(counted in the summary)", file=sys.stderr)
                time.sleep(_POLL_SECONDS)
                continue
            t, data = queue.popleft()
            self.received += 1
            try:
                self.handler(list(data), t)
            except Exception:  # noqa: BLE001 - garbage input must not stop a show
                self.errors += 1

    def alive(self) -> bool:
        """Whether the server is up and the port we connected to still exists."""
        if self.failure is not None:
            return False
        if self.source is None:
            return True
        try:
            self._client.get_port_by_name(self.source)
        except Exception:  # noqa: BLE001 - the port (or the server) went away
            return False
        return True

    def close(self, timeout: float = WORKER_JOIN) -> None:
        """Stop the reader (``timeout`` bounds the wait), then close the client."""
        self._stop.set()
        with deferred_signals():
            join(self._reader, timeout)
            self._close_client()
