"""The family classifier of a timbre evaluation: note features and logistic regression over two or more families.

The classifier is logistic regression on MFCC statistics and a loudness
envelope, trained on the real training renders (:mod:`musicvae.audio.features`
would be the features' home if a second user appeared).
"""

from __future__ import annotations

import numpy as np
import torch

from musicvae.errors import DataError

#: Notes analysed per batch: an STFT of 1024 one-second notes is ~0.5 GB; more at once would be several.
FEATURE_BATCH = 1024


def note_features(audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Per-note features [N, 48]: 20 MFCC means and standard deviations, and an 8-point loudness envelope.

    MFCCs are librosa's (80 Slaney mel bands of a 1024-point STFT, hop 256,
    dB floored 80 dB under the note's peak, orthonormal DCT-II), computed in
    batches here because per-note ``librosa.feature.mfcc`` took a third of
    an evaluation. The envelope is the RMS level (dB relative to the note's
    loudest frame) in eight equal stretches: a pluck decays, a flute holds.

    Parameters
    ----------
    audio : np.ndarray [N, n_samples] or [n_samples]
    sample_rate : int

    Returns
    -------
    np.ndarray [N, 48] float64
    """
    audio = np.array(audio, dtype=np.float32, ndmin=2)  # a writable copy, even of a memory map
    if len(audio) > FEATURE_BATCH:
        return np.concatenate([_features(audio[i : i + FEATURE_BATCH], sample_rate)
                               for i in range(0, len(audio), FEATURE_BATCH)])
    return _features(audio, sample_rate)


def _features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    from scipy.fft import dct

    from musicvae.audio.spectrogram import Spectrogram

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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis of ``logits`` [..., K]."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class FamilyClassifier:
    """Logistic regression (class-balanced) on :func:`note_features`, standardised; multinomial beyond two families.

    :meth:`logits` are per-family scores whose differences are log-odds
    between two families; :meth:`score` is one such difference, which ranks
    like a probability but does not saturate into ties. With two families the
    model is the binary one, and its logits are 0 and the log-odds of the
    second family.

    Parameters
    ----------
    audio : np.ndarray [N, n_samples]
        Real notes to learn from.
    family : np.ndarray [N] int
        Family index of each note: every index 0..K-1 must occur (K >= 2).
    sample_rate : int
    seed : int

    Raises
    ------
    DataError
        If a family has no notes, or there are fewer than two.
    """

    def __init__(self, audio: np.ndarray, family: np.ndarray, *, sample_rate: int, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        family = np.asarray(family)
        self.n_families = int(family.max()) + 1 if len(family) else 0
        if self.n_families < 2 or len(np.unique(family)) != self.n_families:
            raise DataError(f"a family classifier needs real notes of every family (at least two); "
                            f"got family indices {np.unique(family).tolist()}")
        self.sample_rate = sample_rate
        self.pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=seed)
        )
        self.pipeline.fit(note_features(audio, sample_rate=sample_rate), family)

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """Family scores [N, K] of notes [N, n_samples]: ``logits[:, b] - logits[:, a]`` = log P(b) / P(a)."""
        decision = self.pipeline.decision_function(note_features(audio, sample_rate=self.sample_rate))
        if decision.ndim == 1:  # the binary model: the log-odds of family 1
            return np.stack([np.zeros_like(decision), decision], axis=1)
        return decision

    def score(self, audio: np.ndarray, a: int = 0, b: int = 1) -> np.ndarray:
        """Log-odds of family ``b`` over family ``a`` for notes [N, n_samples] -> [N]."""
        logits = self.logits(audio)
        return logits[:, b] - logits[:, a]

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """P(each family) for notes [N, n_samples] -> [N, K] (rows sum to 1)."""
        return softmax(self.logits(audio))

    def probability(self, audio: np.ndarray, family: int = 1) -> np.ndarray:
        """P(``family``) for notes [N, n_samples] -> [N]."""
        return self.probabilities(audio)[:, family]

    def predict(self, audio: np.ndarray) -> np.ndarray:
        """The most probable family of notes [N, n_samples] -> [N] int."""
        return self.logits(audio).argmax(axis=1)
