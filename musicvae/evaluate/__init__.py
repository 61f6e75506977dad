"""Objective evaluation of melody instruments (``musicvae evaluate``).

- :mod:`.features`: Yang & Lerch (2018) per-window features and the overlap of
  two sets' feature distributions (numpy/scipy only).
- :mod:`.melody`: model metrics: reconstruction, KL and active units, prior
  samples, interpolation smoothness, a 2-D latent map.
- :mod:`.report`: :func:`evaluate_melody` bundles them; :func:`format_report`
  renders the table a researcher reads (the CLI prints JSON for ``--json``).
"""

from musicvae.evaluate.features import feature_overlap, feature_summary, melody_features, overlap_area, window_notes
from musicvae.evaluate.melody import (
    active_units,
    decode_latents,
    encode_windows,
    interpolation_smoothness,
    kl_per_dimension,
    latent_map,
    latent_metrics,
    prior_sample_overlap,
    reconstruction_metrics,
)
from musicvae.evaluate.report import evaluate_melody, format_report

__all__ = [
    "active_units",
    "decode_latents",
    "encode_windows",
    "evaluate_melody",
    "feature_overlap",
    "feature_summary",
    "format_report",
    "interpolation_smoothness",
    "kl_per_dimension",
    "latent_map",
    "latent_metrics",
    "melody_features",
    "overlap_area",
    "prior_sample_overlap",
    "reconstruction_metrics",
    "window_notes",
]
