"""Notes of any length on flute-guitar: held 0.1, 1, 3 and 8 s, the pitch holds, the loop does not click, the
length is the key's."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from musicvae import blend
from musicvae.audio.sustain import LoopChoice, SustainedNote, choose_loop, heard_key_up, release_start, sustained
from musicvae.instrument import Instrument
from musicvae.midi.reader import MidiNote
from musicvae.realtime.synth import timbre_note_decoder
from musicvae.render import one_torch_thread, render_melody

RATE, HOP = 16_000, 256
HELD = (0.1, 1.0, 3.0, 8.0)


@pytest.fixture(scope="module")
def flute_guitar():
    return Instrument.load("flute-guitar")


def level_db(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // HOP * HOP].reshape(-1, HOP)
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def key_up(audio: np.ndarray, key: float) -> float:
    return heard_key_up(audio, key, sample_rate=RATE)


def flux(audio: np.ndarray) -> np.ndarray:
    """Spectral flux per hop: mean rise of the log magnitude."""
    spectrum = np.log(np.abs(librosa.stft(audio, n_fft=1024, hop_length=HOP)) + 1e-5)
    return np.maximum(np.diff(spectrum, axis=1), 0).mean(axis=0)


@pytest.mark.parametrize("morph,pitch", [(0.0, 60), (0.0, 76), (0.5, 67), (1.0, 55)])
def test_held_notes_keep_pitch_loop_without_clicks_and_last_as_long_as_held(flute_guitar, morph, pitch):
    decode = timbre_note_decoder(flute_guitar)
    with one_torch_thread():
        note = decode(pitch, morph)
    assert note.loop is not None and 0.4 < note.entry / RATE < 0.75  # a sustain loop before the key-up
    own = flux(note.audio)[int(0.15 * RATE / HOP) : note.entry // HOP]  # the decoded note's own sustain
    f0 = librosa.midi_to_hz(pitch)
    for held in HELD:
        audio = render_melody(flute_guitar, [MidiNote(pitch, 100, 0.0, held)], morph=morph)
        db = level_db(audio)
        loud = db > db.max() - 30
        # Pitch throughout: every loud hop, 8 s included, voiced by pYIN within 50 cents of the key.
        found, voiced, _ = librosa.pyin(audio.astype(np.float64), fmin=f0 / 1.5, fmax=f0 * 1.5, sr=RATE,
                                        frame_length=1024, hop_length=HOP)
        n = min(len(found), len(loud))
        heard = found[:n][loud[:n]]
        assert np.isfinite(heard).mean() > 0.95, (held, np.isfinite(heard).mean())
        cents = np.abs(1200 * np.log2(heard[np.isfinite(heard)] / f0))
        assert np.mean(cents < 50) > 0.95, (held, np.median(cents))
        if held > note.entry / RATE:
            # No click where it loops: the flux of the looped stretch stays within the note's own.
            looped = flux(audio)[note.entry // HOP : int(held * RATE / HOP) - 2]
            assert looped.max() < 1.15 * own.max(), (held, looped.max(), own.max())
        if morph == 0.0 and held > note.entry / RATE:
            # A flute sustains: it sounds to the key-up, which is heard within one hop of where it was
            # (its release is the decoded note's, heard as long after the key-up as in the note itself).
            hold = blend.hold_seconds(flute_guitar)
            expected = held + key_up(note.audio, hold) - hold
            assert abs(key_up(audio, held) - expected) <= HOP / RATE, (held, expected)
            sustain = np.median(db[int(0.2 * RATE / HOP) : note.entry // HOP])
            assert np.median(db[note.entry // HOP : int(held * RATE / HOP) - 1]) > sustain - 6  # held at its level
        elif morph == 0.0:
            # A key up before the loop: the 50-ms fade, and silence after it.
            last = np.nonzero(np.abs(audio) > 1e-6)[0].max() / RATE
            assert abs(last - (held + 0.05)) <= HOP / RATE, (held, last)

def test_a_note_without_a_sustain_is_not_looped():
    audio = np.sin(np.arange(4000) / 5.0).astype(np.float32)
    frames = np.zeros((8, 10))
    choice = choose_loop(frames, sample_rate=RATE, hop_length=HOP, n_fft=1024, hold_seconds=0.1)
    assert choice is None
    assert sustained(audio, choice, sample_rate=RATE) == SustainedNote(audio) or \
        sustained(audio, choice, sample_rate=RATE).loop is None


def test_the_loop_continues_the_note_at_its_entry_and_at_every_wrap():
    t = np.arange(RATE) / RATE
    decaying = (np.exp(-2 * t) * np.sin(2 * np.pi * 261.6 * t)).astype(np.float32)
    frames = np.tile(np.linspace(-1, 1, 80)[:, None], (1, 63)) + np.linspace(0, -0.8, 63)[None]  # -40 dB/s
    choice = choose_loop(frames, sample_rate=RATE, hop_length=HOP, n_fft=1024, hold_seconds=0.75)
    assert choice is not None and choice.decay_db == pytest.approx(-50 * 0.8 / (62 * HOP / RATE), rel=0.05)
    note = sustained(decaying, choice, sample_rate=RATE, pitch=60)
    e = note.entry
    # Entering the loop and wrapping are steps no larger than the sine's own.
    slope = 2 * np.pi * 261.6 / RATE
    assert abs(note.loop[0] - decaying[e - 1]) < 1.5 * slope
    assert abs(note.loop[0] - note.loop[-1]) < 1.5 * slope


def test_a_key_up_reads_the_release_in_phase_with_the_loop_wherever_it_falls():
    # 880 Hz: a period of 18.2 samples, so the loop's length is no whole number of periods and the release,
    # read from where the key went up in the note the model learnt, meets the loop in every phase.
    t = np.arange(RATE) / RATE
    audio = np.sin(2 * np.pi * 880 * t).astype(np.float32)
    note = sustained(audio, LoopChoice(start=0.1, entry=0.3, decay_db=0.0, key_up=0.4), sample_rate=RATE, pitch=81)
    x, n = note.crossfade, len(note.loop)
    assert note.half == 9 and len(note.match) == n + 2 * note.half

    def phase_match(position: int, start: int) -> float:
        loop = note.loop[(position - note.entry + np.arange(x)) % n].astype(np.float64)
        release = audio[start : start + x].astype(np.float64)
        return float(loop @ release / np.sqrt((loop @ loop) * (release @ release)))

    positions = note.entry + np.arange(0, n, 37)
    starts = [release_start(note, int(p)) for p in positions]
    assert all(abs(s - note.release) <= note.half for s in starts)
    # In phase to the nearest sample: at most half a sample off, cos(pi / 18.2) = 0.985.
    assert min(phase_match(int(p), s) for p, s in zip(positions, starts)) > 0.98
    # Read from the key-up as it was, the release is out of phase with the loop at some of these key-ups.
    assert min(phase_match(int(p), note.release) for p in positions) < -0.9
    # A note that cannot loop reads its release where it is.
    assert release_start(SustainedNote(audio), 5000) == len(audio)


def test_the_key_up_is_heard_where_the_level_falls_under_the_sustain():
    t = np.arange(2 * RATE) / RATE
    tone = np.sin(2 * np.pi * 440 * t) * np.where(t < 1.2, 1.0, np.exp(-(t - 1.2) * 40))  # -347 dB/s after 1.2 s
    heard = heard_key_up(tone, 1.2, sample_rate=RATE)
    # 12 dB under the sustain takes 12 / 347 s of the decay; the level is its window's, timed at its centre.
    assert heard == pytest.approx(1.2 + 12 / 347.4, abs=64 / RATE)
    assert heard_key_up(np.sin(2 * np.pi * 440 * t), 1.2, sample_rate=RATE) == 2.0  # never released
    with pytest.raises(ValueError, match="0.3 s"):
        heard_key_up(tone, 0.2, sample_rate=RATE)
