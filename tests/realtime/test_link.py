"""``--clock link``: two Ableton Link peers in this process (the player's and the test's), over loopback.

The test's peer is plain aalink, independent of :mod:`musicvae.realtime.link`. Link peers find each other by
UDP multicast; where the network refuses it (some sandboxes), the tests skip and say so.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from realtime_helpers import Capture, assert_no_stuck_notes, fixed_phrase, jack_connect, wait_connected

from musicvae.realtime.live import run_live
from musicvae.realtime.midi_io import MidiOutput
from musicvae.realtime.params import ParamStore
from musicvae.realtime.player import MelodyPlayer

aalink = pytest.importorskip("aalink")

#: A note on every step; pitch 72 only on the phrase's first step (its bar line).
PHRASE = fixed_phrase([72] + [60 + i % 12 for i in range(31)], every=1)


class Peer:
    """Another app in the Link session (a DAW, in real life): tempo, start/stop, leaving."""

    def __init__(self, bpm: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make():
            return aalink.Link(bpm)

        self.link = asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout=5)
        self.link.quantum = 4
        self.link.start_stop_sync_enabled = True
        self.link.enabled = True
        time.sleep(0.5)  # a session that runs before the player joins it keeps its tempo and timeline

    def beat_at(self, t: float) -> float:
        """The session's beat at time ``t`` (perf_counter base), from the beat now and the tempo."""
        t0, beat, tempo = time.perf_counter(), self.link.beat, self.link.tempo
        return beat + (t - t0) * tempo / 60.0

    def wait_for_peers(self, n: int = 1, *, timeout: float = 5.0) -> bool:
        end = time.perf_counter() + timeout
        while self.link.num_peers < n:
            if time.perf_counter() > end:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        self.link.enabled = False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


@pytest.fixture
def link_ports(jack_server, request):
    tag = request.node.name[-16:].replace("[", "").replace("]", "")
    output = MidiOutput("virtual:out", api="jack", client=f"link-{tag}")
    capture = Capture(f"lcap-{tag}")
    jack_connect(f"link-{tag}:out", capture.name)
    wait_connected(output, capture)
    yield output, capture
    capture.close()
    output.close()


def _discovery_works(bpm: float) -> None:
    """Skip unless two peers find each other. They play at the test's own tempo: a probe whose goodbye the
    next peer has not heard yet (a loaded machine) still counts as the session, and a peer joining it
    takes its tempo."""
    a, b = Peer(bpm), Peer(bpm)
    try:
        if not a.wait_for_peers(timeout=5.0):
            pytest.skip("Link peers on this machine cannot discover each other (UDP multicast 224.76.78.75:20808 "
                        "over loopback is refused here)")
    finally:
        a.close()
        b.close()


def _run(output, capture, peer, *, seconds: float, during=None):
    """run_live on --clock link for ``seconds``; ``during(stop)`` runs on a thread once the clock plays.
    Returns (report, [(arrival, beat of the peer at arrival, message)])."""
    params = ParamStore()
    heard: list[tuple[float, float, list[int]]] = []
    watching = threading.Event()

    def watch():  # the peer's beat at each arrival, read at once
        seen = 0
        while not watching.is_set():
            messages = capture.snapshot()
            for t, m in messages[seen:]:
                heard.append((t, peer.beat_at(t), m))
            seen = len(messages)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = []

    def ready():
        if during is not None:
            threads.append(threading.Thread(target=during, daemon=True))
            threads[-1].start()

    try:
        report = run_live(MelodyPlayer(lambda p: PHRASE, params),
                          output, params, bpm=120.0, clock="link", duration=seconds, morph_cc=None, on_ready=ready)
        capture.settled()
        time.sleep(0.05)
    finally:
        watching.set()
        watcher.join(timeout=2)
        for thread in threads:
            thread.join(timeout=10)
    return report, heard


def _intervals(heard, t0, t1):
    ons = np.array([t for t, _, m in heard if m[0] == 0x90 and t0 <= t < t1])
    return np.diff(ons)


def test_the_player_follows_the_session_tempo_and_beat_phase(link_ports):
    """A peer at 100 BPM: the player (asked for 120) plays 16ths at 100 on the peer's beat grid; the peer moves
    to 150 BPM and the player follows."""
    _discovery_works(100.0)
    output, capture = link_ports
    peer = Peer(100.0)
    change = {}

    def later():
        time.sleep(2.5)
        change["at"] = time.perf_counter()
        peer.link.tempo = 150.0

    try:
        report, heard = _run(output, capture, peer, seconds=5.0, during=later)
    finally:
        peer.close()
    ons = [(t, beat) for t, beat, m in heard if m[0] == 0x90]
    assert len(ons) > 30, report.summary()
    t_change = change["at"]
    before = _intervals(heard, ons[0][0] + 0.5, t_change)
    after = _intervals(heard, t_change + 0.3, t_change + 2.5)
    assert abs(np.median(before) - 60 / 100 / 4) < 0.003, f"median step {np.median(before) * 1e3:.1f} ms at 100 BPM"
    assert abs(np.median(after) - 60 / 150 / 4) < 0.003, f"median step {np.median(after) * 1e3:.1f} ms at 150 BPM"
    # Beat phase: every note-on lands on a sixteenth of the peer's beat (rtmidi quantises to 1.3-ms periods).
    phase = np.array([beat * 4 - round(beat * 4) for t, beat in ons if not t_change < t < t_change + 0.3])
    print(f"steps {np.median(before) * 1e3:.1f} ms at 100 BPM, {np.median(after) * 1e3:.1f} ms at 150 BPM; "
          f"phase error median {np.median(np.abs(phase)) * 100:.1f}% of a step, p99 "
          f"{np.percentile(np.abs(phase), 99) * 100:.1f}%")
    assert np.median(np.abs(phase)) < 0.05, f"median phase error {np.median(np.abs(phase)):.3f} steps"
    # The phrase's first note (step 0 of 32: two bars) falls on a bar line of the session: a multiple of 8 beats.
    firsts = [beat for t, beat, m in heard if m[:2] == [0x90, 72]]
    assert firsts and all(abs(b / 8 - round(b / 8)) < 0.02 for b in firsts), firsts
    assert_no_stuck_notes([m for _, _, m in heard])


def test_start_stop_sync_silences_and_resumes(link_ports):
    _discovery_works(120.0)
    output, capture = link_ports
    peer = Peer(120.0)
    marks = {}

    def transport():
        time.sleep(1.5)
        marks["stop"] = time.perf_counter()
        peer.link.playing = False
        time.sleep(1.0)
        marks["start"] = time.perf_counter()
        peer.link.playing = True

    try:
        report, heard = _run(output, capture, peer, seconds=4.0, during=transport)
    finally:
        peer.close()
    stop, start = marks["stop"], marks["start"]
    silent = [m for t, _, m in heard if stop + 0.05 < t < start]
    assert not any(m[0] == 0x90 for m in silent), "note-ons while the session was stopped"
    stopped = [m for t, _, m in heard if stop <= t < start]
    assert [0xB0, 123, 0] in stopped, "the session's stop did not silence the player"
    assert any(m[0] == 0x90 for t, _, m in heard if t > start + 0.1), "the player did not resume"
    assert_no_stuck_notes([m for _, _, m in heard])


def test_a_vanishing_session_keeps_the_last_tempo_and_warns_once(link_ports, capsys):
    _discovery_works(90.0)
    output, capture = link_ports
    peer = Peer(90.0)
    gone = {}

    def leave():
        time.sleep(1.5)
        gone["at"] = time.perf_counter()
        peer.close()  # the DAW quits: it leaves the session

    report, heard = _run(output, capture, peer, seconds=4.0, during=leave)
    warnings = [w for w in report.warnings if "peers left" in w]
    assert len(warnings) == 1 and "90.0 BPM" in warnings[0], report.warnings
    assert capsys.readouterr().err.count("peers left") == 1
    after = _intervals(heard, gone["at"] + 0.5, gone["at"] + 2.5)
    assert len(after) > 10 and abs(np.median(after) - 60 / 90 / 4) < 0.003, "did not play on at 90 BPM"
