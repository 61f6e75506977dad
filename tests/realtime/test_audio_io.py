"""The PortAudio adapter on a JACK dummy server: where its output goes."""

from __future__ import annotations

import subprocess
import time

import numpy as np


class _Tone:
    """An engine stand-in: what SoundDeviceOutput needs (a rate and ``process(frames) -> mono block``)."""

    sample_rate = 48_000

    def __init__(self) -> None:
        self.blocks = 0

    def process(self, frames: int) -> np.ndarray:
        self.blocks += 1
        return np.full(frames, 0.1, np.float32)


def _connections() -> dict[str, list[str]]:
    """``jack_lsp -c``: each port and the ports it is connected to."""
    lines = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, check=True).stdout.splitlines()
    ports: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line.startswith((" ", "\t")):
            ports[current].append(line.strip())
        else:
            current = line.strip()
            ports[current] = []
    return ports


def test_the_mono_synth_sounds_on_both_playback_channels(jack_audio):
    from musicvae.realtime.audio_io import SoundDeviceOutput, find_output_device

    device, rate = find_output_device("default", api="jack")
    engine = _Tone()
    output = SoundDeviceOutput(engine, device=device, blocksize=256)
    try:
        output.start()
        deadline = time.monotonic() + 5
        while engine.blocks < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        connected = {port: peers for port, peers in _connections().items()
                     if any(peer.startswith("system:playback_") for peer in peers)}
    finally:
        output.close()
    assert engine.blocks >= 4
    playback = sorted(peer for peers in connected.values() for peer in peers if peer.startswith("system:playback_"))
    assert playback == ["system:playback_1", "system:playback_2"], connected  # before: playback_1 only
    assert len(connected) == 2 and output.channels == 2  # one output port of ours to each channel
