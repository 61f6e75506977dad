"""Reading a user's notes: real files through soundfile, bad input, NSynth and labelled folders."""

import json

import numpy as np
import pytest
import soundfile

from musicvae.audio.loaders import (
    NOTE_PEAK,
    estimate_pitch,
    load_audio_folder,
    load_nsynth,
    pitch_from_name,
    prepare_note,
    read_audio,
    read_note,
)
from musicvae.errors import InputError

RATE, N = 16_000, 16_000


def tone(pitch: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    return (0.2 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5)) * np.exp(-2 * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [44_100, 48_000, 16_000])
def test_stereo_and_foreign_rates_are_resampled(tmp_path, rate):
    stereo = np.stack([tone(64, rate), 0.5 * tone(64, rate)], axis=1)
    path = tmp_path / f"E4_{rate}.wav"
    soundfile.write(path, stereo, rate)
    audio = read_audio(path, sample_rate=RATE)
    assert audio.ndim == 1 and abs(len(audio) - RATE) <= 1
    note = read_note(path, sample_rate=RATE, n_samples=N)
    assert note.pitch == 64 and note.audio.shape == (N,)
    assert np.isclose(np.abs(note.audio).max(), NOTE_PEAK)
    # Resampling kept the pitch: pYIN agrees with the name.
    assert estimate_pitch(note.audio, sample_rate=RATE) == 64


def test_flac_and_short_note_is_padded(tmp_path):
    path = tmp_path / "short.flac"
    soundfile.write(path, tone(60, RATE, seconds=0.3), RATE)
    note = read_note(path, sample_rate=RATE, n_samples=N, pitch=60)
    assert note.audio.shape == (N,)
    assert np.all(note.audio[int(0.31 * RATE) :] == 0)


def test_onset_is_moved_to_the_start():
    audio = np.concatenate([np.zeros(8000, np.float32), tone(60, RATE)])
    note = prepare_note(audio, sample_rate=RATE, n_samples=N)
    assert np.abs(note[: int(0.01 * RATE)]).max() > 0.1


def test_unreadable_corrupt_empty_silent_and_nan_audio(tmp_path):
    with pytest.raises(InputError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav", sample_rate=RATE)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(InputError, match="not a readable audio file"):
        read_audio(corrupt, sample_rate=RATE)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), RATE)
    with pytest.raises(InputError, match="no samples"):
        read_audio(empty, sample_rate=RATE)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(RATE, np.float32), RATE)
    with pytest.raises(InputError, match="silent"):
        read_note(silent, sample_rate=RATE, n_samples=N, pitch=60)
    nan = tmp_path / "nan.wav"
    data = tone(60, RATE)
    data[100] = np.nan
    soundfile.write(nan, data, RATE, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        read_audio(nan, sample_rate=RATE)
    with pytest.raises(InputError, match="empty"):
        prepare_note(np.zeros(0), sample_rate=RATE, n_samples=N)


def test_pitch_from_name():
    assert pitch_from_name("flute_C4.wav") == 60
    assert pitch_from_name("A#3.flac") == 58
    assert pitch_from_name("Bb2-soft.wav") == 46
    assert pitch_from_name("guitar_acoustic_021-060-100.wav") == 60
    assert pitch_from_name("take_067.wav") == 67
    assert pitch_from_name("recording.wav") is None


def test_noise_has_no_pitch():
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    with pytest.raises(InputError, match="no clear pitch"):
        estimate_pitch(noise, sample_rate=RATE)


def _nsynth(folder, entries):
    (folder / "audio").mkdir(parents=True)
    examples = {}
    for name, family, pitch in entries:
        soundfile.write(folder / "audio" / f"{name}.wav", tone(pitch, RATE, seconds=1.5), RATE)
        examples[name] = {"pitch": pitch, "velocity": 100, "instrument_family_str": family,
                          "instrument_source_str": "acoustic"}
    (folder / "examples.json").write_text(json.dumps(examples))


def test_nsynth_folder_filtered_by_family(tmp_path):
    _nsynth(tmp_path, [("flute_acoustic_002-060-100", "flute", 60), ("guitar_acoustic_021-062-100", "guitar", 62),
                       ("brass_acoustic_001-060-100", "brass", 60)])
    notes, skipped = load_nsynth(tmp_path, families=("flute", "guitar"), sample_rate=RATE, n_samples=N)
    assert sorted(n.family for n in notes) == ["flute", "guitar"] and not skipped
    assert all(n.audio.shape == (N,) for n in notes)


def test_nsynth_folder_without_examples_json(tmp_path):
    (tmp_path / "audio").mkdir()
    with pytest.raises(InputError, match="no examples.json"):
        load_nsynth(tmp_path, families=("flute",), sample_rate=RATE, n_samples=N)


def test_audio_folder_labelled_by_folder_name(tmp_path):
    for family, pitch in (("flute", 60), ("guitar", 55)):
        (tmp_path / family).mkdir()
        soundfile.write(tmp_path / family / "note.wav", tone(pitch, 44_100), 44_100)
    (tmp_path / "guitar" / "broken.wav").write_bytes(b"not audio")
    notes, skipped = load_audio_folder(tmp_path, sample_rate=RATE, n_samples=N)
    assert sorted((n.family, n.pitch) for n in notes) == [("flute", 60), ("guitar", 55)]
    assert len(skipped) == 1 and "broken.wav" in skipped[0]
