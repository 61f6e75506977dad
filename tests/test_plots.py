"""Plots: real PNGs written atomically; bad paths and inputs are MusicVAE errors."""

from __future__ import annotations

import numpy as np
import pytest

from musicvae.errors import InputError, OutputError
from musicvae.plots import latent_map_plot, piano_roll_grid, training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, folder):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert image.std() > 0  # something was drawn
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temp file left behind


def sequences():
    a = np.zeros(32, dtype=np.uint8)
    a[[0, 4, 8, 12, 16]] = [41, 43, 45, 46, 1]  # pitches 60, 62, 64, 65, then off
    b = np.zeros(32, dtype=np.uint8)
    b[[0, 8, 24]] = [48, 50, 1]
    return [a, b, np.zeros(32, dtype=np.uint8)]  # the last one is silent


def test_piano_roll_grid_writes_a_png(tmp_path):
    path = piano_roll_grid(sequences(), tmp_path / "rolls.png", titles=["step 0 (A)", "step 1", "step 2 (B)"])
    assert path == tmp_path / "rolls.png"
    assert_png(path, tmp_path)


def test_piano_roll_grid_of_long_windows(tmp_path):
    rng = np.random.default_rng(0)
    windows = np.where(rng.random((2, 256)) < 0.2, rng.integers(30, 60, (2, 256)), 0).astype(np.uint8)
    assert_png(piano_roll_grid(windows, tmp_path / "long.png"), tmp_path)


def test_piano_roll_grid_rejects_bad_input(tmp_path):
    with pytest.raises(InputError):
        piano_roll_grid([], tmp_path / "x.png")
    with pytest.raises(InputError):
        piano_roll_grid(sequences(), tmp_path / "x.png", titles=["only one"])
    assert list(tmp_path.iterdir()) == []


def test_bad_output_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError):
        piano_roll_grid(sequences(), blocker / "rolls.png")
    with pytest.raises(OutputError):
        latent_map_plot(np.zeros((3, 2)), blocker / "map.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_latent_map_plot_panels_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    points = {"VAE": rng.normal(size=(40, 2)), "AE": rng.normal(size=(40, 2)) * 5}
    labels = ["tune a"] * 20 + ["tune b"] * 20
    assert_png(latent_map_plot(points, tmp_path / "map.png", labels=labels, title="VAE vs AE"), tmp_path)
    continuous = latent_map_plot(points["VAE"], tmp_path / "one.png", labels=np.linspace(0, 1, 40))
    assert continuous.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(InputError):
        latent_map_plot(np.zeros((3, 3)), tmp_path / "bad.png")
    with pytest.raises(InputError):
        latent_map_plot(np.zeros((3, 2)), tmp_path / "bad.png", labels=[1, 2])


def test_training_curves_from_a_csv_logger_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    csv_path = tmp_path / "metrics.csv"
    # Lightning's CSVLogger: one row per logging call, blank cells for metrics not logged then.
    rows = ["epoch,step,train/loss,train/kl,val/loss,val/accuracy"]
    for step in range(0, 200, 10):
        rows.append(f"0,{step},{5.0 / (1 + step / 20):.4f},{0.1 * step:.3f},,")
        if step % 50 == 0:
            rows.append(f"0,{step},,,{4.0 / (1 + step / 25):.4f},{0.7 + step / 1000:.3f}")
    csv_path.write_text("\n".join(rows) + "\n")
    assert_png(training_curves(csv_path, folder / "curves.png"), folder)


def test_training_curves_errors(tmp_path):
    with pytest.raises(InputError):
        training_curves(tmp_path / "missing.csv", tmp_path / "c.png")
    empty = tmp_path / "metrics.csv"
    empty.write_text("epoch,step,val/loss\n0,0,\n")
    with pytest.raises(InputError):
        training_curves(empty, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def card_report(name):
    """The raw JSON report ``musicvae evaluate --card`` wrote into a shipped instrument's card."""
    import json

    from musicvae.io import repo_root

    card = (repo_root() / "instruments" / name / "card.md").read_text()
    return json.loads(card.split("```json", 1)[1].split("```", 1)[0])


@pytest.mark.parametrize("name", ["melody-2bar", "bach-accompanist", "flute-guitar"])
def test_evaluation_figure_of_every_kind(name, tmp_path):
    from musicvae.plots import evaluation_figure

    assert_png(evaluation_figure(card_report(name), tmp_path / "eval.png"), tmp_path)


def test_evaluation_figure_refuses_other_dicts(tmp_path):
    from musicvae.plots import evaluation_figure

    with pytest.raises(InputError, match="not an evaluation report"):
        evaluation_figure({"loss": 1.0}, tmp_path / "eval.png")
    assert not list(tmp_path.iterdir())
