"""Yang & Lerch (2018) feature distributions of melody sets and their overlap.

"On the evaluation of generative models in music" compares a generated set with
the data through per-sample musical features: each set becomes a distribution
of feature values, and the overlapping area (OA) of the two sets' kernel density
estimates says how alike they are (1 = the same distribution, 0 = disjoint).

Pure numpy/scipy: no torch, so it also serves sets that did not come from a model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from musicvae.midi.melody import decode
from musicvae.midi.windows import check_windows

#: Per-window scalar features: compared by the OA of the two sets' value KDEs.
SCALAR_FEATURES = ("note_count", "pitch_count", "pitch_range", "mean_interval", "mean_ioi", "mean_note_length")

#: Per-window histogram features: compared by Yang & Lerch's intra-/inter-set distances.
HISTOGRAM_FEATURES = ("pitch_class_histogram", "interval_histogram", "note_length_histogram")

#: Signed intervals are clipped to +-this many semitones (one octave) for the interval histogram.
MAX_INTERVAL = 12

#: Note-length classes in sixteenth-note steps: 16th, 8th, dotted 8th, quarter, dotted
#: quarter, half, dotted half, whole, dotted whole, two bars or longer. Yang & Lerch's
#: classes also hold triplets, which a 16-step grid cannot represent.
NOTE_LENGTH_CLASSES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)

#: Distances sampled per set for the intra/inter KDEs, and values kept per KDE: the
#: estimates are stable at this size, and exhaustive pairs of 3000 windows (4.5M) are not.
MAX_PAIRS = 10_000
MAX_KDE_POINTS = 10_000
GRID_POINTS = 512


def window_notes(window: np.ndarray, *, min_pitch: int = 21) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notes of one event window as arrays, by the melody codec's rules.

    A pitch event starts a note (ending any sounding one), note-off ends it, and
    "no event" continues whatever is sounding; a note still sounding at the end
    of the window ends there. Leading "no event"s are a rest: what they continue
    lies outside the window.

    Parameters
    ----------
    window : ndarray [T] of int
        Event classes (0 = no event, 1 = note off, 2.. = pitch ``min_pitch + class - 2``).
    min_pitch : int, keyword-only
        MIDI pitch of class 2.

    Returns
    -------
    pitches, starts, ends : ndarray [K] of int
        MIDI pitches and step spans ``[start, end)`` of the K notes, in time order.
    """
    notes = decode(window, min_pitch=min_pitch)
    spans = np.array([(n.pitch, n.start, n.end) for n in notes], dtype=np.int64).reshape(-1, 3)
    return spans[:, 0], spans[:, 1], spans[:, 2]


def _window_features(window: np.ndarray, min_pitch: int) -> dict[str, object]:
    pitches, starts, ends = window_notes(window, min_pitch=min_pitch)
    count = len(pitches)
    lengths = ends - starts
    intervals = np.diff(pitches)
    pch = np.bincount(pitches % 12, minlength=12).astype(float)
    ivh = np.bincount(np.clip(intervals, -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1)
    # Nearest class on a log scale, so that 5 steps counts as a quarter and 7 as a dotted quarter.
    classes = np.log2(NOTE_LENGTH_CLASSES)
    length_class = np.abs(np.log2(np.maximum(lengths, 1))[:, None] - classes[None, :]).argmin(axis=1)
    nlh = np.bincount(length_class, minlength=len(NOTE_LENGTH_CLASSES)).astype(float)

    def normalised(hist: np.ndarray) -> list[float]:
        total = hist.sum()
        return (hist / total if total > 0 else hist).astype(float).tolist()

    # Means over no notes (or no pairs of notes) are undefined: None, dropped before the KDE.
    return {
        "note_count": float(count),
        "pitch_count": float(len(np.unique(pitches))),
        "pitch_range": float(pitches.max() - pitches.min()) if count else 0.0,
        "mean_interval": float(np.abs(intervals).mean()) if count > 1 else None,
        "mean_ioi": float(np.diff(starts).mean()) if count > 1 else None,
        "mean_note_length": float(lengths.mean()) if count else None,
        "pitch_class_histogram": normalised(pch),
        "interval_histogram": normalised(ivh.astype(float)),
        "note_length_histogram": normalised(nlh),
    }


def melody_features(windows: np.ndarray, *, min_pitch: int = 21) -> dict[str, list]:
    """Per-window Yang & Lerch features of a set of melody windows.

    Scalar features (one value per window; ``None`` where undefined):

    - ``note_count``: notes starting in the window (NC).
    - ``pitch_count``: distinct MIDI pitches used (PC).
    - ``pitch_range``: highest minus lowest pitch, semitones (PR; 0 without notes).
    - ``mean_interval``: mean absolute interval between consecutive notes, semitones (PI).
    - ``mean_ioi``: mean inter-onset interval, steps (IOI).
    - ``mean_note_length``: mean note length, steps.

    Histogram features (one normalised histogram per window; all zeros without notes):

    - ``pitch_class_histogram``: 12 bins, C..B, counting notes (PCH).
    - ``interval_histogram``: 25 bins, signed intervals -12..+12, wider ones clipped.
    - ``note_length_histogram``: 10 bins, the :data:`NOTE_LENGTH_CLASSES` (NLH).

    Parameters
    ----------
    windows : ndarray [N, T] of int
        Melody event windows.
    min_pitch : int, keyword-only
        MIDI pitch of event class 2 (only the pitch-class histogram depends on it).

    Returns
    -------
    dict of str to list
        Each feature's N per-window values (floats, None, or lists of floats).

    Raises
    ------
    InputError
        If ``windows`` is not a 2-D array of non-negative integers.
    """
    windows = check_windows(windows, allow_empty=True)
    per_window = [_window_features(w, min_pitch) for w in windows]
    names = SCALAR_FEATURES + HISTOGRAM_FEATURES
    return {name: [features[name] for features in per_window] for name in names}


def feature_summary(features: Mapping[str, list]) -> dict[str, float | None]:
    """Mean of each scalar feature over the windows where it is defined, plus ``silent_share``.

    Yang & Lerch's "absolute" measurements: read them beside the overlaps to see
    *how* two sets differ (e.g. prior samples with half the notes of the data).
    """
    summary: dict[str, float | None] = {}
    for name in SCALAR_FEATURES:
        values = _scalar_values(features[name])
        summary[name] = float(values.mean()) if values.size else None
    counts = _scalar_values(features["note_count"])
    summary["silent_share"] = float((counts == 0).mean()) if counts.size else None
    return summary


def feature_overlap(
    generated: np.ndarray | Mapping[str, list], reference: np.ndarray | Mapping[str, list], *, seed: int = 0
) -> dict[str, float]:
    """Overlapping area of each feature's distribution in ``generated`` and ``reference``.

    Scalar features: the OA of Gaussian KDEs (Scott's bandwidth) of the two
    sets' per-window values. Histogram features follow Yang & Lerch's relative
    measurement: Euclidean distances between per-window histograms, sampled
    within the reference (intra-set, pairs of distinct windows) and between the
    sets (inter-set); the score is the OA of the KDE of the reference's
    intra-set distances with the KDE of the inter-set distances. So every score
    is 1 when the two sets come from the same distribution. Where a KDE is
    impossible (a constant feature, fewer than 2 values) the OA of normalised
    histograms on shared bins is used instead; a feature undefined in both sets
    scores 1, in one set only 0.

    Parameters
    ----------
    generated, reference : ndarray [N, T] / [M, T] of int, or dict from :func:`melody_features`
        The two sets, as windows or as precomputed features.
    seed : int, keyword-only
        Seeds the sampling of distance pairs and KDE subsets.

    Returns
    -------
    dict of str to float
        One OA in [0, 1] per feature in :data:`SCALAR_FEATURES` and
        :data:`HISTOGRAM_FEATURES`, and ``"mean"`` over them.
    """
    gen = generated if isinstance(generated, Mapping) else melody_features(generated)
    ref = reference if isinstance(reference, Mapping) else melody_features(reference)
    rng = np.random.default_rng(seed)
    result = {name: overlap_area(_scalar_values(gen[name]), _scalar_values(ref[name]), rng=rng)
              for name in SCALAR_FEATURES}
    for name in HISTOGRAM_FEATURES:
        gen_h, ref_h = np.asarray(gen[name], dtype=float), np.asarray(ref[name], dtype=float)
        intra = _sampled_distances(ref_h, ref_h, rng=rng, distinct=True)
        inter = _sampled_distances(gen_h, ref_h, rng=rng, distinct=False)
        result[name] = overlap_area(inter, intra, rng=rng)
    result["mean"] = float(np.mean(list(result.values())))
    return result


def _scalar_values(values: list) -> np.ndarray:
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def _sampled_distances(a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, distinct: bool) -> np.ndarray:
    """Euclidean distances of random pairs (row of ``a``, row of ``b``); all pairs if there are few.

    ``distinct`` excludes a row's distance to itself (``a`` is ``b``): Yang & Lerch's
    intra-set distances compare each sample with the *other* samples.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0 or (distinct and n < 2):
        return np.zeros(0)
    total = n * (n - 1) if distinct else n * m
    if total <= MAX_PAIRS:
        i, j = np.divmod(np.arange(n * m), m)
        keep = i != j if distinct else slice(None)
        i, j = i[keep], j[keep]
    else:
        i = rng.integers(0, n, MAX_PAIRS)
        j = rng.integers(0, m - 1 if distinct else m, MAX_PAIRS)
        if distinct:
            j = j + (j >= i)  # a uniform index among the other m - 1 rows
    return np.linalg.norm(a[i] - b[j], axis=1)


def overlap_area(a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator | None = None) -> float:
    """Overlapping area of the densities of two 1-D samples, in [0, 1].

    Gaussian KDEs where both samples allow one; otherwise normalised histograms
    on shared bins (e.g. a constant feature: all its mass in one bin).

    Parameters
    ----------
    a, b : ndarray [Na], [Nb] of float
        Finite samples.
    rng : numpy Generator, optional
        Subsamples more than :data:`MAX_KDE_POINTS` values (default: seed 0).
    """
    if a.size == 0 or b.size == 0:
        return 1.0 if a.size == b.size else 0.0
    rng = rng if rng is not None else np.random.default_rng(0)
    a, b = (x if x.size <= MAX_KDE_POINTS else rng.choice(x, MAX_KDE_POINTS, replace=False) for x in (a, b))
    if min(a.size, b.size) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0:
        from scipy.stats import gaussian_kde

        try:
            kde_a, kde_b = gaussian_kde(a), gaussian_kde(b)
        except (np.linalg.LinAlgError, ValueError):
            pass  # nearly singular despite ptp > 0: fall through to histograms
        else:
            pad = 4.0 * max(np.sqrt(kde_a.covariance[0, 0]), np.sqrt(kde_b.covariance[0, 0]))
            grid = np.linspace(min(a.min(), b.min()) - pad, max(a.max(), b.max()) + pad, GRID_POINTS)
            area = np.trapezoid(np.minimum(kde_a(grid), kde_b(grid)), grid)
            return float(np.clip(area, 0.0, 1.0))
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="auto")
    ha, _ = np.histogram(a, bins=edges)
    hb, _ = np.histogram(b, bins=edges)
    return float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())
