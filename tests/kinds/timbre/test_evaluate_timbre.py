"""Timbre metrics: features, classifier, pitch check, coherence, and a whole (tiny) evaluation with baselines."""

import json

import numpy as np
import pytest
from timbre_fixtures import make_tiny_instrument

from musicvae.cli import main
from musicvae.instrument import Instrument
from musicvae.kinds.timbre.evaluate import (
    MORPHS,
    FamilyClassifier,
    evaluate_instrument,
    format_timbre_metrics,
    midpoint_coherence,
    note_features,
    pitch_errors_cents,
)

RATE = 16_000


def tone(pitch: float, *, decay: float, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    rng = np.random.default_rng(seed)
    harmonics = sum(rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * f0 * k * t) / k**2 for k in range(1, 6))
    return (0.4 * harmonics * np.exp(-decay * t)).astype(np.float32)


def test_features_and_classifier_tell_sustained_from_plucked():
    held = np.stack([tone(p, decay=0.2, seed=p) for p in range(55, 70)])
    plucked = np.stack([tone(p, decay=9.0, seed=p) for p in range(55, 70)])
    assert note_features(held[:2], sample_rate=RATE).shape == (2, 48)
    classifier = FamilyClassifier(np.concatenate([held, plucked]), np.repeat([0, 1], 15), sample_rate=RATE)
    assert (classifier.score(np.stack([tone(62.5, decay=0.2)])) < 0).all()
    assert (classifier.probability(np.stack([tone(62.5, decay=9.0)])) > 0.5).all()


def test_pitch_errors_in_cents():
    notes = np.stack([tone(60, decay=0.5), tone(61, decay=0.5)])
    cents = pitch_errors_cents(notes, np.array([60, 60]), sample_rate=RATE)
    assert abs(cents[0]) < 25 and 75 < cents[1] < 125


def test_a_crossfade_midpoint_is_a_layering():
    a, b = tone(60, decay=0.2), tone(60, decay=9.0, seed=3)
    grid = np.stack([np.stack([(1 - m) * a + m * b for m in MORPHS])])
    coherence = midpoint_coherence(grid, sample_rate=RATE)
    assert coherence["layering_fit"] > 0.9 and coherence["onsets"] >= 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("timbre-eval")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSICVAE_CACHE", str(root / "cache"))
        yield Instrument.load(make_tiny_instrument(root))


def test_whole_evaluation_runs_baselines_and_the_command(tiny, tmp_path, capsys):
    report = evaluate_instrument(tiny, n_prior=4, progress=False)
    # The untrained-ish model's numbers are whatever they are; the baselines are real renders.
    audio = report["blend"]["audio"]
    assert audio["pitch_accuracy"] == 1.0 and audio["endpoint_accuracy"] == 1.0
    assert report["unseen"]["instruments"] == ["TimGM6mb:25"] and report["unseen"]["notes"] == 6
    assert set(report["targets"]) - {"held_key_up_hops"} == {"pitch_accuracy", "endpoint_accuracy", "spearman_rho",
                                                            "unseen_lsd_db"}
    # Held notes are judged when some family's notes sustain into a loop.
    assert ("held_key_up_hops" in report["targets"]) == (report["held"]["notes"] > 0)
    assert 0.0 <= report["prior"]["confident_share"] <= 1.0
    # Two families are one pair, at every pitch: the summary is that pair's own metrics.
    (pair,) = report["pairs"].values()
    assert (pair["from"], pair["to"]) == ("flute", "guitar") and pair["pitches"] == [60, 61, 62]
    for kind in ("vae", "audio", "spectrogram"):
        assert report["blend"][kind].items() >= pair["blend"][kind].items()
        assert report["midpoint"][kind] == pair["midpoint"][kind]
    assert np.asarray(report["decoded_means"]["matrix"]).sum(axis=1).tolist() == [3, 3]
    text = format_timbre_metrics(report)
    assert "audio xfade" in text and "unseen instruments" in text and "P(guitar) at morph" in text
    assert "per pair" not in text  # the one pair is the summary
    json.dumps(report)  # JSON-ready
    card = tiny.path / "card.md"
    card.write_text("# tiny\n")
    plot = tmp_path / "eval.png"
    assert main(["evaluate", str(tiny.path), "--n-prior", "2", "--card", "--json", "--quiet", "--plot", str(plot)]) == 0
    assert "blend" in json.loads(capsys.readouterr().out)  # the "wrote" line goes to stderr beside JSON
    assert plot.stat().st_size > 5000
    assert "spearman_rho" in card.read_text()
