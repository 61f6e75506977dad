"""The synth's four-corner pad: the point (x, y) from OSC /xy and two control changes, cached on (x, y) steps,
decoded as ``blend --pad`` decodes it offline, live through JACK audio and MIDI."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
import torch
from realtime_helpers import Sender, make_tiny_timbre

from musicvae import blend
from musicvae.cli import main
from musicvae.errors import InputError
from musicvae.realtime import pad as pad_module
from musicvae.realtime.control import CCControl, OscControl, free_osc_port
from musicvae.realtime.midi_io import open_input
from musicvae.realtime.params import ParamStore
from musicvae.realtime.synth import MORPH_STEPS, NoteCache, SynthEngine, prefetch_keys

CORNERS = ["flute", "guitar", "string", "brass"]
#: Points on the cache's steps (multiples of 1 / 16): the note there is the offline pad's at the same point.
POINT, OTHER = (0.25, 0.6875), (0.75, 0.25)


def make_four():
    """The tiny untrained timbre instrument with four families, one latent per corner of a square in z."""
    instrument = make_tiny_timbre()
    instrument.extras.update({"mean_latent.string": torch.full((4,), -1.0),
                              "mean_latent.brass": torch.tensor([1.0, -1.0, 1.0, -1.0])})
    return instrument


@pytest.fixture(scope="module")
def four():
    return make_four()


def wait_for(condition, timeout=10.0):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end and not condition():
        time.sleep(0.005)
    return condition()


def pad_engine(instrument, params, **kwargs):
    cache = NoteCache(pad_module.pad_note_decoder(instrument, CORNERS), pad=True, **kwargs)
    return SynthEngine(cache, params, sample_rate=blend.sample_rate(instrument), gain=1.0, clip=False)


def test_the_cache_keys_a_pad_note_by_its_quantised_point(four):
    cache = NoteCache(pad_module.pad_note_decoder(four, CORNERS), pad=True)
    assert cache.key(61, (0.3, 0.7)) == (61, round(0.3 * MORPH_STEPS), round(0.7 * MORPH_STEPS)) == (61, 5, 11)
    assert cache.key(61, (0.3, 0.7)) == cache.key(61, (0.31, 0.69))  # one step holds nearby points
    # Prefetch: the cell the point is on, then one step further along each axis that moved.
    keys = prefetch_keys((4, 12), (5, 12), pitches=range(60, 62), morph_steps=MORPH_STEPS)
    assert keys == [(60, 5, 12), (61, 5, 12), (60, 6, 12), (61, 6, 12)]
    keys = prefetch_keys((5, 12), (4, 11), pitches=range(60, 61), morph_steps=MORPH_STEPS)
    assert keys == [(60, 4, 11), (60, 3, 10)]
    assert prefetch_keys((15, 0), (16, 0), pitches=range(60, 61), morph_steps=MORPH_STEPS) == [(60, 16, 0)]
    assert prefetch_keys(None, (8, 8), pitches=range(60, 61), morph_steps=MORPH_STEPS) == [(60, 8, 8)]
    # The two-timbre morph is keyed as before.
    assert NoteCache(lambda p, a: np.zeros(4, np.float32)).key(61, 0.3) == (61, 5)


def test_a_note_played_after_osc_xy_is_the_offline_pad_note(four):
    """Streaming == offline: /xy over UDP to the real server, a note-on, the engine's blocks."""
    from pythonosc.udp_client import SimpleUDPClient

    params = ParamStore()
    engine = pad_engine(four, params, blocking=True)
    osc = OscControl(params, port=0, pad=True)
    try:
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/xy", list(POINT))
        assert wait_for(lambda: (params.snapshot.x, params.snapshot.y) == POINT)
    finally:
        osc.close()
    engine.note_on(61, 127)
    played = np.concatenate([engine.process(2048).copy() for _ in range(3)])  # before the loop's entry
    offline = blend.pad(four, CORNERS, POINT, pitch=61)
    assert not offline.level  # not scaled down: the live note is the decoded one as it is
    np.testing.assert_allclose(played, offline.audio[0][: len(played)], atol=1e-6)
    # The point matters: the centre's note is another.
    centre = blend.pad(four, CORNERS, (0.5, 0.5), pitch=61).audio[0][: len(played)]
    assert np.abs(played - centre).max() > 1e-3


def test_a_point_between_steps_plays_the_step_it_rounds_to(four):
    params = ParamStore()
    params.update(x=0.3, y=0.7)
    engine = pad_engine(four, params, blocking=True)
    engine.note_on(62, 127)
    played = engine.process(4096).copy()
    np.testing.assert_allclose(played, blend.pad(four, CORNERS, (5 / 16, 11 / 16), pitch=62).audio[0][:4096],
                               atol=1e-6)


def test_a_held_note_crossfades_to_the_new_point(four):
    """A sounding note follows the pad as it follows the morph: a crossfade to the note at the new point."""
    params = ParamStore()
    engine = pad_engine(four, params, blocking=True)
    engine.note_on(60, 127)
    engine.process(512)
    assert engine.key[0] == (60, 8, 8)
    params.update(x=POINT[0], y=POINT[1])
    engine.process(512)
    assert engine.target_key[0] == (60, 4, 11)


def test_osc_xy_x_and_y_and_bad_messages_are_one_warning(capsys):
    from pythonosc.udp_client import SimpleUDPClient

    params = ParamStore()
    osc = OscControl(params, port=0, pad=True)
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/xy", [0.25, 0.75])
        assert wait_for(lambda: (params.snapshot.x, params.snapshot.y) == (0.25, 0.75))
        bad = [("/xy", [1.5, 0.5]), ("/xy", [0.5, -0.1]), ("/xy", 0.5), ("/xy", [0.1, 0.2, 0.3]), ("/xy", ["a", "b"]),
               ("/xy", [True, 0.5]), ("/xy", [float("nan"), 0.5]), ("/x", 2.0), ("/y", [0.1, 0.2]),
               ("/morph", 0.5)]  # on a pad, /morph is an unknown address
        for address, value in bad:
            client.send_message(address, value)
        assert wait_for(lambda: osc.ignored == len(bad)), osc.ignored
        assert (params.snapshot.x, params.snapshot.y) == (0.25, 0.75)  # refused, not clamped: the point stayed
        client.send_message("/x", 0.5)
        client.send_message("/y", 1)
        assert wait_for(lambda: (params.snapshot.x, params.snapshot.y) == (0.5, 1.0))
        assert osc.handled == 3
    finally:
        osc.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: OSC /xy point lies in 0..1 on each axis, got 1.5 0.5; ignoring such messages"], err


def test_unknown_addresses_name_the_pad_ones(capsys):
    from pythonosc.udp_client import SimpleUDPClient

    params = ParamStore()
    osc = OscControl(params, port=0, pad=True)
    try:
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/pad", [0.5, 0.5])
        assert wait_for(lambda: osc.ignored == 1)
    finally:
        osc.close()
    assert "known: /xy f f, /x f, /y f, /temperature f" in capsys.readouterr().err


def test_ccs_through_jack_give_the_point_osc_gives(jack_server, four):
    """Real control changes through the JACK dummy server: x = CC 1 / 127, y = CC 2 / 127, on the same steps
    (so the same cached note) as /xy with those values."""
    params = ParamStore()
    cc = CCControl(params, morph_cc=None, xy_cc=pad_module.XY_CC)
    sender = Sender("pad-knobs")
    port = open_input(sender.name, handler=lambda message, _t: cc.handle(message), api="jack", client="pad-cc")
    try:
        values = (32, 88)  # 32 / 127 * 16 = 4.03, 88 / 127 * 16 = 11.09: the steps of POINT

        def arrived():  # a connection a loaded server applies late misses the first messages: send again
            sender.send([0xB0, 1, values[0]])
            sender.send([0xB0, 2, values[1]])
            time.sleep(0.02)
            return (params.snapshot.x, params.snapshot.y) == (values[0] / 127, values[1] / 127)

        assert wait_for(arrived)
        sender.send([0xB0, 7, 100])  # an unmapped controller moves nothing
        sender.send([0xB0, 2, 127])
        assert wait_for(lambda: params.snapshot.y == 1.0)
        assert params.snapshot.x == values[0] / 127
    finally:
        port.close()
        sender.close()
    cache = NoteCache(pad_module.pad_note_decoder(four, CORNERS), pad=True)
    assert cache.key(61, (values[0] / 127, values[1] / 127)) == cache.key(61, POINT)
    with pytest.raises(InputError, match="a controller of its own"):
        CCControl(params, morph_cc=None, xy_cc=(3, 3))
    with pytest.raises(InputError, match="0..119"):
        CCControl(params, morph_cc=None, xy_cc=(1, 123))


def test_the_live_synth_plays_the_pad_from_osc_and_ccs(jack_audio, four, monkeypatch, capsys):
    """run_synth on JACK audio and MIDI: /xy over OSC, then CCs, each followed by a key; every note a key
    asked for is decoded at the point the controls set, and is the offline pad's note there."""
    from pythonosc.udp_client import SimpleUDPClient
    from scipy.signal import resample_poly

    from musicvae.realtime.synth_run import run_synth

    decoded: dict[tuple[int, tuple[float, float]], np.ndarray] = {}
    rates = []
    real = pad_module.pad_note_decoder

    def recording(instrument, corners, **kwargs):  # the real decoder, its notes kept for the test to compare
        decode = real(instrument, corners, **kwargs)
        rates.append(kwargs["sample_rate"])

        def note(pitch, xy):
            held = decode(pitch, xy)
            decoded[pitch, tuple(xy)] = held.audio
            return held

        return note

    monkeypatch.setattr(pad_module, "pad_note_decoder", recording)
    params = ParamStore()
    stop = threading.Event()
    port = free_osc_port()
    keys = Sender("pad-keys")
    failures = []

    def key(pitch, xy):  # again until its note is decoded: an event a late JACK cycle dropped is sent again
        def played():
            keys.send([0x90, pitch, 100])
            time.sleep(0.02)
            keys.send([0x80, pitch, 0])
            return (pitch, xy) in decoded

        return wait_for(played, timeout=20.0)

    def play():
        try:
            client = SimpleUDPClient("127.0.0.1", port)
            client.send_message("/xy", list(POINT))
            client.send_message("/xy", [2.0, 0.5])  # refused with one warning; the session plays on
            client.send_message("/xy", 0.5)
            if not wait_for(lambda: (params.snapshot.x, params.snapshot.y) == POINT):
                failures.append("OSC /xy never moved the point")
            elif not key(61, POINT):
                failures.append(f"no note at {POINT} (decoded: {sorted(decoded)})")
            values = (96, 32)  # 96 / 127 -> step 12 of 16, 32 / 127 -> step 4: OTHER

            def moved():
                keys.send([0xB0, 1, values[0]])
                keys.send([0xB0, 2, values[1]])
                time.sleep(0.02)
                return (params.snapshot.x, params.snapshot.y) == (values[0] / 127, values[1] / 127)

            if not wait_for(moved, timeout=20.0):
                failures.append("the CCs never moved the point")
            elif not key(62, OTHER):
                failures.append(f"no note at {OTHER} (decoded: {sorted(decoded)})")
        finally:
            stop.set()

    try:
        report = run_synth(four, midi_in=keys.name, audio_api="jack", midi_api="jack", pad=CORNERS, xy=(0.5, 0.5),
                           osc_port=port, params=params, prefetch=False, duration=60.0, stop=stop,
                           on_ready=lambda: threading.Thread(target=play, daemon=True).start())
    finally:
        keys.close()
    assert not failures, failures
    assert report.stopped_by == "stop" and not report.errors and report.sounding_at_close == 0
    # Without prefetching, the start's range, the keys' notes, and those a key still held when the CCs came
    # asked for (a held note follows the point) were decoded.
    assert {(p, (0.5, 0.5)) for p in (60, 61, 62)} | {(61, POINT), (62, OTHER)} <= set(decoded)
    rate, instrument_rate = rates[0], blend.sample_rate(four)
    for pitch, xy in ((61, POINT), (62, OTHER)):
        offline = blend.pad(four, CORNERS, xy, pitch=pitch).audio[0]
        want = resample_poly(offline, rate // instrument_rate, 1) if rate != instrument_rate else offline
        np.testing.assert_allclose(decoded[pitch, xy], want, atol=1e-5)
    err = capsys.readouterr().err
    assert "decoding 3 notes at x,y 0.5,0.5" in err and f"OSC on 127.0.0.1:{port}: /xy f f, /x f, /y f" in err
    assert [line for line in err.splitlines() if line.startswith("warning")] == [
        "warning: OSC /xy point lies in 0..1 on each axis, got 2 0.5; ignoring such messages"]


def test_synth_pad_on_the_command_line(jack_audio, tmp_path, capsys):
    four = make_four().save(tmp_path / "four")
    argv = ["synth", str(four), "--midi-in", "virtual:pad-cli", "--midi-api", "jack", "--audio-api", "jack",
            "--pad", ",".join(CORNERS), "--xy", "0.25,0.75", "--xy-cc", "16,17", "--duration", "0.3"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "decoding 3 notes at x,y 0.25,0.75" in err and "stopped by duration" in err, err


def test_bad_pad_input_is_one_line(tmp_path, capsys):
    """Refused before any port or audio device opens: no JACK server needed."""
    four = make_four().save(tmp_path / "four")
    two = make_tiny_timbre().save(tmp_path / "two")
    live = ["--midi-in", "virtual:nowhere"]
    cases = [
        ([str(four), *live, "--pad", "flute,guitar,string"], "argument --pad: expected four families"),
        ([str(four), *live, "--pad", "flute,guitar,string,banjo"],
         "has no family 'banjo'.*it knows: brass, flute, guitar, string"),
        ([str(four), *live, "--pad", "flute,guitar,flute,brass"], "must be different families"),
        ([str(two), *live, "--pad", ",".join(CORNERS)], r"has 2 families \(flute, guitar\); a pad needs 4"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--xy", "1.5,0.5"], "argument --xy: expected a point"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--xy", "0.5"], "argument --xy: expected a point"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--xy-cc", "1,1"], "argument --xy-cc: expected two"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--xy-cc", "1,120"], "argument --xy-cc"),
        ([str(four), *live, "--xy", "0.5,0.5"], "--xy places the point on a --pad"),
        ([str(four), *live, "--xy-cc", "1,2"], "--xy-cc places the point on a --pad"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--morph", "0:0,4:1"], "--morph blends two timbres"),
        ([str(four), *live, "--pad", ",".join(CORNERS), "--morph-cc", "7"], "--morph-cc blends two timbres"),
        ([str(four), "--midi-file", "m.mid", "--pad", ",".join(CORNERS)], "synth --pad plays live"),
    ]
    for argv, message in cases:
        assert main(["synth", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(message, err), (argv, err)
