"""Attribute vectors: steering a melody model by latent arithmetic (MusicVAE, Roberts et al. 2018, 5.4).

For each attribute (note density, average interval, syncopation, ...) the
training windows are ranked by it; the vector is the mean latent (posterior
mean) of the top quarter minus the mean latent of the bottom quarter. Adding
``amount`` times the vector to a code before decoding moves the decoded
melody towards more (``amount > 0``) or less of the attribute.

The vectors of an instrument live beside its weights, in
``attributes.safetensors`` (one [Z] float32 tensor per attribute; the metadata
holds what they were computed from). :func:`attribute_control` measures how
well they steer: the Spearman rank correlation between the amount added and
the attribute measured on the decoded output, over held-out windows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from musicvae.errors import InputError, InstrumentError
from musicvae.kinds.melody.features import window_notes

#: The file in an instrument folder that holds its attribute vectors.
ATTRIBUTES_FILE = "attributes.safetensors"

#: What each attribute measures on one window (the names ``--add NAME=AMOUNT`` takes).
ATTRIBUTES = {
    "density": "notes starting in the window",
    "interval": "mean absolute interval between consecutive notes (semitones)",
    "syncopation": "share of notes that start off the beat and last an eighth note or more",
    "range": "highest minus lowest pitch (semitones)",
    "pitch": "mean MIDI pitch (register)",
    "length": "mean note length (steps)",
}

#: Amounts the evaluation adds, in units of each vector: MusicVAE's figure 9 spans about this range.
EVAL_AMOUNTS = tuple(np.round(np.linspace(-2.0, 2.0, 9), 2).tolist())


def _window_attributes(window: np.ndarray, *, min_pitch: int, steps_per_quarter: int) -> dict[str, float]:
    pitches, starts, ends = window_notes(window, min_pitch=min_pitch)
    if len(pitches) == 0:
        return {name: np.nan for name in ATTRIBUTES} | {"density": 0.0}
    off_beat = starts % steps_per_quarter != 0
    # A long note on a weak position is the accent syncopation moves; held across the next beat (the strict
    # definition) is so rare in folk tunes (1.5% of windows have one) that its top quarter would be all zeros.
    held = ends - starts >= max(1, steps_per_quarter // 2)
    return {
        "density": float(len(pitches)),
        "interval": float(np.abs(np.diff(pitches)).mean()) if len(pitches) > 1 else np.nan,
        "syncopation": float((off_beat & held).mean()),
        "range": float(pitches.max() - pitches.min()),
        "pitch": float(pitches.mean()),
        "length": float((ends - starts).mean()),
    }


def measure_attributes(windows: np.ndarray, *, min_pitch: int = 21,
                       steps_per_quarter: int = 4) -> dict[str, np.ndarray]:
    """Each attribute of each window.

    Parameters
    ----------
    windows : np.ndarray of int, shape [N, T]
        Melody event windows.
    min_pitch : int, keyword-only
        MIDI pitch of event class 2.
    steps_per_quarter : int, keyword-only
        Where the beats fall (syncopation).

    Returns
    -------
    dict of str to np.ndarray of float, shape [N]
        One entry per name in :data:`ATTRIBUTES`; NaN where undefined (no notes, one note).
    """
    per_window = [_window_attributes(w, min_pitch=min_pitch, steps_per_quarter=steps_per_quarter)
                  for w in np.asarray(windows)]
    return {name: np.array([a[name] for a in per_window], dtype=float) for name in ATTRIBUTES}


def quartile_vectors(mu: np.ndarray, values: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Mean latent of the top quarter minus the bottom quarter of each attribute.

    Windows are ranked by the attribute (where it is defined; ties in index
    order, a stable sort), so each quarter holds exactly a quarter of them.

    Parameters
    ----------
    mu : np.ndarray, shape [N, Z]
        Posterior means of the windows.
    values : dict of str to np.ndarray [N]
        From :func:`measure_attributes`.

    Returns
    -------
    vectors : dict of str to np.ndarray float32 [Z]
    stats : dict
        Per attribute: windows used, the attribute's mean in the bottom and top quarter, the vector's norm.
    """
    vectors, stats = {}, {}
    for name, value in values.items():
        defined = np.flatnonzero(np.isfinite(value))
        quarter = len(defined) // 4
        if quarter < 1:
            raise InputError(f"too few windows to rank by {name}: {len(defined)}")
        order = defined[np.argsort(value[defined], kind="stable")]
        bottom, top = order[:quarter], order[-quarter:]
        vector = (mu[top].mean(axis=0) - mu[bottom].mean(axis=0)).astype(np.float32)
        vectors[name] = vector
        stats[name] = {"windows": int(len(defined)), "bottom_mean": float(value[bottom].mean()),
                       "top_mean": float(value[top].mean()), "norm": float(np.linalg.norm(vector))}
    return vectors, stats


def compute_attribute_vectors(
    encode: Callable[[np.ndarray], np.ndarray],
    windows: np.ndarray,
    *,
    min_pitch: int = 21,
    steps_per_quarter: int = 4,
    batch_size: int = 1024,
) -> tuple[dict[str, np.ndarray], dict]:
    """Attribute vectors of a model from its training windows (:func:`quartile_vectors` of their means).

    Parameters
    ----------
    encode : callable
        Windows [B, T] -> posterior means [B, Z] (e.g. the first output of :func:`musicvae.generate.encode`).
    windows : np.ndarray of int, shape [N, T]
    """
    windows = np.asarray(windows)
    mu = np.concatenate([encode(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)])
    values = measure_attributes(windows, min_pitch=min_pitch, steps_per_quarter=steps_per_quarter)
    return quartile_vectors(mu, values)


# ---------------------------------------------------------------------------
# Storing, loading, adding
# ---------------------------------------------------------------------------


def save_attribute_vectors(folder: str | Path, vectors: dict[str, np.ndarray], info: dict) -> Path:
    """Write ``attributes.safetensors`` into an instrument folder, atomically; ``info`` goes into its metadata."""
    import torch
    from safetensors.torch import save_file

    from musicvae.io import atomic_write

    tensors = {name: torch.as_tensor(np.asarray(v, dtype=np.float32)).contiguous() for name, v in vectors.items()}
    metadata = {"format": "musicvae-attributes", "info": json.dumps(info, sort_keys=True)}
    return atomic_write(Path(folder) / ATTRIBUTES_FILE, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_attribute_vectors(instrument) -> dict[str, np.ndarray]:
    """The attribute vectors stored in an instrument's folder, each [Z] float32.

    Raises
    ------
    InstrumentError
        If the folder has none (the message gives the command that computes them), or they do not fit the model.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = None if instrument.path is None else Path(instrument.path) / ATTRIBUTES_FILE
    if path is None or not path.is_file():
        raise InstrumentError(f"instrument {instrument.name!r} has no attribute vectors ({ATTRIBUTES_FILE}); "
                              f"compute them with: musicvae attributes {instrument.path or instrument.name}")
    try:
        vectors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise InstrumentError(f"{path} is not a readable safetensors file ({error})") from None
    z_dim = instrument.config.model.z_dim
    wrong = [name for name, v in vectors.items() if v.shape != (z_dim,)]
    if wrong:
        raise InstrumentError(f"{path}: vector {wrong[0]!r} is not [{z_dim}]; recompute with: musicvae attributes "
                              f"{instrument.path}")
    return {name: v.astype(np.float32) for name, v in vectors.items()}


def parse_add(text: str) -> tuple[str, float]:
    """``"density=+1.5"`` -> ("density", 1.5); an unknown name's message lists the known ones.

    Raises
    ------
    InputError
    """
    name, sep, amount = str(text).partition("=")
    name = name.strip()
    known = ", ".join(ATTRIBUTES)
    if name not in ATTRIBUTES:
        raise InputError(f"unknown attribute {name!r}; known: {known}")
    try:
        value = float(amount)
    except ValueError:
        value = float("nan")
    if not sep or not np.isfinite(value) or abs(value) > 100:
        raise InputError(f"{text!r}: expected NAME=AMOUNT with an amount from -100 to 100, e.g. density=+1.5")
    return name, value


def latent_offset(instrument, adds: list[tuple[str, float]] | None) -> np.ndarray | None:
    """The sum of ``amount * vector`` over ``adds`` ([(name, amount), ...]), [Z] float32; None for none."""
    if not adds:
        return None
    vectors = load_attribute_vectors(instrument)
    missing = [name for name, _ in adds if name not in vectors]
    if missing:
        raise InstrumentError(f"instrument {instrument.name!r} has no {missing[0]!r} vector (it has: "
                              f"{', '.join(vectors)}); recompute with: musicvae attributes {instrument.path}")
    return np.sum([amount * vectors[name] for name, amount in adds], axis=0).astype(np.float32)


# ---------------------------------------------------------------------------
# How well they steer
# ---------------------------------------------------------------------------


def attribute_control(
    model,
    vectors: dict[str, np.ndarray],
    windows: np.ndarray,
    *,
    amounts: tuple[float, ...] = EVAL_AMOUNTS,
    min_pitch: int = 21,
    steps_per_quarter: int = 4,
    batch_size: int = 512,
) -> dict:
    """Spearman rho between the amount of each vector added and the attribute measured on the decoded output.

    Every window is encoded (posterior mean), each amount of the vector added,
    and the codes decoded by argmax.

    Parameters
    ----------
    model : sequence VAE
    vectors : dict of str to np.ndarray [Z]
    windows : np.ndarray of int, shape [N, T]
        Held-out windows.
    amounts : tuple of float
        Multiples of each vector added.

    Returns
    -------
    dict
        ``amounts``, ``windows`` and per attribute: ``rho`` (the mean over windows of the rank
        correlation between amount and measured value, over the windows where the value varies),
        ``rho_of_mean`` (of the amounts with the mean value at each amount), ``pooled_rho`` (over every
        (window, amount) pair), and ``mean`` (the mean value at each amount).
    """
    import torch
    from scipy.stats import spearmanr

    windows = np.asarray(windows)
    with torch.inference_mode():
        mu = torch.cat([model.encode(torch.as_tensor(windows[i : i + batch_size], dtype=torch.long))[0]
                        for i in range(0, len(windows), batch_size)]).numpy()
    grid = np.asarray(amounts, dtype=np.float32)
    report: dict = {"amounts": [float(a) for a in grid], "windows": len(windows), "attributes": {}}
    for name in (name for name in ATTRIBUTES if name in vectors):
        vector = vectors[name]
        z = (mu[:, None, :] + grid[None, :, None] * vector[None, None, :]).reshape(-1, mu.shape[1])
        with torch.inference_mode():
            decoded = torch.cat([model.decode(torch.as_tensor(z[i : i + batch_size]), temperature=0.0)
                                 for i in range(0, len(z), batch_size)]).numpy()
        value = measure_attributes(decoded, min_pitch=min_pitch, steps_per_quarter=steps_per_quarter)[name]
        value = value.reshape(len(windows), len(grid))
        rhos = []
        for row in value:
            keep = np.isfinite(row)
            if keep.sum() >= 3 and np.ptp(row[keep]) > 0:
                rhos.append(spearmanr(grid[keep], row[keep]).statistic)
        means = np.array([np.nanmean(column) if np.isfinite(column).any() else np.nan for column in value.T])
        report["attributes"][name] = {
            "rho": float(np.mean(rhos)) if rhos else None,
            "windows_varying": len(rhos),
            "rho_of_mean": _rho(grid, means),
            "pooled_rho": _rho(np.broadcast_to(grid, value.shape).ravel(), value.ravel()),
            "mean": [None if not np.isfinite(m) else round(float(m), 3) for m in means],
        }
    return report


def _rho(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rho over the finite pairs; None where it is undefined (under 3 pairs, a constant side)."""
    from scipy.stats import spearmanr

    keep = np.isfinite(y)
    if keep.sum() < 3 or np.ptp(y[keep]) == 0 or np.ptp(x[keep]) == 0:
        return None
    return float(spearmanr(x[keep], y[keep]).statistic)


def format_attribute_control(report: dict) -> list[str]:
    """The attribute section of the evaluation table."""
    amounts = report["amounts"]
    lines = [f"Attribute vectors (top minus bottom quarter of training latents), {report['windows']} held-out "
             f"windows, amounts {amounts[0]:+g}..{amounts[-1]:+g}",
             "  Spearman rho of amount added vs attribute of the argmax decode",
             f"  {'attribute':<13}{'rho':>7}{'rho of mean':>13}{'pooled rho':>12}"
             f"{'mean at ' + format(amounts[0], '+g'):>14}{'at 0':>8}{'at ' + format(amounts[-1], '+g'):>9}"]

    def show(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}"

    zero = int(np.argmin(np.abs(np.asarray(amounts))))
    for name, row in report["attributes"].items():
        lines.append(f"  {name:<13}{show(row['rho']):>7}{show(row['rho_of_mean']):>13}{show(row['pooled_rho']):>12}"
                     f"{show(row['mean'][0], 2):>14}{show(row['mean'][zero], 2):>8}{show(row['mean'][-1], 2):>9}")
    return lines


# ---------------------------------------------------------------------------
# An instrument's vectors (what ``musicvae attributes`` runs)
# ---------------------------------------------------------------------------


def instrument_attributes(instrument, *, data: str | None = None, max_windows: int = 0, seed: int = 0,
                          log: Callable[[str], None] = lambda line: None) -> tuple[Path, dict]:
    """Compute a melody instrument's attribute vectors from its training windows and store them in its folder.

    Parameters
    ----------
    instrument : Instrument
        A melody instrument loaded from a folder.
    data : str, optional, keyword-only
        Recipe (default: the instrument's); its ``train`` split is ranked.
    max_windows : int, keyword-only
        Use a seeded subset of at most this many windows (0 = all).

    Returns
    -------
    path : Path
        The ``attributes.safetensors`` written.
    info : dict
        What the vectors came from and, per attribute, its quarter means and the vector's norm.
    """
    from musicvae import generate
    from musicvae.kinds import get_kind
    from musicvae.kinds.melody.data import load_melody_windows

    instrument.require_kind("melody")
    if instrument.path is None:
        raise InstrumentError("attribute vectors are stored in an instrument folder: save the instrument first")
    rep = instrument.config.model.representation
    recipe = get_kind("melody").recipe_for(data or instrument.config.data, rep)
    windows = load_melody_windows(recipe, split="train", bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    if max_windows and len(windows) > max_windows:
        windows = windows[np.sort(np.random.default_rng(seed).permutation(len(windows))[:max_windows])]
    log(f"encoding {len(windows)} training windows of {recipe.name}")
    vectors, stats = compute_attribute_vectors(lambda w: generate.encode(instrument, w)[0], windows,
                                               min_pitch=rep.min_pitch, steps_per_quarter=int(rep.steps_per_quarter))
    info = {"data": recipe.name, "meter": rep.meter, "split": "train", "windows": len(windows),
            "rule": "mean latent of the top quarter minus the bottom quarter", "attributes": stats}
    return save_attribute_vectors(instrument.path, vectors, info), info


def format_attribute_info(info: dict) -> str:
    """The table ``musicvae attributes`` prints."""
    lines = [f"attribute vectors from {info['windows']} {info['split']} windows of {info['data']} "
             f"({info['rule']})",
             f"  {'attribute':<13}{'bottom quarter':>16}{'top quarter':>13}{'|vector|':>10}"]
    for name, row in info["attributes"].items():
        lines.append(f"  {name:<13}{row['bottom_mean']:>16.2f}{row['top_mean']:>13.2f}{row['norm']:>10.2f}")
    return "\n".join(lines)
