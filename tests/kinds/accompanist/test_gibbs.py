"""Block Gibbs sampling with a chorale net: the schedule, what is kept, determinism, and the likelihood score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicvae.kinds.accompanist.config import ChoraleRepresentation
from musicvae.kinds.accompanist.gibbs import (
    conditional_probabilities,
    gibbs_harmonize,
    hidden_share,
    pseudo_log_likelihood,
)
from musicvae.midi import chorale as codec
from musicvae.models.chorale_net import ChoraleNet

REP = ChoraleRepresentation()


@pytest.fixture(scope="module")
def net() -> ChoraleNet:
    torch.manual_seed(0)
    classes = REP.num_classes
    return ChoraleNet(soprano_classes=classes[0], voice_classes=classes[1:], steps=REP.steps, channels=16, layers=3,
                      embed_size=8, z_dim=4, dropout=0.0).eval()


def _soprano(bars: int = 6) -> np.ndarray:
    # A C-major line of quarter notes in the soprano range, 6 bars: windows overlap.
    line = np.array([72, 74, 76, 77, 79, 77, 76, 74] * (bars // 2))
    pitches = np.repeat(line, 4)
    onsets = np.zeros(len(pitches), bool)
    onsets[::4] = True
    return codec.encode_voice(pitches, onsets, low=REP.ranges[0][0], high=REP.ranges[0][1])


def _initial(k: int, length: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([np.stack([rng.integers(0, c, length) for c in REP.num_classes[1:]]) for _ in range(k)])


def test_hidden_share_anneals_from_0_9_to_0_1():
    shares = [hidden_share(r, 8) for r in range(8)]
    assert shares[0] == pytest.approx(0.9) and shares[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(shares, shares[1:]))


def test_zero_steps_returns_the_start_and_rounds_stay_in_the_vocabulary(net):
    soprano = _soprano()
    start = _initial(2, len(soprano))
    z = np.zeros((2, 4), np.float32)
    kept = gibbs_harmonize(net, soprano, start, z, ranges=REP.ranges, steps=0, temperature=1.0,
                           rng=np.random.default_rng(0))
    np.testing.assert_array_equal(kept, start)
    out = gibbs_harmonize(net, soprano, start, z, ranges=REP.ranges, steps=3, temperature=1.0,
                          rng=np.random.default_rng(0))
    assert out.shape == start.shape and not np.array_equal(out, start)
    for v, c in enumerate(REP.num_classes[1:]):
        assert out[:, v].min() >= 0 and out[:, v].max() < c


def test_seeded_rounds_repeat_and_other_seeds_differ(net):
    soprano = _soprano()
    start = _initial(1, len(soprano))
    z = np.zeros((1, 4), np.float32)

    def run(seed, temperature):
        return gibbs_harmonize(net, soprano, start, z, ranges=REP.ranges, steps=3, temperature=temperature,
                               rng=np.random.default_rng(seed))

    np.testing.assert_array_equal(run(0, 1.0), run(0, 1.0))
    assert not np.array_equal(run(0, 1.0), run(1, 1.0))


def test_conditional_probabilities_average_the_windows(net):
    soprano = _soprano()
    known = np.broadcast_to(np.array(net.mask_tokens()).reshape(1, 3, 1), (1, 3, len(soprano))).copy()
    probs = conditional_probabilities(net, soprano, known, _initial(1, len(soprano)), np.zeros((1, 4), np.float32),
                                      window_steps=REP.steps, hop_steps=16)
    assert [p.shape for p in probs] == [(1, len(soprano), c) for c in REP.num_classes[1:]]
    for p in probs:
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    # With nothing known, the first window's steps that no other window covers are that window's own output.
    with torch.inference_mode():
        first = net.probabilities(torch.as_tensor(soprano[None, : REP.steps]), temperature=1.0)
    np.testing.assert_allclose(probs[0][0, :16], first[0][0, :16].numpy(), rtol=1e-5, atol=1e-6)


def test_pseudo_likelihood_with_one_part_is_the_bare_soprano_likelihood(net):
    soprano = _soprano(bars=4)  # exactly one window
    lower = _initial(2, len(soprano))
    z = np.zeros((2, 4), np.float32)
    score = pseudo_log_likelihood(net, soprano, lower, z, parts=1)
    with torch.inference_mode():
        probs = net.probabilities(torch.as_tensor(np.stack([soprano, soprano])), temperature=1.0)
    expected = sum(np.log(np.take_along_axis(p.numpy(), lower[:, v, :, None], -1)[..., 0]).sum(-1)
                   for v, p in enumerate(probs)) / (3 * len(soprano))
    np.testing.assert_allclose(score, expected, rtol=1e-4)
    # The model's own argmax is more likely than random tokens.
    best = np.stack([p.numpy().argmax(-1) for p in probs], axis=1)
    assert (pseudo_log_likelihood(net, soprano, best, z, parts=1) > score).all()
