"""``harmonize``: a soprano melody (MIDI or MusicXML) in, a four-part chorale (S, A, T, B) out.

The path is the same for the accompanist model, its baselines and evaluation:

1. :func:`read_melody` puts the melody on the 16th grid (top line of polyphonic
   input, first part of a multi-part score, notes off the grid quantised, each
   with a warning; non-4/4 and empty input refused), its bar lines aligned by
   the pickup's padding;
2. :func:`fit_range` transposes it into the soprano range (by octaves when one
   fits) and the result is transposed back at the end;
3. :func:`average_probabilities` runs a window predictor over 4-bar windows
   with a one-bar hop (the model's predictor also over a few transpositions of
   each window) and averages the per-step probabilities where windows overlap,
   so that the seams between windows do not jump;
4. :func:`voice_leading_tokens` chooses the lower voices jointly, step by step,
   avoiding parallel fifths, octaves and crossings (``voice_leading=False``:
   argmax per voice and step at temperature 0, else sampled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicvae.errors import InputError
from musicvae.midi import chorale as codec

#: A window predictor: soprano tokens [N, T] -> per lower voice, token probabilities [N, T, C_v].
Predictor = Callable[[np.ndarray], Sequence[np.ndarray]]

DEFAULT_QPM = 80.0
#: Transposition ensemble of ``harmonize``: each window is also harmonised this many semitones up and down.
DEFAULT_TRANSPOSITIONS = 2
#: Variations decode ``mu + DEFAULT_Z_SCALE * sigma * eps``: the trained posterior is narrow (KL weight 0.01),
#: so at 1 a variation differs from the mean at about 5% of the steps, at 2 about 10-15%.
DEFAULT_Z_SCALE = 2.0
_MIDI_SUFFIXES = (".mid", ".midi", ".smf")


@dataclass
class Melody:
    """A melody on the grid, step 0 on a bar line.

    Attributes
    ----------
    pitches : np.ndarray [T] int16, -1 = rest
    onsets : np.ndarray [T] bool
    pickup_steps : int
        Rest steps before the first note that only fill the pickup's bar.
    qpm : float
        Tempo of the input (quarter notes per minute).
    warnings : list of str
    """

    pitches: np.ndarray
    onsets: np.ndarray
    pickup_steps: int = 0
    qpm: float = DEFAULT_QPM
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Reading the melody
# ---------------------------------------------------------------------------


def _parse(path: Path):
    from music21 import converter

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.suffix.lower() in _MIDI_SUFFIXES:
            # No quantisation by music21: notes off the 16th grid are found and counted here.
            return converter.parse(str(path), quantizePost=False)
        return converter.parse(str(path))
    except Exception as error:  # music21 raises many types for unreadable files
        raise InputError(f"{path}: not a readable MIDI or MusicXML file ({type(error).__name__})") from None


def read_melody(path: str | Path, *, steps_per_bar: int = 16, pickup: float | None = None) -> Melody:
    """Read a melody from a MIDI or MusicXML file onto the grid.

    Parameters
    ----------
    path : str or Path
    steps_per_bar : int, keyword-only
        Grid steps per 4/4 bar.
    pickup : float, optional, keyword-only
        Length of the pickup in quarter notes (the notes before the first bar
        line). Default: read from the score (MusicXML marks a pickup measure; a
        MIDI file cannot, so a MIDI pickup needs it given, or rests before it
        that fill its bar).

    Raises
    ------
    InputError
        Unreadable file, a meter other than 4/4, or no notes.
    """
    path = Path(path)
    score = _parse(path)
    warnings: list[str] = []
    parts = list(getattr(score, "parts", [])) or [score]
    sounding = [p for p in parts if p.flatten().notes]
    if not sounding:
        raise InputError(f"{path}: the melody is empty (no notes)")
    part = sounding[0]
    if len(sounding) > 1:
        name = str(part.partName or part.id or "1")
        warnings.append(f"{len(sounding)} parts with notes: harmonising the first ({name})")
    codec.check_four_four(score, what=f"{path.name}")
    if pickup is not None and not 0 <= pickup < 4:
        raise InputError(f"--pickup must be 0 to under 4 quarter notes, got {pickup:g}")
    # The rest that fills the pickup's bar, so that step 0 is a bar line.
    padding = codec.pickup_padding(part) if pickup is None else (4 - pickup) % 4
    spq = steps_per_bar // 4
    pad = round(padding * spq)
    events = codec.note_events(part)
    end = max(e for _, e, _ in events)
    steps = max(1, math.ceil((pad + end * spq - 1e-6) / steps_per_bar)) * steps_per_bar
    pitches, onsets, off_grid, polyphonic = codec.events_grid(events, steps=steps, offset_steps=pad,
                                                              steps_per_quarter=spq)
    if polyphonic:
        warnings.append("polyphonic input: harmonising its top line")
    if off_grid:
        warnings.append(f"{off_grid} notes off the 16th-note grid quantised to it")
    if not (pitches >= 0).any():
        raise InputError(f"{path}: the melody is empty (no notes on the grid)")
    return Melody(pitches=pitches, onsets=onsets, pickup_steps=pad, qpm=_tempo(score), warnings=warnings)


def _tempo(score) -> float:
    from music21 import tempo

    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    for mark in marks:
        qpm = mark.getQuarterBPM()
        if qpm and qpm > 0:
            return float(qpm)
    return DEFAULT_QPM


def fit_range(pitches: np.ndarray, *, low: int, high: int) -> int:
    """Semitones to add so that every pitch lies in ``low..high``: 0 if it fits, else the nearest octave
    shift that fits, else the smallest shift.

    Raises
    ------
    InputError
        If the melody spans more than the range.
    """
    sounding = pitches[pitches >= 0]
    lo, hi = int(sounding.min()), int(sounding.max())
    if hi - lo > high - low:
        raise InputError(f"the melody spans {hi - lo} semitones, more than the soprano range ({high - low})")
    fits = range(low - lo, high - hi + 1)
    octaves = [s for s in fits if s % 12 == 0]
    return min(octaves or fits, key=abs)


# ---------------------------------------------------------------------------
# Window by window
# ---------------------------------------------------------------------------


def soprano_windows(tokens: np.ndarray, *, window_steps: int, hop_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Soprano tokens [S] -> windows [N, window_steps] and their start steps [N].

    The melody is padded with rests to at least one window and to a whole hop.
    A window starting inside a note re-articulates it, as in training.
    """
    length = max(window_steps, math.ceil(len(tokens) / hop_steps) * hop_steps)
    padded = np.full(length, codec.REST, np.int64)
    padded[: len(tokens)] = tokens
    starts = np.arange(0, length - window_steps + 1, hop_steps)
    if starts[-1] + window_steps < length:
        starts = np.append(starts, length - window_steps)
    windows = np.stack([padded[s : s + window_steps] for s in starts])
    # A window starting inside a note gets that note's pitch token on its first step, as in training.
    offsets, _ = codec.decode_voice(padded, low=0)
    inside = (windows[:, 0] == codec.HOLD) & (offsets[starts] >= 0)
    windows[inside, 0] = codec.FIRST_PITCH + offsets[starts[inside]]
    return windows, starts


def average_probabilities(
    soprano: np.ndarray, predictor: Predictor, *, window_steps: int = 64, hop_steps: int = 16
) -> list[np.ndarray]:
    """Per-step token probabilities of each lower voice for soprano tokens [S], window by window.

    Every step is covered by up to ``window_steps / hop_steps`` windows; their
    probabilities are averaged, so that neighbouring windows agree at the seams
    instead of jumping from one window's choice to the next one's.

    Returns
    -------
    list of np.ndarray [S, C_v]
    """
    soprano = np.asarray(soprano, np.int64)
    windows, starts = soprano_windows(soprano, window_steps=window_steps, hop_steps=hop_steps)
    length = starts[-1] + window_steps
    count = np.zeros((length, 1))
    for s in starts:
        count[s : s + window_steps] += 1
    blocks = window_steps // hop_steps
    aligned = window_steps % hop_steps == 0 and (starts == np.arange(len(starts)) * hop_steps).all()
    out = []
    for p in predictor(windows):
        total = np.zeros((length, p.shape[-1]), np.float32)
        if aligned:  # window w's block j lands on hop block w + j: one add per block offset
            by_block = total.reshape(-1, hop_steps, p.shape[-1])
            parts = p.reshape(len(starts), blocks, hop_steps, p.shape[-1])
            for j in range(blocks):
                by_block[j : j + len(starts)] += parts[:, j]
        else:
            for w, s in enumerate(starts):
                total[s : s + window_steps] += p[w]
        out.append(total[: len(soprano)] / count[: len(soprano)])
    return out


def _draw(scores: np.ndarray, rng: np.random.Generator) -> int:
    weights = np.exp(scores - scores.max())
    return int(rng.choice(len(scores), p=weights / weights.sum()))


def voice_leading_tokens(
    soprano_pitches: np.ndarray,
    probs: Sequence[np.ndarray],
    *,
    ranges: Sequence[tuple[int, int]],
    top_k: int = 4,
    parallel_penalty: float = 6.0,
    crossing_penalty: float = 2.0,
    onset_weight: float = 0.4,
    temperature: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Choose the lower voices' tokens step by step, jointly, avoiding parallels and crossings.

    At each step the ``top_k`` most likely tokens of each voice are combined;
    a combination scores the sum of their log probabilities, minus
    ``parallel_penalty`` for each parallel (or antiparallel) fifth or octave it
    makes with the previous step in any voice pair (soprano included), minus
    ``crossing_penalty`` for each crossed pair. Per-step argmax, which chooses
    each voice alone, moves voices in parallel whenever they share a contour.

    A note or rest token scores ``log P(no hold) + onset_weight * log P(token | no hold)``
    (1 = its plain log probability): when the model is sure something happens
    at a step but unsure what, the plain argmax holds the previous note, which
    is wrong either way. 0.4 was chosen on the validation chorales.

    Parameters
    ----------
    soprano_pitches : np.ndarray [S] int (-1 = rest)
    probs : list of np.ndarray [S, C_v], one per lower voice
    ranges : lower voices' ranges (their lowest pitch maps tokens to pitches)
    temperature : float
        0 takes the best combination; above 0 samples combinations by ``exp(score)``
        (the probabilities should then already carry the temperature).

    Returns
    -------
    np.ndarray [V, S] int64
    """
    steps, voices = len(soprano_pitches), len(probs)
    rng = rng or np.random.default_rng()
    lows = np.array([low for low, _ in ranges])
    logp = []
    for p in probs:
        p = np.clip(p, 1e-12, None)
        event = np.log(np.clip(1.0 - p[:, :1], 1e-12, None))
        logp.append(np.concatenate([np.log(p[:, :1]), (1 - onset_weight) * event + onset_weight * np.log(p[:, 1:])],
                                   axis=1))
    # Every step's candidates at once: the top_k tokens per voice, combined [S, K**V, V].
    top = [np.argpartition(-lp, min(top_k, lp.shape[1]) - 1, axis=-1)[:, :top_k] for lp in logp]
    combos = np.stack(np.meshgrid(*[np.arange(t.shape[1]) for t in top], indexing="ij"), -1).reshape(-1, voices)
    cand = np.stack([top[v][:, combos[:, v]] for v in range(voices)], axis=-1)
    cand_logp = sum(np.take_along_axis(logp[v], top[v], axis=1)[:, combos[:, v]] for v in range(voices))
    cand_pitch = np.where(cand == codec.REST, -1, cand - codec.FIRST_PITCH + lows)
    cand_hold = cand == codec.HOLD
    moves = np.concatenate([[True], soprano_pitches[1:] != soprano_pitches[:-1]])
    quiet = ~moves & np.stack([lp.argmax(-1) == codec.HOLD for lp in logp]).all(axis=0)
    upper, lower = np.array([(u, v) for u in range(voices + 1) for v in range(u + 1, voices + 1)]).T
    tokens = np.full((voices, steps), codec.HOLD, np.int64)
    state = np.full(voices, -1)  # sounding pitch of each lower voice
    prev_s = -1
    for t in range(steps):
        s = int(soprano_pitches[t])
        if quiet[t] and temperature <= 0:
            continue  # nothing moves: no new parallel or crossing is possible
        pitches = np.where(cand_hold[t], state, cand_pitch[t])  # [K, V]
        now = np.concatenate([np.full((len(pitches), 1), s), pitches], axis=1)  # [K, 1 + V], soprano first
        before = np.concatenate([[prev_s], state])
        a, b, a0, b0 = now[:, upper], now[:, lower], before[upper], before[lower]
        sounding = (a >= 0) & (b >= 0)
        moved = sounding & (a0 >= 0) & (b0 >= 0) & (a != a0) & (b != b0)
        i0, i1 = np.abs(a0 - b0) % 12, np.abs(a - b) % 12
        parallel = moved & (i0 == i1) & ((i1 == 7) | (i1 == 0))
        score = cand_logp[t] - parallel_penalty * parallel.sum(1) - crossing_penalty * (sounding & (b > a)).sum(1)
        k = _draw(score, rng) if temperature > 0 else int(score.argmax())
        tokens[:, t] = cand[t, k]
        state, prev_s = pitches[k], s
    return tokens


def harmonize_tokens(
    soprano: np.ndarray,
    predictor: Predictor,
    *,
    ranges: Sequence[tuple[int, int]] = codec.VOICE_RANGES,
    window_steps: int = 64,
    hop_steps: int = 16,
    temperature: float = 0.0,
    voice_leading: bool = True,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Lower-voice tokens [V, S] for soprano tokens [S] (all four voices' ``ranges``, soprano first).

    Probabilities come from :func:`average_probabilities`; tokens are chosen
    jointly by :func:`voice_leading_tokens`, or, with ``voice_leading=False``,
    independently per voice and step (argmax at temperature 0, else sampled).

    Returns
    -------
    np.ndarray [V, S] int64
    """
    soprano = np.asarray(soprano, np.int64)
    probs = average_probabilities(soprano, predictor, window_steps=window_steps, hop_steps=hop_steps)
    rng = rng or np.random.default_rng()
    if voice_leading:
        pitches, _ = codec.decode_voice(soprano, low=ranges[0][0])
        return voice_leading_tokens(pitches, probs, ranges=ranges[1:], temperature=temperature, rng=rng)
    if temperature <= 0:
        return np.stack([p.argmax(-1) for p in probs]).astype(np.int64)
    out = []
    for p in probs:
        cumulative = np.cumsum(p / p.sum(-1, keepdims=True), axis=-1)
        out.append(np.minimum((cumulative < rng.random((len(p), 1))).sum(-1), p.shape[-1] - 1))
    return np.stack(out).astype(np.int64)


def model_predictor(
    model, *, noise=None, z_scale: float = 1.0, temperature: float = 0.0, transpositions: int = 0
) -> Predictor:
    """Wrap an :class:`~musicvae.models.accompanist.Accompanist` as a window predictor.

    ``noise`` [z_dim] (standard normal) is shared by every window of a melody,
    so that one variation keeps one character from window to window.
    ``transpositions`` K > 0 also harmonises the windows moved by every shift in
    ``-K..K`` that keeps the soprano in range (one batch), moves the lower
    voices' probabilities back and averages them: a dense MiniBach learns each
    key separately, and this ensemble of keys is more accurate than any one.
    """
    import torch

    def predict(windows: np.ndarray) -> list[np.ndarray]:
        windows = np.asarray(windows, np.int64)
        pitched = windows >= codec.FIRST_PITCH
        top = windows[pitched].max(initial=codec.FIRST_PITCH)
        bottom = windows[pitched].min(initial=codec.FIRST_PITCH)
        classes = model.soprano_classes
        shifts = [s for s in range(-transpositions, transpositions + 1)
                  if bottom + s >= codec.FIRST_PITCH and top + s < classes] or [0]
        batch = np.concatenate([np.where(pitched, windows + s, windows) for s in shifts])
        with torch.inference_mode():
            probs = model.probabilities(torch.as_tensor(batch), noise=noise, z_scale=z_scale,
                                        temperature=temperature if temperature > 0 else 1.0)
        out = []
        for p in probs:
            p = p.numpy().reshape(len(shifts), len(windows), *p.shape[1:])
            total = np.zeros(p.shape[1:], np.float32)
            for k, s in enumerate(shifts):
                total[..., : codec.FIRST_PITCH] += p[k, ..., : codec.FIRST_PITCH]
                # The token of pitch offset j + s at shift s is pitch offset j at the melody's own key.
                source = p[k, ..., codec.FIRST_PITCH + max(s, 0) : p.shape[-1] + min(s, 0)]
                total[..., codec.FIRST_PITCH + max(-s, 0) : p.shape[-1] + min(-s, 0)] += source
            out.append(total / len(shifts))
        return out

    return predict


# ---------------------------------------------------------------------------
# The verb
# ---------------------------------------------------------------------------


@dataclass
class Harmonization:
    """Harmonisations of one melody.

    Attributes
    ----------
    grids : list of ChoraleGrid
        One per variation: pitches/onsets [4, T] of S, A, T, B at the melody's own pitch.
    transposed : int
        Semitones the melody was moved to fit the soprano range (and moved back).
    warnings : list of str
    qpm : float
    """

    grids: list[codec.ChoraleGrid]
    transposed: int = 0
    warnings: list[str] = field(default_factory=list)
    qpm: float = DEFAULT_QPM


def harmonize_melody(
    melody: Melody,
    predictor_for: Callable[[int], Predictor],
    *,
    ranges: Sequence[tuple[int, int]] = codec.VOICE_RANGES,
    variations: int = 1,
    window_steps: int = 64,
    hop_steps: int = 16,
    temperature: float = 0.0,
    voice_leading: bool = True,
    seed: int | None = None,
) -> Harmonization:
    """Harmonise a :class:`Melody` ``variations`` times; ``predictor_for(k)`` gives variation k's predictor."""
    if variations < 1:
        raise InputError(f"--variations must be at least 1, got {variations}")
    low, high = ranges[0]
    shift = fit_range(melody.pitches, low=low, high=high)
    warnings = list(melody.warnings)
    if shift:
        warnings.append(f"melody moved {shift:+d} semitones into the soprano range {low}..{high} and back")
    inside = np.where(melody.pitches >= 0, melody.pitches + shift, -1)
    soprano = codec.encode_voice(inside, melody.onsets, low=low, high=high)
    rng = np.random.default_rng(seed)
    grids = []
    for k in range(variations):
        lower = harmonize_tokens(soprano, predictor_for(k), ranges=ranges, window_steps=window_steps,
                                 hop_steps=hop_steps, temperature=temperature, voice_leading=voice_leading, rng=rng)
        pitches, onsets = codec.decode_grid(lower, ranges=ranges[1:])
        pitches = np.where(pitches >= 0, pitches - shift, -1)
        # The pickup's padding only places the bar lines: nobody sings before the melody starts.
        pitches[:, : melody.pickup_steps] = -1
        onsets[:, : melody.pickup_steps] = False
        grids.append(codec.ChoraleGrid(
            pitches=np.concatenate([melody.pitches[None], pitches]).astype(np.int16),
            onsets=np.concatenate([(melody.onsets & (melody.pitches >= 0))[None], onsets]),
            pickup_steps=melody.pickup_steps,
        ))
    return Harmonization(grids=grids, transposed=shift, warnings=warnings, qpm=melody.qpm)


def harmonize(
    instrument,
    path: str | Path,
    *,
    variations: int = 1,
    temperature: float = 0.0,
    z_scale: float = DEFAULT_Z_SCALE,
    pickup: float | None = None,
    voice_leading: bool = True,
    transpositions: int = DEFAULT_TRANSPOSITIONS,
    seed: int | None = None,
) -> Harmonization:
    """Harmonise the melody in a MIDI or MusicXML file with an accompanist instrument.

    Variation 1 decodes the posterior mean (the most likely harmonisation);
    variations 2.. decode posterior samples ``mu + z_scale * sigma * eps``,
    one ``eps`` per variation shared by all its windows.

    Raises
    ------
    InputError
        For unusable input (see :func:`read_melody`), a melody spanning more than the soprano range, or
        a bad option.
    InstrumentError
        If the instrument is not an accompanist.
    """
    import torch

    instrument.require_kind("accompanist")
    rep = instrument.config.model.representation
    if temperature < 0:
        raise InputError(f"--temperature must be 0 or more, got {temperature:g}")
    if transpositions < 0:
        raise InputError(f"--transpositions must be 0 or more, got {transpositions}")
    melody = read_melody(path, steps_per_bar=rep.steps_per_bar, pickup=pickup)
    model = instrument.model
    generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    noises = [None] + [torch.randn(model.z_dim, generator=generator) for _ in range(max(0, variations - 1))]

    def predictor_for(k: int) -> Predictor:
        return model_predictor(model, noise=noises[k], z_scale=z_scale, temperature=temperature,
                               transpositions=transpositions)

    result = harmonize_melody(melody, predictor_for, ranges=rep.ranges, variations=variations,
                              window_steps=rep.steps, hop_steps=rep.steps_per_bar, temperature=temperature,
                              voice_leading=voice_leading, seed=seed)
    name = Path(path).name
    result.warnings = [f"{name}: {w}" for w in result.warnings]
    return result
