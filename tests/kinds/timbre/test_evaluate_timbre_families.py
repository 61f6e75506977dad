"""The timbre evaluation of more than two families: a multi-class classifier, every pair blended, the decoded
family means' confusion matrix and the latent map, on a tiny four-family instrument really trained."""

import json
from itertools import combinations

import numpy as np
import pytest
from PIL import Image
from timbre_fixtures import RECIPE_4, make_tiny_instrument

from musicvae.instrument import Instrument
from musicvae.kinds.timbre.data import load_timbre_notes
from musicvae.kinds.timbre.evaluate import (
    MANY_FAMILIES_LSD_DB,
    MORPHS,
    FamilyClassifier,
    _reference_notes,
    evaluate_instrument,
    format_timbre_metrics,
)
from musicvae.kinds.timbre.figures import evaluation_figure

RATE = 16_000


def tone(pitch: float, *, decay: float, brightness: float, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    rng = np.random.default_rng(seed)
    harmonics = sum(rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * f0 * k * t) / k**brightness for k in range(1, 8))
    return (0.3 * harmonics * np.exp(-decay * t)).astype(np.float32)


def test_a_three_family_classifier_is_multinomial_and_the_two_family_one_binary():
    kinds = [(0.2, 3.0), (9.0, 3.0), (0.2, 0.5)]  # held and dull, plucked and dull, held and bright
    audio = np.stack([tone(p, decay=d, brightness=b, seed=p) for d, b in kinds for p in range(55, 67)])
    family = np.repeat(np.arange(3), 12)
    three = FamilyClassifier(audio, family, sample_rate=RATE)
    probe = np.stack([tone(60.5, decay=d, brightness=b, seed=99) for d, b in kinds])
    assert three.n_families == 3 and three.logits(probe).shape == (3, 3)
    assert np.allclose(three.probabilities(probe).sum(axis=1), 1.0)
    assert three.predict(probe).tolist() == [0, 1, 2]
    logits = three.logits(probe)
    assert np.allclose(three.score(probe, 0, 2), logits[:, 2] - logits[:, 0])
    two = FamilyClassifier(audio[:24], family[:24], sample_rate=RATE)
    logits = two.logits(probe[:2])
    # Binary: logits are 0 and the log-odds of family 1, whose sigmoid is P(family 1).
    assert np.all(logits[:, 0] == 0) and np.allclose(two.probability(probe[:2]), 1 / (1 + np.exp(-logits[:, 1])))


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    root = tmp_path_factory.mktemp("timbre-eval-four")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUSICVAE_CACHE", str(root / "cache"))
        instrument = Instrument.load(make_tiny_instrument(root, recipe_text=RECIPE_4, name="tiny-four",
                                                          folder="tiny-four"))
        report = {"kind": "timbre", **evaluate_instrument(instrument, n_prior=4, progress=False)}
        train = load_timbre_notes(str(root / "tiny-four.toml"), split="train")
        yield instrument, report, train


def test_every_pair_is_blended_and_summarised(four):
    _, report, train = four
    families = report["families"]
    assert families == ["flute", "guitar", "string", "brass"]
    pairs = report["pairs"]
    assert len(pairs) == len(families) * (len(families) - 1) // 2
    assert [(e["from"], e["to"]) for e in pairs.values()] == [(families[a], families[b])
                                                             for a, b in combinations(range(4), 2)]
    # Every third pitch per pair, offset by the pair's index: each pair has some, all pitches are covered.
    assert all(e["pitches"] and set(e["pitches"]) <= {60, 61, 62} for e in pairs.values())
    assert set().union(*(e["pitches"] for e in pairs.values())) == {60, 61, 62}
    for kind in ("vae", "audio", "spectrogram"):
        per_pair = [e["blend"][kind] for e in pairs.values()]
        summary = report["blend"][kind]
        assert summary["pairs"] == len(pairs)
        assert summary["pitch_accuracy_min"] == min(p["pitch_accuracy"] for p in per_pair)
        assert summary["endpoint_accuracy_min"] == min(p["endpoint_accuracy"] for p in per_pair)
        assert summary["spearman_rho"] == pytest.approx(np.mean([p["spearman_rho"] for p in per_pair]))
        assert summary["pitch_accuracy_worst_morph"] <= summary["pitch_accuracy_min"] <= summary["pitch_accuracy"]
        for p in per_pair:
            assert -1.0 <= p["spearman_rho_min"] <= p["spearman_rho"] <= 1.0
            curves = list(p["p_to_by_morph"].values()) + list(p["p_other_by_morph"].values())
            assert list(p["p_to_by_morph"]) == [f"{m:g}" for m in MORPHS] and all(0 <= v <= 1 for v in curves)
    vae = report["blend"]["vae"]
    targets = report["targets"]
    assert targets["pitch_accuracy"][0] == vae["pitch_accuracy_min"]
    assert targets["endpoint_accuracy"][0] == vae["endpoint_accuracy_min"]
    assert targets["spearman_rho"][0] == vae["spearman_rho"]
    assert targets["unseen_lsd_db"][1] == MANY_FAMILIES_LSD_DB
    assert all(ok == (value <= goal if name.endswith("db") else value >= goal)
               for name, (value, goal, ok) in targets.items())
    json.dumps(report, allow_nan=False)


def test_the_audio_crossfade_endpoints_are_the_classifier_on_real_notes(four):
    instrument, report, train = four
    classifier = FamilyClassifier(np.array(train.audio), train.family, sample_rate=RATE)  # seed 0, as evaluated
    references = {f: _reference_notes(train, f, 100) for f in range(4)}
    for a, b in combinations(range(4), 2):
        entry = report["pairs"][f"{train.families[a]}-{train.families[b]}"]
        at = entry["pitches"]
        ends = classifier.predict(np.stack([references[a][p] for p in at] + [references[b][p] for p in at]))
        expected = np.concatenate([ends[: len(at)] == a, ends[len(at):] == b]).mean()
        assert entry["blend"]["audio"]["endpoint_accuracy"] == pytest.approx(expected)
        assert entry["blend"]["audio"]["pitch_accuracy"] == 1.0  # real TimGM6mb notes, crossfaded in tune


def test_confusion_matrix_of_the_decoded_family_means(four):
    _, report, _ = four
    decoded = report["decoded_means"]
    matrix = np.asarray(decoded["matrix"])
    assert matrix.shape == (4, 4) and matrix.dtype.kind == "i" and (matrix >= 0).all()
    assert (matrix.sum(axis=1) == decoded["pitches"]).all() and decoded["pitches"] == 3
    assert decoded["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())


def test_latent_map_projects_the_family_means_among_their_notes(four):
    instrument, report, train = four
    latent = report["latent_map"]
    counts = np.bincount(train.family, minlength=4)
    assert np.bincount(latent["train"]["family"], minlength=4).tolist() == np.minimum(counts, 40).tolist()
    assert len(latent["means"]["x"]) == 4 and len(latent["unseen"]["x"]) == len(latent["unseen"]["family"]) > 0
    variance = latent["explained_variance"]
    assert 0 <= variance[1] <= variance[0] <= 1 and sum(variance) <= 1 + 1e-9
    # A tiny family's notes are all drawn, and a mean latent is the mean of its notes' latents:
    # PCA is linear, so each star sits at the centroid of its family's points.
    x, y, family = (np.asarray(latent["train"][k]) for k in ("x", "y", "family"))
    for k in range(4):
        assert latent["means"]["x"][k] == pytest.approx(x[family == k].mean(), abs=1e-3)
        assert latent["means"]["y"][k] == pytest.approx(y[family == k].mean(), abs=1e-3)


def test_the_table_and_the_figure(four, tmp_path):
    _, report, _ = four
    text = format_timbre_metrics(report)
    assert "P(to-family)" in text and "per pair" in text and "worst pair" in text
    assert sum(line.lstrip().startswith(name) for line in text.splitlines() for name in report["pairs"]) == 6
    assert "classified as" in text and all(f"  {f}" in text for f in report["families"])
    path = evaluation_figure(report, tmp_path / "eval.png")
    with Image.open(path) as image:
        width, height = image.size
    assert width > 2.5 * height  # three panels side by side
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05  # drawn, not blank
