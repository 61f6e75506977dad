"""Lower voices from a soprano, window by window: the accompanist's decoding.

1. :func:`soprano_windows` cuts the soprano into 4-bar windows with a one-bar hop;
2. :func:`average_probabilities` runs a window predictor over them (the model's,
   :func:`model_predictor`, also over a few transpositions of each window) and
   averages the per-step probabilities where windows overlap, so that the seams
   between windows do not jump;
3. :func:`voice_leading_tokens` chooses the lower voices jointly, step by step,
   avoiding parallel fifths, octaves and crossings; :func:`harmonize_tokens`
   runs 2 and 3 (or, without voice leading, argmax or sampling per voice and step).

Everything here works on chorale tokens (:mod:`musicvae.midi.chorale`); reading
and writing files is :mod:`musicvae.harmonize`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from musicvae.midi import chorale as codec

#: A window predictor: soprano tokens [N, T] -> per lower voice, token probabilities [N, T, C_v]. A predictor
#: that reads phrases also takes ``phrase=`` tokens [N, T] (:func:`musicvae.midi.chorale.phrase_tokens`).
Predictor = Callable[..., Sequence[np.ndarray]]


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


def phrase_windows(phrase: np.ndarray, starts: np.ndarray, window_steps: int) -> np.ndarray:
    """Phrase tokens [S] -> windows [N, window_steps] at ``starts``, "not known" past the end."""
    length = max(len(phrase), int(starts[-1]) + window_steps)
    padded = np.full(length, codec.PHRASE_UNKNOWN, np.int64)
    padded[: len(phrase)] = phrase
    return np.stack([padded[s : s + window_steps] for s in starts])


def average_probabilities(
    soprano: np.ndarray, predictor: Predictor, *, window_steps: int = 64, hop_steps: int = 16,
    phrase: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Per-step token probabilities of each lower voice for soprano tokens [S], window by window.

    Every step is covered by up to ``window_steps / hop_steps`` windows; their
    probabilities are averaged, so that neighbouring windows agree at the seams
    instead of jumping from one window's choice to the next one's. ``phrase`` [S]: the
    melody's phrase tokens, cut into the same windows for a predictor that reads them.

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
    predicted = predictor(windows) if phrase is None else \
        predictor(windows, phrase=phrase_windows(np.asarray(phrase, np.int64), starts, window_steps))
    for p in predicted:
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


def parallel_motion(a0, b0, a, b):
    """Which moves of voice pairs are parallel (or antiparallel) fifths or octaves, unisons included.

    Each pair is an upper voice ``a`` and a lower voice ``b``, at one step (``a0``, ``b0``) and the
    next (``a``, ``b``): pitches, -1 for a rest. A move: all four pitches sound and both voices change
    pitch; it is parallel when the interval (compounds folded into the octave) is the same fifth or
    octave at both steps. The voice-leading decoding, the Gibbs repair and the evaluation all count
    parallels through this one definition (numpy arrays, or plain integers in compiled code).

    Parameters
    ----------
    a0, b0, a, b : np.ndarray [...] int (broadcast together), or int

    Returns
    -------
    moves, fifths, octaves : np.ndarray [...] bool, or bool
    """
    moves = (a0 >= 0) & (b0 >= 0) & (a >= 0) & (b >= 0) & (a != a0) & (b != b0)
    before, after = np.abs(a0 - b0) % 12, np.abs(a - b) % 12
    parallel = moves & (before == after)
    return moves, parallel & (after == 7), parallel & (after == 0)


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
    keep: np.ndarray | None = None,
    kept: np.ndarray | None = None,
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
    keep, kept : np.ndarray [V, S] bool and int, optional
        Tokens that stay as they are (``kept`` where ``keep``): only the others are chosen, and
        a choice is also penalised for the parallels it makes with the next step's kept notes
        (Gibbs sampling keeps most notes and redraws a few).

    Returns
    -------
    np.ndarray [V, S] int64
    """
    from musicvae._voicing_jit import choose_steps  # numba loads on the first decoding, not on import

    steps, voices = len(soprano_pitches), len(probs)
    rng = rng or np.random.default_rng()
    lows = np.array([low for low, _ in ranges])
    logp = []
    for v, p in enumerate(probs):
        p = np.clip(p, 1e-12, None)
        event = np.log(np.clip(1.0 - p[:, :1], 1e-12, None))
        lp = np.concatenate([np.log(p[:, :1]), (1 - onset_weight) * event + onset_weight * np.log(p[:, 1:])], axis=1)
        if keep is not None:
            # A kept token is the only candidate at its step: every other one is out of reach.
            forced = np.full_like(lp, -1e9)
            forced[np.arange(steps), kept[v]] = 0.0
            lp = np.where(keep[v][:, None], forced, lp)
        logp.append(lp)
    # Each voice's top_k tokens a step; the compiled loop combines them [K**V candidates a step].
    top = [np.argpartition(-lp, min(top_k, lp.shape[1]) - 1, axis=-1)[:, :top_k] for lp in logp]
    widths = np.array([t.shape[1] for t in top], np.int64)
    top_logp = np.zeros((voices, steps, widths.max()), logp[0].dtype)
    top_tokens = np.zeros((voices, steps, widths.max()), np.int64)
    for v in range(voices):
        top_tokens[v, :, : widths[v]] = top[v]
        top_logp[v, :, : widths[v]] = np.take_along_axis(logp[v], top[v], axis=1)
    moves = np.concatenate([[True], soprano_pitches[1:] != soprano_pitches[:-1]])
    quiet = ~moves & np.stack([lp.argmax(-1) == codec.HOLD for lp in logp]).all(axis=0)
    uniforms = np.zeros(0)
    if temperature > 0:  # one uniform per step that draws, in step order: what rng.choice would take
        drawn = steps if keep is None else int((~keep.all(axis=0)).sum())
        uniforms = rng.random(drawn)
    keep = np.zeros((voices, 0), bool) if keep is None else np.asarray(keep, bool)
    kept = np.zeros((voices, 0), np.int64) if kept is None else np.asarray(kept, np.int64)
    return choose_steps(top_tokens, top_logp, widths, np.asarray(soprano_pitches, np.int64), quiet, keep, kept,
                        lows.astype(np.int64), keep.shape[1] > 0, float(temperature), uniforms,
                        float(parallel_penalty), float(crossing_penalty))


def harmonize_tokens(
    soprano: np.ndarray,
    predictor: Predictor,
    *,
    ranges: Sequence[tuple[int, int]],
    window_steps: int = 64,
    hop_steps: int = 16,
    temperature: float = 0.0,
    voice_leading: bool = True,
    rng: np.random.Generator | None = None,
    phrase: np.ndarray | None = None,
) -> np.ndarray:
    """Lower-voice tokens [V, S] for soprano tokens [S] (all four voices' ``ranges``, soprano first).

    ``ranges`` are the representation's that the predictor's tokens use (an instrument's
    ``config.model.representation.ranges``): they map tokens to pitches for the voice leading.

    Probabilities come from :func:`average_probabilities`; tokens are chosen
    jointly by :func:`voice_leading_tokens`, or, with ``voice_leading=False``,
    independently per voice and step (argmax at temperature 0, else sampled).

    Returns
    -------
    np.ndarray [V, S] int64
    """
    soprano = np.asarray(soprano, np.int64)
    probs = average_probabilities(soprano, predictor, window_steps=window_steps, hop_steps=hop_steps, phrase=phrase)
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

    def predict(windows: np.ndarray, *, phrase: np.ndarray | None = None) -> list[np.ndarray]:
        windows = np.asarray(windows, np.int64)
        pitched = windows >= codec.FIRST_PITCH
        top = windows[pitched].max(initial=codec.FIRST_PITCH)
        bottom = windows[pitched].min(initial=codec.FIRST_PITCH)
        classes = model.soprano_classes
        shifts = [s for s in range(-transpositions, transpositions + 1)
                  if bottom + s >= codec.FIRST_PITCH and top + s < classes] or [0]
        batch = np.concatenate([np.where(pitched, windows + s, windows) for s in shifts])
        # A transposition moves no phrase: every shift reads the same phrase tokens.
        extra = {} if phrase is None else {"phrase": torch.as_tensor(np.tile(np.asarray(phrase, np.int64),
                                                                             (len(shifts), 1)))}
        with torch.inference_mode():
            probs = model.probabilities(torch.as_tensor(batch), noise=noise, z_scale=z_scale,
                                        temperature=temperature if temperature > 0 else 1.0, **extra)
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


#: The memory's vote (:meth:`NearestNeighbour.vote`): windows up to ``VOTE_SLACK`` steps further than the
#: nearest vote, each ``VOTE_SCALE`` steps further by ``1/e`` less; and the steps (of a 64-step window) over
#: which the memory's weight falls from a twin's towards a stranger's (:func:`mixed_predictor`). Chosen on the
#: validation chorales with bach-chorale-net (frame accuracy 0.432 with one nearest window and one weight,
#: 0.440 so; the others of 36 such settings 0.432-0.440).
VOTE_SLACK, VOTE_SCALE, TWIN_SCALE = 4, 4.0, 8.0


class NearestNeighbour:
    """Copies the lower voices of the training window whose soprano is closest.

    Distance: the number of steps whose sounding soprano pitch (or rest)
    differs. ``train`` should hold every transposition the model trained on, so
    that the baseline sees the same data.

    Parameters
    ----------
    train : np.ndarray [N, 4, T] tokens
    ranges : the four voices' ranges the tokens were cut with
    """

    def __init__(self, train: np.ndarray, *, ranges: Sequence[tuple[int, int]]) -> None:
        self.train = np.asarray(train)
        self.ranges = tuple(ranges)
        pitches, _ = codec.decode_grid(self.train[:, :1], ranges=self.ranges[:1])
        self.soprano = pitches[:, 0].astype(np.int8)  # -1..81 fits in a byte
        self._words = self._packed(self.soprano)

    def nearest(self, windows: np.ndarray) -> np.ndarray:
        """Index of the closest training window for each soprano window [N, T] of tokens."""
        query, _ = codec.decode_voice(np.asarray(windows), low=self.ranges[0][0])
        from musicvae._voicing_jit import nearest_rows  # compiled: eight steps compared a word

        return nearest_rows(self._words, self._packed(query.astype(np.int8)))

    @staticmethod
    def _packed(pitches: np.ndarray) -> np.ndarray:
        """int8 pitches [N, T] -> uint64 words [N, ceil(T / 8)], eight steps a word (padding steps agree)."""
        n, steps = pitches.shape
        padded = np.zeros((n, -(-steps // 8) * 8), np.int8)
        padded[:, :steps] = pitches
        return padded.view(np.uint64)

    def __call__(self, windows: np.ndarray, *, phrase: np.ndarray | None = None) -> list[np.ndarray]:
        chosen = self.train[self.nearest(windows)]  # by the soprano alone: ``phrase`` is not read
        return [np.eye(codec.num_classes(self.ranges[v]), dtype=np.float32)[chosen[:, v].astype(np.int64)]
                for v in range(1, 4)]

    def vote(self, windows: np.ndarray, *, slack: int = VOTE_SLACK, scale: float = VOTE_SCALE
             ) -> tuple[list[np.ndarray], np.ndarray]:
        """The lower voices of every training window within ``slack`` steps of the nearest, as a vote.

        A window ``extra`` steps further than the nearest votes with weight ``exp(-extra / scale)``:
        Bach harmonised many tunes more than once, and the nearest window is then one of several
        harmonisations of the same soprano, none of which is *the* answer.

        Parameters
        ----------
        windows : np.ndarray [N, T] soprano tokens

        Returns
        -------
        probs : list of three np.ndarray [N, T, classes] float32
            Alto, tenor and bass: each step's share of the votes for each token.
        distance : np.ndarray [N] int
            Steps at which the nearest training soprano differs from each window's.
        """
        query, _ = codec.decode_voice(np.asarray(windows), low=self.ranges[0][0])
        from musicvae._voicing_jit import row_distances

        distances = row_distances(self._words, self._packed(query.astype(np.int8)))  # [N, rows]
        nearest = distances.min(axis=1)
        probs = [np.zeros((len(query), query.shape[1], codec.num_classes(self.ranges[v])), np.float32)
                 for v in range(1, 4)]
        steps = np.arange(query.shape[1])
        for n, row in enumerate(distances):
            near = np.flatnonzero(row <= nearest[n] + slack)
            weights = np.exp(-(row[near] - nearest[n]) / scale).astype(np.float32)
            weights /= weights.sum()
            for v, p in enumerate(probs, start=1):
                np.add.at(p[n], (steps[None, :], self.train[near, v].astype(np.int64)), weights[:, None])
        return probs, nearest


def mixed_predictor(model: Predictor, memory: NearestNeighbour, *, weight: float, twin_weight: float | None = None,
                    hold_scale: float = 1.0) -> Predictor:
    """A model's probabilities with a memory's vote mixed in: ``(1 - w) * model + w * memory``.

    The memory (a :class:`NearestNeighbour` of the training chorales, :meth:`~NearestNeighbour.vote`)
    is sure of a few harmonisations and often right where a held-out soprano has a training twin;
    the model spreads its probability over the harmonisations that fit. Mixed, the voice leading
    keeps the memory's notes where the model agrees and the model's where it does not.

    ``w`` is ``twin_weight`` (default ``weight``) for a window whose soprano has a twin in the
    memory and falls towards ``weight`` as the nearest one differs at more steps (by ``1/e`` every
    :data:`TWIN_SCALE` steps). ``hold_scale`` then scales every step's probability of "hold" (and
    renormalises): below 1 it takes back the first pass's leaning to hold notes.
    """
    twin_weight = weight if twin_weight is None else twin_weight

    def predict(windows: np.ndarray, *, phrase: np.ndarray | None = None) -> list[np.ndarray]:
        predicted = model(windows) if phrase is None else model(windows, phrase=phrase)
        votes, distance = memory.vote(windows)
        w = (weight + (twin_weight - weight) * np.exp(-distance / TWIN_SCALE)).astype(np.float32)[:, None, None]
        mixed = [(1 - w) * a + w * b for a, b in zip(predicted, votes)]
        if hold_scale != 1.0:
            for p in mixed:
                p[..., codec.HOLD] *= hold_scale
                p /= p.sum(axis=-1, keepdims=True)
        return mixed

    return predict
