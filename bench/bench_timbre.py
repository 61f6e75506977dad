"""Speed of the timbre instrument on one CPU thread, against RAVE's published figures.

- Latency of decoding and inverting one 1-second note (decoder + fast
  Griffin-Lim), p50 and p99 over many runs; the target is p99 < 20 ms. The
  inversion beside librosa's (``mel_to_audio``, the same iterations) on the
  same notes in the same run, printed as a ratio: this machine's speed
  drifts between runs (the p50 of one setting measured 12.4 and 19.1 ms
  minutes apart), the ratio much less.
- Realtime factor of rendering a melody offline with a morph automation
  through the synth engine (:func:`musicvae.render.render_melody`, what
  ``blend --midi`` and ``synth --midi-file`` run: a note per pitch and 1/16
  morph step, held notes crossfading as the morph moves), against RAVE v2's
  24-34x offline and 4.1x streaming decode measured on this kind of 2-core
  machine (REFERENCE.md), printed as ratios.

Run: ``python bench/bench_timbre.py [instrument]`` (default flute-guitar).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from musicvae import blend
from musicvae.automation import parse_morph
from musicvae.instrument import Instrument
from musicvae.midi.reader import MidiNote
from musicvae.render import render_melody

RAVE_OFFLINE = (24.0, 34.0)
RAVE_STREAMING = 4.1
TARGET_P99_MS = 20.0


def latency(instrument: Instrument, *, runs: int, pitch: int = 67, peer_every: int = 5) -> dict[str, np.ndarray]:
    """Milliseconds per note for the decoder alone, inversion alone, and both (wall clock), and both in CPU time.

    CPU time (``time.thread_time``) leaves out the time this thread waited for
    a core: on a shared, loaded machine it is the latency an idle core would give.
    Every ``peer_every``-th note is also inverted by librosa (its mel pseudo-inverse by NNLS, then its
    fast Griffin-Lim), right after ours: the peer in the same run.
    """
    model = instrument.model
    spec = blend.spectrogram(instrument)
    iters = instrument.config.model.spectrogram.inversion_iters
    za, zb = blend.family_latent(instrument, "flute"), blend.family_latent(instrument, "guitar")
    generator = np.random.default_rng(0)
    out = {"decoder": [], "inversion": [], "total": [], "total CPU": [], "librosa inversion": []}
    with torch.inference_mode():
        for i in range(runs + 10):
            z = torch.from_numpy(blend.mix_latent(za, zb, float(generator.uniform()))[None])
            cpu, start = time.thread_time(), time.perf_counter()
            logspec = model.decode(z, torch.tensor([pitch]), torch.tensor([100.0]))
            middle = time.perf_counter()
            spec.invert(logspec, iters=iters)
            end, cpu_end = time.perf_counter(), time.thread_time()
            # The peer, on the same note right after ours (so a machine that slows down slows both).
            peer = librosa_inversion(spec, logspec[0], iters=iters) if peer_every and i % peer_every == 0 else None
            if i >= 10:  # warm-up: first calls allocate and plan
                out["decoder"].append(middle - start)
                out["inversion"].append(end - middle)
                out["total"].append(end - start)
                out["total CPU"].append(cpu_end - cpu)
                if peer is not None:
                    out["librosa inversion"].append(peer)
    return {k: 1000.0 * np.asarray(v) for k, v in out.items()}


def librosa_inversion(spec, logspec: torch.Tensor, *, iters: int) -> float:
    """Seconds librosa takes to invert the same mel magnitude by its Griffin-Lim, as many iterations."""
    import librosa

    magnitude = spec.from_log(logspec).numpy()
    start = time.perf_counter()
    if spec.n_mels:
        librosa.feature.inverse.mel_to_audio(magnitude, sr=spec.sample_rate, n_fft=spec.n_fft,
                                             hop_length=spec.hop_length, power=1.0, n_iter=iters,
                                             length=spec.n_samples)
    else:
        librosa.griffinlim(magnitude, n_iter=iters, hop_length=spec.hop_length, n_fft=spec.n_fft,
                           length=spec.n_samples)
    return time.perf_counter() - start


def melody(seconds: float = 16.0, bpm: float = 120.0) -> list[MidiNote]:
    """An eighth-note arpeggio over two octaves, velocities varying: ``seconds`` long."""
    step = 60.0 / bpm / 2
    shape = [60, 64, 67, 72, 76, 72, 67, 64]
    notes = []
    for i in range(int(seconds / step)):
        pitch = shape[i % len(shape)] - 12 * ((i // len(shape)) % 2)
        notes.append(MidiNote(pitch, 70 + (i * 7) % 50, i * step, i * step + step * 0.9))
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instrument", nargs="?", default="flute-guitar")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    instrument = Instrument.load(args.instrument).require_kind("timbre")
    cfg = instrument.config.model.spectrogram
    print(f"{instrument.name}: {sum(p.numel() for p in instrument.model.parameters()):,} parameters, "
          f"{cfg.n_mels or 'linear'} bins, {cfg.inversion_iters} Griffin-Lim iterations, 1 thread, "
          f"load average {os.getloadavg()[0]:.1f}")

    times = latency(instrument, runs=args.runs)
    for name, values in times.items():
        print(f"  {name:17s} p50 {np.percentile(values, 50):6.2f} ms  p99 {np.percentile(values, 99):6.2f} ms")
    if len(times["librosa inversion"]):
        ratio = np.percentile(times["librosa inversion"], 50) / np.percentile(times["inversion"], 50)
        print(f"  inversion vs librosa's (same notes, same iterations, same run): {ratio:.1f}x faster at p50")
    note_seconds = cfg.n_samples / cfg.sample_rate
    for name in ("total", "total CPU"):
        p99 = float(np.percentile(times[name], 99))
        print(f"one {note_seconds:g} s note ({'wall clock' if name == 'total' else 'CPU time'}): p99 {p99:.2f} ms "
              f"vs target {TARGET_P99_MS:g} ms: x{p99 / TARGET_P99_MS:.2f} of the budget "
              f"({'met' if p99 < TARGET_P99_MS else 'NOT met'}); "
              f"{note_seconds * 1000 / np.percentile(times[name], 50):.0f}x realtime per note at p50")

    notes = melody()
    duration = max(n.end for n in notes)
    automation = parse_morph(f"0:0,{duration:g}:1")
    render_melody(instrument, notes[:4], morph=automation)  # warm-up
    cpu, start = time.thread_time(), time.perf_counter()
    audio = render_melody(instrument, notes, morph=automation)
    seconds, cpu_seconds = time.perf_counter() - start, time.thread_time() - cpu
    factor = len(audio) / cfg.sample_rate / seconds
    print(f"offline melody: {len(notes)} notes, {len(audio) / cfg.sample_rate:.1f} s of audio in {seconds:.2f} s "
          f"= {factor:.1f}x realtime ({len(audio) / cfg.sample_rate / cpu_seconds:.1f}x in CPU time)")
    print(f"  vs RAVE offline {RAVE_OFFLINE[0]:g}-{RAVE_OFFLINE[1]:g}x: ratio {factor / RAVE_OFFLINE[1]:.2f}-"
          f"{factor / RAVE_OFFLINE[0]:.2f}; vs RAVE streaming {RAVE_STREAMING:g}x: ratio {factor / RAVE_STREAMING:.1f}")
    print("  (RAVE: 44.1 kHz waveform VAE; ours: 16 kHz notes decoded whole, so not the same task: "
          "compare orders of magnitude, not decimals)")


if __name__ == "__main__":
    main()
