"""What a held note costs: starting an 8-s note against a 1-s one, and against decoding it in chunks.

- Start: a key-down decodes its note once (decoder, fast Griffin-Lim, then the sustain loop is chosen
  and built: :func:`musicvae.realtime.synth.timbre_note_decoder`), however long the key is held. Timed
  against the plain 1-s decode (:func:`musicvae.blend.decode`, what a note cost before it could be held)
  and against the other way to make an 8-s note, decoding it as overlapping 1-s chunks (15 decodes at 50%
  overlap), in the same run; printed as ratios (the target: under 2x the 1-s note).
- Playing: :meth:`SynthEngine.process` of 256-frame blocks with 8 voices looping their sustain against 8
  voices inside their 1-s notes, CPU time per block.

Run: ``python bench/bench_sustain.py [instrument] [--runs N]`` (default flute-guitar, 200).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from musicvae import blend
from musicvae.instrument import Instrument
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.synth import NoteCache, SynthEngine, timbre_note_decoder

#: Chunks an 8-s note takes when 1-s chunks overlap by half: (8 - 1) / 0.5 + 1.
CHUNKS_8S = 15


def start_costs(instrument: Instrument, *, runs: int) -> dict[str, np.ndarray]:
    """Milliseconds (thread CPU time) of a note's start: the plain decode and the held note's decode."""
    held = timbre_note_decoder(instrument)
    za, zb = blend.family_latent(instrument, "flute"), blend.family_latent(instrument, "guitar")
    rng = np.random.default_rng(0)
    out: dict[str, list[float]] = {"1-s note": [], "held note": []}
    for i in range(runs + 5):
        amount, pitch = float(rng.uniform()), int(rng.integers(48, 85))
        z = blend.mix_latent(za, zb, amount)[None]
        t0 = time.thread_time()
        blend.decode(instrument, z, pitch)
        t1 = time.thread_time()
        held(pitch, amount)
        t2 = time.thread_time()
        if i >= 5:
            out["1-s note"].append(t1 - t0)
            out["held note"].append(t2 - t1)
    return {k: 1000.0 * np.asarray(v) for k, v in out.items()}


def block_costs(instrument: Instrument, *, blocks: int) -> dict[str, float]:
    """Microseconds (thread CPU time) per 256-frame block: 8 voices looping, and 8 inside their notes."""
    out = {}
    cache = NoteCache(timbre_note_decoder(instrument), blocking=True)
    cache.warm([cache.key(pitch, 0.5) for pitch in range(60, 68)])
    for what, skip in (("8 voices in their 1-s notes", 0), ("8 voices looping", 12_000)):
        engine = SynthEngine(cache, ParamStore(Params(morph=0.5)), sample_rate=blend.sample_rate(instrument),
                             max_voices=8)
        for pitch in range(60, 68):
            engine.note_on(pitch, 100, frame=0)
        engine.process(256)
        while engine.frame < skip:  # into the loop (the entry is about 0.69 s)
            engine.process(4096)
        n = min(blocks, 40) if not skip else blocks  # a 1-s note holds about 60 blocks
        start = time.thread_time()
        for _ in range(n):
            engine.process(256)
        out[what] = 1e6 * (time.thread_time() - start) / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instrument", nargs="?", default="flute-guitar")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    instrument = Instrument.load(args.instrument)
    costs = start_costs(instrument, runs=args.runs)
    plain, held = (np.median(costs[k]) for k in ("1-s note", "held note"))
    print(f"start of a note, {args.runs} notes, 1 thread, median CPU ms (p99):")
    for name, values in costs.items():
        print(f"  {name:10s} {np.median(values):6.2f} ({np.percentile(values, 99):.2f})")
    print(f"  an 8-s held note starts at {held / plain:.2f}x a 1-s note (target < 2x); "
          f"decoding it in {CHUNKS_8S} overlapping chunks instead: {CHUNKS_8S * plain:.1f} ms, "
          f"{CHUNKS_8S * plain / held:.1f}x the held note")
    blocks = block_costs(instrument, blocks=400)
    print("playing, CPU us per 256-frame block (16 ms of audio):")
    for name, value in blocks.items():
        print(f"  {name:28s} {value:7.1f}")
    a, b = blocks.values()
    print(f"  looping costs {b / a:.2f}x playing inside the note")


if __name__ == "__main__":
    main()
