"""Controls: CC, OSC and automation write the snapshot; floods only overwrite it; bad input is counted."""

from __future__ import annotations

import random
import socket
import time

import pytest

from musicvae.automation import parse_morph
from musicvae.errors import InputError
from musicvae.realtime.control import CCControl, MorphAutomation, OscControl, free_osc_port
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


def test_update_with_an_expected_version_is_compare_and_set():
    params = ParamStore()
    assert params.update(morph=0.2, expect_version=0) and params.version == 1
    assert not params.update(morph=0.9, expect_version=0)  # someone wrote since version 0
    assert params.snapshot.morph == 0.2 and params.version == 1


def test_automation_follows_its_curve_and_holds_the_last_point():
    params = ParamStore()
    curve = parse_morph("0:0,0.3:1")
    seen = []
    mover = MorphAutomation(params, curve, end=curve.end, interval=0.005).start()
    try:
        assert params.snapshot.morph == 0.0
        while mover._thread.is_alive():
            seen.append(params.snapshot.morph)
            time.sleep(0.01)
    finally:
        mover.close()
    assert params.snapshot.morph == 1.0 and not mover.overridden
    assert seen == sorted(seen) and any(0.2 < m < 0.8 for m in seen), seen  # rose through the middle
    assert mover.writes >= 20  # about one write per interval over 0.3 s, then it stopped


def test_a_control_change_takes_the_morph_over_from_the_automation():
    params = ParamStore()
    curve = parse_morph("0:0,5:1")
    mover = MorphAutomation(params, curve, end=curve.end, interval=0.005).start()
    try:
        time.sleep(0.05)
        cc = CCControl(params, morph_cc=1, temperature_cc=2)
        cc.handle([0xB0, 2, 64])  # the temperature is not the morph: the automation carries on
        written = mover.writes
        assert wait_for(lambda: mover.writes > written + 2) and not mover.overridden
        cc.handle([0xB0, 1, 127])
        assert wait_for(lambda: mover.overridden)
        time.sleep(0.05)
        assert params.snapshot.morph == 1.0  # the performer's value stays
    finally:
        mover.close()


def test_free_osc_port_lies_below_the_kernels_own_range_and_skips_a_taken_port():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    port = free_osc_port(rng=random.Random(3))
    assert 1024 <= port < low  # an ephemeral bind elsewhere can never take it before the server binds it
    assert free_osc_port(rng=random.Random(3)) == port  # where it starts looking follows the rng
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", port))
        other = free_osc_port(rng=random.Random(3))
        assert other != port and other < low
    server = OscControl(ParamStore(), port=port)  # what it returns an OSC server can listen on
    try:
        assert server.port == port
    finally:
        server.close()
