"""A timbre evaluation's pair summaries and its text table (see :mod:`.evaluate`)."""

from __future__ import annotations

import numpy as np

SYSTEMS = (("vae", "VAE"), ("audio", "audio xfade"), ("spectrogram", "spec xfade"))


def _mean_curve(curves: list[dict]) -> dict:
    return {key: float(np.mean([c[key] for c in curves])) for key in curves[0]}


def summarise_pairs(results: list[tuple[str, dict, dict]]) -> tuple[dict, dict]:
    """One system's blend and midpoint metrics over its pairs -> (blend summary, midpoint summary).

    ``results`` holds (pair name, :func:`~.evaluate.blend_metrics`,
    :func:`~.evaluate.midpoint_coherence`) per pair. Each metric of a pair
    becomes its mean over the pairs (one pair: the pair's own values), and
    ``pitch_accuracy_min``, ``endpoint_accuracy_min``, ``spearman_rho_worst_pair``
    are the worst pair's; ``pitch_accuracy_worst_morph`` is the worst pitch
    accuracy of any pair at any morph, ``spearman_rho_min`` the worst pitch's
    rho of any pair, and ``worst_pair`` names the pairs.
    """
    names = [name for name, _, _ in results]
    blends = [b for _, b, _ in results]

    def worst(key: str) -> str:
        return names[int(np.argmin([b[key] for b in blends]))]

    cents = [b["median_abs_cents"] for b in blends if b["median_abs_cents"] is not None]
    blend = {
        "pitch_accuracy": float(np.mean([b["pitch_accuracy"] for b in blends])),
        "pitch_accuracy_by_morph": _mean_curve([b["pitch_accuracy_by_morph"] for b in blends]),
        "median_abs_cents": float(np.median(cents)) if cents else None,
        "spearman_rho": float(np.mean([b["spearman_rho"] for b in blends])),
        "spearman_rho_min": float(min(b["spearman_rho_min"] for b in blends)),
        "endpoint_accuracy": float(np.mean([b["endpoint_accuracy"] for b in blends])),
        "p_to_by_morph": _mean_curve([b["p_to_by_morph"] for b in blends]),
    }
    if "p_other_by_morph" in blends[0]:
        blend["p_other_by_morph"] = _mean_curve([b["p_other_by_morph"] for b in blends])
    blend.update({
        "pairs": len(blends),
        "pitch_accuracy_min": float(min(b["pitch_accuracy"] for b in blends)),
        "pitch_accuracy_worst_morph": float(min(min(b["pitch_accuracy_by_morph"].values()) for b in blends)),
        "endpoint_accuracy_min": float(min(b["endpoint_accuracy"] for b in blends)),
        "spearman_rho_worst_pair": float(min(b["spearman_rho"] for b in blends)),
        "worst_pair": {key: worst(key) for key in ("pitch_accuracy", "endpoint_accuracy", "spearman_rho")},
    })
    midpoint = {key: float(np.mean([m[key] for _, _, m in results])) for key in results[0][2]}
    return blend, midpoint


def _curve(values: dict) -> str:
    return " ".join(f"{v:.2f}" for v in values.values())


def _pair_table(report: dict) -> list[str]:
    """One line per pair: the VAE's numbers, then both crossfades' rho and endpoints."""
    lines = [f"per pair (each at {_pitch_note(report)}):",
             f"  {'pair':18s} {'pitch':>6s} {'worst':>6s} {'rho':>6s} {'ends':>5s} {'onsets':>6s}  "
             f"{'P(to) 0/.25/.5/.75/1':24s} {'P(other)@.5':>11s} | audio rho ends | spec rho ends"]
    for name, entry in report["pairs"].items():
        v, a, s = (entry["blend"][k] for k, _ in SYSTEMS)
        other = v.get("p_other_by_morph", {}).get("0.5")
        lines.append(
            f"  {name:18s} {v['pitch_accuracy']:6.1%} {min(v['pitch_accuracy_by_morph'].values()):6.1%} "
            f"{v['spearman_rho']:6.3f} {v['endpoint_accuracy']:5.0%} {entry['midpoint']['vae']['onsets']:6.2f}  "
            f"{_curve(v['p_to_by_morph']):24s} {'' if other is None else f'{other:.2f}':>11s} | "
            f"{a['spearman_rho']:9.3f} {a['endpoint_accuracy']:4.0%} | {s['spearman_rho']:8.3f} "
            f"{s['endpoint_accuracy']:4.0%}")
    return lines


def _pitch_note(report: dict) -> str:
    counts = sorted({len(e["pitches"]) for e in report["pairs"].values()})
    return f"{'/'.join(map(str, counts))} pitches x 5 morphs"


def _confusion_table(decoded: dict) -> list[str]:
    families = decoded["families"]
    width = max(6, *(len(f) for f in families))
    lines = [f"classifier on each family's mean latent decoded at {decoded['pitches']} pitches (rows: decoded family; "
             f"columns: classified as): {decoded['accuracy']:.1%} right",
             "  " + " " * width + " " + " ".join(f"{f[:width]:>{width}s}" for f in families)]
    for family, row in zip(families, decoded["matrix"]):
        lines.append(f"  {family:{width}s} " + " ".join(f"{n:>{width}d}" for n in row))
    return lines


def format_timbre_metrics(report: dict) -> str:
    """The report as the table a researcher reads: targets, the unseen SoundFont, the blend against the
    crossfades (every pair summarised, then pair by pair with more than two families), the decoded family
    means' confusion matrix, and the prior."""
    u, b, m, p = report["unseen"], report["blend"], report["midpoint"], report["prior"]
    families = report.get("families") or list(p["family_shares"])
    many = len(families) > 2
    lines = ["targets (measured / target / met):"]
    for name, (value, target, ok) in report["targets"].items():
        at_most = name.endswith(("db", "hops"))  # a distance or an error: the target is a ceiling
        lines.append(f"  {name:18s} {value:8.3f}  {'<=' if at_most else '>='} {target:<5g} "
                     f"{'yes' if ok else 'NO'}")
    if many:
        worst = b["vae"]["worst_pair"]
        lines.append(f"  (pitch accuracy: the worst pair's, {worst['pitch_accuracy']}; endpoints: the worst pair's, "
                     f"{worst['endpoint_accuracy']}; rho: the mean over {b['vae']['pairs']} pairs)")
    lines += [
        "",
        f"unseen instruments ({', '.join(u['instruments'])}; {u['notes']} notes):",
        f"  log-spectral distance {u['lsd_db']:.2f} dB (" +
        ", ".join(f"{k} {v:.2f}" for k, v in u["lsd_db_by_family"].items()) + ")",
        f"  family means by pitch (spectrogram baseline, told the family) {u['spectrogram_baseline_lsd_db']:.2f} dB",
        f"  spectral convergence after inversion {u['sc_inversion_db']:.1f} dB (vs decoded), "
        f"{u['sc_vs_original_db']:.1f} dB (vs original audio)",
        f"  classifier agrees with the true family on {u['classifier_agreement']:.1%} of reconstructions "
        f"(on {u['classifier_accuracy_on_real_notes']:.1%} of the real notes)",
        "",
    ]
    to = "to-family" if many else families[1]
    if many:
        lines.append(f"blend, the mean of {b['vae']['pairs']} pairs (rho min: the worst pitch of any pair):")
    lines.append(f"{'blend':12s} {'pitch acc':>9s} {'rho':>6s} {'rho min':>7s} {'endpoints':>9s} {'onsets@.5':>9s} "
                 f"{'layering':>8s}  P({to}) at morph 0/.25/.5/.75/1")
    for kind, label in SYSTEMS:
        r = b[kind]
        lines.append(f"{label:12s} {r['pitch_accuracy']:9.1%} {r['spearman_rho']:6.3f} {r['spearman_rho_min']:7.3f} "
                     f"{r['endpoint_accuracy']:9.1%} {m[kind]['onsets']:9.2f} {m[kind]['layering_fit']:8.3f}  "
                     f"{_curve(r['p_to_by_morph'])}")
    lines.append("  (layering: R^2 of the midpoint's power envelope as a mix of the endpoints'; 1 = two notes layered)")
    if many:
        r = b["vae"]
        lines += [f"  VAE worst pair: pitch accuracy {r['pitch_accuracy_min']:.1%} (worst morph of any pair "
                  f"{r['pitch_accuracy_worst_morph']:.1%}), endpoints {r['endpoint_accuracy_min']:.1%}, "
                  f"rho {r['spearman_rho_worst_pair']:.3f}", ""]
        lines += _pair_table(report)
        lines.append("  (pitch: accuracy over the morphs; worst: at the worst morph; P(other): what the classifier "
                     "gives the other families)")
    if "decoded_means" in report:
        lines += [""] + _confusion_table(report["decoded_means"])
    shares = p["family_shares"]
    if many:
        judged = (f"judged one family with confidence {p['confident_share']:.1%} ("
                  + ", ".join(f"{f} {v:.0%}" for f, v in shares.items()) + ")")
    else:
        judged = (f"judged {families[0]} or {families[1]} with confidence {p['confident_share']:.1%} "
                  f"({families[1]} {shares[families[1]]:.1%})")
    held = report.get("held", {})
    if held.get("notes"):
        w = held["worst"]
        lines += ["", f"held notes ({held['notes']} of {', '.join(held['families'])}, "
                  f"held {held['held_seconds']:g} s): "
                  f"key-up heard within {held['median_hops']:.2f} hops of where it should be (median), "
                  f"p95 {held['p95_hops']:.2f}, worst {w['hops']:+.2f} ({w['family']} {w['pitch']}); "
                  f"{held['over_one_hop']} over one hop"]
    lines += [
        "",
        f"prior samples ({p['samples']}): pitch accuracy {p['pitch_accuracy']:.1%}, {judged}; the baselines have no "
        "prior",
        "and no encoder: they cannot reconstruct the unseen instruments at all.",
    ]
    return "\n".join(lines)
