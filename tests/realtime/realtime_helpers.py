"""Helpers of the realtime tests: JACK MIDI capture and sender ports, phrase builders, stuck-note checks."""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np


def jack_connect(source: str, destination: str) -> None:
    subprocess.run(["jack_connect", source, destination], check=True, capture_output=True)


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
