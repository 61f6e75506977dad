"""The timbre kind's evaluation figure (``musicvae evaluate --plot``)."""

from __future__ import annotations

from pathlib import Path

from musicvae.plots import SYSTEM_NAMES, new_figure, save_png


def evaluation_figure(report: dict, path: str | Path) -> Path:
    """P(second family) along the blend for the VAE and both crossfade baselines."""
    figure = new_figure(5.2, 3.4)
    ax = figure.subplots()
    for key, system in report["blend"].items():
        curve = system["p_guitar_by_morph"]
        morphs = [float(m) for m in curve]
        ax.plot(morphs, list(curve.values()), marker="o", linewidth=1.5,
                label=f"{SYSTEM_NAMES.get(key, key)} (rho {system['spearman_rho']:.3f})")
    ax.axhline(0.5, color="0.6", linewidth=0.8, linestyle=":")
    ax.set(xlabel="morph (0 = flute, 1 = guitar)", ylabel="P(guitar) from the classifier", ylim=(-0.03, 1.03))
    ax.set_title(f"{report.get('instrument', '')}: blend monotonicity", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(figure, path)
