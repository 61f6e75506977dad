"""Reading a user's own notes: audio files, NSynth folders, folders labelled by name.

Every loader ends in :func:`prepare_note`: downmix to mono, resample to the
model rate, start at the onset, trim or pad to the note length, reject
silence, and scale to a fixed peak. The peak scaling makes a quiet recording
and a loud one of the same instrument land on the same spectrogram, so that
the latent hears timbre, not level (velocity still shapes the spectrum).

A user's note to encode (``blend --from my.wav``) is brought instead to the
RMS level of the instrument's training notes (:func:`read_note` with
``level_db``, :func:`at_level`): at the same peak a sine or a sawtooth is
10 dB louder than a flute or a guitar note, and the encoder has never heard
that loud a note.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.errors import InputError

#: Every note is scaled to this peak (-6 dBFS): loud enough, clear of clipping after inversion.
NOTE_PEAK = 0.5
#: File types read by the folder loader (whatever libsndfile reads).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


@dataclass
class Note:
    """One prepared note.

    Attributes
    ----------
    audio : np.ndarray [n_samples] float32
        Mono, at the loader's sample rate, peak :data:`NOTE_PEAK`.
    pitch : int
        MIDI pitch.
    velocity : int
        MIDI velocity (100 when unknown).
    family : str
        Instrument family label ("flute", "guitar", ...) or "" when unknown.
    source : str
        Where it came from (file path or NSynth note_str).
    """

    audio: np.ndarray
    pitch: int
    velocity: int = 100
    family: str = ""
    source: str = ""


def read_audio(path: str | Path, *, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Read an audio file (its first ``max_seconds`` when given) as mono float32 at ``sample_rate`` Hz.

    Stereo and multichannel files are averaged; any rate is resampled
    (polyphase filter, exact for 44.1 and 48 kHz).

    Returns
    -------
    np.ndarray [N] float32

    Raises
    ------
    InputError
        If the file is missing, unreadable, empty, or holds NaN or infinite samples.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such audio file")
    try:
        frames = -1
        if max_seconds is not None:
            frames = int(max_seconds * soundfile.info(str(path)).samplerate)
        data, rate = soundfile.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise InputError(f"{path}: not a readable audio file (WAV, FLAC, OGG or AIFF)") from None
    if data.size == 0:
        raise InputError(f"{path}: the file holds no samples")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: the audio holds NaN or infinite samples")
    return resample(data.mean(axis=1), rate, sample_rate)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono ``audio`` [N] from ``from_rate`` to ``to_rate`` Hz -> float32 [round(N * to / from)]."""
    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float32)
    if int(from_rate) == int(to_rate):
        return audio
    g = np.gcd(int(from_rate), int(to_rate))
    out = resample_poly(audio.astype(np.float64), int(to_rate) // g, int(from_rate) // g)
    return out[: int(round(len(audio) * to_rate / from_rate))].astype(np.float32)


def prepare_note(
    audio: np.ndarray, *, sample_rate: int, n_samples: int, silence_db: float = -60.0, where: str = "audio"
) -> np.ndarray:
    """Cut a mono signal into a model note: onset first, ``n_samples`` long, peak :data:`NOTE_PEAK`.

    The onset is the first sample within ``silence_db`` of the peak (minus a
    few milliseconds, so the attack is kept whole); a short note is padded
    with zeros at the end.

    Parameters
    ----------
    audio : np.ndarray [N]
        Mono samples at ``sample_rate``.
    sample_rate, n_samples : int
    silence_db : float
        A note whose peak is below this (dBFS) is rejected as silent.
    where : str
        Named in error messages.

    Returns
    -------
    np.ndarray [n_samples] float32

    Raises
    ------
    InputError
        For empty, non-finite or silent audio.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise InputError(f"{where}: the audio is empty")
    if not np.all(np.isfinite(audio)):
        raise InputError(f"{where}: the audio holds NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10.0 ** (silence_db / 20.0):
        level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        raise InputError(f"{where}: the audio is silent (peak {level}, below {silence_db:.0f} dBFS)")
    above = np.flatnonzero(np.abs(audio) >= peak * 10.0 ** (silence_db / 20.0))
    start = max(0, int(above[0]) - int(0.005 * sample_rate))
    note = audio[start : start + n_samples]
    if len(note) < n_samples:
        note = np.pad(note, (0, n_samples - len(note)))
    return (note * (NOTE_PEAK / float(np.max(np.abs(note))))).astype(np.float32)


def rms_db(audio: np.ndarray) -> float:
    """The RMS level of ``audio`` in dBFS (``-inf`` for digital silence)."""
    power = float(np.mean(np.square(np.asarray(audio, dtype=np.float64)))) if np.size(audio) else 0.0
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def at_level(audio: np.ndarray, level_db: float, *, max_peak: float = 0.99) -> np.ndarray:
    """``audio`` scaled to an RMS level of ``level_db`` dBFS, or less where that would take its peak above
    ``max_peak`` (a note of a very high crest factor); silence is returned as it is."""
    audio = np.asarray(audio, dtype=np.float32)
    level, peak = rms_db(audio), float(np.max(np.abs(audio))) if audio.size else 0.0
    if not np.isfinite(level) or peak == 0.0:
        return audio
    gain = min(10.0 ** ((level_db - level) / 20.0), max_peak / peak)
    return (audio * np.float32(gain)).astype(np.float32)


def pitch_from_name(name: str) -> int | None:
    """A MIDI pitch written in a file name, or None.

    Understands note names (``C4``, ``F#3``, ``Bb2``; C4 = 60) and NSynth-style
    numbers (``guitar_acoustic_021-060-100`` -> 60: the first 2-3 digit number
    in 0..127 standing alone between separators, after any instrument number).
    """
    stem = Path(name).stem
    match = re.search(r"(?<![A-Za-z])([A-Ga-g])([#sb]?)(-?\d)(?![A-Za-z0-9])", stem)
    if match:
        letter, accidental, octave = match.groups()
        pitch = 12 * (int(octave) + 1) + NOTE_NAMES[letter.lower()] + {"#": 1, "s": 1, "b": -1}.get(accidental, 0)
        if 0 <= pitch <= 127:
            return pitch
    nsynth = re.search(r"_\d{3}-(\d{3})-\d{3}$", stem)
    if nsynth:
        return int(nsynth.group(1))
    for number in re.findall(r"(?:^|[_\-\s.])(\d{2,3})(?=$|[_\-\s.])", stem):
        if 0 <= int(number) <= 127:
            return int(number)
    return None


def estimate_pitch(audio: np.ndarray, *, sample_rate: int, where: str = "audio") -> int:
    """MIDI pitch of a note from the median f0 of librosa's pYIN over its voiced frames.

    Raises
    ------
    InputError
        If pYIN finds no voiced frame (noise, percussion).
    """
    f0 = median_f0(audio, sample_rate=sample_rate, min_voiced=0.5)
    if f0 is None:
        raise InputError(f"{where}: no clear pitch found (pYIN); put the pitch in the file name, e.g. flute_C4.wav")
    pitch = int(round(float(12 * np.log2(f0 / 440.0) + 69)))
    if not 36 < pitch < 88:
        # Near the search's edges (A1..C7) a note further out is heard an octave inside (a MIDI 100 sine as
        # 88): look again over C1..C8, a piano's range. Not at first: over that range pYIN calls white noise
        # voiced in most frames.
        wide = median_f0(audio, sample_rate=sample_rate, min_voiced=0.5, fmin=32.7,
                         fmax=min(4186.0, sample_rate / 2.2))
        if wide is not None:
            pitch = int(round(float(12 * np.log2(wide / 440.0) + 69)))
    return pitch


def median_f0(
    audio: np.ndarray,
    *,
    sample_rate: int,
    fmin: float = 55.0,
    fmax: float = 2100.0,
    hop_length: int = 256,
    min_voiced: float = 0.0,
) -> float | None:
    """Median fundamental frequency (Hz) over the voiced frames of pYIN, or None when none is voiced.

    ``min_voiced`` is the share of the audible frames (within 40 dB of the
    loudest) that must be voiced: pYIN calls about 30% of white-noise frames
    voiced, so a pitch *estimate* should ask for more than that.

    The default range, A1 to C7, is wider than any recipe's pitches so that an
    octave error is measured, not hidden. pYIN's cost grows with the range and
    the frame count: a checker that knows the expected pitch should pass a
    range of a little over an octave either side and a larger hop.
    """
    import librosa

    f0, voiced, _ = librosa.pyin(
        np.asarray(audio, dtype=np.float32), fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=1024,
        hop_length=hop_length, center=True,
    )
    voiced = voiced & np.isfinite(f0)
    if min_voiced > 0:
        rms = librosa.feature.rms(y=np.asarray(audio, dtype=np.float32), frame_length=1024, hop_length=hop_length)[0]
        audible = rms[: len(voiced)] >= rms.max() * 10 ** (-40 / 20)
        if voiced[audible].mean() < min_voiced if audible.any() else True:
            return None
    f0 = f0[voiced]
    return float(np.median(f0)) if f0.size else None


def read_note(
    path: str | Path,
    *,
    sample_rate: int,
    n_samples: int,
    pitch: int | None = None,
    velocity: int = 100,
    family: str = "",
    silence_db: float = -60.0,
    level_db: float | None = None,
    max_seconds: float | None = None,
) -> Note:
    """Read one audio file as a :class:`Note`; the pitch comes from ``pitch``, the file name, or pYIN.

    ``max_seconds`` reads only the file's beginning (a note in a long recording is its first onset).

    The note peaks at :data:`NOTE_PEAK`, as training notes do, or with ``level_db`` has that RMS level
    in dBFS (:func:`at_level`): how a note to encode is matched to the training notes' level.
    """
    audio = prepare_note(
        read_audio(path, sample_rate=sample_rate, max_seconds=max_seconds), sample_rate=sample_rate,
        n_samples=n_samples, silence_db=silence_db, where=str(path),
    )
    if pitch is None:
        pitch = pitch_from_name(Path(path).name)
    if pitch is None:
        pitch = estimate_pitch(audio, sample_rate=sample_rate, where=str(path))
    if level_db is not None:
        audio = at_level(audio, level_db)
    return Note(audio=audio, pitch=int(pitch), velocity=int(velocity), family=family, source=str(path))


def nsynth_examples(folder: str | Path, *, families: tuple[str, ...] = ()) -> list[dict]:
    """The entries of an NSynth folder's ``examples.json`` (each with its ``note_str``), filtered by family.

    Raises
    ------
    InputError
        If the folder has no ``examples.json`` or it is not NSynth's JSON.
    """
    folder = Path(folder)
    index = folder / "examples.json"
    if not index.is_file():
        raise InputError(f"{folder}: not an NSynth folder (no examples.json; expected examples.json + audio/*.wav)")
    try:
        examples = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{index}: not valid JSON ({error})") from None
    if not isinstance(examples, dict):
        raise InputError(f"{index}: expected an object keyed by note_str")
    out = []
    for note_str, entry in sorted(examples.items()):
        if not isinstance(entry, dict) or "pitch" not in entry:
            raise InputError(f"{index}: entry {note_str!r} has no pitch")
        family = str(entry.get("instrument_family_str", ""))
        if families and family not in families:
            continue
        out.append({**entry, "note_str": note_str, "instrument_family_str": family})
    return out


def load_nsynth(
    folder: str | Path,
    *,
    families: tuple[str, ...],
    sample_rate: int,
    n_samples: int,
    min_pitch: int = 0,
    max_pitch: int = 127,
    silence_db: float = -60.0,
) -> tuple[list[Note], list[str]]:
    """Notes of an NSynth folder (``examples.json`` + ``audio/<note_str>.wav``) of the given families.

    Returns
    -------
    notes : list of Note
    skipped : list of str
        One line per note left out (silent, unreadable, pitch out of range).
    """
    folder = Path(folder)
    notes, skipped = [], []
    for entry in nsynth_examples(folder, families=families):
        name = entry["note_str"]
        pitch = int(entry["pitch"])
        if not min_pitch <= pitch <= max_pitch:
            continue
        try:
            audio = read_audio(folder / "audio" / f"{name}.wav", sample_rate=sample_rate)
            audio = prepare_note(audio, sample_rate=sample_rate, n_samples=n_samples, silence_db=silence_db,
                                 where=name)
        except InputError as error:
            skipped.append(str(error))
            continue
        notes.append(Note(audio=audio, pitch=pitch, velocity=int(entry.get("velocity", 100)),
                          family=entry["instrument_family_str"], source=name))
    return notes, skipped


def load_audio_folder(
    folder: str | Path,
    *,
    sample_rate: int,
    n_samples: int,
    families: tuple[str, ...] = (),
    min_pitch: int = 0,
    max_pitch: int = 127,
    silence_db: float = -60.0,
) -> tuple[list[Note], list[str]]:
    """Notes of a folder of audio files labelled by their parent folder's name (``flute/C4.wav``).

    The pitch is read from the file name, else estimated with pYIN.

    Returns
    -------
    notes : list of Note
    skipped : list of str
        One line per file left out, with the reason.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: audio folder not found")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    notes, skipped = [], []
    for path in files:
        family = path.parent.name if path.parent != folder else ""
        if families and family not in families:
            continue
        try:
            note = read_note(path, sample_rate=sample_rate, n_samples=n_samples, family=family, silence_db=silence_db)
        except InputError as error:
            skipped.append(str(error))
            continue
        if not min_pitch <= note.pitch <= max_pitch:
            skipped.append(f"{path}: pitch {note.pitch} outside {min_pitch}..{max_pitch}")
            continue
        notes.append(note)
    return notes, skipped
