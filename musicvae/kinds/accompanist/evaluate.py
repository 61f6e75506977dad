"""Measuring an accompanist against Bach on held-out chorales, beside two baselines.

Every system harmonises the soprano of each held-out chorale through the same
path as ``musicvae harmonize`` (4-bar windows, one-bar hop, probabilities
averaged where windows overlap), and is compared with Bach's own alto, tenor
and bass:

- per-voice **frame accuracy**: the share of steps (where any of Bach's voices
  sounds) whose sounding pitch, or rest, is Bach's;
- per-voice **note-onset accuracy**: the share of Bach's note onsets where the
  system starts the same pitch at the same step;
- **voice-leading rates** on the full four-voice texture: parallel fifths and
  octaves (unisons included) per voice-pair move (a step where both voices of a
  pair change pitch, all six pairs), crossings per vertical pair check (a step
  where both voices of a pair sound, the lower above the upper), and notes out
  of their voice's written range. These definitions give Bach's rates of
  REFERENCE.md (0.16% fifths, 0.05% octaves, 0.4% crossings) on the corpus, and
  Bach's own rates on the same held-out chorales are reported beside each system.

Baselines: **most frequent pitch** per voice (from the training data, struck
at every step, so both accuracies are as high as a constant pitch allows) and
**nearest neighbour**: for each window, the lower voices of the training window
(every in-range transposition included) whose soprano differs from it at the
fewest steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from musicvae.harmonize import DEFAULT_TRANSPOSITIONS
from musicvae.kinds.accompanist.harmony import harmony_counts, harmony_rates, notes_differ
from musicvae.midi import chorale as codec
from musicvae.voicing import NearestNeighbour, Predictor, harmonize_tokens, model_predictor, parallel_motion

#: Bach's own rates over the 350 chorales on the 16th grid (REFERENCE.md), in percent.
BACH_REFERENCE_RATES = {"parallel_fifths": 0.16, "parallel_octaves": 0.05, "crossings": 0.42}
#: Voice pairs (upper first) of S, A, T, B.
PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
LOWER_VOICES = codec.VOICES[1:]


# ---------------------------------------------------------------------------
# Metrics (pure numpy)
# ---------------------------------------------------------------------------


def voice_leading_counts(pitches: np.ndarray, *, ranges: Sequence[tuple[int, int]]) -> dict:
    """Counts behind the voice-leading rates of four-voice grids.

    Parameters
    ----------
    pitches : np.ndarray [..., 4, T] int (-1 = rest), voices S, A, T, B
    ranges : written range of each voice, for the out-of-range count (the instrument's representation's)

    Returns
    -------
    dict of int
        ``pair_moves``, ``parallel_fifths``, ``parallel_octaves``, ``pair_checks``,
        ``crossings``, ``notes``, ``out_of_range``.
    """
    p = np.asarray(pitches, np.int64).reshape(-1, *np.shape(pitches)[-2:])
    counts = dict.fromkeys(("pair_moves", "parallel_fifths", "parallel_octaves", "pair_checks", "crossings"), 0)
    for upper, lower in PAIRS:
        a, b = p[:, upper], p[:, lower]
        both = (a >= 0) & (b >= 0)
        counts["pair_checks"] += int(both.sum())
        counts["crossings"] += int((both & (b > a)).sum())
        moves, fifths, octaves = parallel_motion(a[:, :-1], b[:, :-1], a[:, 1:], b[:, 1:])
        counts["pair_moves"] += int(moves.sum())
        counts["parallel_fifths"] += int(fifths.sum())
        counts["parallel_octaves"] += int(octaves.sum())
    starts = np.zeros(p.shape, bool)
    starts[..., 0] = p[..., 0] >= 0
    starts[..., 1:] = (p[..., 1:] >= 0) & (p[..., 1:] != p[..., :-1])
    counts["notes"] = int(starts.sum())
    out = 0
    for v, (low, high) in enumerate(ranges):
        q = p[:, v]
        out += int((starts[:, v] & ((q < low) | (q > high))).sum())
    counts["out_of_range"] = out
    return counts


def voice_leading_rates(counts: dict) -> dict:
    """Percentages from :func:`voice_leading_counts` (``parallel_fifths_and_octaves`` is their sum)."""

    def pct(n: int, d: int) -> float:
        return 100.0 * n / d if d else 0.0

    rates = {
        "parallel_fifths": pct(counts["parallel_fifths"], counts["pair_moves"]),
        "parallel_octaves": pct(counts["parallel_octaves"], counts["pair_moves"]),
        "crossings": pct(counts["crossings"], counts["pair_checks"]),
        "out_of_range": pct(counts["out_of_range"], counts["notes"]),
    }
    rates["parallel_fifths_and_octaves"] = rates["parallel_fifths"] + rates["parallel_octaves"]
    return rates


def accuracy_counts(pred: codec.ChoraleGrid, target: codec.ChoraleGrid) -> np.ndarray:
    """Per lower voice: [frames right, frames, onsets right, onsets] of a harmonisation against Bach.

    Frames are the steps where any of Bach's voices sounds (a pickup's padding
    and the rests after the last chord are left out).

    Returns
    -------
    np.ndarray [3, 4] int
    """
    frames = (target.pitches >= 0).any(axis=0)
    out = np.zeros((3, 4), np.int64)
    for i, v in enumerate(range(1, 4)):
        same = pred.pitches[v] == target.pitches[v]
        out[i, 0] = np.count_nonzero(same & frames)
        out[i, 1] = np.count_nonzero(frames)
        onsets = target.onsets[v] & (target.pitches[v] >= 0)
        out[i, 2] = np.count_nonzero(onsets & pred.onsets[v] & same)
        out[i, 3] = np.count_nonzero(onsets)
    return out


# ---------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------


def _one_hot(tokens: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[tokens]


def most_frequent_predictor(train: np.ndarray, *, ranges: Sequence[tuple[int, int]]) -> Predictor:
    """Each lower voice strikes its most frequent training pitch at every step.

    Parameters
    ----------
    train : np.ndarray [N, 4, T] tokens
    ranges : the four voices' ranges the tokens were cut with (they map tokens to pitches)
    """
    pitches, _ = codec.decode_grid(train, ranges=ranges)
    tokens = []
    for v in range(1, 4):
        sounding = pitches[:, v][pitches[:, v] >= 0]
        tokens.append(codec.FIRST_PITCH + int(np.bincount(sounding).argmax()) - ranges[v][0])

    hot = [_one_hot(np.array(tok), codec.num_classes(ranges[v + 1])) for v, tok in enumerate(tokens)]

    def predict(windows: np.ndarray) -> list[np.ndarray]:
        n, t = windows.shape
        return [np.broadcast_to(h, (n, t, len(h))) for h in hot]

    return predict


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def harmonize_grid(grid: codec.ChoraleGrid, predictor: Predictor, *, ranges: Sequence[tuple[int, int]],
                   window_steps: int = 64, hop_steps: int = 16, voice_leading: bool = True,
                   phrases: bool = False) -> codec.ChoraleGrid:
    """Bach's soprano of ``grid`` with the lower voices a predictor gives (argmax), as in ``harmonize``;
    ``phrases``: the predictor also reads the phrase tokens of the grid's fermatas."""
    low, high = ranges[0]
    soprano = codec.encode_voice(grid.pitches[0], grid.onsets[0], low=low, high=high)
    phrase = _melody_of(grid).phrase() if phrases else None
    lower = harmonize_tokens(soprano, predictor, ranges=ranges, window_steps=window_steps, hop_steps=hop_steps,
                             voice_leading=voice_leading, phrase=phrase)
    pitches, onsets = codec.decode_grid(lower, ranges=ranges[1:])
    return codec.ChoraleGrid(pitches=np.concatenate([grid.pitches[:1], pitches]),
                             onsets=np.concatenate([grid.onsets[:1], onsets]), pickup_steps=grid.pickup_steps)


def evaluate_accompanist(
    model,
    *,
    test_grids: Sequence[codec.ChoraleGrid],
    train_windows: np.ndarray,
    ranges: Sequence[tuple[int, int]],
    window_steps: int = 64,
    hop_steps: int = 16,
    max_shift: int = 12,
    transpositions: int = DEFAULT_TRANSPOSITIONS,
    harmonizers: Mapping[str, Callable] | None = None,
    variations: Callable | None = None,
    phrase_ends: Sequence[Sequence[int]] | None = None,
    progress: bool = True,
) -> dict:
    """Accuracy, voice leading and harmony of a model, the two baselines and Bach on held-out chorales.

    Parameters
    ----------
    model : Accompanist or ChoraleNet
        Its window predictor, decoded with voice leading (``model_alone``, or ``model`` when no
        harmonizer is given) and per-step argmax (``model_argmax``), with the transposition ensemble
        ``transpositions``.
    test_grids : sequence of ChoraleGrid
        Held-out chorales (pitches/onsets [4, T]).
    train_windows : np.ndarray [N, 4, T] tokens
        Training windows, for the baselines (transposed like the model's data by up to ``max_shift``).
    ranges : sequence of (low, high)
        The four voices' ranges of the model's representation: the training windows were cut
        with them and the model's tokens decode with them.
    harmonizers : mapping of name to callable, optional
        More systems: ``harmonizer(melody) -> Harmonization`` (:func:`musicvae.harmonize.melody_harmonizer`),
        fed Bach's soprano; the first of each harmonisation is scored. ``model`` should be ``harmonize``'s own path.
    variations : callable, optional
        A harmonizer giving several harmonisations: the ``variations`` block reports how much they differ
        pairwise (:func:`~musicvae.kinds.accompanist.harmony.notes_differ`) beside each one's accuracy,
        voice leading and harmony.
    phrase_ends : per chorale, the steps of its soprano fermatas, for the cadence measures (default: each
        grid's ``fermatas``).

    Returns
    -------
    dict
        ``systems``: per system (``model``, ``model_argmax``, ``nearest_neighbour``, ``most_frequent``,
        ``bach``...) its ``frame_accuracy`` and ``onset_accuracy`` per voice and mean, ``voice_leading``
        and ``harmony`` rates (%) and ``seconds``; ``variations``; plus ``chorales``, ``frames``,
        ``bach_reference`` and ``targets``.
    """
    augmented = codec.augment_windows(train_windows, ranges=ranges, max_shift=max_shift)
    ends = list(phrase_ends) if phrase_ends is not None else [list(grid.fermatas) for grid in test_grids]
    phrases = bool(getattr(model, "phrase_classes", 0))  # a chorale net that reads the fermatas
    first = "model_alone" if harmonizers else "model"
    # Each system harmonises a grid's soprano; Bach is the held-out chorale itself.
    systems: dict[str, Callable[[codec.ChoraleGrid], codec.ChoraleGrid]] = {}
    for name, harmonizer in (harmonizers or {}).items():
        systems[name] = lambda grid, h=harmonizer: h(_melody_of(grid)).grids[0]
    for name, predictor, voice_leading, reads in (
        (first, model_predictor(model, transpositions=transpositions), True, phrases),
        ("model_argmax", model_predictor(model, transpositions=transpositions), False, phrases),
        ("nearest_neighbour", NearestNeighbour(augmented, ranges=ranges), False, False),
        ("most_frequent", most_frequent_predictor(train_windows, ranges=ranges), False, False),
    ):
        systems[name] = lambda grid, p=predictor, vl=voice_leading, r=reads: harmonize_grid(
            grid, p, ranges=ranges, window_steps=window_steps, hop_steps=hop_steps, voice_leading=vl, phrases=r)
    systems["bach"] = lambda grid: grid
    report: dict = {"chorales": len(test_grids), "train_windows": len(train_windows), "transpositions": transpositions,
                    "train_windows_transposed": len(augmented), "systems": {}}
    for name, system in systems.items():
        if progress:
            print(f"evaluating {name} on {len(test_grids)} chorales", flush=True)
        began = time.perf_counter()
        outputs = [system(grid) for grid in test_grids]
        report["systems"][name] = {**_score(outputs, test_grids, ends, ranges=ranges),
                                   "seconds": round(time.perf_counter() - began, 2)}
    report["frames"] = int(sum(np.count_nonzero((g.pitches >= 0).any(axis=0)) for g in test_grids))
    if variations is not None:
        if progress:
            print(f"evaluating variations on {len(test_grids)} chorales", flush=True)
        report["variations"] = _variations(variations, test_grids, ends, ranges=ranges)
    report["bach_reference"] = dict(BACH_REFERENCE_RATES)
    report["targets"] = _targets(report)
    return report


def _melody_of(grid: codec.ChoraleGrid):
    from musicvae.harmonize import Melody

    return Melody(pitches=grid.pitches[0].astype(np.int16), onsets=grid.onsets[0] & (grid.pitches[0] >= 0),
                  pickup_steps=grid.pickup_steps, fermatas=tuple(grid.fermatas))


def _score(outputs: Sequence[codec.ChoraleGrid], targets: Sequence[codec.ChoraleGrid],
           ends: Sequence[Sequence[int]], *, ranges: Sequence[tuple[int, int]]) -> dict:
    """Accuracy against Bach, voice-leading rates and harmony rates of harmonisations of the held-out chorales."""
    acc = np.zeros((3, 4), np.int64)
    counts: dict[str, int] = {}
    harmony: dict[str, int] = {}
    for out, grid, phrase_ends in zip(outputs, targets, ends):
        acc += accuracy_counts(out, grid)
        for key, value in voice_leading_counts(out.pitches, ranges=ranges).items():
            counts[key] = counts.get(key, 0) + value
        found = harmony_counts(out.pitches, onsets=out.onsets, phrase_ends=phrase_ends, reference=grid.pitches)
        for key, value in found.items():
            harmony[key] = harmony.get(key, 0) + value
    frame = acc[:, 0] / np.maximum(acc[:, 1], 1)
    onset = acc[:, 2] / np.maximum(acc[:, 3], 1)
    return {
        "frame_accuracy": _per_voice(frame),
        "onset_accuracy": _per_voice(onset),
        "voice_leading": {k: round(v, 3) for k, v in voice_leading_rates(counts).items()},
        "voice_leading_counts": counts,
        "harmony": harmony_rates(harmony),
        "harmony_counts": harmony,
    }


def _variations(harmonizer: Callable, grids: Sequence[codec.ChoraleGrid], ends: Sequence[Sequence[int]], *,
                ranges: Sequence[tuple[int, int]]) -> dict:
    """Harmonise every held-out soprano N ways: how much the N differ, and how each one scores (ranked order)."""
    began = time.perf_counter()
    sets = [harmonizer(_melody_of(grid)).grids for grid in grids]
    n = len(sets[0])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    differ = {f"{i + 1}-{j + 1}": round(float(np.mean([
        notes_differ(s[i].pitches, s[j].pitches, onsets_a=s[i].onsets, onsets_b=s[j].onsets) for s in sets])), 4)
        for i, j in pairs}
    ranked = {str(k + 1): _score([s[k] for s in sets], grids, ends, ranges=ranges) for k in range(n)}
    return {"count": n, "notes_differ": differ, "min_notes_differ": min(differ.values()) if differ else 0.0,
            "each": ranked, "seconds": round(time.perf_counter() - began, 2)}


def _targets(report: dict) -> dict:
    systems = report["systems"]
    model, bach = systems["model"], systems["bach"]
    nn = systems["nearest_neighbour"]
    bach_vl, bach_h = bach["voice_leading"], bach["harmony"]

    def meets_voice_leading(r: dict) -> bool:
        vl, h = r["voice_leading"], r["harmony"]
        return (vl["parallel_fifths_and_octaves"] <= 3 * bach_vl["parallel_fifths_and_octaves"]
                and vl["crossings"] <= 3 * bach_vl["crossings"]
                and abs(h["chord_tone_onsets"] - bach_h["chord_tone_onsets"]) <= 5)

    targets = {
        "frame_accuracy": model["frame_accuracy"]["mean"],
        "onset_accuracy": model["onset_accuracy"]["mean"],
        "frame_accuracy_at_least_0.45": model["frame_accuracy"]["mean"] >= 0.45,
        "onset_accuracy_at_least_0.38": model["onset_accuracy"]["mean"] >= 0.38,
        "frame_over_nearest_neighbour": round(model["frame_accuracy"]["mean"] - nn["frame_accuracy"]["mean"], 4),
        "onset_over_nearest_neighbour": round(model["onset_accuracy"]["mean"] - nn["onset_accuracy"]["mean"], 4),
        "beats_nearest_neighbour": _beats(model, nn),
        "beats_most_frequent": _beats(model, systems["most_frequent"]),
        "parallels_vs_bach": round(model["voice_leading"]["parallel_fifths_and_octaves"]
                                   / max(bach_vl["parallel_fifths_and_octaves"], 1e-9), 2),
        "crossings_vs_bach": round(model["voice_leading"]["crossings"] / max(bach_vl["crossings"], 1e-9), 2),
        "chord_tone_onsets_vs_bach": round(model["harmony"]["chord_tone_onsets"] - bach_h["chord_tone_onsets"], 2),
        "voice_leading_met": meets_voice_leading(model),
    }
    targets["beats_nearest_neighbour_by_0.05"] = (targets["frame_over_nearest_neighbour"] >= 0.05
                                                  and targets["onset_over_nearest_neighbour"] >= 0.05)
    targets["parallels_within_3x_bach"] = targets["parallels_vs_bach"] <= 3.0
    if "variations" in report:
        v = report["variations"]
        targets["variations_differ_at_least_25%"] = v["min_notes_differ"] >= 0.25
        targets["every_variation_meets_voice_leading"] = all(meets_voice_leading(r) for r in v["each"].values())
    return targets


def evaluate_instrument(
    instrument, *, data: str | None = None, split: str = "test", max_chorales: int = 0, progress: bool = True
) -> dict:
    """:func:`evaluate_accompanist` for an accompanist instrument on a split of its (or another) chorale recipe.

    ``model`` is ``harmonize``'s first harmonisation, and the ``variations`` block harmonises every
    soprano 3 ways as ``harmonize --variations 3 --seed 0`` does (a chorale net's with its Gibbs rounds).
    """
    from musicvae.harmonize import melody_harmonizer
    from musicvae.kinds.accompanist.data import load_chorale_grids, load_chorale_split

    instrument.require_kind("accompanist")
    config = instrument.config
    rep = config.model.representation
    recipe = data or config.data
    grids = load_chorale_grids(recipe, split=split)
    if max_chorales and len(grids) > max_chorales:
        grids = dict(list(grids.items())[:max_chorales])
    train = load_chorale_split(recipe, split="train", bars=rep.bars, ranges=rep.ranges).windows
    # An accompanist with a memory of its training chorales harmonises through it (the ``model`` row);
    # ``model_alone`` is the same model without it.
    harmonizers = {"model": melody_harmonizer(instrument, variations=1, seed=0)} if config.model.memory > 0 else None
    report = evaluate_accompanist(
        instrument.model, test_grids=list(grids.values()), train_windows=train, ranges=rep.ranges,
        window_steps=rep.steps, hop_steps=rep.steps_per_bar, max_shift=config.train.transpose,
        transpositions=DEFAULT_TRANSPOSITIONS, harmonizers=harmonizers,
        variations=melody_harmonizer(instrument, variations=3, seed=0), progress=progress)
    return {"instrument": instrument.name, "data": str(recipe), "split": split, "chorale_ids": list(grids), **report}


def _per_voice(values: np.ndarray) -> dict:
    return {**dict(zip(LOWER_VOICES, values.round(4).tolist())), "mean": round(float(values.mean()), 4)}


def _beats(a: dict, b: dict) -> bool:
    return a["frame_accuracy"]["mean"] > b["frame_accuracy"]["mean"] and \
        a["onset_accuracy"]["mean"] > b["onset_accuracy"]["mean"]


def format_report(report: dict) -> str:
    """The evaluation report as text tables: accuracy and voice leading, harmony, variations, targets."""
    lines = [
        f"{report.get('instrument', 'model')} on {report['chorales']} held-out chorales "
        f"({report['frames']} sounding 16th steps; split {report.get('split', 'test')}), "
        "harmonised window by window (4 bars, 1-bar hop, overlaps averaged)",
        "",
        f"{'system':18s} {'frame acc A/T/B':>20s} {'mean':>6s} {'onset acc A/T/B':>20s} {'mean':>6s} "
        f"{'5ths%':>6s} {'8ves%':>6s} {'cross%':>7s} {'range%':>7s}",
    ]
    for name, r in report["systems"].items():
        lines.append(_accuracy_row(name, r))
    ref = report["bach_reference"]
    lines += [
        f"{'Bach (REFERENCE)':18s} {'':>20s} {'':>6s} {'':>20s} {'':>6s} {ref['parallel_fifths']:6.2f} "
        f"{ref['parallel_octaves']:6.2f} {ref['crossings']:7.2f}",
        "",
        "5ths/8ves: parallel (and antiparallel) fifths / octaves incl. unisons per voice-pair move; cross: crossings "
        "per vertical pair check; range: notes outside the written voice range.",
    ]
    if all("harmony" in r for r in report["systems"].values()):
        lines += ["", f"{'system':18s} {'chord-tone onsets%':>19s} {'<4 pitches%':>12s} {'spacing>8ve%':>13s} "
                      f"{'root-pos cadence%':>18s} {'cadence as Bach%':>17s}"]
        for name, r in report["systems"].items():
            lines.append(_harmony_row(name, r["harmony"]))
        lines.append("chord-tone onsets: note onsets (3+ voices sounding) whose pitch classes form a triad or seventh "
                     "(fifth may be missing); <4 pitches: steps with 4 voices on fewer than 4 pitches; spacing: S-A "
                     "or A-T over an octave; cadences: chords at the soprano's fermatas.")
    v = report.get("variations")
    if v:
        differ = ", ".join(f"{pair}: {share:.1%}" for pair, share in v["notes_differ"].items())
        lines += ["", f"variations ({v['count']} per chorale, ranked by the model's likelihood): lower-voice notes "
                      f"that differ pairwise {differ}"]
        for k, r in v["each"].items():
            lines.append(_accuracy_row(f"variation {k}", r))
        for k, r in v["each"].items():
            lines.append(_harmony_row(f"variation {k}", r["harmony"]))
    t = report["targets"]
    yes = {True: "yes", False: "NO"}
    lines += [
        "",
        f"targets: frame accuracy {t['frame_accuracy']:.3f} (>= 0.45: {yes[t['frame_accuracy_at_least_0.45']]}), "
        f"onset accuracy {t['onset_accuracy']:.3f} (>= 0.38: {yes[t['onset_accuracy_at_least_0.38']]})",
        f"         over nearest neighbour: frame {t['frame_over_nearest_neighbour']:+.3f}, onset "
        f"{t['onset_over_nearest_neighbour']:+.3f} (>= 0.05 each: {yes[t['beats_nearest_neighbour_by_0.05']]}); "
        f"beats most frequent {yes[t['beats_most_frequent']]}",
        f"         parallel 5ths+8ves {t['parallels_vs_bach']:.2f}x Bach's rate on these chorales, crossings "
        f"{t['crossings_vs_bach']:.2f}x (<= 3x each), chord-tone onsets {t['chord_tone_onsets_vs_bach']:+.1f} "
        f"points from Bach's (within 5): voice leading {'met' if t['voice_leading_met'] else 'NOT met'}",
    ]
    if "variations_differ_at_least_25%" in t:
        lines.append(f"         variations differ by >= 25%: {yes[t['variations_differ_at_least_25%']]}; every "
                     f"variation meets the voice-leading targets: {yes[t['every_variation_meets_voice_leading']]}")
    return "\n".join(lines)


def _accuracy_row(name: str, r: dict) -> str:
    fa, oa, vl = r["frame_accuracy"], r["onset_accuracy"], r["voice_leading"]
    return (f"{name:18s} {'/'.join(f'{fa[v]:.3f}' for v in LOWER_VOICES):>20s} {fa['mean']:6.3f} "
            f"{'/'.join(f'{oa[v]:.3f}' for v in LOWER_VOICES):>20s} {oa['mean']:6.3f} "
            f"{vl['parallel_fifths']:6.2f} {vl['parallel_octaves']:6.2f} {vl['crossings']:7.2f} "
            f"{vl['out_of_range']:7.2f}")


def _harmony_row(name: str, h: dict) -> str:
    return (f"{name:18s} {h['chord_tone_onsets']:19.1f} {h['fewer_than_four_pitches']:12.1f} {h['wide_spacing']:13.1f} "
            f"{h['root_position_cadences']:18.1f} {h['cadences_as_bach']:17.1f}")
