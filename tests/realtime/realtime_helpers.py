"""Helpers of the realtime tests: JACK MIDI capture and sender ports, phrase builders, stuck-note checks."""

from __future__ import annotations

import glob
import os
import struct
import subprocess
import tempfile
import threading
import time

import numpy as np

#: The tests' JACK server. ``--sync``: the server waits for every client to finish a cycle before it starts
#: the next (for up to 10 client timeouts), so a client late under load delays the cycle and loses nothing. In
#: JACK's default asynchronous mode the graph moves on without a late client, and the MIDI it wrote, or should
#: have read, is never delivered: of 4,000 notes between two clients of a process busy in Python on a loaded
#: 2-core machine, 746 were lost at 64-frame periods and 255 at 256, none in synchronous mode.
#: ``--timeout 20`` (ms): a late cycle is waited for up to 200 ms. No longer, because in synchronous mode a
#: client that ends its own process thread (how a JACK-native port closes) stalls the server for those 10
#: timeouts whenever its deactivation reaches the server after the next cycle began (half the closes), and a
#: close waits 0.3 s for that thread. 256-frame periods (5.3 ms): a quarter of the wake-ups of 64 frames for
#: every Python client, and well under a JACK-native output's lookahead (a period plus 10.7 ms).
JACKD = ["jackd", "--no-realtime", "--sync", "--timeout", "20", "-d", "dummy", "-r", "48000", "-p", "256"]
#: Frames per period of :data:`JACKD`.
JACK_PERIOD = 256
#: JACK's server registry in shared memory: 8 slots (pid, "jack-UID:NAME:") after a 24-byte header.
_REGISTRY = "/dev/shm/jack-shm-registry"
_SERVERS = 8


def _dead_servers() -> list[str]:
    """Names of servers of this user whose registry slot is held by a process that no longer exists (a
    server killed with SIGKILL never gives its slot back)."""
    try:
        with open(_REGISTRY, "rb") as f:
            data = f.read()
        hdr_len = struct.unpack_from("<I", data, 16)[0]
    except (OSError, struct.error):
        return []
    size = (hdr_len - 24) // _SERVERS
    prefix = f"jack-{os.getuid()}:"
    names = []
    for i in range(_SERVERS):
        entry = data[24 + i * size: 24 + (i + 1) * size]
        pid = struct.unpack_from("<i", entry)[0]
        name = entry[4:].split(b"\0", 1)[0].decode(errors="replace")
        if pid <= 0 or not name.startswith(prefix):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            names.append(name[len(prefix):].rstrip(":"))
        except PermissionError:
            pass  # alive (another user's)
    return names


def reclaim_dead_servers() -> list[str]:
    """Free the registry slots of dead servers, and their leftover shared memory; returns their names.

    JACK frees a dead server's slot only when a server of the same name starts: with 8 slots, servers
    killed with SIGKILL (a test killing its server, a test run killed) would in the end keep any server
    from starting ("Too many servers already active"). A server of the dead one's name that starts and
    stops cleanly takes the slot and gives it back.
    """
    names = _dead_servers()
    for name in names:
        proc = _spawn(name)
        _wait_running(proc, name, timeout=15.0)
        _stop(proc)
        for path in glob.glob(f"/dev/shm/jack_sem.*_{name}_*") + glob.glob(f"/dev/shm/jack_{name}_*"):
            try:
                os.unlink(path)
            except OSError:
                pass
    return names


def _env(name: str) -> dict:
    return dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")


def _spawn(name: str) -> subprocess.Popen:
    # stderr to a file: jackd reports every late cycle there, and a full pipe would stall the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(JACKD, env=_env(name), stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log
    return proc


def _wait_running(proc: subprocess.Popen, name: str, *, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        try:
            state = subprocess.run(["jack_wait", "-c"], capture_output=True, text=True, env=_env(name),
                                   timeout=10).stdout.strip()
        except subprocess.TimeoutExpired:
            continue
        if state == "running":
            return True
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()


def start_jack_server(name: str, *, attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """Start :data:`JACKD` as a server called ``name`` (``name-2``, ... if a start fails); returns the process
    and the name, once ``jack_wait`` says it runs. Dead servers' registry slots are freed first.

    A start that fails (its registry slot or shared memory taken by something that vanished meanwhile) is
    retried under a fresh name; every attempt failing raises with jackd's last words.
    """
    last: list[str] = []
    for attempt in range(attempts):
        reclaim_dead_servers()
        tried = name if attempt == 0 else f"{name}-{attempt + 1}"
        proc = _spawn(tried)
        if _wait_running(proc, tried, timeout=15.0):
            return proc, tried
        proc.log.seek(0)
        last = proc.log.read().decode(errors="replace").strip().splitlines()[-3:]
        _stop(proc)
    raise RuntimeError(f"jackd did not start in {attempts} attempts: {' / '.join(last)}")


def stop_jack_server(proc: subprocess.Popen) -> None:
    """Stop a server :func:`start_jack_server` started (SIGTERM; SIGKILL after 5 s, its slot then freed)."""
    _stop(proc)
    if proc.returncode == -9:
        reclaim_dead_servers()


def jack_connected(source: str, destination: str) -> bool:
    """Whether ``jack_lsp -c`` lists ``destination`` among the connections of ``source``."""
    lines = subprocess.run(["jack_lsp", "-c", source], capture_output=True, text=True, timeout=10).stdout.splitlines()
    current = None
    for line in lines:
        if line.startswith((" ", "\t")):
            if current == source and line.strip() == destination:
                return True
        else:
            current = line.strip()
    return False


def jack_connect(source: str, destination: str, *, timeout: float = 10.0) -> None:
    """``jack_connect``, bounded: after connecting, the tool waits without a bound for the server's notice
    of the connection, which a loaded server sometimes never sends (one hung for 10 minutes)."""
    try:
        if subprocess.run(["jack_connect", source, destination], capture_output=True, timeout=timeout).returncode == 0:
            return
    except subprocess.TimeoutExpired:
        pass
    if not jack_connected(source, destination):  # it may have connected before it hung (or was connected)
        raise RuntimeError(f"jack_connect {source} {destination} failed")


def stop_when_heard(capture, message: list[int], stop: threading.Event, *, timeout: float = 10.0) -> None:
    """Set ``stop`` once ``capture`` has heard ``message`` (or after ``timeout``): ends a run when the
    event under test has happened, however slowly a loaded machine got there."""

    def watch():
        end = time.perf_counter() + timeout
        while time.perf_counter() < end and message not in [m for _, m in capture.snapshot()]:
            time.sleep(0.01)
        time.sleep(0.1)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()


def wait_connected(output, capture, *, timeout: float = 5.0) -> None:
    """Send clock pulses through ``output`` until ``capture`` hears one (a loaded server may apply a
    connection a few periods late), then forget them."""
    end = time.perf_counter() + timeout
    while not capture.snapshot():
        assert time.perf_counter() < end, "the JACK connection never carried a message"
        output.send([0xF8])
        time.sleep(0.01)
    time.sleep(0.02)
    with capture._lock:
        capture.messages.clear()


class Capture:
    """A JACK MIDI input port that records (arrival time, message) of everything, clock and SysEx included.

    Polled from a thread of its own, like :class:`musicvae.realtime.midi_io.MidiInput` and for the same
    reason: rtmidi callbacks run Python on JACK's process thread, which closing the port cancels.
    """

    def __init__(self, client: str = "capture") -> None:
        import rtmidi

        self.port = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=client)
        self.port.open_virtual_port("in")
        self.port.ignore_types(sysex=False, timing=False, active_sense=False)
        self.name = f"{client}:in"
        self.messages: list[tuple[float, list[int]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            event = self.port.get_message()
            if event is None:
                time.sleep(0.0005)
                continue
            with self._lock:
                self.messages.append((time.perf_counter(), event[0]))

    def settled(self, *, quiet: float = 0.1, timeout: float = 2.0) -> list[list[int]]:
        """The messages once none has arrived for ``quiet`` seconds (JACK delivers a period later)."""
        end = time.perf_counter() + timeout
        count = -1
        while time.perf_counter() < end:
            time.sleep(quiet)
            if len(self.messages) == count:
                break
            count = len(self.messages)
        return [m for _, m in self.snapshot()]

    def snapshot(self) -> list[tuple[float, list[int]]]:
        with self._lock:
            return list(self.messages)

    def note_ons(self) -> list[tuple[float, int]]:
        return [(t, m[1]) for t, m in self.snapshot() if m[0] & 0xF0 == 0x90 and m[2] > 0]

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=2.0)
        self.port.close_port()
        self.port.delete()


class Sender:
    """A JACK MIDI output port the test plays into the code under test."""

    def __init__(self, client: str = "sender") -> None:
        import rtmidi

        self.port = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client)
        self.port.open_virtual_port("out")
        self.name = f"{client}:out"

    def send(self, message) -> None:
        self.port.send_message(message)

    def close(self) -> None:
        self.port.close_port()
        self.port.delete()


def assert_no_stuck_notes(messages: list[list[int]], *, channel: int = 0, strict: bool = False) -> None:
    """No note is left sounding, and All Notes Off (CC 123) arrives on ``channel``.

    By default this is the receiver's view, where CC 123 ends every note of its channel: a JACK
    dummy server starved of CPU skips a client's cycle now and then, and the MIDI of that cycle never
    reaches the capture port. ``strict`` (for messages that did not cross JACK) wants a note-off for
    every note-on.
    """
    sounding: dict[int, int] = {}
    for message in messages:
        status = message[0] & 0xF0
        if status == 0x90 and message[2] > 0:
            sounding[message[1]] = sounding.get(message[1], 0) + 1
        elif status == 0x80 or (status == 0x90 and message[2] == 0):
            sounding[message[1]] = max(0, sounding.get(message[1], 0) - 1)
        elif not strict and message == [0xB0 | channel, 123, 0]:
            sounding.clear()
    assert not any(sounding.values()), f"notes left sounding: {sounding}"
    assert [0xB0 | channel, 123, 0] in messages, "no All Notes Off (CC 123)"


def fixed_phrase(pitches: list[int], *, every: int = 2, steps: int = 32, min_pitch: int = 21) -> np.ndarray:
    """A phrase [steps] with a note of each pitch every ``every`` steps, each ending one step before the next."""
    events = np.zeros(steps, dtype=np.int64)
    for i, pitch in enumerate(pitches):
        events[i * every] = pitch - min_pitch + 2
        if i * every + every - 1 < steps and every > 1:
            events[i * every + every - 1] = 1
    return events


def make_tiny_timbre():
    """An untrained tiny timbre instrument with made-up family latents (no training: seconds)."""
    import torch

    from musicvae.builders import build_model
    from musicvae.config import apply_overrides, get_config
    from musicvae.instrument import Instrument

    config = apply_overrides(get_config("timbre-small"), [
        "model.channels=[4, 8]", "model.z_dim=4", "model.pitch_embedding=4", "model.min_pitch=60",
        "model.max_pitch=62", "model.spectrogram.n_samples=8000", "model.spectrogram.inversion_iters=2",
    ])
    torch.manual_seed(0)
    extras = {"mean_latent.flute": torch.zeros(4), "mean_latent.guitar": torch.ones(4)}
    return Instrument(config=config, model=build_model(config).eval(), extras=extras)


class CliProcess:
    """``python -m musicvae.cli ARGS`` in a subprocess whose stderr is collected line by line as it comes.

    ``ignore_sigint`` starts it the way a background job of a non-interactive shell starts (``make test &``):
    SIGINT inherited ignored, which Python keeps.
    """

    def __init__(self, args: list[str], *, ignore_sigint: bool = False) -> None:
        import os
        import signal
        import subprocess
        import sys

        def inherit() -> None:  # runs in the child before exec
            signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)

        self.proc = subprocess.Popen([sys.executable, "-m", "musicvae.cli", *map(str, args)],
                                     stderr=subprocess.PIPE, text=True, env=dict(os.environ), preexec_fn=inherit)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def err(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, *, timeout: float = 60.0) -> None:
        """Until a stderr line contains ``text`` (fails if the process ends first)."""
        end = time.perf_counter() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before {text!r}: {self.err}"
            assert time.perf_counter() < end, f"no {text!r} in {timeout:g} s: {self.err}"
            time.sleep(0.01)

    def stop(self, signum: int, *, timeout: float = 20.0, again_after: float | None = None) -> float | None:
        """Send ``signum`` (and once more ``again_after`` seconds later); seconds until the process exited,
        or None if it had not exited after ``timeout`` (then it is killed)."""
        import subprocess

        t0 = time.perf_counter()
        self.proc.send_signal(signum)
        if again_after is not None:
            time.sleep(again_after)
            if self.proc.poll() is None:
                self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        elapsed = time.perf_counter() - t0
        self._reader.join(timeout=5.0)
        return elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for_note_on(capture: Capture, *, timeout: float = 30.0) -> None:
    """Until ``capture`` has heard a note-on: the player's clock is running."""
    end = time.perf_counter() + timeout
    while not capture.note_ons():
        assert time.perf_counter() < end, f"no note-on in {timeout:g} s"
        time.sleep(0.01)


def connect_when_there(source: str, destination: str, *, timeout: float = 30.0, alive=lambda: True) -> None:
    """``jack_connect`` once ``source`` exists (a process opening it is still starting)."""
    end = time.perf_counter() + timeout
    while True:
        try:
            jack_connect(source, destination)
            return
        except RuntimeError:
            assert alive(), f"{source} never appeared: its process ended"
            assert time.perf_counter() < end, f"{source} did not appear in {timeout:g} s"
            time.sleep(0.02)
