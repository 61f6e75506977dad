"""The melody kind's evaluation figure (``musicvae evaluate --plot``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicvae.plots import new_figure, save_png


def evaluation_figure(report: dict, path: str | Path) -> Path:
    """Each feature's overlap of prior samples with held-out data (beside the training windows'), and
    how far each interpolation step is from A (Hamming distance)."""
    prior = report["prior_overlap"]
    features = [k for k in prior["overlap"] if k != "mean"]
    figure = new_figure(9.0, 3.4)
    left, right = figure.subplots(1, 2)
    x = np.arange(len(features))
    left.bar(x - 0.2, [prior["overlap"][k] for k in features], width=0.4, label="prior samples vs held-out")
    baseline = prior.get("data_baseline", {}).get("overlap", {})
    if baseline:
        left.bar(x + 0.2, [baseline.get(k, np.nan) for k in features], width=0.4, label="training windows vs held-out")
    left.set_xticks(x, [k.replace("_", " ") for k in features], rotation=35, ha="right", fontsize=7)
    left.set(ylabel="overlapping area", ylim=(0, 1.05))
    left.set_title(f"{report.get('instrument', '')}: prior samples (T = {prior.get('temperature')})", fontsize=10)
    left.legend(fontsize=7)
    curve = report.get("interpolation", {}).get("distance_curve")
    if curve:
        steps = np.linspace(0, 1, len(curve))
        right.plot(steps, curve, marker="o", label="decoded steps")
        right.axhline(report["interpolation"]["data_distance"], color="0.4", linestyle="--", label="real B")
        right.set(xlabel="interpolation step (A to B)", ylabel="share of steps that differ from A")
        right.legend(fontsize=7)
    right.set_title("interpolation", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return save_png(figure, path)
