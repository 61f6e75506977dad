"""card.md: how an instrument was trained and what ``musicvae evaluate`` measured.

The card is regenerated, never hand-merged: ``musicvae train`` writes the
training section, ``musicvae evaluate --card`` replaces the text between the
metrics markers and leaves the rest alone.
"""

from __future__ import annotations

import json
import platform
from datetime import date

from musicvae.config import InstrumentConfig

METRICS_BEGIN = "<!-- metrics:begin -->"
METRICS_END = "<!-- metrics:end -->"


def training_card(name: str, config: InstrumentConfig, *, command: str, summary: dict, data_report: str = "") -> str:
    """The card text written after training, with an empty metrics section."""
    model = config.model
    lines = [
        f"# {name}",
        "",
        f"A `{config.kind}` instrument trained on the `{config.data}` recipe.",
        "",
        "## Retrain",
        "",
        "Seeded; run from the repository root:",
        "",
        "```",
        command,
        "```",
        "",
        "## Model",
        "",
        "```",
        repr(model),
        "```",
        "",
        "## Training",
        "",
        f"- date: {date.today().isoformat()}, machine: {platform.machine()} {platform.system()}",
    ]
    lines += [f"- {key}: {_fmt(value)}" for key, value in summary.items()]
    if data_report:
        lines += ["", "Data:", "", "```", data_report.strip(), "```"]
    lines += ["", "## Metrics", "", METRICS_BEGIN, "Not measured yet: run `musicvae evaluate " + name + " --card`.",
              METRICS_END, ""]
    return "\n".join(lines)


def with_metrics(card: str, metrics_text: str, report: dict) -> str:
    """Replace the metrics section of ``card`` with a readable table and the raw JSON."""
    block = "\n".join(
        [
            METRICS_BEGIN,
            "Measured by `musicvae evaluate` on held-out data (pieces, or SoundFonts, never seen in training):",
            "",
            "```",
            metrics_text.strip(),
            "```",
            "",
            "<details><summary>raw JSON</summary>",
            "",
            "```json",
            json.dumps(_compact(report), indent=1, default=float),
            "```",
            "</details>",
            METRICS_END,
        ]
    )
    if METRICS_BEGIN in card and METRICS_END in card:
        head, rest = card.split(METRICS_BEGIN, 1)
        _, tail = rest.split(METRICS_END, 1)
        return head + block + tail
    return card.rstrip() + "\n\n## Metrics\n\n" + block + "\n"


def _compact(value: object) -> object:
    """Round floats and write long number lists on one line, so a card stays readable (512-d KL lists)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list) and len(value) > 12 and all(isinstance(v, (int, float)) for v in value):
        return " ".join(f"{v:.3g}" for v in value)
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
