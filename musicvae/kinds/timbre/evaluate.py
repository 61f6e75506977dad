"""Metrics of a timbre instrument of two families or more (``musicvae evaluate`` on a timbre instrument).

- Reconstruction of the held-out SoundFont's notes (an unseen instrument):
  log-spectral distance in the model's log-spectrogram domain, spectral
  convergence of the inverted audio, and whether a classifier of all the
  families (:mod:`.classifier`) still names the right one.
- The blend of every pair of families, at each pitch and morph in
  {0, .25, .5, .75, 1}: pitch accuracy of the decoded audio (pYIN median f0
  within 50 cents), P(to-family) rising with morph (Spearman rho per pitch, of
  the log-odds of the pair's two families), endpoints classified as their
  family among all the families. Two families are one pair at every pitch;
  with more, each pair is checked at every third pitch (offset by the pair's
  index, so every pitch is checked by some pairs): pYIN is the slow part.
  ``blend`` summarises the pairs (means; ``_min``: the worst pair), the
  targets use the worst pair's pitch accuracy and endpoints and the mean rho.
- Two baselines run through the same tests: an audio crossfade of real notes,
  and a crossfade of per-pitch mean log-spectrograms (inverted like the
  model's). They blend too, so what they cannot do is measured as well:
  encode an unseen instrument's notes, sample new timbres from a prior, and
  give a midpoint that is one note (one onset, one envelope) rather than two
  layered ones.
- The classifier's confusion matrix on each family's mean latent decoded at
  every pitch, and a latent map (:mod:`.latent_map`) for the figure.
- Held notes (:mod:`.held`): every sustaining family's notes held 3 s at every
  other pitch, the key-up heard within one hop of where it should be.
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import torch

from musicvae import blend as verbs
from musicvae.audio.spectrogram import log_spectral_distance_db, spectral_convergence_db
from musicvae.errors import DataError
from musicvae.instrument import Instrument
from musicvae.kinds.timbre.classifier import FamilyClassifier, note_features, softmax
from musicvae.kinds.timbre.data import TimbreNotes
from musicvae.kinds.timbre.held import TARGET_HOPS as HELD_TARGET_HOPS
from musicvae.kinds.timbre.held import held_note_lengths
from musicvae.kinds.timbre.report import format_timbre_metrics, summarise_pairs

__all__ = ["MORPHS", "FamilyClassifier", "blend_grid", "blend_metrics", "evaluate_instrument", "evaluate_timbre",
           "format_timbre_metrics", "midpoint_coherence", "note_features", "pitch_errors_cents"]

MORPHS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Held notes are measured held this long (past a 1-s note's length, into its loop).
HELD_SECONDS = 3.0
#: Decoded notes count as in tune within this many cents of the asked pitch.
PITCH_TOLERANCE_CENTS = 50.0
#: A prior sample is "judged one family with confidence" beyond this probability.
CONFIDENT = 0.8
TARGETS = {"pitch_accuracy": 0.95, "endpoint_accuracy": 0.95, "spearman_rho": 0.9, "unseen_lsd_db": 7.0}
#: More than two families share one latent space of the same size: the unseen SoundFont's distance
#: may then lie up to 1 dB above flute-guitar's 6.45 dB.
MANY_FAMILIES_LSD_DB = 7.45
#: With more than two families each pair's blend is checked at every third pitch (pYIN is the slow part).
PAIR_PITCH_STRIDE = 3
#: The velocity blends, decoded family means and baselines are played at.
VELOCITY = 100


# ---------------------------------------------------------------------------
# Pitch
# ---------------------------------------------------------------------------


def pitch_errors_cents(audio: np.ndarray, pitches: np.ndarray, *, sample_rate: int,
                       cache: dict | None = None) -> np.ndarray:
    """Cents between each note's pYIN median f0 and its MIDI pitch [N] (inf where nothing is voiced).

    pYIN searches 13 semitones either side of the asked pitch, so an octave
    error still shows, at a fifth of the cost of a five-octave search.
    ``cache`` (a dict kept by the caller) remembers notes by their bytes: a
    family's blend endpoints recur in every pair it is part of.
    """
    from musicvae.audio.loaders import median_f0

    errors = []
    for note, pitch in zip(np.asarray(audio), np.asarray(pitches)):
        key = None
        if cache is not None:
            key = (int(pitch), hashlib.blake2b(np.ascontiguousarray(note).tobytes(), digest_size=16).digest())
            if key in cache:
                errors.append(cache[key])
                continue
        target = 440.0 * 2.0 ** ((float(pitch) - 69.0) / 12.0)
        span = 2.0 ** (13.0 / 12.0)
        f0 = median_f0(note, sample_rate=sample_rate, fmin=target / span, fmax=min(target * span, sample_rate / 4),
                       hop_length=512)
        errors.append(np.inf if f0 is None else 1200.0 * np.log2(f0 / target))
        if key is not None:
            cache[key] = errors[-1]
    return np.asarray(errors)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.all(y == y[0]):
        return 0.0  # flat: no evidence of a rise
    return float(spearmanr(x, y).statistic)


# ---------------------------------------------------------------------------
# Blend grids: the model and the baselines
# ---------------------------------------------------------------------------


def _reference_notes(train: TimbreNotes, family: int, velocity: int) -> dict[int, np.ndarray]:
    """One real training note per pitch of a family: the first instrument's, at the velocity nearest ``velocity``."""
    rows = np.flatnonzero(train.family == family)
    instrument = np.min(train.instrument[rows])
    rows = rows[train.instrument[rows] == instrument]
    out = {}
    for pitch in np.unique(train.pitch[rows]):
        at = rows[train.pitch[rows] == pitch]
        out[int(pitch)] = np.asarray(train.audio[at[np.argmin(np.abs(train.velocity[at] - velocity))]])
    return out


def blend_grid(kind: str, instrument: Instrument, train: TimbreNotes, pitches: list[int], *,
               pair: tuple[int, int] = (0, 1), velocity: int = VELOCITY, train_specs: np.ndarray | None = None,
               references: dict | None = None) -> np.ndarray:
    """Notes [len(pitches), len(MORPHS), n_samples] from family ``pair[0]`` (morph 0) to ``pair[1]`` (morph 1).

    ``kind``: "vae" (decoded path between the family mean latents at each pitch), "audio"
    (crossfade of a real note of each family), "spectrogram" (crossfade of the
    per-pitch mean log-spectrograms of each family, inverted). ``references``
    (a dict kept by the caller) caches the audio crossfade's real notes by family.
    """
    a, b = pair
    out = []
    if kind == "vae":
        for pitch in pitches:
            za, zb = (verbs.family_latent(instrument, train.families[f], pitch) for f in pair)
            z = np.stack([verbs.mix_latent(za, zb, m) for m in MORPHS])
            out.append(verbs.decode(instrument, z, pitch, velocity))
    elif kind == "audio":
        references = {} if references is None else references
        for f in pair:
            if f not in references:
                references[f] = _reference_notes(train, f, velocity)
        for pitch in pitches:
            out.append(np.stack([(1 - m) * references[a][pitch] + m * references[b][pitch] for m in MORPHS]))
    elif kind == "spectrogram":
        for pitch in pitches:
            mean = [train_specs[(train.family == f) & (train.pitch == pitch)].mean(axis=0) for f in pair]
            specs = np.stack([(1 - m) * mean[0] + m * mean[1] for m in MORPHS])
            out.append(verbs.invert(instrument, specs))
    else:
        raise ValueError(f"unknown blend kind {kind!r}")
    return np.stack(out).astype(np.float32)


def blend_metrics(grid: np.ndarray, pitches: list[int], classifier: FamilyClassifier, *, sample_rate: int,
                  pair: tuple[int, int] = (0, 1), pitch_cache: dict | None = None) -> dict:
    """Pitch accuracy, monotonicity and endpoint accuracy of a blend grid [P, M, n_samples] of ``pair``.

    Monotonicity is Spearman's rho, per pitch, between the morph and the
    log-odds of the to-family over the from-family; an endpoint is right when
    the classifier, choosing among all its families, names the pair's family
    at that end. ``p_to_by_morph`` is the mean P(to-family) among all the
    families (``p_other_by_morph``, with more than two, what goes to neither).
    """
    a, b = pair
    p, m, n = grid.shape
    flat = grid.reshape(p * m, n)
    cents = pitch_errors_cents(flat, np.repeat(pitches, m), sample_rate=sample_rate, cache=pitch_cache).reshape(p, m)
    in_tune = np.abs(cents) <= PITCH_TOLERANCE_CENTS
    logits = classifier.logits(flat).reshape(p, m, -1)
    scores = logits[..., b] - logits[..., a]
    probs = softmax(logits)
    predicted = logits.argmax(axis=-1)
    rhos = np.array([_spearman(np.asarray(MORPHS), row) for row in scores])
    endpoints = np.concatenate([predicted[:, 0] == a, predicted[:, -1] == b])
    out = {
        "pitch_accuracy": float(in_tune.mean()),
        "pitch_accuracy_by_morph": {f"{v:g}": float(in_tune[:, j].mean()) for j, v in enumerate(MORPHS)},
        "median_abs_cents": float(np.median(np.abs(cents[np.isfinite(cents)]))) if np.isfinite(cents).any() else None,
        "spearman_rho": float(np.mean(rhos)),
        "spearman_rho_min": float(np.min(rhos)),
        "endpoint_accuracy": float(endpoints.mean()),
        "p_to_by_morph": {f"{v:g}": float(np.mean(probs[:, j, b])) for j, v in enumerate(MORPHS)},
    }
    if classifier.n_families > 2:
        other = 1.0 - probs[..., a] - probs[..., b]
        out["p_other_by_morph"] = {f"{v:g}": float(np.mean(other[:, j])) for j, v in enumerate(MORPHS)}
    return out


def midpoint_coherence(grid: np.ndarray, *, sample_rate: int) -> dict:
    """Is the midpoint one note or two layered ones?

    ``onsets``: mean onsets librosa detects in the midpoint (one note: 1).
    ``layering_fit``: how well the midpoint's power envelope is a non-negative
    mix of the two endpoints' envelopes (R^2; an audio crossfade is exactly
    such a mix, so ~1; a new note with its own envelope scores lower).
    """
    import librosa
    from scipy.optimize import nnls

    mid, onsets, fits = grid.shape[1] // 2, [], []
    for row in grid:
        # delta 0.3 of the normalised onset strength: real single notes then give one onset (0.07 gives 1-5).
        onsets.append(len(librosa.onset.onset_detect(y=row[mid], sr=sample_rate, hop_length=256, delta=0.3)))
        env = [librosa.feature.rms(y=row[j], frame_length=1024, hop_length=256)[0] ** 2 for j in (0, mid, -1)]
        basis = np.stack([env[0], env[2]], axis=1)
        _, residual = nnls(basis, env[1])
        total = np.sum((env[1] - env[1].mean()) ** 2) + 1e-12
        fits.append(1.0 - residual**2 / total)
    return {"onsets": float(np.mean(onsets)), "layering_fit": float(np.mean(fits))}


def pair_pitches(train: TimbreNotes, pair: tuple[int, int], pitches: list[int], *, index: int = 0,
                 stride: int = 1) -> list[int]:
    """The pitches a pair's blend is checked at: every ``stride``-th of ``pitches`` from ``index % stride``,
    of those both families have training notes at (the baselines are made of them)."""
    have = [set(train.pitch[train.family == f].tolist()) for f in pair]
    return [p for p in pitches[index % stride :: stride] if p in have[0] and p in have[1]]


# ---------------------------------------------------------------------------
# The whole evaluation
# ---------------------------------------------------------------------------


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def decoded_means_confusion(instrument: Instrument, classifier: FamilyClassifier, families: list[str],
                            pitches: list[int], *, velocity: int = VELOCITY) -> dict:
    """The classifier's confusion matrix [K, K] (rows: the family whose mean latent was decoded, at each of
    ``pitches``: :func:`musicvae.blend.family_latent`) over ``pitches``."""
    matrix = np.zeros((len(families), len(families)), dtype=int)
    for k, family in enumerate(families):
        z = np.stack([verbs.family_latent(instrument, family, pitch) for pitch in pitches])
        predicted = classifier.predict(verbs.decode(instrument, z, np.asarray(pitches), velocity))
        matrix[k] = np.bincount(predicted, minlength=len(families))
    return {"pitches": len(pitches), "velocity": velocity, "families": list(families),
            "matrix": matrix.tolist(), "accuracy": float(np.trace(matrix) / matrix.sum())}


def evaluate_timbre(
    instrument: Instrument,
    *,
    train: TimbreNotes,
    test: TimbreNotes,
    n_prior: int = 64,
    max_test: int = 0,
    pitch_stride: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Every metric of the module docstring, as a JSON-ready dict.

    Parameters
    ----------
    instrument : Instrument
        A timbre instrument with family mean latents.
    train : TimbreNotes
        Real training renders: the classifier and both baselines are built from them.
    test : TimbreNotes
        Held-out notes (an unseen SoundFont) to reconstruct.
    n_prior : int
        Prior samples to judge.
    max_test : int
        Reconstruct at most this many test notes (evenly spaced; 0 = all).
    pitch_stride : int, optional
        Check each pair's blend at every ``pitch_stride``-th pitch (default: every pitch for two families,
        every third for more).
    seed : int
    progress : bool
        Print a line per stage to stderr.

    Raises
    ------
    DataError
        If a family has no training notes (its classifier, mean and baselines need them).
    """
    import sys
    import time

    from musicvae.kinds.timbre.latent_map import latent_map

    model = verbs._model(instrument)
    spec = verbs.spectrogram(instrument)
    rate = verbs.sample_rate(instrument)
    low, high = model.pitch_range
    families = list(train.families)
    missing = [f for k, f in enumerate(families) if not np.any(train.family == k)]
    if missing:
        raise DataError(f"no training notes of famil{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)}: "
                        "a timbre evaluation needs real notes of every family")
    began = time.perf_counter()

    def say(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - began:5.0f} s] {text}", file=sys.stderr, flush=True)

    say(f"training the {'-vs-'.join(families) if len(families) == 2 else f'{len(families)}-family'} classifier "
        "on the real training renders")
    classifier = FamilyClassifier(np.array(train.audio), train.family, sample_rate=rate, seed=seed)
    real_test_accuracy = float(np.mean(classifier.predict(np.array(test.audio)) == test.family))

    rows = np.arange(len(test))
    if max_test and len(rows) > max_test:
        rows = rows[np.linspace(0, len(rows) - 1, max_test).round().astype(int)]
    say(f"reconstructing {len(rows)} notes of the held-out instruments")
    audio = np.asarray(test.audio[rows])
    with torch.inference_mode():
        target = spec.analyze(torch.from_numpy(audio))
    recon_specs, recon_audio, test_mu = [], [], []
    for part in _chunks(len(rows), 64):
        mu, _ = verbs.encode(instrument, audio[part])
        test_mu.append(mu)
        decoded = verbs.decode_spectrograms(instrument, mu, test.pitch[rows][part], test.velocity[rows][part])
        recon_specs.append(decoded)
        recon_audio.append(verbs.invert(instrument, decoded))
    recon_specs, recon_audio = np.concatenate(recon_specs), np.concatenate(recon_audio)
    test_mu = np.concatenate(test_mu)
    with torch.inference_mode():
        lsd = log_spectral_distance_db(spec.log_to_db(target), spec.log_to_db(torch.from_numpy(recon_specs)))
        inverted = spec.to_log(spec.magnitude(torch.from_numpy(recon_audio)))
        sc_inversion = spectral_convergence_db(spec.from_log(torch.from_numpy(recon_specs)), spec.from_log(inverted))
        sc_original = spectral_convergence_db(spec.magnitude(torch.from_numpy(audio)),
                                              spec.magnitude(torch.from_numpy(recon_audio)))
    recon_family = classifier.predict(recon_audio)
    # In batches: the STFT of eight families' 6,211 notes at once took 6 GB.
    with torch.inference_mode():
        train_specs = np.concatenate([spec.analyze(torch.from_numpy(np.array(train.audio[part]))).numpy()
                                      for part in _chunks(len(train), 1024)])
    # What the spectrogram baseline would "reconstruct" knowing family and pitch: that pair's mean.
    mean_specs = np.stack([
        train_specs[(train.family == f) & (train.pitch == p)].mean(axis=0)
        for f, p in zip(test.family[rows], test.pitch[rows])
    ])
    lsd_mean = log_spectral_distance_db(spec.log_to_db(target), spec.log_to_db(torch.from_numpy(mean_specs)))
    unseen = {
        "notes": len(rows),
        "instruments": sorted({test.instruments[i] for i in test.instrument[rows]}),
        "lsd_db": float(lsd.mean()),
        "lsd_db_by_family": {f: float(lsd[torch.from_numpy(test.family[rows] == k)].mean())
                             for k, f in enumerate(test.families) if np.any(test.family[rows] == k)},
        "sc_inversion_db": float(sc_inversion.mean()),
        "sc_vs_original_db": float(sc_original.mean()),
        "classifier_agreement": float(np.mean(recon_family == test.family[rows])),
        "classifier_accuracy_on_real_notes": real_test_accuracy,
        "spectrogram_baseline_lsd_db": float(lsd_mean.mean()),
    }

    pitches = list(range(low, high + 1))
    pairs = list(combinations(range(len(families)), 2))
    stride = pitch_stride or (1 if len(pairs) == 1 else PAIR_PITCH_STRIDE)
    report: dict = {"families": families, "unseen": unseen, "blend": {}, "midpoint": {}, "pairs": {}}
    pitch_cache: dict = {}
    references: dict = {}
    per_kind: dict = {"vae": [], "audio": [], "spectrogram": []}
    for index, pair in enumerate(pairs):
        name = f"{families[pair[0]]}-{families[pair[1]]}"
        at = pair_pitches(train, pair, pitches, index=index, stride=stride)
        entry = {"from": families[pair[0]], "to": families[pair[1]], "pitches": at, "blend": {}, "midpoint": {}}
        for kind in per_kind:
            say(f"blend {name} ({kind}): {len(at)} pitches x {len(MORPHS)} morphs, pYIN and classifier")
            grid = blend_grid(kind, instrument, train, at, pair=pair, train_specs=train_specs, references=references)
            entry["blend"][kind] = blend_metrics(grid, at, classifier, sample_rate=rate, pair=pair,
                                                 pitch_cache=pitch_cache)
            entry["midpoint"][kind] = midpoint_coherence(grid, sample_rate=rate)
            per_kind[kind].append((name, entry["blend"][kind], entry["midpoint"][kind]))
        report["pairs"][name] = entry
    for kind, results in per_kind.items():
        report["blend"][kind], report["midpoint"][kind] = summarise_pairs(results)

    say(f"confusion matrix of the {len(families)} family means decoded at {len(pitches)} pitches")
    report["decoded_means"] = decoded_means_confusion(instrument, classifier, families, pitches)
    say("latent map")
    report["latent_map"] = latent_map(instrument, train, test_mu, test.family[rows], seed=seed)

    say(f"{n_prior} prior samples")
    generator = np.random.default_rng(seed)
    sample_pitches = generator.integers(low, high + 1, size=n_prior)
    z = torch.randn(n_prior, model.z_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    prior = verbs.decode(instrument, z, sample_pitches)
    cents = pitch_errors_cents(prior, sample_pitches, sample_rate=rate)
    probs = classifier.probabilities(prior)
    report["prior"] = {
        "samples": n_prior,
        "pitch_accuracy": float(np.mean(np.abs(cents) <= PITCH_TOLERANCE_CENTS)),
        "confident_share": float(np.mean(probs.max(axis=1) > CONFIDENT)),
        "family_shares": {f: float(np.mean(probs.argmax(axis=1) == k)) for k, f in enumerate(families)},
    }
    say(f"held notes: every sustaining family held {HELD_SECONDS:g} s at every other pitch")
    report["held"] = held_note_lengths(instrument, families, list(range(low, high + 1, 2)), held=HELD_SECONDS)
    vae = report["blend"]["vae"]
    lsd_target = TARGETS["unseen_lsd_db"] if len(families) == 2 else MANY_FAMILIES_LSD_DB
    # The worst pair for pitch and endpoints (each pair must blend in tune, between the right ends); rho's mean.
    measured = {"pitch_accuracy": vae["pitch_accuracy_min"], "endpoint_accuracy": vae["endpoint_accuracy_min"],
                "spearman_rho": vae["spearman_rho"]}
    report["targets"] = {name: [value, TARGETS[name], value >= TARGETS[name]] for name, value in measured.items()}
    report["targets"]["unseen_lsd_db"] = [unseen["lsd_db"], lsd_target, unseen["lsd_db"] <= lsd_target]
    if report["held"]["notes"]:
        worst = report["held"]["max_hops"]
        report["targets"]["held_key_up_hops"] = [worst, HELD_TARGET_HOPS, worst <= HELD_TARGET_HOPS]
    report["seconds"] = round(time.perf_counter() - began, 1)
    say("done")
    return report


def evaluate_instrument(
    instrument: Instrument,
    *,
    data: str | None = None,
    n_prior: int = 64,
    max_test: int = 0,
    pitch_stride: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """:func:`evaluate_timbre` on the instrument's recipe (or ``data``): train split vs the test split.

    Raises
    ------
    DataError
        If the recipe's dataset is not built (the message gives the command).
    """
    from musicvae.kinds.timbre.data import load_timbre_notes

    verbs.require_extras(instrument)
    recipe = data or instrument.config.data
    train = load_timbre_notes(recipe, split="train")
    test = load_timbre_notes(recipe, split="test")
    report = evaluate_timbre(instrument, train=train, test=test, n_prior=n_prior, max_test=max_test,
                             pitch_stride=pitch_stride, seed=seed, progress=progress)
    return {"instrument": instrument.name, "data": str(recipe), "split": "test", **report}
