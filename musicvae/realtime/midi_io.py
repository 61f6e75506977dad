"""MIDI ports by name: python-rtmidi adapters, and :func:`open_output` / :func:`open_input`, which pick them.

``--midi-api jack`` (and the default where there is no ALSA sequencer) opens
JACK-native ports instead (:mod:`musicvae.realtime.jack_midi`: each event at
its frame in the period); python-rtmidi serves ALSA, CoreMIDI and Windows.
rtmidi ports are wrapped in :class:`MidiOutput` / :class:`MidiInput`, which keep the
rtmidi objects alive (a garbage-collected rtmidi object closes its port) and
stamp incoming messages with :func:`musicvae.realtime.clock.now`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from musicvae.errors import InputError, SystemDependencyError
from musicvae.realtime.clock import now
from musicvae.realtime.stopping import WORKER_JOIN, deferred_signals, join

#: ``--midi-api`` names -> rtmidi API constants (looked up lazily: rtmidi is imported on use).
API_NAMES = {"alsa": "API_LINUX_ALSA", "jack": "API_UNIX_JACK", "coremidi": "API_MACOSX_CORE",
             "windows": "API_WINDOWS_MM"}
#: How long closing an output waits for queued messages to leave: JACK delivers them at its next period,
#: which a loaded machine running a non-realtime server can delay by tens of milliseconds (rtmidi's close
#: then waits, up to a second, for one more period before it drops the port).
_FLUSH_SECONDS = 0.1
#: Closing an output repeats the last all-notes-off this long after it was sent, so that the copy leaves in a
#: later JACK period: a starved dummy server sometimes skips a client's cycle, and the MIDI of that cycle
#: never reaches its receivers (once in 30 stops on a loaded 2-core machine before the repeat).
_REPEAT_AFTER = 0.03
#: How often an input's reader thread looks for messages (latency and timestamp error at most this).
_POLL_SECONDS = 0.001
#: Prefix forcing a new virtual port even where a port of that name exists.
VIRTUAL = "virtual:"
#: The ALSA sequencer device; without it (most containers) the default MIDI system is JACK.
ALSA_SEQUENCER = "/dev/snd/seq"

_NO_MIDI_HELP = ("no MIDI system is reachable ({detail}); in a container or CI there is no ALSA sequencer: "
                 "start JACK (`jackd --no-realtime -d dummy &`, Debian package jackd2) and use --midi-api jack")


def _rtmidi():
    try:
        import rtmidi
    except ImportError as error:  # libasound2 / libjack missing under the wheel
        raise SystemDependencyError(
            f"python-rtmidi cannot load ({error}); install libasound2 and libjack-jackd2-0 (Debian names)"
        ) from None
    return rtmidi


def resolve_api(name: str | None) -> int:
    """The rtmidi API constant of ``--midi-api``.

    None = the platform default: on Linux ALSA, or JACK where there is no ALSA sequencer (containers, CI),
    so that a running ``jackd`` is found without ``--midi-api jack``.
    """
    rtmidi = _rtmidi()
    if name is None:
        if (sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQUENCER)
                and rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()):
            return rtmidi.API_UNIX_JACK
        return rtmidi.API_UNSPECIFIED
    if name not in API_NAMES:
        raise InputError(f"unknown --midi-api {name!r}; choose one of: {', '.join(API_NAMES)}")
    api = getattr(rtmidi, API_NAMES[name])
    if api not in rtmidi.get_compiled_api():
        compiled = [k for k, v in API_NAMES.items() if getattr(rtmidi, v) in rtmidi.get_compiled_api()]
        raise SystemDependencyError(f"this python-rtmidi has no {name} support; it offers: {', '.join(compiled)}")
    return api


def _make(kind: str, api: int, client: str):
    rtmidi = _rtmidi()
    cls = rtmidi.MidiOut if kind == "output" else rtmidi.MidiIn
    try:
        return cls(rtapi=api, name=client)
    except rtmidi.SystemError as error:
        raise SystemDependencyError(_NO_MIDI_HELP.format(detail=str(error).split("\n")[0])) from None


def find_port(ports: list[str], name: str) -> int | None:
    """Index of the port called ``name``: exact, then the part after "client:", then a unique substring."""
    if name in ports:
        return ports.index(name)
    for match in (lambda p: p.split(":", 1)[-1] == name, lambda p: name.lower() in p.lower()):
        hits = [i for i, port in enumerate(ports) if match(port)]
        if len(hits) == 1:
            return hits[0]
    return None


def _available(ports: list[str]) -> str:
    return ", ".join(repr(p) for p in ports) or "none"


def native_jack(api: str | None) -> bool:
    """Whether ``--midi-api`` (None = the platform default) means JACK, served by JACK-native ports."""
    if api == "jack":
        return True
    if api is None:
        rtmidi = _rtmidi()
        return resolve_api(None) == rtmidi.API_UNIX_JACK
    return False


def open_output(name: str, *, api: str | None = None, client: str = "musicvae"):
    """The output ``--midi-api`` asks for: :class:`~musicvae.realtime.jack_midi.JackMidiOutput` on JACK,
    else :class:`MidiOutput`."""
    if native_jack(api):
        from musicvae.realtime.jack_midi import JackMidiOutput

        return JackMidiOutput(name, client=client)
    return MidiOutput(name, api=api, client=client)


def open_input(name: str, *, handler: Callable[[list[int], float], None], api: str | None = None,
               clock: bool = False, client: str = "musicvae-in"):
    """The input ``--midi-api`` asks for: :class:`~musicvae.realtime.jack_midi.JackMidiInput` on JACK,
    else :class:`MidiInput`."""
    if native_jack(api):
        from musicvae.realtime.jack_midi import JackMidiInput

        return JackMidiInput(name, handler=handler, clock=clock, client=client)
    return MidiInput(name, handler=handler, api=api, clock=clock, client=client)


class MidiOutput:
    """An open MIDI output: an existing port whose name matches, else a new virtual port of that name.

    Parameters
    ----------
    name : str
        Port name (``virtual:NAME`` always opens a virtual port).
    api : str, optional, keyword-only
        ``--midi-api`` name; None = platform default.
    client : str, keyword-only
        Client name other programs see.
    """

    def __init__(self, name: str, *, api: str | None = None, client: str = "musicvae") -> None:
        self._port = _make("output", resolve_api(api), client)
        self._lock = threading.Lock()
        self.name = name
        wanted = name[len(VIRTUAL):] if name.startswith(VIRTUAL) else name
        index = None if name.startswith(VIRTUAL) else find_port(self._port.get_ports(), wanted)
        try:
            if index is not None:
                self._port.open_port(index)
                self.name = self._port.get_ports()[index]
            else:
                self._port.open_virtual_port(wanted)
        except Exception as error:  # noqa: BLE001 - rtmidi: virtual ports are unsupported on Windows MM
            self._port.delete()  # at once: a lingering client would take this client name from the next one
            raise InputError(
                f"cannot open MIDI output {name!r} ({error}); available outputs: {_available(self._port.get_ports())}"
            ) from None
        self.sent = 0
        # (channel, pitch) of every note-on sent and not yet ended, and every channel used: what
        # all_notes_off() must end, whatever an engine believes (it may have computed, but not sent, a step).
        self.sounding: set[tuple[int, int]] = set()
        self.channels: set[int] = set()
        self._panic: list[list[int]] = []  # the last all_notes_off(): close() sends it again
        self._panic_at = 0.0
        self._closed = False

    #: Seconds before its deadline a message is handed over: rtmidi sends at once, so on the deadline.
    lookahead = 0.0
    dropped = 0
    late = 0

    def send(self, message: list[int], at: float | None = None) -> None:
        """Send one message now (thread-safe: the clock and the stop path may both send); ``at`` is ignored:
        rtmidi stamps no times, the caller sends on the deadline."""
        with self._lock:
            status = message[0] & 0xF0 if message else 0
            channel = message[0] & 0x0F if message else 0
            if status == 0x90 and len(message) == 3 and message[2] > 0:
                # Before sending: an interrupt in between leaves an extra note-off, never a stuck note.
                self.sounding.add((channel, message[1]))
            if 0x80 <= status <= 0xE0:
                self.channels.add(channel)
            self._port.send_message(message)
            self.sent += 1
            if status == 0x80 or (status == 0x90 and len(message) == 3 and message[2] == 0):
                self.sounding.discard((channel, message[1]))
            elif status == 0xB0 and len(message) == 3 and message[1] in (120, 123):
                self.sounding = {(c, p) for c, p in self.sounding if c != channel}

    def all_notes_off(self, *, channels=()) -> int:
        """Note-off for every note this port started and did not end, then CC 123 on every channel used.

        Parameters
        ----------
        channels : iterable of int, keyword-only
            Channels (0-based) to send CC 123 on even if nothing was sent there yet.

        Returns
        -------
        int
            Messages sent.
        """
        with self._lock:
            notes, channels = sorted(self.sounding), sorted(self.channels | set(channels))
        messages = [[0x80 | c, p, 0] for c, p in notes] + [[0xB0 | c, 123, 0] for c in channels]
        for message in messages:
            self.send(message)
        self._panic, self._panic_at = messages, time.perf_counter()
        return len(messages)

    def alive(self) -> bool:
        return True

    def drain(self, timeout: float) -> bool:
        """Nothing waits here: rtmidi sent every message already."""
        return True

    def close(self) -> None:
        """End what this port started, repeat the last all-notes-off, let it leave, then close the port.

        Never leaves a note sounding: notes still on get their note-off here. Takes about 0.15 s
        after anything was sent (the repeat and the flush), and defers a Ctrl-C that comes meanwhile
        to its end (:func:`~musicvae.realtime.stopping.deferred_signals`).
        """
        if self._closed:
            return
        self._closed = True
        with deferred_signals():
            if self.sounding:
                self.all_notes_off()
            if self._panic:
                # Note-offs and All Notes Off are idempotent: a second copy costs a receiver nothing.
                time.sleep(max(0.0, self._panic_at + _REPEAT_AFTER - time.perf_counter()))
                for message in self._panic:
                    self.send(message)
            with self._lock:
                if self.sent:
                    # rtmidi's JACK backend hands messages to the server's next period through a ring
                    # buffer: closing at once could drop the final all-notes-off.
                    time.sleep(_FLUSH_SECONDS)
                self._port.close_port()
                self._port.delete()


class MidiInput:
    """An open MIDI input: an existing port by name (unknown names list the available ones) or ``virtual:NAME``.

    Parameters
    ----------
    name : str
    handler : callable(message: list[int], t: float), keyword-only
        Called on the port's reader thread for each message, ``t`` on the realtime clock (within
        a millisecond of arrival). Exceptions it raises are counted in ``errors``, never propagated
        (garbage input must not stop a show).
    api : str, optional, keyword-only
    clock : bool, keyword-only
        Let MIDI clock and other realtime messages through (rtmidi drops them by default).
    client : str, keyword-only
    """

    def __init__(self, name: str, *, handler: Callable[[list[int], float], None], api: str | None = None,
                 clock: bool = False, client: str = "musicvae-in") -> None:
        self._port = _make("input", resolve_api(api), client)
        self.handler = handler
        self.errors = 0
        self.received = 0
        ports = self._port.get_ports()
        if name.startswith(VIRTUAL):
            self._port.open_virtual_port(name[len(VIRTUAL):])
            self.source = None
        else:
            index = find_port(ports, name)
            if index is None:
                self._port.delete()  # at once: a lingering client would take this client name from the next one
                raise InputError(f"no MIDI input port {name!r}; available inputs: {_available(ports)} "
                                 f"(or use --midi-in {VIRTUAL}{name} to open a new port others connect to)")
            self._port.open_port(index)
            self.source = ports[index]
        self.name = name
        # SysEx passes too: it is tolerated (ignored by the handlers) rather than filtered by rtmidi.
        self._port.ignore_types(sysex=False, timing=not clock, active_sense=True)
        # A Python thread polls rtmidi's queue instead of rtmidi calling back into Python from JACK's
        # process thread: closing a JACK client cancels that thread (pthread_cancel), and cancelled
        # inside a callback waiting for the GIL it leaves the GIL locked (the interpreter hangs), while
        # cancel_callback() races with a callback being dispatched (a crash). Polling keeps the
        # process thread out of Python altogether.
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"midi-in {name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        get = self._port.get_message
        while not self._stop.is_set():
            event = get()
            if event is None:
                time.sleep(_POLL_SECONDS)
                continue
            self.received += 1
            try:
                self.handler(list(event[0]), now())
            except Exception:  # noqa: BLE001 - see class docstring
                self.errors += 1

    def alive(self) -> bool:
        """Whether the port we opened still exists (a device unplugged or a client quitting removes it)."""
        if self.source is None:
            return True
        try:
            return self.source in self._port.get_ports()
        except Exception:  # noqa: BLE001 - the MIDI system itself went away
            return False

    def close(self, timeout: float = WORKER_JOIN) -> None:
        """Stop the reader (within a poll; ``timeout`` bounds the wait), then close the port."""
        self._stop.set()
        with deferred_signals():
            join(self._reader, timeout)
            self._port.close_port()
            self._port.delete()


def list_ports(*, api: str | None = None) -> tuple[list[str], list[str]]:
    """(inputs, outputs) the MIDI system offers."""
    inp, out = _make("input", resolve_api(api), "musicvae-list"), _make("output", resolve_api(api), "musicvae-list")
    try:
        return inp.get_ports(), out.get_ports()
    finally:
        inp.delete()
        out.delete()

