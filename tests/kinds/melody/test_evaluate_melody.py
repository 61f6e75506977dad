"""Evaluation metrics: exact values on stand-in models, sanity on a tiny real SequenceVAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musicvae.errors import InputError
from musicvae.kinds.melody.evaluate import evaluate_melody, format_report
from musicvae.kinds.melody.features import feature_overlap, melody_features, window_notes
from musicvae.kinds.melody.metrics import (
    active_units,
    interpolation_smoothness,
    kl_per_dimension,
    latent_map,
    latent_metrics,
    prior_sample_overlap,
    reconstruction_metrics,
)

C = 90  # MusicVAE melody classes
T = 32  # a 2-bar window


def melody(pitches, lengths, *, steps=T) -> np.ndarray:
    """Events of consecutive notes (MIDI pitches, lengths in steps), each ended by the next onset."""
    events = np.zeros(steps, dtype=np.uint8)
    t = 0
    for pitch, length in zip(pitches, lengths):
        if t >= steps:
            break
        events[t] = pitch - 21 + 2
        t += length
    if t < steps:
        events[t] = 1  # note off
    return events


def random_melodies(rng, n, *, low, high, lengths) -> np.ndarray:
    out = []
    for _ in range(n):
        notes = rng.choice(lengths, size=T)
        out.append(melody(rng.integers(low, high + 1, size=T), notes))
    return np.stack(out)


# ---------------------------------------------------------------------------
# Stand-in models with the SequenceVAE interface
# ---------------------------------------------------------------------------


class PerfectModel:
    """Encodes a window as its own tokens; decodes them back exactly."""

    def encode(self, events):
        return events.float(), torch.ones(events.shape)

    def decode(self, z, *, temperature=0.0, generator=None):
        return z.round().long()

    def teacher_forced_logits(self, z, events):
        return F.one_hot(events, C).float() * 30.0


class HoldModel:
    """Always predicts "no event"."""

    def encode(self, events):
        return torch.zeros(len(events), 4), torch.ones(len(events), 4)

    def decode(self, z, *, temperature=0.0, generator=None):
        return torch.zeros(len(z), T, dtype=torch.long)

    def teacher_forced_logits(self, z, events):
        logits = torch.zeros(*events.shape, C)
        logits[..., 0] = 5.0
        return logits


class ThresholdModel:
    """z in R^T; token t is a note where (W z)_t > 0, else "no event" (W orthogonal).

    Along a slerp or lerp path each coordinate of W z is a positive mix of its
    values at the ends, so it changes sign at most once: decodes move away
    from A monotonically.
    """

    PITCH_CLASS = 2 + 60 - 21

    def __init__(self, seed=0):
        q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(T, T)))
        self.w = torch.as_tensor(q, dtype=torch.float32)

    def encode(self, events):
        signs = (events != 0).float() * 2 - 1
        return signs @ self.w, torch.full(events.shape, 0.5)  # W^T s, so that W z = s

    def decode(self, z, *, temperature=0.0, generator=None):
        return torch.where(z @ self.w.T > 0, self.PITCH_CLASS, 0).long()

    def teacher_forced_logits(self, z, events):
        return F.one_hot(self.decode(z), C).float() * 10.0


def binary_windows(rng, n) -> np.ndarray:
    return np.where(rng.random((n, T)) < 0.3, ThresholdModel.PITCH_CLASS, 0).astype(np.uint8)


@pytest.fixture
def folk_like():
    rng = np.random.default_rng(1)
    return random_melodies(rng, 60, low=60, high=74, lengths=[2, 4, 4, 8])


# ---------------------------------------------------------------------------
# Reconstruction
# ---------------------------------------------------------------------------


def test_perfect_model_reconstructs_everything(folk_like):
    m = reconstruction_metrics(PerfectModel(), folk_like, batch_size=16)
    for key in ("teacher_forced_accuracy", "sampled_accuracy", "teacher_forced_accuracy_non_hold",
                "sampled_accuracy_non_hold", "exact_match"):
        assert m[key] == 1.0, key
    assert m["mean_true_probability"] > 0.999
    assert 0.0 <= m["nll_per_window"] < 1e-3
    assert m["windows"] == len(folk_like) and m["steps"] == T
    assert m["hold_baseline"] == pytest.approx((folk_like == 0).mean())


def test_always_hold_model_scores_the_hold_baseline(folk_like):
    m = reconstruction_metrics(HoldModel(), folk_like, batch_size=7)
    share = (folk_like == 0).mean()
    assert m["teacher_forced_accuracy"] == pytest.approx(share)
    assert m["sampled_accuracy"] == pytest.approx(share)
    assert m["hold_baseline"] == pytest.approx(share)
    assert m["teacher_forced_accuracy_non_hold"] == 0.0
    assert m["exact_match"] == 0.0
    for key, value in m.items():
        if key not in ("windows", "steps", "nll_per_window"):
            assert 0.0 <= value <= 1.0, key


def test_bad_windows_are_input_errors():
    with pytest.raises(InputError):
        reconstruction_metrics(PerfectModel(), np.zeros((0, T), dtype=np.uint8))
    with pytest.raises(InputError):
        reconstruction_metrics(PerfectModel(), np.zeros(T, dtype=np.uint8))


# ---------------------------------------------------------------------------
# Latent statistics
# ---------------------------------------------------------------------------


def test_kl_per_dimension_matches_hand_computation():
    mu = np.array([[0.0, 1.0], [0.0, -1.0]])
    sigma = np.array([[1.0, 0.5], [1.0, 2.0]])
    # dim 0: mu 0, sigma 1 -> 0 exactly; dim 1: mean of the two windows' KLs
    kl_a = 0.5 * (0.25 + 1.0 - np.log(0.25) - 1.0)
    kl_b = 0.5 * (4.0 + 1.0 - np.log(4.0) - 1.0)
    np.testing.assert_allclose(kl_per_dimension(mu, sigma), [0.0, (kl_a + kl_b) / 2])


def test_active_units_counts_dimensions_whose_mean_varies():
    rng = np.random.default_rng(0)
    mu = np.concatenate([rng.normal(0, 1.0, (500, 3)), rng.normal(0, 0.01, (500, 2)), np.full((500, 1), 3.0)], axis=1)
    assert active_units(mu) == 3
    assert active_units(mu, threshold=2.0) == 0


class FixedLatentModel(PerfectModel):
    def encode(self, events):
        x = events.float()
        mu = torch.stack([x[:, 0] / 10, torch.zeros(len(x)), x[:, 1]], dim=1)
        return mu, torch.full_like(mu, 0.5)


def test_latent_metrics_report(folk_like):
    m = latent_metrics(FixedLatentModel(), folk_like)
    mu = np.stack([folk_like[:, 0] / 10, np.zeros(len(folk_like)), folk_like[:, 1]], axis=1)
    expected = kl_per_dimension(mu, np.full_like(mu, 0.5))
    np.testing.assert_allclose(m["kl_per_dim"], expected, rtol=1e-6)
    assert m["kl_total"] == pytest.approx(expected.sum(), rel=1e-6)
    assert m["z_dim"] == 3
    assert m["active_units"] == active_units(mu)
    assert m["mean_sigma"] == pytest.approx(0.5)
    json.dumps(m)


def test_latent_map_is_pca_of_the_means():
    rng = np.random.default_rng(0)
    windows = binary_windows(rng, 40)
    points = latent_map(ThresholdModel(), windows)
    assert points.shape == (40, 2)
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-9)
    assert points[:, 0].var() >= points[:, 1].var() > 0
    np.testing.assert_allclose(points, latent_map(ThresholdModel(), windows))
    with pytest.raises(InputError):
        latent_map(ThresholdModel(), windows, labels=[0, 1])


# ---------------------------------------------------------------------------
# Yang & Lerch features
# ---------------------------------------------------------------------------


def test_window_notes_follow_the_codec():
    events = np.zeros(T, dtype=np.uint8)
    events[[0, 4, 6, 20]] = [2 + 60 - 21, 2 + 64 - 21, 1, 2 + 67 - 21]
    pitches, starts, ends = window_notes(events)
    assert pitches.tolist() == [60, 64, 67]
    assert starts.tolist() == [0, 4, 20]
    assert ends.tolist() == [4, 6, T]


def test_melody_features_of_one_window():
    events = melody([60, 64, 62, 72], [4, 4, 8, 4])
    f = melody_features(events[None])
    assert f["note_count"] == [4.0]
    assert f["pitch_count"] == [4.0]
    assert f["pitch_range"] == [12.0]
    assert f["mean_interval"] == [pytest.approx((4 + 2 + 10) / 3)]
    assert f["mean_ioi"] == [pytest.approx((4 + 4 + 8) / 3)]
    assert f["mean_note_length"] == [pytest.approx(5.0)]
    pch = np.array(f["pitch_class_histogram"][0])
    assert pch[0] == pytest.approx(0.5) and pch[4] == pch[2] == pytest.approx(0.25)
    assert sum(f["interval_histogram"][0]) == pytest.approx(1.0)
    assert len(f["note_length_histogram"][0]) == 10
    silent = melody_features(np.zeros((1, T), dtype=np.uint8))
    assert silent["note_count"] == [0.0] and silent["mean_ioi"] == [None]
    json.dumps(f)


def test_feature_overlap_of_a_set_with_itself_is_one(folk_like):
    overlap = feature_overlap(folk_like, folk_like, seed=0)
    assert set(overlap) >= {"note_count", "pitch_range", "pitch_class_histogram", "mean"}
    for name, value in overlap.items():
        assert value >= 0.95, name


def test_feature_overlap_separates_different_music(folk_like):
    rng = np.random.default_rng(2)
    low_monotone = random_melodies(rng, 60, low=40, high=42, lengths=[8, 16])
    high_busy = random_melodies(rng, 60, low=80, high=100, lengths=[1, 1, 2])
    apart = feature_overlap(high_busy, low_monotone, seed=0)
    assert apart["mean"] < 0.4
    assert apart["note_count"] < 0.1
    near = feature_overlap(folk_like[:30], folk_like[30:], seed=0)
    assert near["mean"] > apart["mean"] + 0.4
    assert all(0.0 <= v <= 1.0 for v in apart.values())


def test_feature_overlap_survives_degenerate_sets():
    silent = np.zeros((5, T), dtype=np.uint8)
    one_tune = np.repeat(melody([60, 62], [16, 16])[None], 5, axis=0)
    other_tune = np.repeat(melody([70, 75, 80, 85], [8, 8, 8, 8])[None], 5, axis=0)
    same = feature_overlap(silent, silent)
    assert all(v == pytest.approx(1.0) for v in same.values())
    assert feature_overlap(one_tune, one_tune)["mean"] == pytest.approx(1.0)
    apart = feature_overlap(one_tune, other_tune)
    assert apart["note_count"] == 0.0 and apart["mean"] < 0.5
    mixed = feature_overlap(silent, one_tune)  # undefined in one set only
    assert mixed["mean_ioi"] == 0.0
    json.dumps(mixed)


# ---------------------------------------------------------------------------
# Interpolation and prior samples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_threshold_model_interpolates_monotonically(method):
    windows = binary_windows(np.random.default_rng(3), 30)
    m = interpolation_smoothness(ThresholdModel(), windows, pairs=10, steps=9, seed=0, method=method)
    assert m["pairs"] == 10 and m["steps"] == 9 and m["method"] == method
    assert m["monotone_share"] == 1.0
    assert m["spearman_mean"] > 0.8
    assert m["endpoint_distance_a"] == 0.0 and m["endpoint_distance_b"] == 0.0
    assert len(m["distance_curve"]) == 9
    assert m["distance_curve"][0] == 0.0
    assert m["distance_curve"][-1] == pytest.approx(m["data_distance"])
    assert 0.0 < m["mean_max_jump"] <= 1.0
    json.dumps(m)


def test_interpolation_needs_two_different_windows():
    same = np.repeat(binary_windows(np.random.default_rng(0), 1), 4, axis=0)
    with pytest.raises(InputError):
        interpolation_smoothness(ThresholdModel(), same)
    assert interpolation_smoothness(ThresholdModel(), np.concatenate([same, same[:1] * 0]))["pairs"] == 1


def test_prior_samples_of_the_threshold_model():
    windows = binary_windows(np.random.default_rng(4), 40)
    m = prior_sample_overlap(ThresholdModel(), windows, n=40, seed=0)
    assert m["n"] == 40 and m["temperature"] == 0.5
    assert 0.0 <= m["overlap"]["mean"] <= 1.0
    assert m["generated"]["silent_share"] == 0.0  # a random z sets about half the steps
    assert m["generated"]["note_count"] > m["reference"]["note_count"]  # ... but the data sets 30%
    json.dumps(m)


# ---------------------------------------------------------------------------
# The whole report, on a tiny real model
# ---------------------------------------------------------------------------


def test_evaluate_melody_on_a_tiny_sequence_vae(folk_like):
    from musicvae.models.sequence_vae import SequenceVAE

    torch.manual_seed(0)
    model = SequenceVAE(num_classes=C, steps=T, steps_per_bar=16, z_dim=8, encoder_sizes=(16,), decoder_sizes=(16,))
    model.train()
    test, train = folk_like[:16], folk_like[16:40]
    report = evaluate_melody(model, test_windows=test, train_windows=train, n_prior=8, interpolation_pairs=3, seed=0,
                             progress=False)
    assert model.training  # put back as it was
    assert set(report) == {"meta", "reconstruction", "reconstruction_train", "latent", "prior_overlap",
                           "interpolation"}
    assert report["meta"]["z_dim"] == 8 and report["meta"]["test_windows"] == 16
    assert 0.0 <= report["reconstruction"]["sampled_accuracy"] <= 1.0
    assert report["latent"]["z_dim"] == 8 and len(report["latent"]["kl_per_dim"]) == 8
    assert "data_baseline" in report["prior_overlap"]
    assert report["interpolation"]["pairs"] == 3
    again = evaluate_melody(model, test_windows=test, train_windows=train, n_prior=8, interpolation_pairs=3, seed=0,
                            progress=False)
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)  # seeded, plain JSON

    text = format_report({"instrument": "tiny", "data": "folk", "split": "test", **report})
    for needle in ("tiny", "Reconstruction", "always", "Latent", "active units", "Prior samples", "data ceiling",
                   "Interpolation", "pitch-class histogram"):
        assert needle in text, needle
    assert format_report({}) == "Melody evaluation\n"
