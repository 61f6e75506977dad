"""Whole-tune morph: every window of every step in one decode call, against decoding them one at a time.

Two 16-bar tunes (the demo's two 8-bar folk tunes, each played twice), 5 steps,
through the shipped melody-2bar (2-bar windows: 8 windows a tune, 40 decodes)
on one CPU thread. Ours is ``generate.morph_tune`` as the CLI runs it (read both
files, encode, interpolate, decode, join); the peer runs the same pipeline but
decodes each (window, step) code alone, as a loop over ``interpolate`` calls
would. Both give the same tokens. Target: batched >= 3x faster.

Run: ``python bench/bench_morph.py [--runs 30] [--threads 1] [--instrument melody-2bar]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi
import torch
from _timing import percentiles

from musicvae import generate
from musicvae.instrument import Instrument
from musicvae.io import repo_root
from musicvae.models.latent import interpolate as interpolate_latents

STEPS = 5


def doubled(source: Path, target: Path) -> Path:
    """``source`` played twice in a row (an 8-bar tune -> 16 bars)."""
    midi = pretty_midi.PrettyMIDI(str(source))
    length = midi.get_end_time()
    bar = 60.0 / midi.get_tempo_changes()[1][0] * 4
    length = np.ceil(length / bar - 1e-6) * bar  # to its bar line
    for instrument in midi.instruments:
        instrument.notes += [pretty_midi.Note(n.velocity, n.pitch, n.start + length, n.end + length)
                             for n in list(instrument.notes)]
    midi.write(str(target))
    return target


def one_at_a_time(instrument: Instrument, a: Path, b: Path, *, steps: int) -> np.ndarray:
    """The peer: morph_tune's pipeline with one decode call per (window, step) code."""
    rep = instrument.config.model.representation
    (a_events, _), (b_events, _) = generate.tune_events(instrument, a), generate.tune_events(instrument, b)
    bars = min(len(a_events), len(b_events)) // rep.steps_per_bar
    a_w = generate.tune_windows(a_events, bars=bars, window_bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    b_w = generate.tune_windows(b_events, bars=bars, window_bars=rep.bars, steps_per_bar=rep.steps_per_bar)
    mu, _ = generate.encode(instrument, np.concatenate([a_w, b_w]))
    count = len(a_w)
    out = np.zeros((steps, count, rep.steps), np.int64)
    for k in range(count):
        path = interpolate_latents(torch.as_tensor(mu[k]), torch.as_tensor(mu[count + k]), steps=steps).numpy()
        for s in range(steps):
            out[s, k] = generate.decode(instrument, path[s : s + 1])[0]
    return out.reshape(steps, -1)[:, : bars * rep.steps_per_bar]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--instrument", default="melody-2bar")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    instrument = Instrument.load(args.instrument)
    examples = repo_root() / "examples"
    with tempfile.TemporaryDirectory() as folder:
        a = doubled(examples / "folk_a.mid", Path(folder) / "a16.mid")
        b = doubled(examples / "folk_b.mid", Path(folder) / "b16.mid")
        ours = generate.morph_tune(instrument, a, b, steps=STEPS)
        peer = one_at_a_time(instrument, a, b, steps=STEPS)
        same = float(np.mean(ours.steps == peer))
        bars = ours.steps.shape[1] // instrument.config.model.representation.steps_per_bar
        batched = percentiles(lambda: generate.morph_tune(instrument, a, b, steps=STEPS), args.runs)
        single = percentiles(lambda: one_at_a_time(instrument, a, b, steps=STEPS), args.runs)
    print(f"whole-tune morph, {args.instrument}: two {bars}-bar tunes, {STEPS} steps, {ours.windows} windows a step "
          f"({STEPS * ours.windows} decodes), argmax, {args.threads} thread(s), {args.runs} runs")
    print(f"  batched (one decode call) : p50 {batched[0]:7.1f} ms   p99 {batched[1]:7.1f} ms")
    print(f"  one window at a time      : p50 {single[0]:7.1f} ms   p99 {single[1]:7.1f} ms")
    print(f"  speed-up: p50 {single[0] / batched[0]:.1f}x   p99 {single[1] / batched[1]:.1f}x   (target >= 3x); "
          f"tokens equal: {same:.4f}")


if __name__ == "__main__":
    main()
