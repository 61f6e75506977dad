"""The accompanist kind's evaluation figure (``musicvae evaluate --plot``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicvae.plots import SYSTEM_NAMES, new_figure, save_png


def evaluation_figure(report: dict, path: str | Path) -> Path:
    """Frame and onset accuracy against the baselines, parallel fifths and octaves against Bach's rate, and
    (when the report has them) chord-tone onsets against Bach's share, variations included."""
    systems = {k: v for k, v in report["systems"].items() if "frame_accuracy" in v}
    harmony = all("harmony" in v for v in systems.values())
    figure = new_figure(13.5 if harmony else 9.0, 3.4)
    axes = figure.subplots(1, 3 if harmony else 2)
    left, right = axes[0], axes[1]
    x = np.arange(len(systems))
    names = [SYSTEM_NAMES.get(k, k) for k in systems]
    # Bach against himself scores 1 by definition: accuracy compares the others with him.
    scored = [k for k in systems if k != "bach"]
    for offset, metric in ((-0.2, "frame_accuracy"), (0.2, "onset_accuracy")):
        left.bar(np.arange(len(scored)) + offset, [systems[k][metric]["mean"] for k in scored], width=0.4,
                 label=metric.replace("_", " "))
    left.set_xticks(np.arange(len(scored)), [SYSTEM_NAMES.get(k, k) for k in scored], rotation=20, fontsize=7)
    left.set(ylabel="agreement with Bach")
    left.set_title(f"{report.get('instrument', '')}: held-out chorales (mean of A, T, B)", fontsize=10)
    left.legend(fontsize=7)
    parallels = [s.get("voice_leading", {}).get("parallel_fifths_and_octaves", np.nan) for s in systems.values()]
    right.bar(x, parallels, color="tab:red")
    bach = report.get("bach_reference", {})
    if bach:
        right.axhline(bach["parallel_fifths"] + bach["parallel_octaves"], color="0.3", linestyle="--",
                      label="Bach's own rate")
        right.legend(fontsize=7)
    right.set_xticks(x, names, rotation=20, fontsize=7)
    right.set(ylabel="parallel fifths + octaves (% of moves)")
    right.set_title("voice leading", fontsize=10)
    if harmony:
        third = axes[2]
        rows = {SYSTEM_NAMES.get(k, k): v["harmony"]["chord_tone_onsets"] for k, v in systems.items() if k != "bach"}
        for k, v in report.get("variations", {}).get("each", {}).items():
            rows[f"variation {k}"] = v["harmony"]["chord_tone_onsets"]
        third.bar(np.arange(len(rows)), list(rows.values()), color="tab:green")
        third.axhline(systems["bach"]["harmony"]["chord_tone_onsets"], color="0.3", linestyle="--",
                      label="Bach on these chorales")
        third.set_xticks(np.arange(len(rows)), list(rows), rotation=20, fontsize=7)
        third.set(ylabel="chord-tone onsets (%)", ylim=(0, 100))
        differ = report.get("variations", {}).get("min_notes_differ")
        title = "harmony" + (f" (variations differ at >= {differ:.0%} of notes)" if differ is not None else "")
        third.set_title(title, fontsize=10)
        third.legend(fontsize=7, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    return save_png(figure, path)
