"""Pictures: piano-roll grids, latent maps, training curves, and the figure helpers each kind draws with.

matplotlib is imported inside the functions (commands that draw nothing start
fast), figures are built on the Agg canvas without pyplot (no global figure
registry, no display needed), and every PNG is written to a temporary file
beside its target and renamed into place, so a failure leaves no half-written
image.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from musicvae.errors import InputError
from musicvae.io import atomic_path

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_DPI = 110


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot), constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (OutputError if the folder cannot be written)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=_DPI)
    return Path(path)


def _pitch_name(pitch: int) -> str:
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


# ---------------------------------------------------------------------------
# Piano rolls
# ---------------------------------------------------------------------------


def piano_roll_grid(
    sequences: Sequence[np.ndarray] | np.ndarray,
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    steps_per_bar: int = 16,
    min_pitch: int = 21,
) -> Path:
    """Draw event sequences as piano rolls, one row each, on a shared pitch axis.

    Used for ``musicvae sample --plot`` (a column of samples) and ``musicvae
    morph --plot`` (the interpolation steps from A to B, titled by position),
    where the shared axes make the change from row to row visible.

    Parameters
    ----------
    sequences : sequence of ndarray [T] of int, or ndarray [K, T]
        MusicVAE melody events (0 no event, 1 note off, 2.. pitches); lengths may differ.
    path : str or Path
        The PNG to write.
    titles : sequence of str [K], optional, keyword-only
        One label per row.
    steps_per_bar : int, keyword-only
        Grid steps per bar: where the bar lines go.
    min_pitch : int, keyword-only
        MIDI pitch of event class 2.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        No sequences, a sequence that is not 1-D, or titles of the wrong number.
    OutputError
        If ``path`` cannot be written.
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    from musicvae.midi.melody import decode

    rows = [np.asarray(seq) for seq in sequences]
    if not rows:
        raise InputError("no sequences to draw")
    if any(row.ndim != 1 for row in rows):
        raise InputError("each sequence to draw must be one-dimensional (events over steps)")
    if titles is not None and len(titles) != len(rows):
        raise InputError(f"got {len(titles)} titles for {len(rows)} sequences")
    notes = [decode(row, min_pitch=min_pitch) for row in rows]
    pitches = [n.pitch for row_notes in notes for n in row_notes]
    # Only the range in use (plus a margin), shared by every row so rows compare.
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (58, 74)
    steps = max(max(len(row) for row in rows), 1)
    width = float(np.clip(4.0 + 0.12 * steps, 8.0, 20.0))
    row_height = float(np.clip(0.09 * (high - low), 0.9, 2.2))
    figure = new_figure(width, 0.5 + row_height * len(rows))
    axes = figure.subplots(len(rows), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    octave_cs = [p for p in range(low, high + 1) if p % 12 == 0] or [low + (high - low) // 2]
    for i, (ax, row_notes) in enumerate(zip(axes, notes)):
        ax.add_collection(PatchCollection(
            [Rectangle((n.start, n.pitch - 0.4), n.end - n.start, 0.8) for n in row_notes],
            facecolor="#3465a4", edgecolor="#1c3a63", linewidth=0.6,
        ))
        beat = steps_per_bar // 4 if steps_per_bar % 4 == 0 else steps_per_bar
        for step in range(0, steps + 1, beat):
            bar_line = step % steps_per_bar == 0
            ax.axvline(step, color="0.35" if bar_line else "0.85", linewidth=1.0 if bar_line else 0.5, zorder=0)
        for pitch in octave_cs:
            ax.axhline(pitch, color="0.92", linewidth=0.5, zorder=0)
        if not row_notes:
            ax.text(steps / 2, (low + high) / 2, "(silence)", ha="center", va="center", color="0.5", fontsize=8)
        label = titles[i] if titles is not None else f"{i}"
        ax.set_title(label, loc="left", fontsize=8, pad=2)
        ax.tick_params(labelsize=7)
    axes[0].set_xlim(0, steps)
    axes[0].set_ylim(low - 0.5, high + 0.5)
    axes[0].set_yticks(octave_cs, [_pitch_name(p) for p in octave_cs])
    bar_starts = list(range(0, steps, steps_per_bar))
    axes[-1].set_xticks(bar_starts, [str(k + 1) for k in range(len(bar_starts))])
    axes[-1].set_xlabel("bar", fontsize=8)
    return save_png(figure, path)


# ---------------------------------------------------------------------------
# Latent maps
# ---------------------------------------------------------------------------


def _is_continuous(labels: np.ndarray) -> bool:
    return np.issubdtype(labels.dtype, np.number) and len(np.unique(labels)) > 12


def latent_map_plot(
    points: np.ndarray | Mapping[str, np.ndarray],
    path: str | Path,
    *,
    labels: Sequence | np.ndarray | Mapping[str, Sequence] | None = None,
    title: str = "",
) -> Path:
    """Scatter 2-D latent coordinates (e.g. from :func:`musicvae.evaluate.latent_map`), coloured by label.

    Parameters
    ----------
    points : ndarray [N, 2], or dict of str to ndarray [N_k, 2]
        One map, or several drawn side by side under their names (e.g.
        ``{"VAE": ..., "AE": ...}`` to show the prior filling a VAE's space).
    path : str or Path
        The PNG to write.
    labels : sequence [N], or dict of str to sequence [N_k], optional, keyword-only
        Colours: categories get a legend, numbers with more than 12 distinct
        values a colour bar. One sequence is shared by every panel (the same
        windows encoded by several models) when the panels have equal sizes.
    title : str, keyword-only
        Figure title.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        Points not of shape [N, 2], or labels of the wrong length.
    OutputError
        If ``path`` cannot be written.
    """
    panels = dict(points) if isinstance(points, Mapping) else {"": points}
    if not panels:
        raise InputError("no latent points to draw")
    figure = new_figure(4.6 * len(panels) + 0.6, 4.4)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, coords) in zip(axes, panels.items()):
        coords = np.asarray(coords, dtype=float)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise InputError(f"latent points must have shape [N, 2], got {coords.shape}")
        panel_labels = labels.get(name) if isinstance(labels, Mapping) else labels
        if panel_labels is None:
            ax.scatter(coords[:, 0], coords[:, 1], s=6, alpha=0.6, linewidths=0)
        else:
            panel_labels = np.asarray(panel_labels)
            if len(panel_labels) != len(coords):
                raise InputError(f"got {len(panel_labels)} labels for {len(coords)} points")
            if _is_continuous(panel_labels):
                drawn = ax.scatter(coords[:, 0], coords[:, 1], c=panel_labels.astype(float), s=6, cmap="viridis",
                                   alpha=0.7, linewidths=0)
                figure.colorbar(drawn, ax=ax, shrink=0.8)
            else:
                for k, value in enumerate(np.unique(panel_labels)):
                    mask = panel_labels == value
                    ax.scatter(coords[mask, 0], coords[mask, 1], s=6, alpha=0.7, linewidths=0, color=f"C{k % 10}",
                               label=str(value))
                ax.legend(fontsize=7, markerscale=2, loc="best")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("PC 1", fontsize=8)
        ax.set_ylabel("PC 2", fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        figure.suptitle(title, fontsize=11)
    return save_png(figure, path)


# ---------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------

_AXIS_COLUMNS = {"step", "epoch"}


def _read_metrics(csv_path: Path) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """Each metric column's (x, value) points, and the x axis name; blank cells skipped."""
    try:
        with csv_path.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InputError(f"{csv_path}: no such file (a Lightning CSVLogger writes metrics.csv)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{csv_path}: cannot read it as CSV ({error})") from None
    x_name = "step" if records and "step" in records[0] else "row"
    series: dict[str, list[tuple[float, float]]] = {}
    for index, record in enumerate(records):
        try:
            x = float(record["step"]) if x_name == "step" else float(index)
        except (TypeError, ValueError):
            continue
        for column, cell in record.items():
            if column is None or column in _AXIS_COLUMNS or cell in (None, ""):
                continue
            try:
                value = float(cell)
            except ValueError:
                continue
            if math.isfinite(value):
                series.setdefault(column, []).append((x, value))
    return series, x_name


def _panel_of(column: str) -> str:
    """``train/loss_step`` -> ``loss``: curves of one quantity share a panel."""
    base = column.rsplit("/", 1)[-1]
    for suffix in ("_step", "_epoch"):
        base = base.removesuffix(suffix)
    return base


def training_curves(csv_path: str | Path, path: str | Path) -> Path:
    """Plot the metrics of a Lightning ``CSVLogger`` ``metrics.csv``, one panel per quantity.

    Columns such as ``train/loss``, ``val/loss`` and ``val/accuracy`` are
    grouped by what follows the last ``/`` (``loss``, ``accuracy``, ``kl``...),
    so train and validation curves of a quantity overlay; losses come first.
    ``step`` (or the row number) is the x axis; missing columns and blank
    cells are ignored. A positive curve spanning more than two decades is
    drawn on a log scale.

    Parameters
    ----------
    csv_path : str or Path
        The metrics.csv.
    path : str or Path
        The PNG to write.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        If the CSV is missing, unreadable or holds no metric values.
    OutputError
        If ``path`` cannot be written.
    """
    csv_path = Path(csv_path)
    series, x_name = _read_metrics(csv_path)
    if not series:
        raise InputError(f"{csv_path}: no metric values to plot")
    panels: dict[str, list[str]] = {}
    for column in sorted(series):
        panels.setdefault(_panel_of(column), []).append(column)

    def order(name: str) -> tuple[int, str]:
        return (0 if name == "loss" else 1 if "loss" in name else 2 if "acc" in name else 3, name)

    names = sorted(panels, key=order)
    cols = min(3, len(names))
    n_rows = math.ceil(len(names) / cols)
    figure = new_figure(4.2 * cols, 3.0 * n_rows)
    axes = figure.subplots(n_rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        values = []
        for column in panels[name]:
            xs, ys = zip(*series[column])
            values.extend(ys)
            style = {"marker": "o", "markersize": 3} if len(xs) < 30 else {}
            ax.plot(xs, ys, label=column, linewidth=1.2, **style)
        if min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(x_name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return save_png(figure, path)


# ---------------------------------------------------------------------------
# Evaluation reports
# ---------------------------------------------------------------------------

#: Display names of the systems an evaluation compares.
SYSTEM_NAMES = {"vae": "VAE", "audio": "audio crossfade", "spectrogram": "spectrogram crossfade",
                 "model": "model", "model_argmax": "model, argmax", "nearest_neighbour": "nearest neighbour",
                 "most_frequent": "most frequent", "bach": "Bach"}


def evaluation_figure(report: dict, path: str | Path) -> Path:
    """Draw the report of ``musicvae evaluate`` as one PNG, by the figure of the report's kind.

    Raises
    ------
    InputError
        If ``report`` names no known instrument kind.
    """
    from musicvae.errors import ConfigError
    from musicvae.kinds import get_kind

    try:
        kind = get_kind(report.get("kind") if isinstance(report, Mapping) else None)
    except ConfigError:
        raise InputError("not an evaluation report of a known instrument kind (no known 'kind' in it)") from None
    return kind.figure(report, path)
