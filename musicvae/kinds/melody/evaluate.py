"""``musicvae evaluate`` for melody instruments: every metric in one report, and its table."""

from __future__ import annotations

import sys

import numpy as np

from musicvae.errors import InputError
from musicvae.kinds.melody.features import feature_overlap, feature_summary, melody_features
from musicvae.kinds.melody.metrics import (
    interpolation_smoothness,
    latent_metrics,
    prior_sample_overlap,
    reconstruction_metrics,
)
from musicvae.midi.windows import check_windows


def evaluate_melody(
    model,
    *,
    test_windows: np.ndarray,
    train_windows: np.ndarray | None = None,
    n_prior: int = 1000,
    prior_temperature: float = 0.5,
    interpolation_pairs: int = 50,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
) -> dict:
    """Measure a melody model on held-out windows.

    Parameters
    ----------
    model : sequence VAE
    test_windows : ndarray [N, T] of int
        Held-out windows (split by piece): reconstruction, latent statistics,
        interpolation pairs, and the reference for prior samples.
    train_windows : ndarray [M, T] of int, optional
        Training windows. When given, a seeded subsample (at most N windows)
        measures the train reconstruction (the generalisation gap), and
        ``n_prior`` of them are compared with the test set by the same feature
        overlap as the prior samples: the score real data gets at that sample
        size, the ceiling to read the prior's score against.
    n_prior : int
        Prior samples decoded at ``prior_temperature``.
    interpolation_pairs : int
    seed : int
    progress : bool
        Show a progress bar of the stages on stderr.
    batch_size : int

    Returns
    -------
    dict
        ``meta`` (window counts, steps, z_dim, seed); ``reconstruction`` (test),
        ``reconstruction_train`` (only with ``train_windows``); ``latent``;
        ``prior_overlap`` (with ``data_baseline`` when ``train_windows`` is
        given); ``interpolation``. Plain JSON-ready values.
    """
    from tqdm.auto import tqdm

    test = check_windows(test_windows)
    train = check_windows(train_windows) if train_windows is not None and len(train_windows) else None
    rng = np.random.default_rng(seed)
    stages = ["reconstruction", "latent", "prior samples", "interpolation"]
    if train is not None:
        stages[1:1] = ["train reconstruction", "data baseline"]
    bar = tqdm(total=len(stages), desc="evaluate", unit="stage", disable=not progress, file=sys.stderr, leave=False)

    def stage(name: str) -> None:
        bar.set_postfix_str(name)

    def done() -> None:
        bar.update(1)

    try:
        report: dict = {}
        stage("reconstruction")
        report["reconstruction"] = reconstruction_metrics(model, test, batch_size=batch_size)
        done()
        reference = melody_features(test)
        baseline = None
        if train is not None:
            stage("train reconstruction")
            subset = train[np.sort(rng.choice(len(train), min(len(train), len(test)), replace=False))]
            report["reconstruction_train"] = reconstruction_metrics(model, subset, batch_size=batch_size)
            done()
            stage("data baseline")
            real = melody_features(train[np.sort(rng.choice(len(train), min(len(train), n_prior), replace=False))])
            baseline = {"overlap": feature_overlap(real, reference, seed=seed), "summary": feature_summary(real)}
            done()
        stage("latent")
        report["latent"] = latent_metrics(model, test, batch_size=batch_size)
        done()
        stage("prior samples")
        report["prior_overlap"] = prior_sample_overlap(
            model, reference, n=n_prior, temperature=prior_temperature, seed=seed, batch_size=batch_size,
            z_dim=report["latent"]["z_dim"],
        )
        if baseline is not None:
            report["prior_overlap"]["data_baseline"] = baseline
        done()
        stage("interpolation")
        report["interpolation"] = interpolation_smoothness(
            model, test, pairs=interpolation_pairs, seed=seed, batch_size=batch_size
        )
        done()
    finally:
        bar.close()
    report["meta"] = {
        "test_windows": len(test),
        "train_windows": None if train is None else len(train),
        "steps": int(test.shape[1]),
        "z_dim": report["latent"]["z_dim"],
        "seed": seed,
    }
    return report


def stitched_baseline(
    flat_model,
    *,
    test_windows: np.ndarray,
    phrase_steps: int,
    z_dim: int,
    name: str,
    n_prior: int = 1000,
    prior_temperature: float = 0.5,
    seed: int = 0,
    batch_size: int = 256,
) -> dict:
    """A flat model run phrase by phrase over long windows: its reconstruction and prior samples, measured as
    :func:`evaluate_melody` measures the long model on the same windows.

    Parameters
    ----------
    flat_model : sequence VAE
        A model of ``phrase_steps``-step windows.
    test_windows : ndarray [N, K * phrase_steps] of int
        The long model's held-out windows.
    phrase_steps, z_dim : int
        The flat model's window length and latent size.
    name : str
        The flat instrument's name, kept in the report.
    n_prior, prior_temperature, seed, batch_size
        As for :func:`evaluate_melody`; a prior sample is K phrases each decoded from its own ``z ~ N(0, I)``.

    Returns
    -------
    dict
        ``instrument``, ``phrases`` (K), ``phrase_steps``, ``reconstruction`` and ``prior_overlap`` (the
        sections of :func:`evaluate_melody`).
    """
    from musicvae.kinds.melody.stitched import StitchedModel

    test = check_windows(test_windows)
    if test.shape[1] % phrase_steps:
        raise InputError(f"windows of {test.shape[1]} steps are not whole phrases of {name}'s {phrase_steps} steps")
    stitched = StitchedModel(flat_model, phrases=test.shape[1] // phrase_steps, phrase_steps=phrase_steps,
                             z_dim=z_dim)
    return {
        "instrument": name,
        "phrases": stitched.phrases,
        "phrase_steps": phrase_steps,
        "reconstruction": reconstruction_metrics(stitched, test, batch_size=batch_size),
        "prior_overlap": prior_sample_overlap(stitched, melody_features(test), n=n_prior,
                                              temperature=prior_temperature, seed=seed, batch_size=batch_size,
                                              z_dim=stitched.z_dim),
    }


# ---------------------------------------------------------------------------
# Posterior collapse
# ---------------------------------------------------------------------------

#: An argmax reconstruction less than this above always predicting "no event" has learnt nothing from z.
COLLAPSE_MARGIN = 0.01
#: Windows :func:`collapse_check` measures after training (a few seconds on a CPU).
CHECK_WINDOWS = 256


def collapse_check(model, windows: np.ndarray, *, max_windows: int = CHECK_WINDOWS, seed: int = 0) -> dict:
    """The report sections :func:`collapse_warnings` reads (``latent``, ``reconstruction``), measured on at
    most ``max_windows`` of ``windows`` (a seeded subsample): what ``train`` checks its model with."""
    windows = check_windows(windows)
    if len(windows) > max_windows:
        rng = np.random.default_rng(seed)
        windows = windows[np.sort(rng.choice(len(windows), max_windows, replace=False))]
    return {"latent": latent_metrics(model, windows), "reconstruction": reconstruction_metrics(model, windows)}


def collapse_warnings(report: dict) -> list[str]:
    """One line when the posterior has collapsed: no active latent unit, or an argmax reconstruction within
    :data:`COLLAPSE_MARGIN` of the always-"no event" baseline; else none."""
    latent, reconstruction = report.get("latent") or {}, report.get("reconstruction") or {}
    active, z_dim = latent.get("active_units"), latent.get("z_dim")
    accuracy, baseline = reconstruction.get("sampled_accuracy"), reconstruction.get("hold_baseline")
    dead = active == 0
    trivial = accuracy is not None and baseline is not None and accuracy < baseline + COLLAPSE_MARGIN
    if not (dead or trivial):
        return []
    found = []
    if active is not None:
        found.append(f"{active} of {z_dim} latent units active")
    if accuracy is not None and baseline is not None:
        found.append(f'argmax accuracy {accuracy:.3f}, always "no event" scores {baseline:.3f}')
    return [f"the posterior has collapsed ({'; '.join(found)}): the decoder ignores the latent code. What "
            "usually helps: more data, more steps (--set train.max_steps=N), or a lower beta "
            "(--set model.kl_weight=W)"]


# ---------------------------------------------------------------------------
# The table a researcher reads
# ---------------------------------------------------------------------------


def _num(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.{digits}f}"


def _rows(rows: list[tuple[str, ...]], header: tuple[str, ...] | None = None) -> list[str]:
    table = ([header] if header else []) + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


_RECONSTRUCTION_ROWS = (
    ("token accuracy, teacher-forced", "teacher_forced_accuracy"),
    ("token accuracy, argmax decode", "sampled_accuracy"),
    ('  baseline: always "no event"', "hold_baseline"),
    ("note/off accuracy, teacher-forced", "teacher_forced_accuracy_non_hold"),
    ("note/off accuracy, argmax decode", "sampled_accuracy_non_hold"),
    ("windows reproduced exactly", "exact_match"),
    ("mean p(true token), teacher-forced", "mean_true_probability"),
    ("NLL per window (nats)", "nll_per_window"),
)

_FEATURE_LABELS = {
    "note_count": "note count",
    "pitch_count": "used pitches",
    "pitch_range": "pitch range (semitones)",
    "mean_interval": "mean |interval| (semitones)",
    "mean_ioi": "inter-onset interval (steps)",
    "mean_note_length": "note length (steps)",
    "pitch_class_histogram": "pitch-class histogram",
    "interval_histogram": "interval histogram",
    "note_length_histogram": "note-length histogram",
    "silent_share": "silent windows (share)",
}


def format_report(report: dict) -> str:
    """A readable multi-line table of an :func:`evaluate_melody` report (sections it lacks are skipped)."""
    meta = report.get("meta", {})
    head = "Melody evaluation"
    if "instrument" in report:
        head += f" of {report['instrument']}"
    if "data" in report:
        head += f" on {report['data']}" + (f" ({report['split']} split)" if "split" in report else "")
    lines = [head]
    if meta:
        train = meta.get("train_windows")
        lines.append(
            f"  {meta.get('test_windows')} held-out windows of {meta.get('steps')} steps"
            + (f", {train} training windows" if train else "")
            + f"; z_dim {meta.get('z_dim')}; seed {meta.get('seed')}"
        )

    if "reconstruction" in report:
        test, train = report["reconstruction"], report.get("reconstruction_train")
        header = ("", "test") + (("train",) if train else ())
        rows = [(label, _num(test.get(key))) + ((_num(train.get(key)),) if train else ())
                for label, key in _RECONSTRUCTION_ROWS]
        lines += ["", "Reconstruction (decoded from the posterior mean)"] + _rows(rows, header)

    if "latent" in report:
        latent = report["latent"]
        kl = np.asarray(latent.get("kl_per_dim", []), dtype=float)
        rows = [
            ("KL per window (nats)", _num(latent.get("kl_total"), 2)),
            (f"active units (Var mu > {latent.get('active_threshold', 0.01)})",
             f"{latent.get('active_units')} / {latent.get('z_dim')}"),
            ("mean posterior sigma", _num(latent.get("mean_sigma"))),
        ]
        if kl.size:
            rows.append(("KL per dim: max / median (nats)", f"{kl.max():.3f} / {np.median(kl):.3f}"))
            rows.append(("dims holding 90% of the KL", str(_dims_for_share(kl, 0.9))))
        lines += ["", "Latent space"] + _rows(rows)
        if latent.get("variational") is False:
            lines.append("  (plain autoencoder: sigma is never trained, so its KL says nothing)")

    if "prior_overlap" in report:
        prior = report["prior_overlap"]
        base = prior.get("data_baseline")
        header = ("feature", "overlap") + (("data ceiling",) if base else ()) + ("prior mean", "data mean")
        overlap, gen, ref = prior.get("overlap", {}), prior.get("generated", {}), prior.get("reference", {})
        rows = []
        for key in [*overlap.keys(), "silent_share"]:
            if key == "mean":
                continue
            row = (_FEATURE_LABELS.get(key, key), _num(overlap.get(key)))
            if base:
                row += (_num(base["overlap"].get(key)),)
            rows.append(row + (_num(gen.get(key), 2), _num(ref.get(key), 2)))
        mean_row = ("mean overlap", _num(overlap.get("mean")))
        if base:
            mean_row += (_num(base["overlap"].get("mean")),)
        rows.append(mean_row + ("", ""))
        lines += [
            "",
            f"Prior samples (n={prior.get('n')}, temperature {prior.get('temperature')}) vs held-out data",
            "  Yang & Lerch feature overlap, 1 = same distribution"
            + ("; data ceiling = training windows scored the same way" if base else ""),
        ] + _rows(rows, header)

    if "interpolation" in report:
        interp = report["interpolation"]
        rows = [
            ("paths whose distance from A never falls", _num(interp.get("monotone_share"))),
            ("Spearman rho of distance vs step", _num(interp.get("spearman_mean"))),
            ("largest step-to-step change", _num(interp.get("mean_max_jump"))),
            ("decoded A vs real A", _num(interp.get("endpoint_distance_a"))),
            ("decoded B vs real B", _num(interp.get("endpoint_distance_b"))),
            ("real A vs real B", _num(interp.get("data_distance"))),
        ]
        curve = " ".join(f"{d:.2f}" for d in interp.get("distance_curve", []))
        lines += [
            "",
            f"Interpolation ({interp.get('pairs')} pairs, {interp.get('steps')} steps, {interp.get('method')})",
            "  distance = share of steps differing",
        ] + _rows(rows) + [f"  mean distance from A along the path: {curve}"]
    if "stitched_baseline" in report:
        lines += [""] + _format_stitched(report)
    if "attribute_control" in report:
        from musicvae.kinds.melody.attributes import format_attribute_control

        lines += [""] + format_attribute_control(report["attribute_control"])
    return "\n".join(lines) + "\n"


_STITCHED_ROWS = (
    ("token accuracy, argmax decode", "reconstruction", "sampled_accuracy"),
    ("token accuracy, teacher-forced", "reconstruction", "teacher_forced_accuracy"),
    ("note/off accuracy, argmax decode", "reconstruction", "sampled_accuracy_non_hold"),
    ("windows reproduced exactly", "reconstruction", "exact_match"),
    ("prior samples: mean feature overlap", "prior_overlap", None),
)


def _stitched_value(part: dict, section: str, key: str | None):
    """One row's value of a report (or of its stitched baseline): ``key`` of ``section``, the mean overlap if None."""
    got = part.get(section) or {}
    return (got.get("overlap") or {}).get("mean") if key is None else got.get(key)


def _format_stitched(report: dict) -> list[str]:
    """This model beside a flat instrument run phrase by phrase over the same held-out windows."""
    base = report["stitched_baseline"]
    name = base["instrument"]
    rows = [(label, _num(_stitched_value(report, section, key)), _num(_stitched_value(base, section, key)))
            for label, section, key in _STITCHED_ROWS]
    return [f"Baseline: {name} stitched phrase by phrase ({base['phrases']} phrases of {base['phrase_steps']} "
            "steps, each encoded and decoded on its own)"] + _rows(rows, ("", "this model", name))


def _dims_for_share(kl: np.ndarray, share: float) -> int:
    """How many of the largest-KL dimensions hold ``share`` of the total KL."""
    total = kl.sum()
    if total <= 0:
        return 0
    cumulative = np.cumsum(np.sort(kl)[::-1]) / total
    return int(np.searchsorted(cumulative, share) + 1)

