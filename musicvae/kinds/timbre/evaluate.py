"""Metrics of a timbre instrument (``musicvae evaluate`` on a timbre instrument).

- Reconstruction of the held-out SoundFont's notes (an unseen instrument):
  log-spectral distance in the model's log-spectrogram domain, spectral
  convergence of the inverted audio, and whether a flute-vs-guitar
  classifier still names the right family.
- The blend at every pitch and morph in {0, .25, .5, .75, 1}: pitch accuracy
  of the decoded audio (pYIN median f0 within 50 cents), P(guitar) rising
  with morph (Spearman rho per pitch), endpoints classified as their family.
- Two baselines run through the same tests: an audio crossfade of real notes,
  and a crossfade of per-pitch mean log-spectrograms (inverted like the
  model's). They blend too, so what they cannot do is measured as well:
  encode an unseen instrument's notes, sample new timbres from a prior, and
  give a midpoint that is one note (one onset, one envelope) rather than two
  layered ones.

The classifier is logistic regression on MFCC statistics and a loudness
envelope, trained on the real training renders (:mod:`musicvae.audio.features`
would be its home if a second user appeared).
"""

from __future__ import annotations

import numpy as np
import torch

from musicvae import blend as verbs
from musicvae.audio.spectrogram import log_spectral_distance_db, spectral_convergence_db
from musicvae.instrument import Instrument
from musicvae.kinds.timbre.data import TimbreNotes

MORPHS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Decoded notes count as in tune within this many cents of the asked pitch.
PITCH_TOLERANCE_CENTS = 50.0
#: A prior sample is "judged flute- or guitar-like with confidence" beyond this probability.
CONFIDENT = 0.8
TARGETS = {"pitch_accuracy": 0.95, "endpoint_accuracy": 0.95, "spearman_rho": 0.9, "unseen_lsd_db": 7.0}


# ---------------------------------------------------------------------------
# Features and the family classifier
# ---------------------------------------------------------------------------


def note_features(audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Per-note features [N, 48]: 20 MFCC means and standard deviations, and an 8-point loudness envelope.

    MFCCs are librosa's (80 Slaney mel bands of a 1024-point STFT, hop 256,
    dB floored 80 dB under the note's peak, orthonormal DCT-II), computed in
    one batch here because per-note ``librosa.feature.mfcc`` took a third of
    an evaluation. The envelope is the RMS level (dB relative to the note's
    loudest frame) in eight equal stretches: a pluck decays, a flute holds.
    """
    from scipy.fft import dct

    from musicvae.audio.spectrogram import Spectrogram

    audio = np.array(audio, dtype=np.float32, ndmin=2)  # a writable copy, even of a memory map
    spec = Spectrogram(sample_rate=sample_rate, n_samples=audio.shape[1], n_fft=1024, hop_length=256, n_mels=80)
    with torch.inference_mode():
        stft_power = spec.magnitude(torch.from_numpy(audio)).square()
        mel_power = torch.matmul(spec.mel_basis, stft_power).double().numpy()  # [N, 80, T]
        # RMS of each Hann-windowed frame, from the STFT by Parseval (librosa's rms leaves out the window).
        window = spec.window.double()
        frame_energy = stft_power.double().numpy()
        frame_energy[:, 1:-1] *= 2.0  # one-sided spectrum: double all but DC and Nyquist
        rms = np.sqrt(frame_energy.sum(axis=1) / (window.square().sum().item() * spec.n_fft))  # [N, T]
    db = 10.0 * np.log10(np.maximum(mel_power, 1e-10))
    db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - 80.0)
    mfcc = dct(db, axis=1, type=2, norm="ortho")[:, :20, :]
    level = 20.0 * np.log10(np.maximum(rms, 1e-6))
    level = np.maximum(level - level.max(axis=1, keepdims=True), -80.0)
    envelope = np.stack([chunk.mean(axis=1) for chunk in np.array_split(level, 8, axis=1)], axis=1)
    return np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2), envelope], axis=1)


class FamilyClassifier:
    """Logistic regression (class-balanced) on :func:`note_features`, standardised.

    ``score`` is the log-odds of the second family (guitar in flute-guitar),
    which ranks like the probability but does not saturate into ties.
    """

    def __init__(self, audio: np.ndarray, family: np.ndarray, *, sample_rate: int, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.sample_rate = sample_rate
        self.pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=seed)
        )
        self.pipeline.fit(note_features(audio, sample_rate=sample_rate), np.asarray(family))

    def score(self, audio: np.ndarray) -> np.ndarray:
        """Log-odds of family 1 for notes [N, n_samples] -> [N]."""
        return self.pipeline.decision_function(note_features(audio, sample_rate=self.sample_rate))

    def probability(self, audio: np.ndarray) -> np.ndarray:
        """P(family 1) for notes [N, n_samples] -> [N]."""
        return 1.0 / (1.0 + np.exp(-self.score(audio)))


# ---------------------------------------------------------------------------
# Pitch
# ---------------------------------------------------------------------------


def pitch_errors_cents(audio: np.ndarray, pitches: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Cents between each note's pYIN median f0 and its MIDI pitch [N] (inf where nothing is voiced).

    pYIN searches 13 semitones either side of the asked pitch, so an octave
    error still shows, at a fifth of the cost of a five-octave search.
    """
    from musicvae.audio.loaders import median_f0

    errors = []
    for note, pitch in zip(np.asarray(audio), np.asarray(pitches)):
        target = 440.0 * 2.0 ** ((float(pitch) - 69.0) / 12.0)
        span = 2.0 ** (13.0 / 12.0)
        f0 = median_f0(note, sample_rate=sample_rate, fmin=target / span, fmax=min(target * span, sample_rate / 4),
                       hop_length=512)
        errors.append(np.inf if f0 is None else 1200.0 * np.log2(f0 / target))
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
               velocity: int = 100, train_specs: np.ndarray | None = None) -> np.ndarray:
    """Notes [len(pitches), len(MORPHS), n_samples] from flute (morph 0) to guitar (morph 1).

    ``kind``: "vae" (decoded path between the family mean latents), "audio"
    (crossfade of a real flute and guitar note), "spectrogram" (crossfade of
    the per-pitch mean log-spectrograms of each family, inverted).
    """
    a_name, b_name = train.families[:2]
    out = []
    if kind == "vae":
        za, zb = verbs.family_latent(instrument, a_name), verbs.family_latent(instrument, b_name)
        for pitch in pitches:
            z = np.stack([verbs.mix_latent(za, zb, m) for m in MORPHS])
            out.append(verbs.decode(instrument, z, pitch, velocity))
    elif kind == "audio":
        flute, guitar = _reference_notes(train, 0, velocity), _reference_notes(train, 1, velocity)
        for pitch in pitches:
            out.append(np.stack([(1 - m) * flute[pitch] + m * guitar[pitch] for m in MORPHS]))
    elif kind == "spectrogram":
        for pitch in pitches:
            mean = [train_specs[(train.family == f) & (train.pitch == pitch)].mean(axis=0) for f in (0, 1)]
            specs = np.stack([(1 - m) * mean[0] + m * mean[1] for m in MORPHS])
            out.append(verbs.invert(instrument, specs))
    else:
        raise ValueError(f"unknown blend kind {kind!r}")
    return np.stack(out).astype(np.float32)


def blend_metrics(grid: np.ndarray, pitches: list[int], classifier: FamilyClassifier, *, sample_rate: int) -> dict:
    """Pitch accuracy, monotonicity and endpoint accuracy of a blend grid [P, M, n_samples]."""
    p, m, n = grid.shape
    flat = grid.reshape(p * m, n)
    cents = pitch_errors_cents(flat, np.repeat(pitches, m), sample_rate=sample_rate).reshape(p, m)
    in_tune = np.abs(cents) <= PITCH_TOLERANCE_CENTS
    scores = classifier.score(flat).reshape(p, m)
    rhos = np.array([_spearman(np.asarray(MORPHS), row) for row in scores])
    endpoints = np.concatenate([scores[:, 0] < 0, scores[:, -1] > 0])
    return {
        "pitch_accuracy": float(in_tune.mean()),
        "pitch_accuracy_by_morph": {f"{v:g}": float(in_tune[:, j].mean()) for j, v in enumerate(MORPHS)},
        "median_abs_cents": float(np.median(np.abs(cents[np.isfinite(cents)]))) if np.isfinite(cents).any() else None,
        "spearman_rho": float(np.mean(rhos)),
        "spearman_rho_min": float(np.min(rhos)),
        "endpoint_accuracy": float(endpoints.mean()),
        "p_guitar_by_morph": {f"{v:g}": float(np.mean(1 / (1 + np.exp(-scores[:, j])))) for j, v in enumerate(MORPHS)},
    }


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


# ---------------------------------------------------------------------------
# The whole evaluation
# ---------------------------------------------------------------------------


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def evaluate_timbre(
    instrument: Instrument,
    *,
    train: TimbreNotes,
    test: TimbreNotes,
    n_prior: int = 64,
    max_test: int = 0,
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
    seed : int
    progress : bool
        Print a line per stage to stderr.
    """
    import sys
    import time

    model = verbs._model(instrument)
    spec = verbs.spectrogram(instrument)
    rate = verbs.sample_rate(instrument)
    low, high = model.pitch_range
    began = time.perf_counter()

    def say(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - began:5.0f} s] {text}", file=sys.stderr, flush=True)

    say("training the flute-vs-guitar classifier on the real training renders")
    classifier = FamilyClassifier(np.array(train.audio), train.family, sample_rate=rate, seed=seed)
    real_test_accuracy = float(np.mean((classifier.score(np.array(test.audio)) > 0) == (test.family == 1)))

    rows = np.arange(len(test))
    if max_test and len(rows) > max_test:
        rows = rows[np.linspace(0, len(rows) - 1, max_test).round().astype(int)]
    say(f"reconstructing {len(rows)} notes of the held-out instruments")
    audio = np.asarray(test.audio[rows])
    with torch.inference_mode():
        target = spec.analyze(torch.from_numpy(audio))
    recon_specs, recon_audio = [], []
    for part in _chunks(len(rows), 64):
        mu, _ = verbs.encode(instrument, audio[part])
        decoded = verbs.decode_spectrograms(instrument, mu, test.pitch[rows][part], test.velocity[rows][part])
        recon_specs.append(decoded)
        recon_audio.append(verbs.invert(instrument, decoded))
    recon_specs, recon_audio = np.concatenate(recon_specs), np.concatenate(recon_audio)
    with torch.inference_mode():
        lsd = log_spectral_distance_db(spec.log_to_db(target), spec.log_to_db(torch.from_numpy(recon_specs)))
        inverted = spec.to_log(spec.magnitude(torch.from_numpy(recon_audio)))
        sc_inversion = spectral_convergence_db(spec.from_log(torch.from_numpy(recon_specs)), spec.from_log(inverted))
        sc_original = spectral_convergence_db(spec.magnitude(torch.from_numpy(audio)),
                                              spec.magnitude(torch.from_numpy(recon_audio)))
    recon_family = classifier.score(recon_audio) > 0
    train_specs = spec.analyze(torch.from_numpy(np.array(train.audio))).numpy()
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
                             for k, f in enumerate(test.families)},
        "sc_inversion_db": float(sc_inversion.mean()),
        "sc_vs_original_db": float(sc_original.mean()),
        "classifier_agreement": float(np.mean(recon_family == (test.family[rows] == 1))),
        "classifier_accuracy_on_real_notes": real_test_accuracy,
        "spectrogram_baseline_lsd_db": float(lsd_mean.mean()),
    }

    pitches = list(range(low, high + 1))
    report: dict = {"unseen": unseen, "blend": {}, "midpoint": {}}
    grids = {}
    for kind in ("vae", "audio", "spectrogram"):
        say(f"blend grid ({kind}): {len(pitches)} pitches x {len(MORPHS)} morphs, pYIN and classifier")
        grids[kind] = blend_grid(kind, instrument, train, pitches, train_specs=train_specs)
        report["blend"][kind] = blend_metrics(grids[kind], pitches, classifier, sample_rate=rate)
        report["midpoint"][kind] = midpoint_coherence(grids[kind], sample_rate=rate)

    say(f"{n_prior} prior samples")
    generator = np.random.default_rng(seed)
    sample_pitches = generator.integers(low, high + 1, size=n_prior)
    z = torch.randn(n_prior, model.z_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    prior = verbs.decode(instrument, z, sample_pitches)
    cents = pitch_errors_cents(prior, sample_pitches, sample_rate=rate)
    p_guitar = classifier.probability(prior)
    report["prior"] = {
        "samples": n_prior,
        "pitch_accuracy": float(np.mean(np.abs(cents) <= PITCH_TOLERANCE_CENTS)),
        "confident_share": float(np.mean((p_guitar > CONFIDENT) | (p_guitar < 1 - CONFIDENT))),
        "guitar_share": float(np.mean(p_guitar > 0.5)),
    }
    vae = report["blend"]["vae"]
    report["targets"] = {
        "pitch_accuracy": [vae["pitch_accuracy"], TARGETS["pitch_accuracy"], vae["pitch_accuracy"] >= 0.95],
        "endpoint_accuracy": [vae["endpoint_accuracy"], 0.95, vae["endpoint_accuracy"] >= 0.95],
        "spearman_rho": [vae["spearman_rho"], 0.9, vae["spearman_rho"] >= 0.9],
        "unseen_lsd_db": [unseen["lsd_db"], 7.0, unseen["lsd_db"] <= 7.0],
    }
    report["seconds"] = round(time.perf_counter() - began, 1)
    say("done")
    return report


def evaluate_instrument(
    instrument: Instrument,
    *,
    data: str | None = None,
    n_prior: int = 64,
    max_test: int = 0,
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
    report = evaluate_timbre(instrument, train=train, test=test, n_prior=n_prior, max_test=max_test, seed=seed,
                             progress=progress)
    return {"instrument": instrument.name, "data": str(recipe), "split": "test", **report}


def format_timbre_metrics(report: dict) -> str:
    """The report as the table a researcher reads."""
    u, b, m, p = report["unseen"], report["blend"], report["midpoint"], report["prior"]
    lines = ["targets (measured / target / met):"]
    for name, (value, target, ok) in report["targets"].items():
        lines.append(f"  {name:18s} {value:8.3f}  {'<=' if name.endswith('db') else '>='} {target:<5g} "
                     f"{'yes' if ok else 'NO'}")
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
        f"{'blend':12s} {'pitch acc':>9s} {'rho':>6s} {'rho min':>7s} {'endpoints':>9s} {'onsets@.5':>9s} "
        f"{'layering':>8s}  P(guitar) at morph 0/.25/.5/.75/1",
    ]
    for kind, label in (("vae", "VAE"), ("audio", "audio xfade"), ("spectrogram", "spec xfade")):
        r = b[kind]
        probs = " ".join(f"{v:.2f}" for v in r["p_guitar_by_morph"].values())
        lines.append(f"{label:12s} {r['pitch_accuracy']:9.1%} {r['spearman_rho']:6.3f} {r['spearman_rho_min']:7.3f} "
                     f"{r['endpoint_accuracy']:9.1%} {m[kind]['onsets']:9.2f} {m[kind]['layering_fit']:8.3f}  {probs}")
    lines += [
        "  (layering: R^2 of the midpoint's power envelope as a mix of the endpoints'; 1 = two notes layered)",
        "",
        f"prior samples ({p['samples']}): pitch accuracy {p['pitch_accuracy']:.1%}, judged flute or guitar with "
        f"confidence {p['confident_share']:.1%} (guitar {p['guitar_share']:.1%}); the baselines have no prior",
        "and no encoder: they cannot reconstruct the unseen instruments at all.",
    ]
    return "\n".join(lines)
