"""Lower voices window by window: averaging overlapping windows, voice-leading decoding, the key ensemble."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from musicvae.builders import build_model
from musicvae.config import get_config
from musicvae.midi import chorale as codec
from musicvae.voicing import (
    TWIN_SCALE,
    NearestNeighbour,
    average_probabilities,
    mixed_predictor,
    model_predictor,
    parallel_motion,
    voice_leading_tokens,
)


def test_overlapping_windows_are_averaged():
    soprano = np.full(96, codec.FIRST_PITCH + 5)  # 6 bars: windows at bars 0, 1, 2

    def predictor(windows):
        n, t = windows.shape
        out = np.zeros((n, t, 3))
        out[np.arange(n), :, np.arange(n)] = 1.0  # window k votes for token k everywhere
        return [out]

    (probs,) = average_probabilities(soprano, predictor)
    assert np.allclose(probs[0], [1, 0, 0]) and np.allclose(probs[40], [1 / 3, 1 / 3, 1 / 3])
    assert np.allclose(probs[95], [0, 0, 1])


def test_parallel_motion_finds_fifths_and_octaves_moving_together():
    # (upper before, lower before, upper after, lower after) -> (a move, parallel fifth, parallel octave)
    cases = {
        (67, 60, 69, 62): (True, True, False),  # fifths up
        (67, 60, 81, 62): (True, True, False),  # fifth to twelfth
        (67, 60, 69, 50): (True, True, False),  # antiparallel fifths
        (72, 60, 74, 62): (True, False, True),  # octaves
        (60, 60, 62, 62): (True, False, True),  # unisons
        (67, 60, 71, 62): (True, False, False),  # fifth to sixth
        (67, 60, 67, 62): (False, False, False),  # the upper voice holds: oblique, no move
        (67, -1, 69, 62): (False, False, False),  # a rest before
        (67, 60, 69, -1): (False, False, False),  # a rest after
    }
    a0, b0, a, b = np.array(list(cases)).T
    moves, fifths, octaves = parallel_motion(a0, b0, a, b)
    assert np.array_equal(np.stack([moves, fifths, octaves], 1), np.array(list(cases.values())))
    # Plain integers give the same answer as the arrays (the compiled voice leading calls it so).
    for (w, x, y, z), expected in cases.items():
        assert tuple(bool(r) for r in parallel_motion(w, x, y, z)) == expected


def test_voice_leading_decoding_avoids_parallel_fifths():
    # Soprano and one lower voice both step up; the model's favourite keeps a fifth below (parallel fifths).
    ranges = ((48, 69),)
    soprano = np.array([67, 69])
    tok = lambda p: codec.FIRST_PITCH + p - 48  # noqa: E731
    probs = np.full((2, codec.num_classes(ranges[0])), 1e-6)
    probs[0, tok(60)] = 1.0
    probs[1, tok(62)], probs[1, tok(65)] = 0.6, 0.4  # 62 makes a parallel fifth with 69; 65 does not
    tokens = voice_leading_tokens(soprano, [probs], ranges=ranges, onset_weight=1.0)
    assert tokens[0].tolist() == [tok(60), tok(65)]
    plain = voice_leading_tokens(soprano, [probs], ranges=ranges, parallel_penalty=0.0, onset_weight=1.0)
    assert plain[0].tolist() == [tok(60), tok(62)]


def test_kept_notes_stay_and_a_choice_does_not_run_into_them_in_parallel():
    # The bass at step 1 is kept (62 under the soprano's 69); at step 0 the model prefers 60, a fifth under
    # the soprano's 67, which would move into the kept note in parallel fifths; 57 does not.
    ranges = ((36, 64),)
    tok = lambda p: codec.FIRST_PITCH + p - 36  # noqa: E731
    probs = np.full((2, codec.num_classes(ranges[0])), 1e-6)
    probs[0, tok(60)], probs[0, tok(57)] = 0.6, 0.4
    keep, kept = np.array([[False, True]]), np.array([[codec.HOLD, tok(62)]])
    tokens = voice_leading_tokens(np.array([67, 69]), [probs], ranges=ranges, onset_weight=1.0, keep=keep, kept=kept)
    assert tokens[0].tolist() == [tok(57), tok(62)]


def test_drawn_choices_follow_the_probabilities_one_uniform_per_drawn_step():
    ranges = ((48, 69),)
    tok = lambda p: codec.FIRST_PITCH + p - 48  # noqa: E731
    steps = 4000
    soprano = np.full(steps, 79)  # one held soprano note: no pair moves in parallel, nothing crosses
    probs = np.full((steps, codec.num_classes(ranges[0])), 1e-9)
    probs[:, tok(60)], probs[:, tok(62)] = 0.7, 0.3
    keep = np.zeros((1, steps), bool)
    keep[0, ::4] = True
    kept = np.full((1, steps), tok(62))
    rng = np.random.default_rng(5)
    tokens = voice_leading_tokens(soprano, [probs], ranges=ranges, onset_weight=1.0, temperature=1.0, rng=rng,
                                  keep=keep, kept=kept)[0]
    assert (tokens[::4] == tok(62)).all()
    drawn = tokens[~keep[0]]
    assert set(drawn.tolist()) <= {tok(60), tok(62)} and abs(np.mean(drawn == tok(60)) - 0.7) < 0.03
    # The draws took one uniform each from the generator (the Gibbs rounds' seeds rely on it), and repeat.
    reference = np.random.default_rng(5)
    reference.random(int((~keep).sum()))
    assert rng.random() == reference.random()
    again = voice_leading_tokens(soprano, [probs], ranges=ranges, onset_weight=1.0, temperature=1.0,
                                 rng=np.random.default_rng(5), keep=keep, kept=kept)[0]
    assert np.array_equal(tokens, again)


def test_transposition_ensemble_moves_probabilities_back_to_the_melody_key():
    config = get_config("minibach-small")
    config = replace(config, model=replace(config.model, hidden_size=16, z_dim=4))
    torch.manual_seed(0)
    model = build_model(config).eval()
    windows = np.full((2, 64), codec.FIRST_PITCH + 10)
    plain = model_predictor(model)(windows)
    ensemble = model_predictor(model, transpositions=2)(windows)
    for p, q in zip(plain, ensemble):
        assert q.shape == p.shape and (q.sum(-1) <= 1.0 + 1e-5).all() and (q.sum(-1) > 0.5).all()
    # With a model that echoes the soprano key in every voice, the ensemble agrees with the plain prediction.
    class Echo:
        soprano_classes = model.soprano_classes

        def probabilities(self, soprano, **kwargs):
            pitch = soprano.clamp(min=codec.FIRST_PITCH) - codec.FIRST_PITCH
            return [torch.nn.functional.one_hot(pitch + codec.FIRST_PITCH, 24).float()]

    echo = model_predictor(Echo(), transpositions=2)(windows)[0]
    assert (echo.argmax(-1) == codec.FIRST_PITCH + 10).all() and np.allclose(echo.max(-1), 1.0)


def test_nearest_neighbour_finds_the_first_window_differing_at_the_fewest_steps():
    rng = np.random.default_rng(3)
    ranges = codec.VOICE_RANGES
    for steps in (64, 13):  # a whole number of 8-step words, and not
        train = np.stack([rng.integers(0, 8, (400, steps)) + (v == 0) * codec.FIRST_PITCH for v in range(4)], 1)
        train[:, 0, ::5] = codec.HOLD
        train[7] = train[3]  # a tie: the first of the two is the nearest
        memory = NearestNeighbour(train.astype(np.uint8), ranges=ranges)
        queries = np.concatenate([train[[3, 10, 399], 0], rng.integers(0, 8, (20, steps)) + codec.FIRST_PITCH])
        queries[5:, ::3] = codec.REST
        pitches, _ = codec.decode_voice(queries, low=ranges[0][0])
        expected = [np.count_nonzero(memory.soprano != q.astype(np.int8), axis=1).argmin() for q in pitches]
        found = memory.nearest(queries)
        assert found.tolist() == expected and found[0] == 3


def _memory_of(sopranos: np.ndarray, altos: np.ndarray) -> NearestNeighbour:
    """A memory of windows [N, 4, T]: the given soprano and alto tokens, tenor and bass holding one pitch."""
    n, steps = sopranos.shape
    train = np.zeros((n, 4, steps), np.uint8)
    train[:, 0], train[:, 1] = sopranos, altos
    train[:, 2:] = codec.FIRST_PITCH
    return NearestNeighbour(train, ranges=codec.VOICE_RANGES)


def test_the_vote_shares_each_step_among_the_windows_near_the_nearest():
    steps, pitch = 16, codec.FIRST_PITCH
    soprano = np.full(steps, pitch + 5)
    far = soprano.copy()
    far[:9] = pitch + 1  # 9 steps away from the query: outside any slack below 9
    near = soprano.copy()
    near[:2] = pitch + 2  # 2 steps away
    memory = _memory_of(np.stack([soprano, soprano, near, far]),
                        np.stack([np.full(steps, pitch + 3), np.full(steps, pitch + 4), np.full(steps, pitch + 6),
                                  np.full(steps, pitch + 7)]))
    probs, distance = memory.vote(soprano[None], slack=4, scale=2.0)
    assert distance.tolist() == [0] and [p.shape for p in probs] == [
        (1, steps, codec.num_classes(r)) for r in codec.VOICE_RANGES[1:]]
    alto = probs[0][0]
    np.testing.assert_allclose(alto.sum(-1), 1.0, rtol=1e-6)
    # The two twins vote 1 each, the window 2 steps further exp(-2 / 2), the one 9 steps further not at all.
    total = 2 + np.exp(-1.0)
    np.testing.assert_allclose(alto[:, pitch + 3], 1 / total, rtol=1e-6)
    np.testing.assert_allclose(alto[:, pitch + 4], 1 / total, rtol=1e-6)
    np.testing.assert_allclose(alto[:, pitch + 6], np.exp(-1.0) / total, rtol=1e-6)
    assert (alto[:, pitch + 7] == 0).all()
    # With no slack only the twins vote; the distances are those of the nearest window.
    probs, _ = memory.vote(soprano[None], slack=0)
    np.testing.assert_allclose(probs[0][0][:, [pitch + 3, pitch + 4]], 0.5)
    query = far.copy()
    query[9:11] = pitch + 1  # 2 steps from ``far``, 11 from the twins
    probs, distance = memory.vote(query[None], slack=0)
    assert distance.tolist() == [2] and (probs[0][0][:, pitch + 7] == 1).all()


def test_mixing_trusts_the_memory_more_where_its_soprano_is_a_twin_and_scales_hold():
    steps, pitch = 8, codec.FIRST_PITCH
    soprano = np.full(steps, pitch + 5)
    memory = _memory_of(soprano[None], np.full((1, steps), pitch + 3))
    classes = [codec.num_classes(r) for r in codec.VOICE_RANGES[1:]]

    def uniform(windows, *, phrase=None):
        return [np.full((len(windows), steps, c), 1.0 / c, np.float32) for c in classes]

    stranger = soprano.copy()
    stranger[:4] = pitch + 1  # the memory's only window is 4 steps away
    mixed = mixed_predictor(uniform, memory, weight=0.1, twin_weight=0.5)(np.stack([soprano, stranger]))
    alto = mixed[0][:, :, pitch + 3]
    share = 1.0 / classes[0]
    np.testing.assert_allclose(alto[0], 0.5 + 0.5 * share, rtol=1e-6)  # a twin: the twin's weight
    w = 0.1 + 0.4 * np.exp(-4 / TWIN_SCALE)
    np.testing.assert_allclose(alto[1], w + (1 - w) * share, rtol=1e-6)
    # Hold at half its probability, every step renormalised; a constant weight without twin_weight.
    held = mixed_predictor(uniform, memory, weight=0.1, hold_scale=0.5)(soprano[None])
    for p in held:
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    hold = 0.9 / classes[0] * 0.5
    np.testing.assert_allclose(held[0][0, :, codec.HOLD], hold / (1 - 0.9 / classes[0] + hold), rtol=1e-5)


def test_row_distances_count_the_differing_steps_of_every_pair():
    from musicvae._voicing_jit import row_distances

    rng = np.random.default_rng(0)
    table, queries = rng.integers(-1, 3, (50, 24)).astype(np.int8), rng.integers(-1, 3, (5, 24)).astype(np.int8)
    expected = (table[None] != queries[:, None]).sum(-1)
    found = row_distances(NearestNeighbour._packed(table), NearestNeighbour._packed(queries))
    assert found.shape == (5, 50) and (found == expected).all()
