"""Notes of any length from one decoded note: a loop in its sustain, then its own release.

A timbre model decodes fixed-length notes (flute-guitar: 1 s, the SoundFont key held
0.75 s, then released). A key held longer plays the decoded note up to the loop's
*entry*, loops a stretch of its sustain while the key is down, and on key-up crossfades
into the decoded note at its own key-up (moved within half a period to meet the loop in phase:
:func:`release_start`): the release the model learnt. A key up before
the entry ends as it always has (the synth's short fade).

Why a loop of the decoded note, not overlapping chunks decoded one after another (the
other way to make long notes): the decoder has no input for time since onset, so every
chunk it decodes is a note with its own attack (chunking needs a model retrained on that
condition), and a chunk decoder runs the decoder and Griffin-Lim once per chunk (an 8-s
note at 50% overlap: 15 decodes) where a loop decodes once: what a key-down costs does
not grow with how long it is held. The loop was measured on flute-guitar across its range
(the instrument's card): pitch held throughout by pYIN, the spectral flux at the loop
points within the note's own, and the length within one hop.

The loop is chosen on the decoder's own frames (the normalised log-spectrogram, before
inversion): it ends ``guard`` before the key-up (so that no frame of it hears the
release), and it starts at the frame that is most like the end frame in spectral shape
(level removed) inside the most stationary stretch (lowest mean spectral flux), at least
``min_loop`` long. In samples the start is then moved, within one pitch period, to the
best waveform match with the end, and the first ``crossfade`` of the loop blends the
decoded note as it continues past the entry into the loop's start, so the entry and every
wrap are seamless. A decaying sound (guitar) keeps decaying: the level slope over the
sustain (dB/s, fitted to the frames, never rising) is taken out of the loop buffer
and put back by the player as an exponential gain, so a held guitar note fades as a
plucked string does instead of pulsing at the loop rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Shortest loop (seconds): shorter loops are heard as a buzz at the loop rate.
MIN_LOOP = 0.15
#: Crossfade at the loop's start and into the release (seconds).
LOOP_CROSSFADE = 0.03
#: Decay slopes are clamped to this (dB per second, never rising).
MAX_DECAY_DB = 40.0


@dataclass(frozen=True)
class SustainedNote:
    """A decoded note that can be held for any length.

    Attributes
    ----------
    audio : np.ndarray [n] float32
        The decoded note as it is.
    loop : np.ndarray [L] float32, or None
        Played from ``entry`` on while the key is down, wrapping; None: the note cannot be held longer.
    entry : int
        Frame of ``audio`` where a held note goes on in ``loop`` (``len(audio)`` without a loop).
    decay : float
        Natural-log gain per frame looped (<= 0): ``exp(decay * frames_looped)`` scales the loop.
    crossfade : int
        Frames of the crossfade from the loop into the release (``audio[release:]``).
    release : int
        Frame of ``audio`` a key-up in the loop goes on from: the key-up of the note the model learnt, so
        that its release is heard where the key went up (the loop fades out over the first ``crossfade``);
        :func:`release_start` moves it by up to ``half`` frames to meet the loop in phase.
    match : np.ndarray [len(loop) + 2 * half] float32, or None
        How well the loop from each of its frames matches ``audio[release:]`` (normalised
        cross-correlation over ``crossfade`` frames), wrapping, padded by ``half`` frames on each side.
    half : int
        Half the note's pitch period, in frames.
    """

    audio: np.ndarray
    loop: np.ndarray | None = None
    entry: int = -1
    decay: float = 0.0
    crossfade: int = 1
    release: int = -1
    match: np.ndarray | None = None
    half: int = 0

    def __post_init__(self) -> None:
        if self.entry < 0:
            object.__setattr__(self, "entry", len(self.audio))
        if self.release < 0:
            object.__setattr__(self, "release", self.entry)

    def __len__(self) -> int:
        return len(self.audio)


@dataclass(frozen=True)
class LoopChoice:
    """Where a note loops and its key went up, in seconds from its onset, and its level slope (dB/s, <= 0)."""

    start: float
    entry: float
    decay_db: float
    key_up: float


def choose_loop(frames: np.ndarray, *, sample_rate: int, hop_length: int, n_fft: int, hold_seconds: float,
                min_loop: float = MIN_LOOP, crossfade: float = LOOP_CROSSFADE,
                scale_db: float = 50.0) -> LoopChoice | None:
    """The loop of a decoded note, from its normalised log-spectrogram ``frames`` [n_bins, n_frames].

    ``scale_db`` is the spectrogram's normalisation scale (dB per unit), for the level slope. Returns None
    when the sustain before ``hold_seconds`` is too short to hold a loop.
    """
    frames = np.asarray(frames, dtype=np.float64)
    frame_s = hop_length / sample_rate
    # The loop and the crossfade after its entry end half a window before the key-up: a centred frame
    # there already hears the release.
    end_s = hold_seconds - n_fft / 2 / sample_rate
    entry_s = end_s - crossfade
    last = int(np.floor(entry_s / frame_s))
    first = int(np.ceil((min(0.1, hold_seconds / 4) + n_fft / 2 / sample_rate) / frame_s))  # past the attack
    latest_start = int(np.floor((entry_s - min_loop) / frame_s))
    if last >= frames.shape[1] or latest_start < first:
        return None
    level = frames.mean(axis=0)
    shape = frames - level  # spectral shape, level removed: a decaying note keeps its shape
    flux = np.r_[0.0, np.sqrt((np.diff(shape, axis=1) ** 2).mean(axis=0))]
    candidates = np.arange(first, latest_start + 1)
    junction = np.sqrt(((shape[:, candidates] - shape[:, [last]]) ** 2).mean(axis=0))
    stationary = np.array([flux[c + 1 : last + 1].mean() for c in candidates])
    start = int(candidates[np.argmin(junction + stationary)])
    # The level slope over the whole sustain, in dB per second (over the loop stretch alone, a flute's
    # tremolo read as a decay of up to 11 dB/s); a crescendo is held, not repeated.
    t = np.arange(first, last + 1) * frame_s
    slope = np.polyfit(t, level[first : last + 1] * scale_db, 1)[0]
    return LoopChoice(start=start * frame_s, entry=entry_s, decay_db=float(np.clip(slope, -MAX_DECAY_DB, 0.0)),
                      key_up=hold_seconds)


def sustained(audio: np.ndarray, choice: LoopChoice | None, *, sample_rate: int, pitch: int | None = None,
              crossfade: float = LOOP_CROSSFADE) -> SustainedNote:
    """Build the :class:`SustainedNote` of ``audio`` [n] (at ``sample_rate``) looping where ``choice`` says.

    The start is moved within one period of ``pitch`` (MIDI; default 20 ms) to the best waveform match
    with the samples at the entry (normalised cross-correlation over a crossfade's length).
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if choice is None:
        return SustainedNote(audio)
    x = int(max(1, round(crossfade * sample_rate)))
    entry = int(round(choice.entry * sample_rate))
    start = int(round(choice.start * sample_rate))
    if entry + x > len(audio) or start < x:
        return SustainedNote(audio)
    period = int(round(sample_rate / (440.0 * 2 ** ((pitch - 69) / 12)))) if pitch is not None else sample_rate // 50
    lo, hi = max(x, start - period), min(entry - x - int(MIN_LOOP * sample_rate / 2), start + period)
    if hi > lo:
        # The loop continues where the note goes on past the entry: match audio[start:] to audio[entry:].
        ref = audio[entry : entry + x].astype(np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(audio[lo : hi + x].astype(np.float64), x)
        norms = np.sqrt((windows**2).sum(axis=1) * (ref**2).sum()) + 1e-12
        start = lo + int(np.argmax(windows @ ref / norms))
    decay = choice.decay_db * np.log(10.0) / 20.0 / sample_rate  # per frame
    # The loop buffer at the entry's level: the decay the note had over the stretch is taken out here
    # and put back by the player as it loops (exp(decay * frames looped)).
    flatten = np.exp(decay * (entry - np.arange(start, entry))).astype(np.float32)
    loop = audio[start:entry] * flatten
    # Its first x frames blend from the note past the entry (where a held note arrives from audio[entry - 1],
    # and every wrap from the loop's end, which is audio[entry - 1] too) into the loop's start.
    fade = (0.5 - 0.5 * np.cos(np.pi * (np.arange(x) + 0.5) / x)).astype(np.float32)
    loop[:x] = audio[entry : entry + x] * (1.0 - fade) + loop[:x] * fade
    release = min(len(audio) - 1, max(entry, int(round(choice.key_up * sample_rate))))
    half = min(period // 2, len(loop) // 2, max(0, len(audio) - x - release), release - entry)
    return SustainedNote(audio, loop=np.ascontiguousarray(loop, dtype=np.float32), entry=entry,
                         decay=float(decay), crossfade=x, release=release,
                         match=release_match(loop, audio[release : release + x], half), half=half)


def release_match(loop: np.ndarray, release: np.ndarray, half: int) -> np.ndarray:
    """[L + 2 * half] float32: the normalised cross-correlation of ``loop`` [L] from each of its frames
    (wrapping) with ``release`` [x], the note from its key-up, padded by ``half`` frames each side (wrapping).

    Worked out once per note, when it is decoded, so that a key-up (in the audio thread) only looks up
    the best of ``2 * half + 1`` values (:func:`release_start`).
    """
    x, n = len(release), len(loop) + 2 * half
    ring = np.concatenate([loop[len(loop) - half :], loop, loop[: half + x]]).astype(np.float64)
    ref = np.asarray(release, np.float64)
    # Each window's energy from a running sum of squares, the products by np.correlate: no [n, x] array.
    energy = np.concatenate([[0.0], np.cumsum(ring**2)])
    windows = energy[x : n + x] - energy[:n]
    norms = np.sqrt(np.maximum(windows, 0.0) * (ref**2).sum()) + 1e-12
    return (np.correlate(ring, ref, mode="valid")[:n] / norms).astype(np.float32)


def release_start(note: SustainedNote, position: int) -> int:
    """The frame of ``note.audio`` a key-up at ``position`` (a frame past the loop's entry) reads its release from.

    ``note.release`` moved by at most ``note.half`` (half a pitch period) so that the loop, where the
    key went up, and the release meet in phase: the loop's frame within half a period of the key's that
    best matches the release (``note.match``) plays, in the crossfade, against ``audio[release]``. Why: the
    key-up's equal-gain crossfade of the two out of phase cancels for a moment (flute-guitar's MIDI 84 fell
    14 dB at the key and was heard 1.88 hops early; read 4-8 frames later, -0.12 hops), and an equal-power
    one adds 3 dB to two in phase. Half a period holds every phase and moves the key-up by at most that.
    """
    if note.match is None or note.half == 0:
        return note.release
    p = (position - note.entry) % len(note.loop)
    best = int(np.argmax(note.match[p : p + 2 * note.half + 1]))  # the loop's frame p - half + best
    return note.release + note.half - best


def heard_key_up(audio: np.ndarray, key: float, *, sample_rate: int, window: int = 256, step: int = 64,
                 drop_db: float = 12.0) -> float:
    """Where a key-up at ``key`` seconds is heard in a note ``audio`` [n]: seconds at the first ``step``
    past ``key - 0.1`` whose ``window``-sample level is ``drop_db`` under the note's sustain, the median
    level over ``key - 0.3 .. key - 0.1`` (the end of the audio if it never drops that far).

    The sustain is read before the key-up, not over a moving window before each step: a decoded note's
    release starts to sound a few frames before its key (its spectrogram frames are 64 ms wide), which
    took a moving reference down with it, and compared a 1-s note's release and a held note's against
    different levels. The held-note tests and ``bench/bench_sustain.py`` measure lengths with it.
    """
    power = np.convolve(np.asarray(audio, np.float64) ** 2, np.ones(window) / window, mode="valid")[::step]
    db = 10 * np.log10(power + 1e-12)
    first, last = int((key - 0.3) * sample_rate / step), int((key - 0.1) * sample_rate / step)
    if first < 0 or last >= len(db):
        raise ValueError(f"a key-up at {key:g} s needs 0.3 s of the note before it and some after")
    sustain = np.median(db[first:last])
    below = np.flatnonzero(db[last:] < sustain - drop_db)
    return (last + int(below[0])) * step / sample_rate + window / 2 / sample_rate if below.size else \
        len(audio) / sample_rate

