"""Block Gibbs sampling of the lower voices with a chorale net (Coconet's iterative resampling).

A chorale net (:class:`~musicvae.models.chorale_net.ChoraleNet`) gives the conditional of
any block of lower-voice notes given the soprano and the other notes. Harmonising a
melody then goes:

1. a first harmonisation from the bare soprano (every lower note hidden), decoded with
   voice leading (:func:`musicvae.voicing.voice_leading_tokens`);
2. ``steps`` rounds of block Gibbs sampling: hide a random block of the lower notes
   (a share annealed from 0.9 down to 0.1, Coconet's schedule), ask the model for
   their conditional given everything else, window by window with overlaps averaged,
   and draw them again with voice leading (the notes not hidden are kept: their
   probability is one);
3. :func:`pseudo_log_likelihood` scores each result, so that variations are ranked by
   how likely the model finds them.

At temperature 0 each round takes the best notes instead of drawing them (iterated
conditional modes): a deterministic refinement of the first harmonisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from musicvae.midi import chorale as codec
from musicvae.voicing import parallel_motion, phrase_windows, soprano_windows, voice_leading_tokens

#: Coconet's annealing of the hidden share: from ``MAX_HIDDEN`` down to ``MIN_HIDDEN`` over ``ANNEAL`` of the rounds.
MAX_HIDDEN, MIN_HIDDEN, ANNEAL = 0.9, 0.1, 0.75


def hidden_share(round_: int, rounds: int, *, high: float = MAX_HIDDEN) -> float:
    """The share of lower notes hidden in Gibbs round ``round_`` (0-based) of ``rounds``, from ``high`` down."""
    if rounds <= 1:
        return high
    return max(MIN_HIDDEN, high - round_ * (high - MIN_HIDDEN) / (ANNEAL * rounds))


def _windows(tokens: np.ndarray, starts: np.ndarray, window_steps: int, fill: int) -> np.ndarray:
    """Tokens [..., S] -> windows [W, ..., window_steps] at ``starts``, padded with ``fill`` past the end."""
    length = starts[-1] + window_steps
    padded = np.full((*tokens.shape[:-1], max(length, tokens.shape[-1])), fill, np.int64)
    padded[..., : tokens.shape[-1]] = tokens
    return np.stack([padded[..., s : s + window_steps] for s in starts])


def _rearticulate(windows: np.ndarray, full: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Give a window that starts inside a note that note's pitch token on its first step, as in training.

    ``windows`` [W, K, V, L] (known tokens, masks included), ``full`` [K, V, S] the current tokens.
    """
    # Token of the note sounding at each step: the last non-hold token (a hold at step 0 is a rest).
    index = np.maximum.accumulate(np.where(full != codec.HOLD, np.arange(full.shape[-1]), 0), axis=-1)
    sounding = np.take_along_axis(full, index, axis=-1)
    sounding = np.where(full[..., :1] == codec.HOLD, np.where(index == 0, codec.REST, sounding), sounding)
    inside = starts < full.shape[-1]
    for w in np.flatnonzero(inside):
        first = windows[w, ..., 0]
        note = sounding[..., starts[w]]
        windows[w, ..., 0] = np.where((first == codec.HOLD) & (note >= codec.FIRST_PITCH), note, first)
    return windows


def conditional_probabilities(
    model,
    soprano: np.ndarray,
    known: np.ndarray,
    current: np.ndarray,
    z: np.ndarray,
    *,
    window_steps: int,
    hop_steps: int,
    phrase: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Per-step probabilities of each lower voice given the soprano and the known notes, overlaps averaged.

    Parameters
    ----------
    model : ChoraleNet
    soprano : np.ndarray [S] tokens
    known : np.ndarray [K, V, S] tokens, the voice's ``MASK`` where hidden
    current : np.ndarray [K, V, S] the whole current tokens (for re-articulating window starts)
    z : np.ndarray [K, Z] latents, one per harmonisation
    phrase : np.ndarray [S] phrase tokens, optional (a net that reads phrases)

    Returns
    -------
    list of np.ndarray [K, S, C_v]
    """
    k, voices, length = known.shape
    sop_windows, starts = soprano_windows(np.asarray(soprano, np.int64), window_steps=window_steps,
                                          hop_steps=hop_steps)
    lower = _rearticulate(_windows(known, starts, window_steps, fill=codec.REST), current, starts)
    w = len(starts)
    batch_sop = np.repeat(sop_windows, k, axis=0)  # window-major, harmonisation-minor: [W * K, L]
    batch_lower = lower.reshape(w * k, voices, window_steps)
    batch_z = np.tile(np.asarray(z, np.float32), (w, 1))
    extra = {} if phrase is None else {
        "phrase": torch.as_tensor(np.repeat(phrase_windows(np.asarray(phrase, np.int64), starts, window_steps), k,
                                            axis=0))}
    with torch.inference_mode():
        probs = model.probabilities(torch.as_tensor(batch_sop), lower=torch.as_tensor(batch_lower),
                                    noise=torch.as_tensor(batch_z), z_scale=1.0, temperature=1.0, **extra)
    total_steps = starts[-1] + window_steps
    count = np.zeros((total_steps, 1), np.float32)
    for s in starts:
        count[s : s + window_steps] += 1
    out = []
    for p in probs:
        p = p.numpy().reshape(w, k, window_steps, -1)
        acc = np.zeros((k, total_steps, p.shape[-1]), np.float32)
        for i, s in enumerate(starts):
            acc[:, s : s + window_steps] += p[i]
        out.append(acc[:, :length] / count[None, :length])
    return out


def gibbs_harmonize(
    model,
    soprano: np.ndarray,
    initial: np.ndarray,
    z: np.ndarray,
    *,
    ranges: Sequence[tuple[int, int]],
    steps: int,
    temperature: float | Sequence[float],
    window_steps: int = 64,
    hop_steps: int = 16,
    max_hidden: float = MAX_HIDDEN,
    settle: int = 0,
    rng: np.random.Generator,
    phrase: np.ndarray | None = None,
) -> np.ndarray:
    """Refine harmonisations by block Gibbs sampling.

    Parameters
    ----------
    model : ChoraleNet
    soprano : np.ndarray [S] soprano tokens
    initial : np.ndarray [K, V, S] lower-voice tokens to start from (one per harmonisation)
    z : np.ndarray [K, Z] each harmonisation's latent
    ranges : the four voices' ranges (soprano first)
    steps : int
        Gibbs rounds (0 returns ``initial``).
    temperature : float, or one per harmonisation [K]
        Drawn at this temperature, with voice leading; 0 takes the best notes (deterministic).
    max_hidden : float
        The share of notes hidden in the first round (annealed down to :data:`MIN_HIDDEN`).
    settle : int
        The last ``settle`` of the rounds take the best notes whatever ``temperature`` says: a draw's
        odd notes are settled into the chords around them.
    rng : np.random.Generator
        Chooses the hidden blocks and the draws.
    phrase : np.ndarray [S], optional
        The melody's phrase tokens, for a net that reads them.

    Returns
    -------
    np.ndarray [K, V, S] int64
    """
    current = np.array(initial, np.int64)
    k, voices, length = current.shape
    masks = np.array(model.mask_tokens()).reshape(1, voices, 1)
    temperatures = np.broadcast_to(np.asarray(temperature, np.float64), (k,))
    pitches, _ = codec.decode_voice(np.asarray(soprano, np.int64), low=ranges[0][0])
    for round_ in range(steps):
        hidden = rng.random(current.shape) < hidden_share(round_, steps, high=max_hidden)
        settling = round_ >= steps - settle
        known = np.where(hidden, masks, current)
        probs = conditional_probabilities(model, soprano, known, current, z, window_steps=window_steps,
                                          hop_steps=hop_steps, phrase=phrase)
        for i, t in enumerate(np.zeros_like(temperatures) if settling else temperatures):
            # The notes not hidden stay; the voice leading draws the hidden ones, kept notes around them included.
            tempered = [_tempered(p[i], t) for p in probs]
            chosen = voice_leading_tokens(pitches, tempered, ranges=ranges[1:], temperature=float(t), rng=rng,
                                          keep=~hidden[i], kept=current[i])
            current[i] = _repair(chosen, pitches, tempered, ranges=ranges, temperature=float(t), rng=rng)
    return current


def _parallel_notes(tokens: np.ndarray, soprano_pitches: np.ndarray, *,
                    ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """[V, S] bool: the lower-voice notes (from their start to the step after) moving in parallel fifths or octaves."""
    lower, _ = codec.decode_grid(tokens, ranges=ranges[1:])
    p = np.concatenate([np.asarray(soprano_pitches, np.int64)[None], lower.astype(np.int64)])
    marked = np.zeros(tokens.shape, bool)
    starts = np.maximum.accumulate(np.where(tokens != codec.HOLD, np.arange(tokens.shape[1]), 0), axis=1)
    for u in range(4):
        for v in range(u + 1, 4):
            _, fifths, octaves = parallel_motion(p[u, :-1], p[v, :-1], p[u, 1:], p[v, 1:])
            for t in np.flatnonzero(fifths | octaves):
                for voice in (u, v):
                    if voice:  # the soprano is given
                        marked[voice - 1, starts[voice - 1, t] : t + 2] = True
    return marked


def _repair(tokens: np.ndarray, soprano_pitches: np.ndarray, probs: Sequence[np.ndarray], *,
            ranges: Sequence[tuple[int, int]], temperature: float, rng: np.random.Generator,
            passes: int = 2) -> np.ndarray:
    """Redraw the notes of parallels a round made where a new note ran into a kept one.

    The voice leading looks one step ahead of the note it chooses, but a new note held into a
    kept one can still move with it in parallel; those notes (and the kept one) are drawn again.
    """
    for _ in range(passes):
        marked = _parallel_notes(tokens, soprano_pitches, ranges=ranges)
        if not marked.any():
            break
        tokens = voice_leading_tokens(soprano_pitches, probs, ranges=ranges[1:], temperature=temperature, rng=rng,
                                      keep=~marked, kept=tokens)
    return tokens


def _tempered(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities [S, C] at a softmax temperature (``p ** (1 / T)``, renormalised); unchanged at 0 or 1."""
    if temperature <= 0 or temperature == 1:
        return p
    q = np.power(np.clip(p, 1e-12, None), 1.0 / temperature)
    return (q / q.sum(-1, keepdims=True)).astype(np.float32)


def pseudo_log_likelihood(
    model,
    soprano: np.ndarray,
    lower: np.ndarray,
    z: np.ndarray,
    *,
    window_steps: int = 64,
    hop_steps: int = 16,
    parts: int = 2,
    seed: int = 0,
    phrase: np.ndarray | None = None,
) -> np.ndarray:
    """Mean log probability per lower-voice token of each harmonisation, each token given the others.

    The tokens are split into ``parts`` random interleaved blocks (the same for every harmonisation);
    each block is hidden in turn and scored given the rest: a block pseudo-likelihood, the score
    variations are ranked by.

    Parameters
    ----------
    lower : np.ndarray [K, V, S] tokens
    z : np.ndarray [K, Z]

    Returns
    -------
    np.ndarray [K] float (nats per token; higher is more likely)
    """
    lower = np.asarray(lower, np.int64)
    k, voices, length = lower.shape
    masks = np.array(model.mask_tokens()).reshape(1, voices, 1)
    block = np.random.default_rng(seed).integers(0, parts, (voices, length))
    # Every part of every harmonisation in one batch of the net: [parts * K, V, S], part-major.
    hidden = np.repeat(block[None] == np.arange(parts)[:, None, None], k, axis=0)
    tiled = np.tile(lower, (parts, 1, 1))
    probs = conditional_probabilities(model, soprano, np.where(hidden, masks, tiled), tiled,
                                      np.tile(np.asarray(z, np.float32), (parts, 1)), window_steps=window_steps,
                                      hop_steps=hop_steps, phrase=phrase)
    total = np.zeros(parts * k)
    for v, p in enumerate(probs):
        chosen = np.take_along_axis(p, tiled[:, v, :, None], axis=-1)[..., 0]  # [parts * K, S]
        total += (np.log(np.clip(chosen, 1e-12, None)) * hidden[:, v]).sum(-1)
    return total.reshape(parts, k).sum(0) / (voices * length)
