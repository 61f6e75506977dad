"""The live melody player through real JACK MIDI ports: order, timing, control, stopping, bad input."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from realtime_helpers import Capture, Sender, assert_no_stuck_notes, fixed_phrase, jack_connect, wait_connected

from musicvae.errors import InputError
from musicvae.realtime.live import run_live
from musicvae.realtime.midi_io import MidiInput, MidiOutput
from musicvae.realtime.params import ParamStore
from musicvae.realtime.player import MelodyPlayer

BPM = 240.0  # a 16th every 62.5 ms: two-bar phrases in 2 s keep the tests short
STEP = 60.0 / BPM / 4


@pytest.fixture
def ports(jack_server, request):
    """(output of the code under test, capture connected to it, sender the test plays from)."""
    tag = request.node.name[-20:].replace("[", "").replace("]", "").replace(" ", "-")
    if getattr(request, "param", "rtmidi") == "jack-native":  # the JACK-Client port, for the tests that ask
        from musicvae.realtime.jack_midi import JackMidiOutput

        output = JackMidiOutput("virtual:out", client=f"player-{tag}")
    else:
        output = MidiOutput("virtual:out", api="jack", client=f"player-{tag}")
    capture = Capture(f"cap-{tag}")
    sender = Sender(f"snd-{tag}")
    jack_connect(f"player-{tag}:out", capture.name)
    wait_connected(output, capture)
    yield output, capture, sender
    for port in (capture, sender, output):
        try:
            port.close()
        except Exception:  # noqa: BLE001 - a test may already have closed it
            pass


def player(decode, params=None, *, steps=32, lead=8):
    return MelodyPlayer(decode, params or ParamStore(), steps=steps, lead_steps=lead)


def test_notes_arrive_in_order_and_on_time(ports):
    output, capture, _ = ports
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    phrase = fixed_phrase(pitches, every=4)
    report = run_live(player(lambda p: phrase), output, ParamStore(), bpm=BPM, duration=2.2, morph_cc=None)
    capture.settled()
    ons = capture.note_ons()
    assert [p for _, p in ons][:8] == pitches
    times = np.array([t for t, _ in ons[:8]])
    # Onsets relative to the first against the schedule (4 steps apart): statistical, generous bounds.
    error = np.abs((times - times[0]) - np.arange(8) * 4 * STEP) * 1e3
    assert np.median(error) < 3.0 and np.percentile(error, 90) < 15.0, error
    late = np.asarray(report.lateness) * 1e3
    assert np.median(late) < 3.0 and np.percentile(late, 90) < 15.0
    assert_no_stuck_notes(capture.settled())


def test_all_notes_off_on_stop_mid_note(ports):
    output, capture, _ = ports
    phrase = np.zeros(32, np.int64)
    phrase[0] = 60 - 21 + 2  # one note held for the whole phrase: the stop cuts it
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    report = run_live(player(lambda p: phrase), output, ParamStore(), bpm=BPM, stop=stop, morph_cc=None)
    messages = capture.settled()
    assert report.stopped_by == "stop"
    assert messages[0] == [0x90, 60, 90] and messages[1:] == [[0x80, 60, 0], [0xB0, 123, 0]]


def test_control_change_moves_the_morph(ports):
    output, capture, sender = ports

    def decode(params):  # morph < 0.5 plays C4, above plays C5
        return fixed_phrase([60 if params.morph < 0.5 else 72], every=2, steps=8)

    params = ParamStore()

    def ready():
        jack_connect(sender.name, "musicvae-in:in")
        threading.Timer(0.6, sender.send, args=([0xB0, 1, 127],)).start()

    run_live(player(decode, params, steps=8, lead=2), output, params, bpm=BPM, duration=2.0, midi_in="virtual:in",
             midi_api="jack", on_ready=ready)
    ons = [p for _, p in capture.note_ons()]
    assert params.snapshot.morph == 1.0
    assert ons[0] == 60 and ons[-1] == 72 and 60 in ons and 72 in ons


def test_morph_automation_moves_the_morph_while_playing(ports):
    from musicvae.automation import parse_morph

    output, capture, _ = ports

    def decode(params):  # morph < 0.5 plays C4, above plays C5
        return fixed_phrase([60 if params.morph < 0.5 else 72], every=2, steps=8)

    params = ParamStore()
    run_live(player(decode, params, steps=8, lead=2), output, params, bpm=BPM, duration=2.0, morph_cc=None,
             automation=parse_morph("0:0,0.8:1"))
    ons = [p for _, p in capture.note_ons()]
    assert params.snapshot.morph == 1.0
    assert ons[0] == 60 and ons[-1] == 72, ons
    assert_no_stuck_notes(capture.settled())


def test_control_change_flood_keeps_time(ports):
    output, capture, sender = ports
    params = ParamStore()

    def flood():
        # ~20,000 messages/s: JACK's MIDI ring buffer drops anything faster, before our code sees it.
        for i in range(3000):
            sender.send([0xB0, 1, i % 128])
            if i % 20 == 19:
                time.sleep(0.001)
        time.sleep(0.05)
        sender.send([0xB0, 1, 64])

    def ready():
        jack_connect(sender.name, "musicvae-in:in")
        threading.Thread(target=flood).start()

    report = run_live(player(lambda p: fixed_phrase([60, 64, 67, 72]), params), output, params, bpm=BPM,
                      duration=1.5, midi_in="virtual:in", midi_api="jack", on_ready=ready)
    late = np.asarray(report.lateness) * 1e3
    assert np.median(late) < 5.0
    assert abs(params.snapshot.morph - 64 / 127) < 1e-9
    assert_no_stuck_notes(capture.settled())


def test_sysex_and_garbage_on_the_input_are_tolerated(ports):
    output, capture, sender = ports
    params = ParamStore()
    garbage = [[0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0xF0, 0x43, 0x12, 0x00, 0xF7], [0xF4], [0xF5], [0xFD],
               [0x90, 60], [0xB0, 1], [0xF2, 0x10], [0x80, 200, 0], [0xB0, 1, 255]]

    def ready():
        jack_connect(sender.name, "musicvae-in:in")
        for message in garbage * 20:
            sender.send(message)

    report = run_live(player(lambda p: fixed_phrase([60, 64])), output, params, bpm=BPM, duration=1.0,
                      midi_in="virtual:in", midi_api="jack", on_ready=ready)
    assert report.steps > 10 and params.snapshot.morph == 0.0
    assert_no_stuck_notes(capture.settled())


def test_unknown_input_port_lists_the_available_ones(jack_server):
    sender = Sender("known-device")
    try:
        with pytest.raises(InputError, match="no MIDI input port 'nope'.*known-device:out"):
            MidiInput("nope", handler=lambda m, t: None, api="jack")
    finally:
        sender.close()


def test_vanishing_input_port_stops_with_all_notes_off(ports):
    output, capture, _ = ports
    source = Sender("vanishing")
    phrase = np.zeros(32, np.int64)
    phrase[0] = 60 - 21 + 2
    threading.Timer(0.4, source.close).start()
    with pytest.raises(InputError, match="vanished"):
        run_live(player(lambda p: phrase), output, ParamStore(), bpm=BPM, duration=5.0, midi_in="vanishing:out",
                 midi_api="jack")
    assert_no_stuck_notes(capture.settled())


def test_slow_decoding_holds_the_phrase_and_keeps_time(ports):
    output, capture, _ = ports
    calls = []

    def slow(params):
        calls.append(time.perf_counter())
        if len(calls) > 1:
            time.sleep(2.5)  # longer than a whole phrase (2 s at 240 BPM)
        return fixed_phrase([60 + len(calls)], every=8)

    report = run_live(player(slow), output, ParamStore(), bpm=BPM, duration=4.2, morph_cc=None)
    late = np.asarray(report.lateness) * 1e3
    assert np.median(late) < 3.0 and np.percentile(late, 90) < 15.0
    assert report.held >= 1
    ons = [p for _, p in capture.note_ons()]
    assert ons[:2] == [61, 61]  # the first phrase, held while the second decodes
    assert_no_stuck_notes(capture.settled())


def test_call_and_response_through_ports(ports):
    from musicvae.realtime.player import CallAndResponse

    output, capture, sender = ports
    heard = []

    def echo(call, params):  # answers with the call itself: what was recorded is what comes back
        heard.append(call.copy())
        return call

    core = CallAndResponse(echo, ParamStore(), steps=16)
    params = ParamStore()
    bar = 16 * STEP

    def ready():  # connect before the clock starts, then play in time with it
        began = time.monotonic()
        jack_connect(sender.name, "musicvae-in:in")
        threading.Thread(target=play_call, args=(began,)).start()

    def play_call(began):
        # A loaded server applies a new connection a few periods late: wait until a control change (the
        # morph CC) gets through, then play the call from step 2 of the next bar that leaves room for it
        # (the first bar starts at ready + ~50 ms). Before, a first note sent too early was never heard.
        deadline = time.monotonic() + 2.0
        while params.snapshot.morph < 0.99 and time.monotonic() < deadline:
            sender.send([0xB0, 1, 127])
            time.sleep(0.01)
        now = time.monotonic()
        k = 0
        while began + 0.05 + k * bar + 2 * STEP < now:
            k += 1
        time.sleep(began + 0.05 + k * bar + 2 * STEP - now)  # play on steps ~2, 6, 10 of bar k + 1
        for pitch in (60, 64, 67):
            sender.send([0x90, pitch, 100])
            time.sleep(3 * STEP)
            sender.send([0x80, pitch, 0])
            time.sleep(STEP)

    # Three bars: the call may have to wait for the second, and its answer comes in the bar after it.
    report = run_live(core, output, params, bpm=BPM, duration=3 * bar + 0.3, midi_in="virtual:in",
                      midi_api="jack", on_ready=ready)
    messages = capture.settled()
    assert report.steps >= 32 and heard
    assert [m[1] for m in messages if m[0] == 0x90] == [60, 64, 67]
    assert_no_stuck_notes(messages)


def test_the_port_ends_what_it_started_whatever_the_engine_believes(ports):
    output, capture, _ = ports
    output.send([0x90, 60, 100])
    output.send([0x91, 64, 100])
    output.send([0x80, 60, 0])
    output.send([0x92, 67, 100])
    output.send([0xB2, 123, 0])  # All Notes Off on channel 3 ends its notes too
    assert output.all_notes_off() == 4  # note-off 64 on channel 2, then CC 123 on channels 1..3
    messages = capture.settled()
    assert messages[-4:] == [[0x81, 64, 0], [0xB0, 123, 0], [0xB1, 123, 0], [0xB2, 123, 0]]
    assert output.sounding == set()


@pytest.mark.parametrize("ports", ["rtmidi", "jack-native"], indirect=True)
@pytest.mark.parametrize("cause", ["duration", "stop event", "lost input", "error"])
def test_every_stop_path_ends_every_note_within_the_bound(ports, cause):
    """Whatever ends a run, a held note gets its note-off and CC 123 follows, within the bound: from the cause
    (the duration's end, the event, the input vanishing, an exception on the clock) to the port closed."""
    output, capture, _ = ports
    phrase = np.zeros(32, np.int64)
    phrase[0] = 60 - 21 + 2  # held for the whole phrase: every stop cuts it
    core = player(lambda p: phrase)
    caused = []
    stop = threading.Event()
    kwargs = {"duration": 0.6} if cause == "duration" else {}
    if cause == "stop event":
        threading.Timer(0.5, lambda: (caused.append(time.perf_counter()), stop.set())).start()
    source = None
    if cause == "lost input":
        source = Sender("lost-source")
        kwargs.update(midi_in="lost-source:out", midi_api="jack")
        threading.Timer(0.5, lambda: (caused.append(time.perf_counter()), source.close())).start()
    if cause == "error":
        step = core.step

        def failing(n):
            if n == 8:
                caused.append(time.perf_counter())
                raise RuntimeError("engine bug")
            return step(n)

        core.step = failing
    started = time.perf_counter()
    try:
        run_live(core, output, ParamStore(), bpm=BPM, stop=stop, morph_cc=None, **kwargs)
        raised = None
    except (InputError, RuntimeError) as error:
        raised = error
    finally:
        output.close()
    latency = time.perf_counter() - (caused[0] if caused else started + 0.6)
    messages = capture.settled()
    print(f"stopped by {cause}: port closed {latency:.3f} s after the cause")
    assert (raised is None) == (cause in ("duration", "stop event")), raised
    assert latency < 2.5, f"{cause}: the port closed {latency:.2f} s after the cause (target 1 s)"
    assert [0x90, 60, 90] in messages and [0x80, 60, 0] in messages
    assert_no_stuck_notes(messages, strict=True)
