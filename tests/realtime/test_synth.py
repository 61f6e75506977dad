"""The synth engine core: block-size independence, the offline renderer, crossfades, release, polyphony."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from realtime_helpers import make_tiny_timbre

from musicvae.errors import InputError
from musicvae.midi.reader import MidiNote
from musicvae.realtime.audio_io import render_notes
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.synth import NoteCache, SynthEngine, prefetch_keys, timbre_note_decoder

RATE = 8000


def tone(pitch: int, amount: float) -> np.ndarray:
    """A fake decoded note: 0.5 s of sine at the pitch, louder towards morph 1 (its level marks the morph)."""
    t = np.arange(RATE // 2) / RATE
    return ((0.2 + 0.6 * amount) * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t)).astype(np.float32)


def engine(*, morph=0.0, blocking=True, voices=8, decode=tone, **kwargs):
    cache = NoteCache(decode, morph_steps=4, blocking=blocking)
    return SynthEngine(cache, ParamStore(Params(morph=morph)), sample_rate=RATE, max_voices=voices, gain=1.0,
                       max_block=1024, **kwargs)


NOTES = [MidiNote(60, 100, 0.0, 0.3), MidiNote(64, 80, 0.1, 0.2), MidiNote(67, 127, 0.15, 0.6),
         MidiNote(60, 100, 0.31, 0.4)]


def test_blocks_equal_the_offline_render():
    offline = render_notes(engine(), NOTES, morph=0.5, block=256)
    live = engine()
    # The same events stamped with frames, in time order, fed like a MIDI thread would.
    timed = sorted([(round(n.start * RATE), 1, n) for n in NOTES] + [(round(n.end * RATE), 0, n) for n in NOTES],
                   key=lambda e: e[:2])
    for frame, is_on, note in timed:
        if is_on:
            live.note_on(note.pitch, note.velocity, frame=frame)
        else:
            live.note_off(note.pitch, frame=frame)
    live.params.update(morph=0.5)
    blocks = [live.process(64).copy() for _ in range(len(offline) // 64 + 1)]
    np.testing.assert_allclose(np.concatenate(blocks)[: len(offline)], offline, atol=1e-6)
    assert np.abs(offline).max() > 0.1 and live.voices == 0


def test_release_fades_after_note_off():
    e = engine(release=0.05)
    e.note_on(69, 127, frame=0)
    e.note_off(69, frame=800)
    out = np.concatenate([e.process(400).copy() for _ in range(4)])
    fade = out[800 : 800 + 400]
    assert np.abs(out[:800]).max() > 0.15
    # Linear envelope over 400 frames: the first 100 frames peak higher than the last 100, then silence.
    assert np.abs(fade[:100]).max() > 2 * np.abs(fade[300:]).max()
    assert np.abs(out[1200:]).max() == 0.0 and e.voices == 0


def test_morph_change_crossfades_a_sustained_note():
    e = engine(crossfade=0.01)
    e.note_on(69, 127, frame=0)
    before = e.process(800).copy()
    e.params.update(morph=1.0)
    after = np.concatenate([e.process(400).copy() for _ in range(4)])
    level = lambda x: np.abs(x).max()  # noqa: E731
    assert level(before) == pytest.approx(0.2, rel=0.05)
    assert level(after[:40]) < 0.5  # no jump: the first 5 ms are still mostly the old note
    assert level(after[200:]) == pytest.approx(0.8, rel=0.05)
    # The new note continues from the same position: no step larger than the loud sine's own slope.
    assert np.abs(np.diff(after[:400])).max() < 1.05 * 0.8 * 2 * np.pi * 440 / RATE


def test_new_notes_take_the_current_quantised_morph():
    e = engine(morph=0.6)
    e.note_on(69, 127, frame=0)
    assert np.abs(e.process(400)).max() == pytest.approx(0.2 + 0.6 * 0.5, rel=0.05)  # 0.6 -> step 2 of 4


def test_polyphony_limit_steals_the_oldest_voice():
    e = engine(voices=2)
    for i, pitch in enumerate((60, 64, 67)):
        e.note_on(pitch, 100, frame=i * 10)
    e.process(64)
    assert e.voices == 2 and e.stolen == 1
    assert sorted(e.pitch[i] for i in range(2) if e.active[i]) == [64, 67]


def test_sustain_pedal_holds_released_keys_until_it_lifts():
    e = engine(release=0.01)  # 80 frames
    assert e.handle_midi([0x90, 69, 127]) and e.handle_midi([0xB0, 64, 127])  # key down, pedal down
    e.handle_midi([0x80, 69, 0])  # key up: the pedal holds the note
    held = np.concatenate([e.process(400).copy() for _ in range(3)])
    assert np.abs(held[800:]).max() > 0.15 and e.voices == 1
    e.handle_midi([0xB0, 64, 0])  # pedal up: now it releases
    after = np.concatenate([e.process(400).copy() for _ in range(2)])
    assert np.abs(after[:40]).max() > 0.05 and np.abs(after[100:]).max() == 0.0 and e.voices == 0
    # A key still down when the pedal lifts keeps sounding; All Notes Off silences whatever the pedal does.
    e.handle_midi([0x90, 72, 127])
    e.handle_midi([0xB0, 64, 127])
    e.handle_midi([0xB0, 64, 0])
    assert np.abs(e.process(400)).max() > 0.15 and e.voices == 1
    e.handle_midi([0xB0, 64, 127])
    e.handle_midi([0xB0, 123, 0])
    e.process(400)
    assert e.voices == 0 and not e.pedal


def test_a_stolen_voice_fades_out_instead_of_clicking():
    # A held level of 0.5 (pitch 60) stolen by a silent note (pitch 72): whatever is heard after the steal
    # is the stolen note's fade, so the output must fall in steps no larger than the fade's slope.
    def level(pitch, amount):
        return np.full(RATE // 2, 0.5 if pitch == 60 else 0.0, np.float32)

    e = engine(voices=1, decode=level, steal_fade=0.005)  # 40 frames at 8 kHz
    e.note_on(60, 127, frame=0)
    e.note_on(72, 127, frame=300)
    out = np.concatenate([e.process(64).copy() for _ in range(8)])
    assert e.stolen == 1 and e.steal_frames == 40
    assert out[299] == pytest.approx(0.5) and out[300] > 0.48
    assert np.abs(np.diff(out)).max() <= 0.5 / 40 + 1e-6
    assert np.abs(out[340:]).max() == 0.0  # the fade is over after steal_fade


def test_steals_in_quick_succession_add_their_fades():
    # Two steals 10 frames apart: both fades overlap in the tail ring, and all of it drains within 40 frames.
    def level(pitch, amount):
        return np.full(RATE // 2, 0.5 if pitch < 70 else 0.0, np.float32)

    e = engine(voices=2, decode=level, steal_fade=0.005)
    e.note_on(60, 127, frame=0)
    e.note_on(62, 127, frame=0)
    e.note_on(72, 127, frame=100)
    e.note_on(74, 127, frame=110)
    out = np.concatenate([e.process(32).copy() for _ in range(8)])
    assert e.stolen == 2
    assert out[99] == pytest.approx(1.0) and out[111] > 0.7  # 0.5 * (1 - 11.5/40) + 0.5 * (1 - 1.5/40)
    assert np.abs(np.diff(out)).max() <= 2 * 0.5 / 40 + 1e-6
    assert np.abs(out[150:]).max() == 0.0


def test_cold_cache_starts_the_note_when_decoded_off_the_audio_thread():
    def slow(pitch, amount):
        time.sleep(0.05)
        return tone(pitch, amount)

    e = engine(blocking=False, decode=slow)
    e.note_on(69, 127)
    started = time.perf_counter()
    assert np.abs(e.process(256)).max() == 0.0  # not decoded yet: silence, no waiting
    assert time.perf_counter() - started < 0.02
    time.sleep(0.2)
    assert np.abs(e.process(256)).max() > 0.1
    assert e.cold == 1
    e.cache.close()


def test_prefetch_follows_the_morph_one_step_ahead():
    keys = lambda previous, current: prefetch_keys(previous, current, pitches=range(60, 62), morph_steps=16)  # noqa: E731
    assert keys(None, 3) == [(60, 3), (61, 3)]  # at the start: no direction yet
    assert keys(2, 3) == [(60, 3), (61, 3), (60, 4), (61, 4)]  # rising: the next step up
    assert keys(9, 5) == [(60, 5), (61, 5), (60, 4), (61, 4)]  # a knob turned down, several steps at once
    assert keys(15, 16) == [(60, 16), (61, 16)] and keys(1, 0) == [(60, 0), (61, 0)]  # at the ends


def test_prefetch_decodes_behind_asked_notes_and_a_newer_prefetch_replaces_it():
    order, gate, busy = [], threading.Event(), threading.Event()

    def gated(pitch, amount):
        busy.set()
        gate.wait(5.0)
        order.append(pitch)
        return tone(pitch, amount)

    cache = NoteCache(gated, morph_steps=4)
    try:
        assert cache.prefetch([(60, 0), (61, 0), (62, 0)]) == 3
        assert busy.wait(5.0)  # the worker took 60 and waits at the gate
        assert cache.prefetch([(70, 4), (71, 4)]) == 2  # 61 and 62 were not reached: dropped
        assert cache.get((71, 4)) is None  # a key wants 71: it goes first
        gate.set()
        deadline = time.perf_counter() + 5.0
        while cache.decoded < 3 and time.perf_counter() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert order == [60, 71, 70] and cache.decoded == 3
        assert cache.get((70, 4)) is not None and cache.prefetch([(70, 4)]) == 0
    finally:
        cache.close()


def test_out_of_range_notes_all_notes_off_and_midi_messages():
    e = engine(pitch_range=(60, 72))
    assert e.handle_midi([0x90, 40, 100]) and e.handle_midi([0x90, 62, 100]) and not e.handle_midi([0xF8])
    e.process(64)
    assert e.rejected == 1 and e.voices == 1
    e.handle_midi([0xB0, 123, 0])
    e.process(1024)
    assert e.voices == 0
    with pytest.raises(InputError, match="block"):
        e.process(5000)


def test_hot_path_allocates_no_arrays():
    import tracemalloc

    e = engine()
    for pitch in range(60, 68):
        e.note_on(pitch, 100, frame=0)
    e.process(1024)
    e.cache.warm([e.cache.key(pitch, 0.0) for pitch in range(70, 73)])
    tracemalloc.start()
    for pitch in range(70, 73):  # polyphony is 8: each of these steals a sounding voice
        e.note_on(pitch, 100, frame=e.frame + 100)
        e.process(1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert e.stolen == 3
    assert peak < 1024 * 4  # less than one block of float32: array views and numbers, never a buffer


@pytest.fixture(scope="module")
def tiny_timbre():
    return make_tiny_timbre()


def test_timbre_decoder_resamples_to_the_output_rate(tiny_timbre):
    rate = tiny_timbre.config.model.spectrogram.sample_rate
    decode = timbre_note_decoder(tiny_timbre, sample_rate=rate * 3)
    note = decode(61, 0.5)
    audio = note.audio
    assert audio.dtype == np.float32 and audio.shape == (8000 * 3,) and np.isfinite(audio).all()
    assert not np.allclose(decode(61, 0.0).audio, decode(61, 1.0).audio)
    # Its sustain loop is at the output rate too: it enters where the note's decoded sustain ends.
    assert note.loop is not None and note.loop.dtype == np.float32 and note.entry < note.release < len(audio)


def test_synth_file_offline(tiny_timbre, tmp_path):
    import pretty_midi
    import soundfile

    from musicvae.realtime.synth_run import write_synth_file

    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes += [pretty_midi.Note(velocity=100, pitch=60 + i % 3, start=i * 0.25, end=i * 0.25 + 0.2)
                   for i in range(6)]
    midi.instruments.append(inst)
    midi.write(str(tmp_path / "m.mid"))
    out = write_synth_file(tiny_timbre, tmp_path / "m.mid", tmp_path / "out.wav", morph="0:0,1:1")
    audio, rate = soundfile.read(str(out))
    assert rate == tiny_timbre.config.model.spectrogram.sample_rate and len(audio) > 1.3 * rate
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=90, start=2.0, end=2.5))
    midi.write(str(tmp_path / "far.mid"))
    with pytest.raises(InputError, match="pitch 90 lies outside"):
        write_synth_file(tiny_timbre, tmp_path / "far.mid", tmp_path / "x.wav")


def test_dataclass_params_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Params().morph = 1.0


def held_tone(pitch: int, amount: float):
    """A fake decoded note that can be held: 0.5 s of sine, key-up at 0.4 s, the release fading to 0.5 s."""
    from musicvae.audio.sustain import LoopChoice, sustained

    t = np.arange(RATE // 2) / RATE
    envelope = np.clip((0.5 - t) / 0.1, 0.0, 1.0)
    audio = ((0.2 + 0.6 * amount) * envelope * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t))
    choice = LoopChoice(start=0.1, entry=0.3, decay_db=-6.0 if pitch == 62 else 0.0, key_up=0.4)
    return sustained(audio.astype(np.float32), choice, sample_rate=RATE, pitch=pitch)


def test_a_held_note_loops_until_its_key_up_then_plays_its_release():
    long = [MidiNote(69, 127, 0.0, 2.0), MidiNote(62, 127, 0.0, 2.0), MidiNote(64, 127, 0.1, 0.2)]
    offline = render_notes(engine(decode=held_tone), long, morph=0.0, block=256)
    # The render waits for the 0.1-s release, in blocks of 256 (a release read from up to half a period earlier,
    # to meet the loop in phase, may take one more block).
    assert abs(len(offline) / RATE - (2.0 + 0.1)) <= 256 / RATE + 1e-9
    e = engine(decode=held_tone)  # the same notes live, in blocks of 64 with frames stamped
    for n in long:
        e.note_on(n.pitch, n.velocity, frame=round(n.start * RATE))
    for n in sorted(long, key=lambda n: n.end):
        e.note_off(n.pitch, frame=round(n.end * RATE))
    live = np.concatenate([e.process(64).copy() for _ in range(len(offline) // 64 + 1)])[: len(offline)]
    np.testing.assert_allclose(live, offline, atol=1e-6)
    a = render_notes(engine(decode=held_tone), long[:1], morph=0.0)
    hop = 200
    level = np.sqrt(np.convolve(a**2, np.ones(hop) / hop, mode="valid"))[::hop]
    held = level[int(0.1 * RATE / hop) : int(2.0 * RATE / hop) - 1]
    assert held.min() > 0.9 * held.max()  # sustained at one level for 2 s of a 0.5-s note
    assert np.abs(np.diff(a)).max() < 1.05 * 0.2 * 2 * np.pi * 440 / RATE  # no step past the sine's own
    # The key-up plays the release: 0.1 s fading out, then silence.
    assert level[int(2.05 * RATE / hop)] < 0.7 * held.max() and np.abs(a[-20:]).max() < 0.05 * 0.2
    # The decaying note (-6 dB/s while looped) is 9 dB down after 1.5 s in its loop.
    d = render_notes(engine(decode=held_tone), long[1:2], morph=0.0)
    d_level = np.sqrt(np.convolve(d**2, np.ones(hop) / hop, mode="valid"))[::hop]
    drop = 20 * np.log10(d_level[int(1.8 * RATE / hop)] / d_level[int(0.3 * RATE / hop)])
    assert drop == pytest.approx(-6.0 * 1.5, abs=1.0)


def test_a_morph_move_crossfades_a_looping_note_and_a_short_one_is_unchanged():
    e = engine(decode=held_tone, crossfade=0.01)
    e.note_on(69, 127, frame=0)
    e.process(1024)
    e.process(1024)
    e.process(1024)  # 0.38 s: in the loop
    e.params.update(morph=1.0)
    after = np.concatenate([e.process(400).copy() for _ in range(10)])
    assert np.abs(after[2000:]).max() == pytest.approx(0.8, rel=0.05)  # the new step's note, looping
    assert np.abs(np.diff(after)).max() < 1.05 * 0.8 * 2 * np.pi * 440 / RATE
    # A key up before the loop's entry is the short fade of a plain note, sample for sample.
    short = [MidiNote(69, 100, 0.0, 0.2)]
    np.testing.assert_array_equal(render_notes(engine(decode=held_tone), short),
                                  render_notes(engine(decode=lambda p, a: held_tone(p, a).audio), short))


def test_looping_and_releasing_allocate_no_arrays():
    import tracemalloc

    e = engine(decode=held_tone)
    for pitch in (60, 62, 64):  # 62 decays while it loops
        e.note_on(pitch, 100, frame=0)
    for _ in range(3):
        e.process(1024)  # past the entry: looping
    e.cache.warm([e.cache.key(pitch, 1.0) for pitch in (60, 62, 64)])
    tracemalloc.start()
    for _ in range(4):
        e.process(1024)  # wrapping, decaying
    e.note_off(60, frame=e.frame + 10)
    e.params.update(morph=1.0)  # the other two crossfade to the new step while looping
    for _ in range(4):
        e.process(1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert e.voices == 2
    assert peak < 1024 * 4


def test_a_key_up_during_a_morph_crossfade_of_a_looping_note_is_smooth():
    e = engine(decode=held_tone, crossfade=0.05)
    e.note_on(30, 127, frame=0)  # 46 Hz: a step at the key-up would stand far above the sine's own
    for _ in range(3):
        e.process(1024)  # 0.38 s: looping
    e.cache.warm([e.cache.key(30, 1.0)])
    e.params.update(morph=1.0)
    e.note_off(30, frame=e.frame + 100)  # 100 frames into the 400-frame crossfade
    out = np.concatenate([e.process(256).copy() for _ in range(8)])
    slope = 0.8 * 2 * np.pi * 440 * 2 ** ((30 - 69) / 12) / RATE
    assert np.abs(np.diff(out)).max() < 1.5 * slope
    assert e.voices == 0  # the release ended the voice


def test_all_notes_off_ends_a_looping_note_within_the_short_fade():
    e = engine(decode=held_tone, release=0.05)
    e.note_on(30, 127, frame=0)
    for _ in range(3):
        e.process(1024)  # looping
    e.all_notes_off(frame=e.frame + 10)
    out = np.concatenate([e.process(256).copy() for _ in range(3)])
    assert e.voices == 0 and np.abs(out[10 + 400 :]).max() == 0.0  # 50 ms at 8 kHz, not the 0.1-s release
    slope = 0.2 * 2 * np.pi * 440 * 2 ** ((30 - 69) / 12) / RATE
    assert np.abs(np.diff(out)).max() < 1.5 * slope  # faded in the loop, not cut
