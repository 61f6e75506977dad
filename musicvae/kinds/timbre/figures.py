"""The timbre kind's evaluation figure (``musicvae evaluate --plot``): blend, confusion matrix, latent map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicvae.plots import SYSTEM_NAMES, new_figure, save_png


def _curve(system: dict) -> dict:
    # Reports written before the N-family evaluation named the curve after flute-guitar's second family.
    return system.get("p_to_by_morph") or system["p_guitar_by_morph"]


def _blend_panel(ax, report: dict) -> None:
    families = report.get("families") or ["flute", "guitar"]
    pairs = report.get("pairs") or {}
    if len(pairs) > 1:  # each pair's VAE path faintly, every system's mean over the pairs boldly
        for entry in pairs.values():
            curve = entry["blend"]["vae"]["p_to_by_morph"]
            ax.plot([float(m) for m in curve], list(curve.values()), color="C0", alpha=0.18, linewidth=0.8)
    for key, system in report["blend"].items():
        curve = _curve(system)
        label = f"{SYSTEM_NAMES.get(key, key)} (rho {system['spearman_rho']:.3f})"
        ax.plot([float(m) for m in curve], list(curve.values()), marker="o", linewidth=1.5, label=label)
    ax.axhline(0.5, color="0.6", linewidth=0.8, linestyle=":")
    if len(families) > 2:
        ax.set(xlabel="morph (0 = from-family, 1 = to-family)", ylabel="P(to-family) from the classifier")
        ax.set_title(f"blend monotonicity, {len(pairs)} pairs (faint: VAE per pair)", fontsize=9)
    else:
        ax.set(xlabel=f"morph (0 = {families[0]}, 1 = {families[1]})",
               ylabel=f"P({families[1]}) from the classifier")
        ax.set_title("blend monotonicity", fontsize=9)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _confusion_panel(ax, decoded: dict) -> None:
    matrix = np.asarray(decoded["matrix"], dtype=float)
    families = decoded["families"]
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(families)):
        for j in range(len(families)):
            ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if shares[i, j] > 0.6 else "black")
    ticks = range(len(families))
    ax.set_xticks(ticks, families, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(ticks, families, fontsize=7)
    ax.set(xlabel="classified as", ylabel="decoded family mean")
    ax.set_title(f"decoded family means at {decoded['pitches']} pitches: {decoded['accuracy']:.1%} right", fontsize=9)


def _latent_panel(ax, latent: dict) -> None:
    families = latent["families"]
    for name, marker, size, alpha in (("train", "o", 8, 0.5), ("unseen", "x", 14, 0.8)):
        points = latent[name]
        x, y, family = (np.asarray(points[k]) for k in ("x", "y", "family"))
        for k, label in enumerate(families):
            mask = family == k
            if mask.any():
                ax.scatter(x[mask], y[mask], s=size, marker=marker, color=f"C{k % 10}", alpha=alpha, linewidths=0.8,
                           label=label if name == "train" else None)
    means = latent["means"]
    for k, label in enumerate(families):
        ax.scatter(means["x"][k], means["y"][k], s=140, marker="*", color=f"C{k % 10}", edgecolors="black",
                   linewidths=0.8, zorder=3)
        ax.annotate(label, (means["x"][k], means["y"][k]), xytext=(5, 5), textcoords="offset points", fontsize=7)
    var = latent["explained_variance"]
    ax.set(xlabel=f"PC 1 ({var[0]:.0%} of the variance)", ylabel=f"PC 2 ({var[1]:.0%})")
    ax.set_title("latent map: training notes (o), unseen SoundFont (x), family means (*)", fontsize=9)
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.grid(alpha=0.3)


def evaluation_figure(report: dict, path: str | Path) -> Path:
    """P(to-family) along the blend for the VAE and both crossfade baselines, then (when the report has them)
    the classifier's confusion matrix on the decoded family means and the latent map, side by side."""
    panels = [_blend_panel]
    if "decoded_means" in report:
        panels.append(lambda ax, r: _confusion_panel(ax, r["decoded_means"]))
    if "latent_map" in report:
        panels.append(lambda ax, r: _latent_panel(ax, r["latent_map"]))
    figure = new_figure(5.2 * len(panels), 4.4 if len(panels) > 1 else 3.4)
    for ax, draw in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        draw(ax, report)
    figure.suptitle(f"{report.get('instrument', '')}: timbre evaluation", fontsize=10)
    return save_png(figure, path)
