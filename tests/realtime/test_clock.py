"""Clocks: absolute deadlines, and following an external MIDI clock (synthetic and through JACK)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from realtime_helpers import Capture, Sender, assert_no_stuck_notes, jack_connect, stop_when_heard, wait_connected

from musicvae.errors import InputError
from musicvae.realtime.clock import MidiClockFollower, StepClock, now, sleep_until
from musicvae.realtime.live import run_live
from musicvae.realtime.midi_io import MidiInput, MidiOutput
from musicvae.realtime.params import ParamStore
from musicvae.realtime.player import MelodyPlayer


def test_deadlines_are_absolute_not_accumulated():
    clock = StepClock(120.0, start=10.0)
    assert clock.period == pytest.approx(0.125)
    assert clock.time_of(1000) == pytest.approx(10.0 + 1000 * 0.125)
    clock.set_bpm(60.0, at_step=8)
    assert clock.time_of(8) == pytest.approx(11.0) and clock.time_of(9) == pytest.approx(11.25)
    assert clock.step_at(11.25) == pytest.approx(9.0)
    with pytest.raises(InputError, match="bpm"):
        StepClock(0.0)


def test_sleep_until_wakes_on_time_and_a_late_wakeup_does_not_drift():
    clock = StepClock(960.0)  # 16 ms steps
    late = []
    for n in range(40):
        if n == 10:
            time.sleep(0.05)  # a hiccup: the following deadlines stay where they were
        late.append(sleep_until(clock.time_of(n)))
    late = np.array(late[14:]) * 1e3
    assert np.median(late) < 2.0 and np.percentile(late, 90) < 10.0
    assert now() - clock.time_of(39) < 0.05


def test_sleep_until_returns_early_on_stop():
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    started = now()
    assert sleep_until(started + 5.0, stop=stop) < 0
    assert now() - started < 1.0


def pulses(follower, bpm, count, *, start=0.0, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    interval = 60.0 / bpm / 24
    for i in range(count):
        follower.feed([0xF8], start + i * interval + rng.normal(0, jitter))
    return start + count * interval


def test_follower_steps_every_six_pulses_and_estimates_tempo():
    steps = []
    follower = MidiClockFollower(on_step=lambda n, t: steps.append(n))
    assert follower.bpm is None
    follower.feed([0xFA], 0.0)
    pulses(follower, 100.0, 96, jitter=0.0006)  # DIN-like jitter
    assert steps == list(range(16))
    assert follower.bpm == pytest.approx(100.0, rel=0.02)


def test_follower_start_stop_continue_and_song_position():
    steps, stops = [], []
    follower = MidiClockFollower(on_step=lambda n, t: steps.append(n), on_stop=lambda: stops.append(1))
    follower.feed([0xFA], 0.0)
    t = pulses(follower, 120.0, 13)
    follower.feed([0xFC], t)
    t = pulses(follower, 120.0, 12, start=t)  # pulses while stopped: no steps, tempo still tracked
    assert steps == [0, 1, 2] and stops == [1]
    follower.feed([0xF2, 0x20, 0x00], t)  # song position: sixteenth 32
    follower.feed([0xFB], t)
    pulses(follower, 120.0, 7, start=t)
    assert steps[-2:] == [32, 33]
    assert follower.feed([0x90, 60, 100], t) is False and follower.feed([], t) is False


def test_follower_notices_a_stalled_clock():
    follower = MidiClockFollower()
    follower.feed([0xFA], 0.0)
    t = pulses(follower, 120.0, 24)
    assert not follower.stalled(t)
    assert follower.stalled(t + 0.5)


@pytest.mark.parametrize("bpm", [100.0, 140.0])
def test_follower_locks_to_a_clock_through_jack(jack_server, bpm):
    sender = Sender(f"clock{int(bpm)}")
    steps = []
    follower = MidiClockFollower(on_step=lambda n, t: steps.append(n))
    handler = [lambda m, t: None]  # until the connection carries messages: then the follower
    port = MidiInput("virtual:clock-in", handler=lambda m, t: handler[0](m, t), api="jack", clock=True,
                     client=f"follow{int(bpm)}")
    try:
        jack_connect(sender.name, f"follow{int(bpm)}:clock-in")
        end = time.perf_counter() + 5
        while not port.received:  # a loaded server applies a connection a few periods late
            assert time.perf_counter() < end, "the JACK connection never carried a message"
            sender.send([0xB0, 2, 0])
            time.sleep(0.01)
        time.sleep(0.02)
        handler[0] = follower.feed
        sender.send([0xFA])
        interval = 60.0 / bpm / 24
        start = now() + 0.01
        for i in range(96):  # four quarters
            sleep_until(start + i * interval)
            sender.send([0xF8])
        time.sleep(0.05)
        assert follower.bpm == pytest.approx(bpm, rel=0.03)
        assert steps == list(range(16))
    finally:
        port.close()
        sender.close()


def test_player_follows_midi_clock_and_silences_on_stop_mid_bar(jack_server):
    output = MidiOutput("virtual:out", api="jack", client="clocked")
    capture, sender = Capture("clocked-cap"), Sender("clock-src")
    jack_connect("clocked:out", capture.name)
    wait_connected(output, capture)
    phrase = np.zeros(32, np.int64)
    phrase[0], phrase[6] = 60 - 21 + 2, 64 - 21 + 2  # the second note is cut by the Stop

    def play_clock():
        jack_connect(sender.name, "musicvae-in:in")
        sender.send([0xFA])
        start, interval = now() + 0.01, 60.0 / 120.0 / 24
        for i in range(6 * 8):  # half a bar, then Stop
            sleep_until(start + i * interval)
            sender.send([0xF8])
        sender.send([0xFC])

    try:
        stop = threading.Event()
        stop_when_heard(capture, [0xB0, 123, 0], stop)
        report = run_live(MelodyPlayer(lambda p: phrase, ParamStore()), output, ParamStore(), clock="midi",
                          midi_in="virtual:in", midi_api="jack", stop=stop,
                          on_ready=lambda: threading.Thread(target=play_clock).start())
        messages = capture.settled()
        assert report.steps == 8
        assert [m[1] for m in messages if m[0] == 0x90] == [60, 64]
        stop_at = messages.index([0x80, 64, 0])
        assert [0xB0, 123, 0] in messages[stop_at:]
        assert_no_stuck_notes(messages)
    finally:
        for port in (capture, sender, output):
            port.close()


def test_player_silences_when_the_clock_just_stops(jack_server):
    output = MidiOutput("virtual:out", api="jack", client="stalled")
    capture, sender = Capture("stalled-cap"), Sender("stall-src")
    jack_connect("stalled:out", capture.name)
    wait_connected(output, capture)
    phrase = np.zeros(32, np.int64)
    phrase[0] = 60 - 21 + 2

    def play_clock():
        jack_connect(sender.name, "musicvae-in:in")
        sender.send([0xFA])
        start, interval = now() + 0.01, 60.0 / 120.0 / 24
        for i in range(12):  # then silence: a cable pulled, no Stop
            sleep_until(start + i * interval)
            sender.send([0xF8])

    try:
        stop = threading.Event()
        stop_when_heard(capture, [0xB0, 123, 0], stop)
        report = run_live(MelodyPlayer(lambda p: phrase, ParamStore()), output, ParamStore(), clock="midi",
                          midi_in="virtual:in", midi_api="jack", stop=stop,
                          on_ready=lambda: threading.Thread(target=play_clock).start())
        assert any("without a Stop" in w for w in report.warnings)
        messages = capture.settled()
        assert messages.index([0x80, 60, 0]) < len(messages) - 1
        assert_no_stuck_notes(messages)
    finally:
        for port in (capture, sender, output):
            port.close()
