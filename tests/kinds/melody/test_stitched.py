"""The flat-model baseline of long windows: a 2-bar model run phrase by phrase, measured as the long model is."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from musicvae.config import get_config
from musicvae.errors import InputError
from musicvae.kinds.melody import _phrase_mismatch, flat_baseline_for
from musicvae.kinds.melody.config import for_meter
from musicvae.kinds.melody.evaluate import format_report, stitched_baseline
from musicvae.kinds.melody.metrics import reconstruction_metrics
from musicvae.kinds.melody.stitched import StitchedModel
from musicvae.models.sequence_vae import SequenceVAE

C, T, PHRASES = 90, 32, 4


@pytest.fixture
def flat():
    torch.manual_seed(0)
    return SequenceVAE(num_classes=C, steps=T, steps_per_bar=16, z_dim=8, encoder_sizes=(16,), decoder_sizes=(16,))


@pytest.fixture
def long_windows():
    """Six windows of four 2-bar phrases: a note every 4 steps, pitches drawn per note, some notes held."""
    rng = np.random.default_rng(3)
    events = np.zeros((6, PHRASES * T), dtype=np.int64)
    events[:, ::4] = rng.integers(2 + 60 - 21, 2 + 72 - 21, size=(6, PHRASES * T // 4))
    events[:, 2::8] = 1  # note-offs
    return events


def test_stitched_model_is_the_flat_model_phrase_by_phrase(flat, long_windows):
    stitched = StitchedModel(flat, phrases=PHRASES, phrase_steps=T, z_dim=8)
    x = torch.as_tensor(long_windows)
    phrases = x.reshape(-1, T)
    with torch.inference_mode():
        flat.eval()
        mu, sigma = stitched.encode(x)
        want_mu, want_sigma = flat.encode(phrases)
        assert mu.shape == (6, PHRASES * 8)
        torch.testing.assert_close(mu, want_mu.reshape(6, -1), rtol=0, atol=0)
        torch.testing.assert_close(sigma, want_sigma.reshape(6, -1), rtol=0, atol=0)
        decoded = stitched.decode(mu)
        assert decoded.shape == x.shape
        assert torch.equal(decoded, flat.decode(want_mu).reshape(6, -1))  # phrase k of window i is flat's decode
        assert torch.equal(decoded[2, T:2 * T], flat.decode(want_mu[2 * PHRASES + 1 : 2 * PHRASES + 2])[0])
        logits = stitched.teacher_forced_logits(mu, x)
        assert logits.shape == (6, PHRASES * T, C)
        torch.testing.assert_close(logits, flat.teacher_forced_logits(want_mu, phrases).reshape(6, PHRASES * T, C))
    # The metrics read the same tokens: the stitched accuracy is the flat model's on the phrases.
    long_report = reconstruction_metrics(stitched, long_windows)
    flat_report = reconstruction_metrics(flat, long_windows.reshape(-1, T))
    assert long_report["sampled_accuracy"] == pytest.approx(flat_report["sampled_accuracy"])
    assert long_report["teacher_forced_accuracy"] == pytest.approx(flat_report["teacher_forced_accuracy"])
    assert long_report["steps"] == PHRASES * T and long_report["windows"] == 6


def test_windows_that_are_not_whole_phrases_are_refused(flat, long_windows):
    stitched = StitchedModel(flat, phrases=PHRASES, phrase_steps=T, z_dim=8)
    with pytest.raises(InputError, match="do not split into 4 phrases of 32"):
        stitched.encode(torch.as_tensor(long_windows[:, :-16]))
    with pytest.raises(InputError, match="not whole phrases of tiny's 32 steps"):
        stitched_baseline(flat, test_windows=long_windows[:, :-16], phrase_steps=T, z_dim=8, name="tiny", n_prior=4)


def test_stitched_baseline_report_and_its_table(flat, long_windows):
    base = stitched_baseline(flat, test_windows=long_windows, phrase_steps=T, z_dim=8, name="tiny-2bar", n_prior=6)
    assert base["instrument"] == "tiny-2bar" and base["phrases"] == PHRASES and base["phrase_steps"] == T
    assert base["reconstruction"]["steps"] == PHRASES * T
    assert base["prior_overlap"]["n"] == 6 and 0.0 <= base["prior_overlap"]["overlap"]["mean"] <= 1.0
    again = stitched_baseline(flat, test_windows=long_windows, phrase_steps=T, z_dim=8, name="tiny-2bar", n_prior=6)
    assert again == base  # seeded
    report = {"reconstruction": {"sampled_accuracy": 0.8125, "exact_match": 0.0},
              "prior_overlap": {"overlap": {"mean": 0.5}}, "stitched_baseline": base}
    text = format_report(report)
    assert "Baseline: tiny-2bar stitched phrase by phrase (4 phrases of 32 steps" in text
    section = text.split("Baseline:")[1].splitlines()
    row = next(line for line in section if "token accuracy, argmax decode" in line)
    assert row.split()[-2:] == ["0.812", f"{base['reconstruction']['sampled_accuracy']:.3f}"]


def test_the_default_baseline_is_a_shipped_flat_instrument_of_the_same_meter():
    long = get_config("16bar-hier-small")
    assert flat_baseline_for(long) == "melody-2bar"
    waltz = replace(long, model=replace(long.model, representation=for_meter("3/4", bars=16)))
    assert flat_baseline_for(waltz) == "melody-2bar-waltz"
    odd = replace(long, model=replace(long.model, representation=for_meter("5/4", bars=16)))
    assert flat_baseline_for(odd) is None  # no shipped 5/4 instrument
    assert flat_baseline_for(get_config("2bar-small")) is None  # a flat model has no baseline


def test_why_a_flat_model_cannot_be_the_baseline():
    long = for_meter("4/4", bars=16)
    assert _phrase_mismatch(long, for_meter("4/4", bars=2)) is None
    assert "3/4" in _phrase_mismatch(long, for_meter("3/4", bars=2))
    assert "do not tile" in _phrase_mismatch(long, for_meter("4/4", bars=3))
    assert "do not tile" in _phrase_mismatch(long, for_meter("4/4", bars=16))
    assert "pitch range" in _phrase_mismatch(long, replace(for_meter("4/4", bars=2), min_pitch=48))
