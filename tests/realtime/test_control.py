"""Controls: CC and OSC write the snapshot; floods only overwrite it; wrong types are counted, never raised."""

from __future__ import annotations

import time

import pytest

from musicvae.errors import InputError
from musicvae.realtime.control import CCControl, OscControl
from musicvae.realtime.params import MAX_TEMPERATURE, ParamStore


def wait_for(condition, timeout=3.0):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end and not condition():
        time.sleep(0.01)
    return condition()


def test_cc_maps_value_over_127():
    params = ParamStore()
    cc = CCControl(params, morph_cc=1, temperature_cc=2, channel=0)
    assert cc.handle([0xB0, 1, 127]) and params.snapshot.morph == 1.0
    assert cc.handle([0xB0, 2, 127]) and params.snapshot.temperature == pytest.approx(2.0)
    assert not cc.handle([0xB1, 1, 0])  # other channel
    assert not cc.handle([0xB0, 7, 0]) and not cc.handle([0x90, 1, 0]) and not cc.handle([0xB0, 1])
    assert params.snapshot.morph == 1.0
    with pytest.raises(InputError, match="0..119"):
        CCControl(params, morph_cc=123)


def test_params_clamp_and_refuse_non_finite():
    params = ParamStore()
    assert params.update(morph=3.0) and params.snapshot.morph == 1.0
    assert params.update(temperature=99.0) and params.snapshot.temperature == MAX_TEMPERATURE
    assert not params.update(morph=float("nan")) and params.snapshot.morph == 1.0
    assert not params.update()


def test_osc_sets_params_and_ignores_wrong_types(capsys):
    from pythonosc.udp_client import SimpleUDPClient

    params = ParamStore()
    osc = OscControl(params, port=0)
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/morph", 0.25)
        assert wait_for(lambda: params.snapshot.morph == 0.25)
        for bad in ("loud", [0.1, 0.2], True, None, []):
            client.send_message("/morph", bad)
        client.send_message("/unknown", 1.0)
        client.send_message("/temperature", 0.5)
        assert wait_for(lambda: params.snapshot.temperature == 0.5)
        assert wait_for(lambda: osc.ignored == 6), osc.ignored
        assert params.snapshot.morph == 0.25
        assert capsys.readouterr().err.count("warning") == 1  # warned once, not per message
    finally:
        osc.close()


def test_osc_flood_only_overwrites_the_snapshot():
    from pythonosc.udp_client import SimpleUDPClient

    params = ParamStore()
    osc = OscControl(params, port=0)
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        for i in range(5000):
            client.send_message("/morph", (i % 100) / 100)
        time.sleep(0.3)  # UDP drops what the socket buffer cannot hold: the last word comes after the flood
        client.send_message("/morph", 0.75)
        assert wait_for(lambda: params.snapshot.morph == 0.75)
        assert osc.handled > 100 and osc.ignored == 0
    finally:
        osc.close()


def test_osc_port_in_use_is_one_line_error():
    params = ParamStore()
    first = OscControl(params, port=0)
    try:
        with pytest.raises(InputError, match="another --osc-port"):
            OscControl(params, port=first.port)
    finally:
        first.close()
