"""JACK-native MIDI ports: events at their frame, a bounded queue that counts drops, safe closes, a dying server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from realtime_helpers import (
    Capture,
    assert_no_stuck_notes,
    fixed_phrase,
    jack_connected,
    reclaim_dead_servers,
    start_jack_server,
    wait_connected,
)

from musicvae.realtime.clock import now
from musicvae.realtime.jack_midi import JackMidiInput, JackMidiOutput
from musicvae.realtime.live import run_live
from musicvae.realtime.midi_io import MidiOutput, open_input, open_output
from musicvae.realtime.params import ParamStore
from musicvae.realtime.player import MelodyPlayer

pytest.importorskip("jack")


class FrameCapture:
    """A JACK-native input recording (time of the event's frame, message): what a DAW plays, to the frame."""

    def __init__(self, client: str) -> None:
        self.messages: list[tuple[float, list[int]]] = []
        self._lock = threading.Lock()
        self.port = JackMidiInput("virtual:in", handler=self._take, clock=True, client=client)
        self.name = f"{client}:in"

    def _take(self, message, t) -> None:
        with self._lock:
            self.messages.append((t, message))

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def settled(self, *, quiet: float = 0.1, timeout: float = 2.0) -> list[list[int]]:
        end, count = time.perf_counter() + timeout, -1
        while time.perf_counter() < end:
            time.sleep(quiet)
            if len(self.messages) == count:
                break
            count = len(self.messages)
        return [m for _, m in self.snapshot()]

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def frame_capture(jack_server, request):
    capture = FrameCapture(f"fcap-{request.node.name[-12:]}".replace("[", "").replace("]", ""))
    yield capture
    capture.close()


def _connected(output, capture) -> None:
    """Until a message sent now arrives (a loaded server applies a new connection a few periods late)."""
    end = time.perf_counter() + 5.0
    while not capture.snapshot():
        assert time.perf_counter() < end, "the JACK connection never carried a message"
        output.send([0xF8])
        time.sleep(0.01)
    time.sleep(0.02)
    capture.clear()


def test_events_arrive_at_the_frame_of_their_deadline(frame_capture):
    """Handed over ahead of time, each note-on is written at its deadline's frame: a receiver reading frame
    offsets sees it within a frame (21 us at 48 kHz) of its deadline, unless the server woke a period late."""
    output = JackMidiOutput(frame_capture.name, client="frames-out")
    try:
        _connected(output, frame_capture)
        start = now() + 0.05
        deadlines = [start + i * 0.0173 for i in range(60)]  # off the period grid on purpose
        for i, deadline in enumerate(deadlines):
            while now() < deadline - output.lookahead:
                time.sleep(0.0005)
            output.send([0x90, 60 + i % 12, 100], deadline)
            output.send([0x80, 60 + i % 12, 0], deadline + 0.005)
        frame_capture.settled()
    finally:
        output.close()
    ons = [t for t, m in frame_capture.snapshot() if m[0] == 0x90]
    assert len(ons) == 60, f"{len(ons)} of 60 note-ons arrived"  # a late cycle delays, never loses (conftest)
    error = np.array([min(abs(t - d) for d in deadlines) for t in ons]) * 1e3
    # Statistical: a starved dummy server wakes some periods late, and those events are written late.
    assert np.median(error) < 0.05, f"median error {np.median(error):.3f} ms"
    assert output.dropped == 0 and output.written == output.sent


def test_rtmidi_arrivals_are_quantised_to_the_period(frame_capture):
    """The peer the JACK-native path replaces: rtmidi writes at the next period's start, so the error spreads
    over a period (5.3 ms at the tests' 256 frames), against the frame accuracy above."""
    output = MidiOutput(frame_capture.name, api="jack", client="rt-out")
    try:
        _connected(output, frame_capture)
        deadlines = [now() + 0.05 + i * 0.0173 for i in range(60)]
        for i, deadline in enumerate(deadlines):
            while now() < deadline:
                time.sleep(0.0002)
            output.send([0x90, 60 + i % 12, 100])
        frame_capture.settled()
    finally:
        output.close()
    ons = [t for t, m in frame_capture.snapshot() if m[0] == 0x90]
    error = np.array([min(abs(t - d) for d in deadlines) for t in ons]) * 1e3
    assert np.median(error) > 0.1, f"median error {np.median(error):.3f} ms: rtmidi wrote at the frame?"


def test_a_full_queue_drops_counts_and_warns_once(frame_capture, capsys):
    output = JackMidiOutput(frame_capture.name, client="full-out", capacity=8)
    try:
        later = now() + 5.0  # nothing leaves before the test looks
        for i in range(20):
            output.send([0x90, 40 + i, 100], later + i * 0.01)
        assert output.dropped == 12 and output.sent == 8
        err = capsys.readouterr().err
        assert err.count("warning: the JACK MIDI queue") == 1 and "dropping" in err
        # The dropped note-ons still count as sounding: the stop ends them all.
        assert len(output.sounding) == 20
    finally:
        output.close()
    messages = frame_capture.settled()
    assert [0xB0, 123, 0] in messages
    assert not any(m[0] == 0x90 for m in messages), "a note-on queued for later played after the stop"


def test_all_notes_off_cancels_what_is_queued_for_later(frame_capture):
    output = JackMidiOutput(frame_capture.name, client="cancel-out")
    try:
        _connected(output, frame_capture)
        output.send([0x90, 60, 100])  # now
        output.send([0x90, 62, 100], now() + 0.3)  # later: cancelled by the stop below
        time.sleep(0.05)
        output.all_notes_off()
        time.sleep(0.5)
    finally:
        output.close()
    messages = frame_capture.settled()
    assert [0x90, 60, 100] in messages and [0x90, 62, 100] not in messages
    assert_no_stuck_notes(messages, strict=True)


def test_closing_while_playing_is_bounded_and_ends_every_note(frame_capture):
    """Open, play, close 30 times: each close ends its notes (the capture hears CC 123) within the bound, and
    the process thread, ended from inside its callback, is gone (a thread cancelled inside Python would hang
    the interpreter)."""
    closes = []
    for i in range(30):
        frame_capture.clear()
        output = JackMidiOutput(frame_capture.name, client="close-out")
        _connected(output, frame_capture)
        t = now()
        for k in range(40):
            output.send([0x90, 50 + k % 20, 90], t + 0.001 * k)
        time.sleep(0.01 * (i % 5))
        thread = output._thread_id
        started = time.perf_counter()
        output.close()
        closes.append(time.perf_counter() - started)
        assert not os.path.exists(f"/proc/self/task/{thread}"), "the JACK process thread outlived the close"
        messages = frame_capture.settled(quiet=0.05)
        assert [0xB0, 123, 0] in messages, f"close #{i}: no CC 123"
    assert max(closes) < 1.0, f"closes took up to {max(closes):.2f} s"


def test_open_helpers_pick_the_jack_native_ports(jack_server):
    output = open_output("virtual:pick", api="jack", client="pick-out")
    port = open_input("virtual:pick-in", handler=lambda m, t: None, api="jack", client="pick-in")
    try:
        assert isinstance(output, JackMidiOutput) and isinstance(port, JackMidiInput)
        assert output.name == "virtual:pick" and port.alive()
    finally:
        port.close()
        output.close()


def test_a_port_appears_only_once_its_client_runs(jack_server, monkeypatch):
    """An activation that fails (a loaded machine starting the process thread late) is tried on a fresh client.
    The port must not be visible before: a connection made to it as it appeared, then lost with that client,
    left ``live`` deaf to the MIDI clock under a flood. Here the first activation fails, a watcher connects
    to every port as soon as it shows, and the notes sent afterwards all arrive."""
    import jack

    from musicvae.realtime import jack_midi

    seen_at_activation: list[list[str]] = []
    real = jack_midi._JackPort._activate
    calls = [0]

    def flaky(self, process):
        seen_at_activation.append([p.name for p in self._client.get_ports(self._client.name + ":")])
        calls[0] += 1
        if calls[0] == 1:
            raise jack.JackError("activation failed (as when the process thread starts late)")
        real(self, process)

    monkeypatch.setattr(jack_midi._JackPort, "_activate", flaky)
    watcher = jack.Client("appear-watch", no_start_server=True)
    received: list[list[int]] = []
    listening = JackMidiInput("virtual:in", handler=lambda message, t: received.append(message), client="appear-in")
    assert calls[0] == 2 and seen_at_activation == [[], []]  # the input's retry: no port on either client
    calls[0] = 0
    seen_at_activation.clear()
    output = None
    try:
        # The watcher connects the output's port the moment jack_lsp would show it, as a patchbay does.
        def connect_on_sight() -> None:
            end = time.perf_counter() + 10
            while time.perf_counter() < end:
                names = [p.name for p in watcher.get_ports("appear-out", is_midi=True, is_output=True)]
                if names:
                    with contextlib.suppress(jack.JackError):
                        watcher.connect(names[0], "appear-in:in")
                    return
                time.sleep(0.0005)

        watch = threading.Thread(target=connect_on_sight, daemon=True)
        watch.start()
        output = JackMidiOutput("virtual:out", client="appear-out")
        watch.join(timeout=10)
        assert calls[0] == 2 and seen_at_activation == [[], []]  # no port on either client as it activated
        end = time.perf_counter() + 5
        while not jack_connected(output._port.name, "appear-in:in"):
            assert time.perf_counter() < end, "the watcher's connection is gone"
            time.sleep(0.05)
        for pitch in range(60, 70):
            output.send([0x90, pitch, 100])
            output.send([0x80, pitch, 0])
        end = time.perf_counter() + 5
        while len(received) < 20 and time.perf_counter() < end:
            time.sleep(0.01)
        assert [m[1] for m in received if m[0] == 0x90] == list(range(60, 70))
    finally:
        if output is not None:
            output.close()
        listening.close()
        watcher.close()


def test_the_live_player_on_the_jack_native_path(frame_capture):
    """run_live hands each step over ahead of its deadline; the notes land on the step grid."""
    output = JackMidiOutput(frame_capture.name, client="live-native")
    _connected(output, frame_capture)
    params = ParamStore()
    try:
        report = run_live(MelodyPlayer(lambda p: fixed_phrase([60, 62, 64, 65], every=1), params), output, params,
                          bpm=240, duration=1.5, morph_cc=None)
    finally:
        output.close()
    arrivals = np.array([t for t, m in frame_capture.snapshot() if m[0] == 0x90])
    steps = np.round((arrivals - report.start) / report.period)
    error = (arrivals - (report.start + steps * report.period)) * 1e3
    assert len(arrivals) >= 4 and np.median(np.abs(error)) < 0.05, error
    assert report.dropped == 0
    assert_no_stuck_notes(frame_capture.settled())


def test_a_sysex_flood_on_the_input_is_tolerated(jack_server):
    """Thousands of SysEx messages into live's JACK-native input while it plays: it keeps time, a control change
    sent after the flood still moves the morph, the stop ends every note."""
    capture = Capture("sysex-cap")
    output = MidiOutput("virtual:out", api="jack", client="sysex-player")
    flooder = JackMidiOutput("virtual:flood", client="sysex-flood", capacity=100_000)
    from realtime_helpers import jack_connect

    jack_connect("sysex-player:out", capture.name)
    wait_connected(output, capture)
    params = ParamStore()

    def flood() -> None:
        jack_connect("sysex-flood:flood", "musicvae-in:in")
        time.sleep(0.05)
        body = list(range(100))
        for i in range(4000):
            flooder.send([0xF0, 0x7D, *[(b + i) % 128 for b in body], 0xF7])
            if i % 50 == 49:
                time.sleep(0.002)
        flooder.drain(2.0)
        flooder.send([0xB0, 1, 100])

    try:
        report = run_live(MelodyPlayer(lambda p: fixed_phrase([60, 64, 67, 72]), params), output, params,
                          bpm=240, duration=2.0, midi_in="virtual:in", midi_api="jack",
                          on_ready=lambda: threading.Thread(target=flood, daemon=True).start())
        messages = capture.settled()
    finally:
        output.close()
        flooder.close()
        capture.close()
    late = np.asarray(report.lateness) * 1e3
    assert report.steps >= 28 and np.median(late) < 5.0, report.summary()
    assert abs(params.snapshot.morph - 100 / 127) < 1e-9, "the control change after the flood was lost"
    assert_no_stuck_notes(messages)


@pytest.fixture
def doomed_server():
    """A JACK server of the test's own, to be killed mid-session (never the session's server); its registry
    slot is freed after (:func:`realtime_helpers.reclaim_dead_servers`)."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2)")
    proc, name = start_jack_server(f"musicvae-doomed-{os.getpid()}")
    yield proc, dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.log.close()
    reclaim_dead_servers()


def test_a_jack_server_dying_mid_session_is_one_line_and_no_hang(doomed_server, tiny_melody):
    """``musicvae live --midi-api jack`` plays; the server is killed: the command says so in one line, exits
    non-zero within the bound, and does not hang in the JACK client's close."""
    from realtime_helpers import CliProcess

    proc, env = doomed_server
    path, a, b = tiny_melody
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the CLI (and nothing else of this test) talks to the doomed server
    try:
        cli = CliProcess(["live", path, "--a", a, "--b", b, "--bpm", "480", "--midi-out", "virtual:doomed",
                          "--midi-api", "jack"])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        cli.wait_for("playing on MIDI output")
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        cli.proc.wait(timeout=10)
        elapsed = time.perf_counter() - killed
    finally:
        cli.kill()
    cli._reader.join(timeout=5)
    lines = [line for line in cli.err.splitlines() if line.strip()]
    print(f"exited {elapsed:.2f} s after the server died, status {cli.proc.returncode}: {lines[-1]}")
    assert cli.proc.returncode not in (0, None), cli.err
    assert elapsed < 3.0, f"exited {elapsed:.2f} s after the server died"
    assert "Traceback" not in cli.err
    assert "the JACK server stopped" in lines[-1], cli.err
