"""Real MIDI ports for the realtime tests: a JACK server on its dummy backend, capture ports, tiny instruments.

The server gets a name of its own (``JACK_DEFAULT_SERVER``) so that parallel
test runs never share one; tests skip only where ``jackd`` is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time

import pytest
import torch

#: Runs of a realtime test before it counts as failed. The dummy JACK server is not a realtime one: a
#: process cycle that starts late (the machine busy elsewhere) can drop the MIDI events written for it,
#: or a second server fail to start, so a test of ports may fail once with nothing wrong in the code
#: under test. A defect fails every run; each rerun is reported (``R`` in pytest's progress).
REALTIME_RUNS = 3


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here) and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=REALTIME_RUNS - 1, reruns_delay=1))


@pytest.fixture(scope="session")
def jack_server():
    """The name of a running JACK server (dummy backend, 48 kHz, 64-frame periods)."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2)")
    name = f"musicvae-test-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    # Clients find the server by this name; without JACK_NO_START_SERVER a client would try to start one.
    os.environ["JACK_DEFAULT_SERVER"], os.environ["JACK_NO_START_SERVER"] = name, "1"
    proc = subprocess.Popen(["jackd", "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["jack_wait", "-c"], capture_output=True, text=True).stdout.strip() != "running":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("jackd did not start")
            time.sleep(0.05)
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def jack_audio(jack_server):
    """PortAudio initialised while the test's JACK server runs, and released after the test.

    Released at once because at interpreter exit the session's jackd is gone, and PortAudio's JACK
    host API aborts the process when it cannot say goodbye to its server.
    """
    import sounddevice

    if not sounddevice._initialized:  # importing initialises; an earlier test may have released it
        sounddevice._initialize()
    yield jack_server
    while sounddevice._initialized:
        sounddevice._terminate()


@pytest.fixture(scope="session")
def tiny_melody(tmp_path_factory):
    """An untrained tiny 2-bar melody instrument (seconds to build) and two MIDI files A and B."""
    import pretty_midi

    from musicvae.builders import build_model
    from musicvae.config import get_config
    from musicvae.instrument import Instrument

    root = tmp_path_factory.mktemp("melody")
    config = get_config("2bar-small")
    model = dataclasses.replace(config.model, z_dim=8, encoder_sizes=(16,), decoder_sizes=(16,))
    config = dataclasses.replace(config, model=model)
    torch.manual_seed(0)
    path = Instrument(config=config, model=build_model(config).eval()).save(root / "tiny-melody")
    files = []
    for name, pitches in (("a.mid", [60, 62, 64, 65, 67, 65, 64, 62]), ("b.mid", [72, 71, 69, 67, 65, 64, 62, 60])):
        midi = pretty_midi.PrettyMIDI(initial_tempo=120)
        inst = pretty_midi.Instrument(program=0)
        for i, pitch in enumerate(pitches):
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=i * 0.5, end=i * 0.5 + 0.45))
        midi.instruments.append(inst)
        midi.write(str(root / name))
        files.append(root / name)
    return path, files[0], files[1]
