"""examples/pd/musicvae-osc.pd in a headless Pure Data drives a live session by OSC: the player decodes its next
phrases at the morph and temperature the patch sent."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from realtime_helpers import fixed_phrase

from musicvae.realtime.control import free_osc_port
from musicvae.realtime.live import run_live
from musicvae.realtime.midi_io import MidiOutput
from musicvae.realtime.params import ParamStore
from musicvae.realtime.player import MelodyPlayer

PATCH = Path(__file__).resolve().parents[2] / "examples" / "pd" / "musicvae-osc.pd"


def test_pd_patch_sets_morph_and_temperature_of_a_live_session(jack_server):
    if shutil.which("pd") is None:
        pytest.skip("Pure Data is not installed (Debian: apt-get install puredata-core)")
    port = free_osc_port()
    heard: list[tuple[float, float]] = []
    phrase = fixed_phrase([60, 62, 64, 65], every=4)

    def decode(params):
        heard.append((params.morph, params.temperature))
        return phrase

    params = ParamStore()
    output = MidiOutput("virtual:out", api="jack", client="pd-osc-live")
    player = MelodyPlayer(decode, params, steps=32, lead_steps=8)
    reports = []
    # on_ready: the session listens for OSC. Not a probe binding the port: a probe's bind racing the
    # server's own made the server fail with "Address already in use" now and then.
    listening = threading.Event()
    session = threading.Thread(target=lambda: reports.append(
        run_live(player, output, params, bpm=240.0, osc_port=port, duration=8.0, morph_cc=None,
                 on_ready=listening.set)))
    session.start()
    try:
        assert listening.wait(10), "the live session never listened for OSC"
        pd = subprocess.run(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(PATCH),
                             "-send", f"osc-port {port}", "-send", "morph 0.75", "-send", "temperature 0.3",
                             "-send", "pd quit"], capture_output=True, text=True, timeout=30)
        assert pd.returncode == 0, pd.stderr
        assert "osc-connected: 1" in pd.stderr  # the patch's netsend connected to the session's port
        deadline = time.monotonic() + 6
        while not any(m == 0.75 and abs(t - 0.3) < 1e-6 for m, t in heard):
            assert time.monotonic() < deadline, f"no phrase decoded at the patch's values: {heard[-3:]}"
            time.sleep(0.05)
        assert heard[0] == (0.0, 0.0)  # before the patch spoke, the session played at its own values
        assert params.snapshot.morph == 0.75 and abs(params.snapshot.temperature - 0.3) < 1e-6
    finally:
        session.join(timeout=15)
        output.close()
    assert not session.is_alive() and reports and reports[0].steps > 0
