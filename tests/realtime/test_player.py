"""The melody engine core without ports: phrases to messages, held phrases, call and response, decoders."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from realtime_helpers import assert_no_stuck_notes, fixed_phrase

from musicvae.midi import melody as codec
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.player import CallAndResponse, MelodyPlayer, morph_decoder, response_decoder, sounding_at


def run_steps(core, steps):
    return [m for n in steps for m in core.step(n)]


def test_phrase_to_messages_loops_and_ends_clean():
    phrase = fixed_phrase([60, 62, 64], every=4, steps=16)
    phrase[-1] = 67 - 21 + 2  # a note on the last step, held over the loop point
    player = MelodyPlayer(lambda p: phrase, ParamStore(), steps=16, lead_steps=4)
    player.prepare()
    first = [player.step(n) for n in range(16)]
    assert first[0] == [[0x90, 60, 90]] and first[3] == [[0x80, 60, 0]] and first[15] == [[0x90, 67, 90]]
    again = player.step(16)
    assert again == [[0x80, 67, 0], [0x90, 60, 90]]  # the loop point ends the held note first
    messages = [m for ms in first for m in ms] + again + player.all_notes_off()
    assert_no_stuck_notes(messages, strict=True)
    player.close()


def test_morph_is_read_when_the_next_phrase_is_requested():
    params = ParamStore()
    player = MelodyPlayer(lambda p: fixed_phrase([60 if p.morph < 0.5 else 72], steps=8), params, steps=8,
                          lead_steps=4)
    player.prepare()
    run_steps(player, range(3))
    params.update(morph=0.9)
    run_steps(player, range(3, 8))  # step 4 requests phrase 1 with morph 0.9
    time.sleep(0.1)
    assert player.step(8)[-1] == [0x90, 72, 90]
    assert player.held == 0
    player.close()


def test_a_late_decode_holds_the_previous_phrase_without_blocking():
    release = threading.Event()

    def decode(params):
        if decode.calls:
            release.wait(5.0)
        decode.calls += 1
        return fixed_phrase([60 + decode.calls], steps=8)

    decode.calls = 0
    player = MelodyPlayer(decode, ParamStore(), steps=8, lead_steps=4)
    player.prepare()
    started = time.perf_counter()
    messages = run_steps(player, range(24))
    assert time.perf_counter() - started < 0.5  # never waited for the model
    assert player.held == 2 and [m[1] for m in messages if m[0] == 0x90] == [61, 61, 61]
    release.set()
    time.sleep(0.1)
    assert player.step(24)[-1] == [0x90, 62, 90]  # the late phrase still arrives, one phrase later
    player.close()


def test_decode_errors_hold_the_phrase():
    def decode(params):
        if decode.calls:
            raise RuntimeError("model broke")
        decode.calls += 1
        return fixed_phrase([60], steps=8)

    decode.calls = 0
    player = MelodyPlayer(decode, ParamStore(), steps=8, lead_steps=4)
    player.prepare()
    run_steps(player, range(8))
    time.sleep(0.05)
    assert player.step(8) == [[0x90, 60, 90]] and player.held == 1
    assert "model broke" in player.decoder.errors[0]
    player.close()


def test_call_and_response_answers_the_call():
    calls = []

    def respond(call, params):
        calls.append(call.copy())
        return fixed_phrase([72, 74], every=4, steps=16)

    core = CallAndResponse(respond, ParamStore(), steps=16)
    for n in range(16):  # the call: two notes, recorded between steps
        if n == 2:
            core.record([0x90, 60, 100], 2.1)
        if n == 5:
            core.record([0x80, 60, 0], 5.2)
            core.record([0x90, 64, 100], 5.8)  # held over the bar line: ends there
        assert core.step(n) == []
    first = core.step(16)  # decode was just requested: the answer joins late
    time.sleep(0.1)
    rest = run_steps(core, range(17, 32))
    assert calls and calls[0][2] == 60 - 21 + 2 and calls[0][5] == 1 and calls[0][6] == 64 - 21 + 2
    ons = [m[1] for m in first + rest if m[0] == 0x90]
    assert ons == [72, 74]
    assert_no_stuck_notes(first + rest + core.all_notes_off(), strict=True)
    core.close()


def test_sounding_at_finds_a_held_note():
    events = np.array([0, 45, 0, 0, 1, 0, 50, 0])
    assert sounding_at(events, 3) == 45 and sounding_at(events, 5) == 0 and sounding_at(events, 7) == 50


def test_decoders_with_a_tiny_instrument(tiny_melody):
    from musicvae.generate import window_from_midi
    from musicvae.instrument import Instrument

    path, a, b = tiny_melody
    instrument = Instrument.load(path)
    wa, wb = window_from_midi(instrument, a), window_from_midi(instrument, b)
    decode = morph_decoder(instrument, wa.events, wb.events, seed=0)
    for morph in (0.0, 0.5, 1.0):
        phrase = decode(Params(morph=morph, temperature=1.0))
        assert phrase.shape == (32,) and phrase.min() >= 0 and phrase.max() < 90
    answer = response_decoder(instrument, seed=0)(wa.events, Params(temperature=0.5))
    assert answer.shape == (32,)


def test_song_position_jumps_back_and_forth():
    params = ParamStore()
    player = MelodyPlayer(lambda p: fixed_phrase([60 + int(p.morph * 10)], steps=8), params, steps=8, lead_steps=4)
    player.prepare()
    run_steps(player, range(0, 6))
    params.update(morph=0.5)
    run_steps(player, [40, 41, 42, 43, 44, 45, 46])  # jump ahead to phrase 5: phrase 6 is requested at step 44
    time.sleep(0.1)
    assert player.step(48)[-1] == [0x90, 65, 90]
    params.update(morph=0.2)
    run_steps(player, [4, 5, 6])  # back to phrase 0: its successor is requested again
    time.sleep(0.1)
    assert player.step(8)[-1] == [0x90, 62, 90]
    player.close()


def _write_tune(path, bars_of_pitches):
    """A 4/4 tune at 120 BPM: one list of quarter-note pitches per bar ([] = a silent bar)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    for bar, pitches in enumerate(bars_of_pitches):
        for beat, pitch in enumerate(pitches):
            start = bar * 2.0 + beat * 0.5
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start, end=start + 0.45))
    midi.instruments.append(inst)
    midi.write(str(path))
    return path


def _onsets(messages):
    return [m[1] for m in messages if m[0] & 0xF0 == 0x90 and m[2] > 0]


def _play_phrases(player, phrases, steps):
    """Step ``phrases`` phrases, waiting (up to 10 s) for each next phrase's decode before it begins."""
    out = []
    for index in range(phrases):
        for s in range(steps):
            out.append(player.step(index * steps + s))
        deadline = time.monotonic() + 10
        while not player.decoder.ready(index + 1) and time.monotonic() < deadline:
            time.sleep(0.005)
    return out


def test_live_loops_whole_tunes_window_after_window_as_the_offline_morph(tiny_melody, tmp_path):
    """Live plays every window of the tunes in turn, then loops; each phrase equals ``morph_tune``'s decode."""
    from musicvae.generate import morph_tune
    from musicvae.instrument import Instrument
    from musicvae.realtime.live import build_player

    path, _, _ = tiny_melody
    instrument = Instrument.load(path)
    # Three 2-bar windows; the middle one is silent in both tunes, so it must stay silent live too.
    a = _write_tune(tmp_path / "a.mid", [[60, 62, 64, 65], [67, 65, 64, 62], [], [], [72, 71, 69, 67], [65, 64]])
    b = _write_tune(tmp_path / "b.mid", [[72, 71, 69, 67], [65, 64, 62, 60], [], [], [60, 64, 67, 72], [67, 64]])
    offline = morph_tune(instrument, a, b, steps=2)
    assert offline.windows == 3
    for amount, expected in zip((0.0, 1.0), offline.steps):
        params = ParamStore()
        params.update(morph=amount)
        player, warnings = build_player(instrument, a=a, b=b, params=params, seed=0)
        assert player.windows == 3 and warnings == []
        player.prepare()
        phrases = _play_phrases(player, 4, 32)  # three windows, then window 0 again
        assert player.held == 0
        played = [_onsets(m for step in phrases[w * 32:(w + 1) * 32] for m in step) for w in range(4)]
        windows = expected.reshape(3, 32)
        first, low = codec.FIRST_PITCH_CLASS, instrument.config.model.representation.min_pitch
        wanted = [[int(e) - first + low for e in w if e >= first]
                  for w in windows]
        assert played[:3] == wanted and played[3] == wanted[0]
        assert played[1] == []  # the silent window
        player.close()


def test_live_window_loops_one_phrase(tiny_melody, tmp_path):
    from musicvae.errors import NoWindowError
    from musicvae.instrument import Instrument
    from musicvae.realtime.live import build_player

    path, _, _ = tiny_melody
    instrument = Instrument.load(path)
    a = _write_tune(tmp_path / "a.mid", [[60, 62, 64, 65]] * 4)
    b = _write_tune(tmp_path / "b.mid", [[72, 71, 69, 67]] * 4)
    player, _ = build_player(instrument, a=a, b=b, params=ParamStore(), window=1, seed=0)
    assert player.windows == 1
    player.close()
    with pytest.raises(NoWindowError, match="--window 3: the tunes hold 2 windows"):
        build_player(instrument, a=a, b=b, params=ParamStore(), window=2)
