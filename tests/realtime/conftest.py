"""Real MIDI ports for the realtime tests: a JACK server on its dummy backend, capture ports, tiny instruments.

The server gets a name of its own (``JACK_DEFAULT_SERVER``) so that parallel
test runs never share one; tests skip only where ``jackd`` is not installed.
It runs in JACK's synchronous mode (:data:`realtime_helpers.JACKD`): a
process cycle that starts late on a loaded machine delays the MIDI written
for it and never loses it, so every realtime test runs once and passes or
fails on what the code does.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest
import torch
from realtime_helpers import start_jack_server, stop_jack_server


@pytest.fixture(scope="session")
def jack_server():
    """The name of a running JACK server (dummy backend, 48 kHz, 256-frame periods, synchronous)."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2)")
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    proc, name = start_jack_server(f"musicvae-test-{os.getpid()}")
    # Clients find the server by this name; without JACK_NO_START_SERVER a client would try to start one.
    os.environ["JACK_DEFAULT_SERVER"], os.environ["JACK_NO_START_SERVER"] = name, "1"
    try:
        yield name
    finally:
        stop_jack_server(proc)
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
