"""Phase reconstruction: our torch fast Griffin-Lim against librosa's, on the same spectrograms.

Renders a few flute and guitar notes with FluidSynth (16 kHz, 1 s), takes
their magnitudes, and inverts them with the same iteration count:

- linear STFT magnitude: ours (phase-gradient init, momentum 0.99) vs
  ``librosa.griffinlim`` (its defaults: momentum 0.99, random init);
- 80-band mel magnitude: ours (mel-constrained fast Griffin-Lim) vs
  ``librosa.feature.inverse.mel_to_audio`` (NNLS to linear, then Griffin-Lim).

Prints spectral convergence (dB, lower is better; measured against the
original linear STFT magnitude), log-spectral distance (dB, in the case's own
domain: linear bins or mel bands, floor -80 dB) and the time per note on one
thread, with the ratios ours / librosa's. Times are wall clock: on a shared
machine they carry its load, which the first line prints. Run: ``python bench/bench_inversion.py [--iters 32]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from musicvae.audio.loaders import prepare_note
from musicvae.audio.soundfont import NoteSpec, SoundFontRenderer
from musicvae.audio.spectrogram import Spectrogram, log_spectral_distance_db, spectral_convergence_db

RATE, N_FFT, HOP = 16_000, 1024, 256


def render(pitches: list[int]) -> tuple[np.ndarray, list[str]]:
    notes, labels = [], []
    with SoundFontRenderer("FluidR3_GM", sample_rate=RATE) as renderer:
        for program, name in ((73, "flute"), (24, "guitar")):
            for pitch in pitches:
                audio = renderer.render(NoteSpec(pitch, 100), program=program)
                notes.append(prepare_note(audio, sample_rate=RATE, n_samples=RATE))
                labels.append(name)
    return np.stack(notes), labels


def timed(function, repeats: int) -> tuple[object, float]:
    """Result of the last call and the median seconds per call."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import librosa

    audio, labels = render([48, 60, 72, 84])
    labels = np.array(labels)
    print(f"{len(audio)} notes (flute and nylon guitar, MIDI 48-84), {args.iters} iterations, 1 thread, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':10s} {'method':34s} {'SC flute':>9s} {'SC guitar':>9s} {'LSD dB':>7s} {'ms/note':>8s}")
    for n_mels in (0, 80):
        spec = Spectrogram(sample_rate=RATE, n_samples=RATE, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels)
        original = spec.magnitude(torch.from_numpy(audio))
        target = spec.from_log(spec.analyze(torch.from_numpy(audio)))  # what an inverter is given (floored)
        target_np = target.numpy().astype(np.float64)

        def ours(target=target, spec=spec):
            return np.stack([spec.invert_magnitude(t, iters=args.iters).numpy() for t in target])

        if n_mels:
            def theirs(target_np=target_np):
                np.random.seed(0)  # noqa: NPY002 - mel_to_audio has no random_state; it uses the global one
                # power=1: our mel spectrogram holds magnitudes, not power.
                return np.stack([
                    librosa.feature.inverse.mel_to_audio(m, sr=RATE, n_fft=N_FFT, hop_length=HOP, n_iter=args.iters,
                                                         length=RATE, power=1.0) for m in target_np])
            their_name = "librosa mel_to_audio (NNLS + GL)"
        else:
            def theirs(target_np=target_np):
                return np.stack([librosa.griffinlim(m, n_iter=args.iters, hop_length=HOP, n_fft=N_FFT, length=RATE,
                                                    random_state=0) for m in target_np])
            their_name = "librosa.griffinlim"
        theirs()  # warm up librosa's lazy imports and FFT plans
        results = {}
        for name, function in (("ours (torch fast GL)", ours), (their_name, theirs)):
            out, seconds = timed(function, args.repeats)
            out = torch.from_numpy(np.asarray(out, dtype=np.float32))
            sc = spectral_convergence_db(original, spec.magnitude(out)).numpy()
            lsd = log_spectral_distance_db(spec.log_to_db(spec.analyze(torch.from_numpy(audio))),
                                           spec.log_to_db(spec.analyze(out))).numpy()
            results[name] = (sc.mean(), seconds / len(audio))
            case = "linear" if not n_mels else f"{n_mels} mels"
            print(f"{case:10s} {name:34s} {sc[labels == 'flute'].mean():9.1f} {sc[labels == 'guitar'].mean():9.1f} "
                  f"{lsd.mean():7.2f} {1000 * seconds / len(audio):8.1f}")
        (sc_ours, t_ours), (sc_theirs, t_theirs) = results.values()
        print(f"{'':10s} ratio ours/librosa: spectral convergence {sc_ours - sc_theirs:+.1f} dB "
              f"(x{10 ** ((sc_ours - sc_theirs) / 20):.2f} error norm), time x{t_ours / t_theirs:.3f} "
              f"({t_theirs / t_ours:.0f}x faster)")


if __name__ == "__main__":
    main()
