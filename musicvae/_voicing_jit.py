"""The step loop of :func:`musicvae.voicing.voice_leading_tokens`, compiled with numba.

Each step's choice depends on the pitches the previous steps left sounding, so the loop over
steps cannot be one numpy expression; in Python it cost a few hundred numpy calls a step. Here
it is one compiled loop over steps, candidates and voice pairs, doing the same float64
arithmetic in the same order as the numpy code it replaces (the scores, numpy's pairwise sum of
the weights, ``Generator.choice``'s cumulative search with one uniform per drawn step), so it
chooses the same tokens. Imported on the first decoding, so that numba loads only when a
harmonisation needs it; compiled once and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

from musicvae.midi import chorale as codec
from musicvae.voicing import parallel_motion

HOLD, REST, FIRST_PITCH = codec.HOLD, codec.REST, codec.FIRST_PITCH

_parallel_motion = numba.njit(cache=True)(parallel_motion)


@numba.njit(cache=True)
def _pairwise_sum(x: np.ndarray) -> float:
    """``x.sum()`` as numpy adds up float64 (at most 128 values): eight interleaved partial sums."""
    n = len(x)
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    r = x[:8].copy()
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += x[i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += x[i]
        i += 1
    return res


@numba.njit(cache=True)
def _draw(scores: np.ndarray, uniform: float) -> int:
    """The candidate ``rng.choice(len(scores), p=softmax(scores))`` takes when its one uniform draw is ``uniform``."""
    weights = np.exp(scores - scores.max())
    p = weights / _pairwise_sum(weights)
    cdf = np.cumsum(p)
    cdf = cdf / cdf[-1]
    for k in range(len(cdf)):
        if cdf[k] > uniform:
            return k
    return len(cdf) - 1


@numba.njit(cache=True)
def _sounding(token: int, before: int, low: int) -> int:
    """The pitch a voice sounds after ``token`` (``before`` sounding until then; -1 = rest)."""
    if token == HOLD:
        return before
    if token == REST:
        return -1
    return token - FIRST_PITCH + low


@numba.njit(cache=True)
def choose_steps(top, top_logp, widths, soprano, quiet, keep, kept, lows, has_keep, temperature, uniforms,
                 parallel_penalty, crossing_penalty):
    """Choose one candidate per step, left to right (the arguments are voice_leading_tokens' arrays).

    top [V, S, K] each voice's best tokens a step (the first ``widths[v]`` of them), top_logp [V, S, K] their
    scores; a step's candidates are every combination of one token a voice, in ``np.meshgrid(indexing="ij")``
    order (the last voice's choice varies fastest). soprano [S] pitches, quiet [S] bool, keep/kept [V, S]
    (used when ``has_keep``), lows [V], uniforms: one per drawn step (``temperature`` > 0). Returns tokens [V, S].
    """
    voices, steps, _ = top.shape
    n = 1
    for v in range(voices):
        n *= widths[v]
    tokens = np.full((voices, steps), HOLD, np.int64)
    state = np.full(voices, -1, np.int64)  # sounding pitch of each lower voice
    now = np.empty((n, voices + 1), np.int64)  # each candidate's pitches, soprano first
    choice = np.empty((n, voices), np.int64)  # each candidate's tokens
    before = np.empty(voices + 1, np.int64)
    after = np.empty(voices + 1, np.int64)
    known = np.empty(voices + 1, np.bool_)
    scores = np.empty(n)
    prev_s = -1
    drawn = 0
    for t in range(steps):
        s = soprano[t]
        if quiet[t] and temperature <= 0:
            continue  # nothing moves: no new parallel or crossing is possible
        if has_keep:
            every = True
            for v in range(voices):
                every = every and keep[v, t]
            if every:  # nothing to choose: follow the kept notes
                for v in range(voices):
                    tokens[v, t] = kept[v, t]
                    state[v] = _sounding(kept[v, t], state[v], lows[v])
                prev_s = s
                continue
        before[0] = prev_s
        before[1:] = state
        ahead = has_keep and t + 1 < steps
        if ahead:
            after[0] = soprano[t + 1]
            known[0] = True
            for v in range(voices):
                known[v + 1] = keep[v, t + 1]
        for k in range(n):
            now[k, 0] = s
            rest = k
            for v in range(voices - 1, -1, -1):  # k's digits, the last voice's the fastest
                choice[k, v] = rest % widths[v]
                rest //= widths[v]
            logp = top_logp[0, t, choice[k, 0]]  # summed voice by voice in the probabilities' precision
            for v in range(1, voices):
                logp = logp + top_logp[v, t, choice[k, v]]
            for v in range(voices):
                token = top[v, t, choice[k, v]]
                choice[k, v] = token
                now[k, v + 1] = _sounding(token, state[v], lows[v])
            parallels = 0
            crossings = 0
            for u in range(voices + 1):
                for w in range(u + 1, voices + 1):
                    a, b = now[k, u], now[k, w]
                    _, fifths, octaves = _parallel_motion(before[u], before[w], a, b)
                    if fifths or octaves:
                        parallels += 1
                    if a >= 0 and b >= 0 and b > a:
                        crossings += 1
            score = np.float64(logp) - parallel_penalty * parallels - crossing_penalty * crossings
            if ahead:
                # The parallels it makes with the kept notes of the next step (pairs kept on both voices).
                for v in range(voices):
                    after[v + 1] = _sounding(kept[v, t + 1], now[k, v + 1], lows[v])
                later = 0
                for u in range(voices + 1):
                    for w in range(u + 1, voices + 1):
                        if known[u] and known[w]:
                            _, fifths, octaves = _parallel_motion(now[k, u], now[k, w], after[u], after[w])
                            if fifths or octaves:
                                later += 1
                score = score - parallel_penalty * later
            scores[k] = score
        if temperature > 0:
            chosen = _draw(scores, uniforms[drawn])
            drawn += 1
        else:
            chosen = np.argmax(scores)
        for v in range(voices):
            tokens[v, t] = choice[chosen, v]
            state[v] = now[chosen, v + 1]
        prev_s = s
    return tokens


#: A byte set in every byte: folds a word's per-byte flags into a count (``(flags * ONES) >> 56``).
ONES = np.uint64(0x0101010101010101)


@numba.njit(cache=True)
def _differing_bytes(a: np.ndarray, b: np.ndarray) -> int:
    """How many bytes of the uint64 words ``a`` and ``b`` [W] differ."""
    differ = 0
    for w in range(len(a)):
        x = a[w] ^ b[w]
        x |= x >> np.uint64(4)  # each byte's low bit: whether any of its bits differ
        x |= x >> np.uint64(2)
        x |= x >> np.uint64(1)
        differ += ((x & ONES) * ONES) >> np.uint64(56)
    return differ


@numba.njit(cache=True)
def row_distances(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """[Q, N] int32: for each query [Q, W] and row of ``table`` [N, W], the bytes they differ at
    (``np.count_nonzero(rows != query, axis=1)`` over the bytes)."""
    out = np.zeros((len(queries), len(table)), np.int32)
    for q in range(len(queries)):
        for i in range(len(table)):
            out[q, i] = _differing_bytes(table[i], queries[q])
    return out


@numba.njit(cache=True)
def nearest_rows(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query [Q, W], the index of the first row of ``table`` [N, W] that differs from it at the fewest
    bytes (``np.count_nonzero(rows != query, axis=1).argmin()`` over the bytes): rows of int8 steps viewed as
    uint64 words, eight steps compared at once."""
    rows, words = table.shape
    out = np.zeros(len(queries), np.int64)
    for q in range(len(queries)):
        best = words * 8 + 1
        for i in range(rows):
            differ = _differing_bytes(table[i], queries[q])
            if differ < best:
                best = differ
                out[q] = i
    return out
