"""A timbre instrument's latent map: encoded notes and the family means, projected to 2-D by PCA."""

from __future__ import annotations

import numpy as np

from musicvae import blend as verbs
from musicvae.instrument import Instrument
from musicvae.kinds.timbre.data import TimbreNotes

#: Notes drawn per family and split: enough to see a family's spread, few enough for a card's JSON.
LATENT_MAP_NOTES = 40


def _draw(family: np.ndarray, n_families: int, per_family: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``per_family`` row indices of each family, drawn without replacement, sorted."""
    rows = []
    for k in range(n_families):
        at = np.flatnonzero(family == k)
        rows.append(rng.choice(at, size=min(per_family, len(at)), replace=False))
    return np.sort(np.concatenate(rows)).astype(int)


def _points(coords: np.ndarray, family: np.ndarray) -> dict:
    return {"x": [round(float(v), 4) for v in coords[:, 0]], "y": [round(float(v), 4) for v in coords[:, 1]],
            "family": [int(f) for f in family]}


def latent_map(instrument: Instrument, train: TimbreNotes, unseen_mu: np.ndarray, unseen_family: np.ndarray, *,
               per_family: int = LATENT_MAP_NOTES, seed: int = 0) -> dict:
    """The family means and encoded notes on the first two principal axes of the training notes' latents.

    Parameters
    ----------
    instrument : Instrument
        A timbre instrument with family mean latents.
    train : TimbreNotes
        Training notes: up to ``per_family`` of each family are encoded, and their posterior means fit the PCA.
    unseen_mu : np.ndarray [N, Z]
        Posterior means of held-out notes, already encoded; up to ``per_family`` of each family are drawn.
    unseen_family : np.ndarray [N] int
    per_family : int
    seed : int

    Returns
    -------
    dict
        ``families``, ``explained_variance`` [2] (shares of the training latents' variance),
        ``train`` and ``unseen`` (``x``, ``y``, ``family`` lists), ``means`` (``x``, ``y`` per family).
    """
    rng = np.random.default_rng(seed)
    families = list(train.families)
    rows = _draw(train.family, len(families), per_family, rng)
    mu = np.concatenate([verbs.encode(instrument, np.asarray(train.audio[rows[i : i + 64]]))[0]
                         for i in range(0, len(rows), 64)])
    means = np.stack([verbs.family_latent(instrument, f) for f in families])
    center = mu.mean(axis=0)
    _, singular, vt = np.linalg.svd(mu - center, full_matrices=False)
    axes = np.zeros((2, mu.shape[1]))
    axes[: min(2, len(vt))] = vt[:2]  # a 1-d latent gets a flat second axis
    variance = singular**2
    explained = [float(v) for v in (variance[:2] / max(variance.sum(), 1e-12))] + [0.0] * (2 - min(2, len(variance)))

    def project(z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64) - center) @ axes.T

    drawn = _draw(np.asarray(unseen_family), len(families), per_family, rng)
    return {
        "method": "pca",
        "families": families,
        "explained_variance": explained,
        "train": _points(project(mu), train.family[rows]),
        "unseen": _points(project(np.asarray(unseen_mu)[drawn]), np.asarray(unseen_family)[drawn]),
        "means": {k: v for k, v in _points(project(means), np.arange(len(families))).items() if k != "family"},
    }
