"""A short soak: ``musicvae live`` and ``musicvae synth`` under a flood of control changes, OSC messages and MIDI
clock, their memory and open descriptors read from /proc (``bench/bench_realtime.py --only soak`` runs it for
10 minutes)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from realtime_helpers import connect_when_there

from musicvae.realtime.control import free_osc_port

pytestmark = pytest.mark.slow

SECONDS = 20.0
#: Resident memory a process may gain between the first sample (after warm-up) and the last: far below what a
#: leak of one object per message would cost (some 50 MB for the 60,000 messages each gets here).
RSS_GROWTH_MB = 8.0


def _sample(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss / 1024.0, len(os.listdir(f"/proc/{pid}/fd"))


def _flood(out, osc, stop: threading.Event, *, notes: bool, started: threading.Event | None = None) -> None:
    """Clock at 120 BPM, ~1,500 control changes and ~1,500 OSC messages a second, a note every 8th.

    MIDI Start goes out again each second until ``started`` is set (the player was heard): a Start that
    reaches a player still setting up its input is lost, as it would be from a DAW started too early,
    and without one a clock follower rightly plays nothing. ``started`` None: one Start.
    """
    rng = random.Random(0)
    out.send([0xFA])
    t0 = time.perf_counter()
    next_pulse = next_note = t0
    next_start = t0 + 1.0
    while not stop.is_set():
        t = time.perf_counter()
        if started is not None and not started.is_set() and t >= next_start:
            out.send([0xFA])
            next_start += 1.0
        if t >= next_pulse:
            out.send([0xF8])
            next_pulse += 60.0 / 120.0 / 24
        if notes and t >= next_note:
            pitch = 60 + rng.randrange(3)
            out.send([0x90, pitch, 100])
            out.send([0x80, pitch, 0])
            next_note += 0.25
        for _ in range(3):
            out.send([0xB0, 1, rng.randrange(128)])
            osc.send_message("/morph", rng.random())
        time.sleep(0.002)


def test_live_and_synth_stay_flat_under_a_flood(jack_server, tiny_melody, tmp_path):
    import rtmidi
    from pythonosc.udp_client import SimpleUDPClient
    from realtime_helpers import make_tiny_timbre

    from musicvae.realtime.jack_midi import JackMidiOutput

    path, a, b = tiny_melody
    timbre = make_tiny_timbre().save(tmp_path / "tiny-timbre")
    commands = {
        "live": ["live", path, "--a", a, "--b", b, "--clock", "midi", "--midi-in", "virtual:soak-live",
                 "--midi-out", "virtual:soak-out", "--midi-api", "jack", "--temperature", "0.5"],
        "synth": ["synth", timbre, "--midi-in", "virtual:soak-synth", "--audio-api", "jack", "--midi-api", "jack",
                  "--blocksize", "512"],
    }
    procs, senders, threads = {}, [], []
    stop, heard = threading.Event(), threading.Event()
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    try:
        for name, args in commands.items():
            osc = free_osc_port()
            procs[name] = subprocess.Popen([sys.executable, "-m", "musicvae.cli", *map(str, args), "--osc-port",
                                            str(osc)], stderr=subprocess.PIPE, text=True)
            # The project's JACK-native port, not python-rtmidi's: rtmidi ignores a failed activation of its
            # client (a loaded machine starting the process thread late), and its port then sends nothing:
            # live, deaf to the flood's clock, played 0 steps. Ours activates again on a fresh client.
            out = JackMidiOutput("virtual:out", client=f"flood-{name}")
            senders.append(out)
            client = "musicvae-in" if name == "live" else None
            port = f"soak-{name}"
            target = _find_port(port, client, alive=lambda p=procs[name]: p.poll() is None)
            connect_when_there(out._port.name, target, alive=lambda p=procs[name]: p.poll() is None)
            if name == "live":  # what live plays, heard on a port of ours: the flood's handshake
                listen = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="soak-listen")
                listen.open_virtual_port("in")
                listen.set_callback(lambda message, _data: heard.set())
                senders.append(listen)
                played = _find_port("soak-out", None, alive=lambda p=procs[name]: p.poll() is None)
                connect_when_there(played, "soak-listen:in", alive=lambda p=procs[name]: p.poll() is None)
            threads.append(threading.Thread(target=_flood, args=(out, SimpleUDPClient("127.0.0.1", osc), stop),
                                            kwargs={"notes": name == "synth",
                                                    "started": heard if name == "live" else None}, daemon=True))
        time.sleep(1.0)  # the OSC servers open beside the ports
        for thread in threads:
            thread.start()
        time.sleep(5.0)  # warm-up: the first phrases and notes decoded, every buffer allocated
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < SECONDS - 5.0:
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} ended under the flood: {proc.stderr.read()}"
                samples[name].append(_sample(proc.pid))
            time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        errs = {}
        for name, proc in procs.items():
            proc.send_signal(signal.SIGINT)
            errs[name] = proc.communicate(timeout=20)[1]
            assert proc.returncode == 130, f"{name}: {errs[name]}"
    finally:
        stop.set()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for port in senders:
            if isinstance(port, JackMidiOutput):
                port.close()
            else:
                port.close_port()
                port.delete()
    for name, rows in samples.items():
        rss = [r for r, _ in rows]
        fds = {f for _, f in rows}
        print(f"{name}: RSS {rss[0]:.1f} -> {rss[-1]:.1f} MB (max {max(rss):.1f}), descriptors {sorted(fds)}")
        assert len(fds) == 1, f"{name}: open descriptors changed under the flood: {sorted(fds)}"
        assert max(rss) - rss[0] < RSS_GROWTH_MB, f"{name}: RSS grew {rss[0]:.1f} -> {max(rss):.1f} MB"
    # The summaries a Ctrl-C prints: live followed the flood's clock (16ths at 120 BPM: 8 a second), the synth
    # decoded its notes, nothing was dropped.
    steps = re.search(r"(\d+) steps", errs["live"])
    assert steps is not None and int(steps.group(1)) > 4 * SECONDS, errs["live"]
    assert "notes decoded" in errs["synth"], errs["synth"]
    assert "DROPPED" not in errs["live"] + errs["synth"]


def _find_port(port: str, client: str | None, *, alive, timeout: float = 60.0) -> str:
    """The JACK name of a process's port ``port`` once it exists (its client name may carry a suffix)."""
    end = time.perf_counter() + timeout
    while True:
        names = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split()
        hits = [n for n in names if n.endswith(f":{port}")]
        if hits:
            return hits[0]
        assert alive(), f"the process opening {port} ended"
        assert time.perf_counter() < end, f"{port} did not appear in {timeout:g} s"
        time.sleep(0.1)
