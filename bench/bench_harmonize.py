"""Latency of harmonising a 16-bar melody with the accompanist, against the nearest-neighbour baseline.

Both systems run the same path on one CPU thread: the melody's 13 four-bar
windows (one-bar hop), probabilities averaged over the overlaps, then the lower
voices chosen. The model runs as ``musicvae harmonize`` does by default: its
transposition ensemble (the windows also moved 1 and 2 semitones up and down,
one batch of 65) and the voice-leading decoding; the baseline by argmax. The melody is the shipped held-out
chorale soprano (examples/chorale_soprano.musicxml, 16 bars), read once: file
parsing is not timed. Target: model p99 < 50 ms.

The model is instruments/bach-accompanist when it is trained, else a fresh
model of the same size (same latency). The baseline searches the training
windows with every in-range transposition (about 27,000) when the
bach-chorales dataset is built, else as many random windows.

Then the whole ``harmonize`` path after reading the file (``melody_harmonizer``: windows, decoding,
voice leading, a chorale net's Gibbs rounds and likelihood ranking, back to pitches) with
``--variations 3``, for each shipped accompanist, beside the nearest-neighbour baseline's single
harmonisation in the same run, and the chorale net's p50 and p99 as ratios of MiniBach's
(``bach-accompanist``), the instruments taking turns run by run. Target: p99 < 200 ms for 16 bars and
3 variations.

Run: ``python bench/bench_harmonize.py [--runs 200] [--threads 1]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvae.builders import build_model  # noqa: E402
from musicvae.config import get_config  # noqa: E402
from musicvae.errors import MusicVAEError  # noqa: E402
from musicvae.harmonize import DEFAULT_TRANSPOSITIONS, read_melody_grid  # noqa: E402
from musicvae.io import repo_root  # noqa: E402
from musicvae.kinds.accompanist.evaluate import NearestNeighbour  # noqa: E402
from musicvae.midi import chorale as codec  # noqa: E402
from musicvae.voicing import harmonize_tokens, model_predictor  # noqa: E402

MELODY = repo_root() / "examples" / "chorale_soprano.musicxml"


def _model():
    from musicvae.instrument import Instrument

    try:
        instrument = Instrument.load("bach-accompanist")
        return instrument.model, instrument.config, "instruments/bach-accompanist"
    except MusicVAEError:
        config = get_config("minibach-small")
        torch.manual_seed(0)
        return build_model(config).eval(), config, "untrained minibach-small (same size)"


def _train_windows(config) -> tuple[np.ndarray, str]:
    from musicvae.kinds.accompanist.data import load_chorale_split

    rep = config.model.representation
    try:
        train = load_chorale_split(config.data, split="train", bars=rep.bars, ranges=rep.ranges).windows
        augmented = codec.augment_windows(train, ranges=rep.ranges, max_shift=config.train.transpose)
        return augmented, f"{len(augmented)} training windows (every in-range transposition)"
    except MusicVAEError:
        rng = np.random.default_rng(0)
        windows = np.stack([rng.integers(codec.FIRST_PITCH, codec.num_classes(r), (27_000, rep.steps))
                            for r in rep.ranges], axis=1).astype(np.uint8)
        return windows, "27000 random windows (bach-chorales is not built)"


def _time(function, runs: int) -> np.ndarray:
    function()  # warm up
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return np.array(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--transpositions", type=int, default=DEFAULT_TRANSPOSITIONS,
                        help="transposition ensemble, as harmonize's --transpositions (default %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, config, model_name = _model()
    melody = read_melody_grid(MELODY)
    ranges = config.model.representation.ranges
    low, high = ranges[0]
    soprano = codec.encode_voice(melody.pitches, melody.onsets, low=low, high=high)
    predictor = model_predictor(model, transpositions=args.transpositions)
    train, train_name = _train_windows(config)
    neighbour = NearestNeighbour(train, ranges=ranges)

    def ours() -> None:
        harmonize_tokens(soprano, predictor, ranges=ranges, voice_leading=True)

    def baseline() -> None:
        harmonize_tokens(soprano, neighbour, ranges=ranges, voice_leading=False)

    print(f"melody: {MELODY.name}, {len(soprano) // 16} bars; {args.threads} thread(s); {args.runs} runs each")
    print(f"model: {model_name}, transposition ensemble +-{args.transpositions}; "
          f"baseline: nearest neighbour over {train_name}")
    results = {}
    for name, function, runs in (("accompanist", ours, args.runs), ("nearest neighbour", baseline,
                                                                      max(20, args.runs // 10))):
        ms = _time(function, runs)
        results[name] = ms
        print(f"{name:18s} p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms   ({runs} runs)")
    ours_p50 = np.percentile(results["accompanist"], 50)
    ratio = np.percentile(results["nearest neighbour"], 50) / ours_p50
    p99 = np.percentile(results["accompanist"], 99)
    print(f"ratio (nearest neighbour p50 / accompanist p50): {ratio:.1f}x")
    print(f"target p99 < 50 ms: {'met' if p99 < 50 else 'MISSED'} ({p99:.1f} ms)")
    _variations(melody, results["nearest neighbour"], runs=max(20, args.runs // 4))


def _variations(melody, neighbour_ms: np.ndarray, *, runs: int) -> None:
    """``harmonize --variations 3`` after reading the file, for every shipped accompanist, beside MiniBach.

    The instruments take turns run by run, so that a busy machine slows each of them alike.
    """
    from musicvae.harmonize import melody_harmonizer
    from musicvae.instrument import Instrument, available_instruments

    print(f"\nharmonize --variations 3 (whole path after reading the file), {runs} runs each, taking turns")
    harmonizers = {}
    for name in available_instruments():
        instrument = Instrument.load(name)
        if instrument.config.kind == "accompanist":
            harmonizers[name] = (instrument.config.model.architecture, melody_harmonizer(instrument, variations=3,
                                                                                          seed=0))
    times: dict[str, list[float]] = {name: [] for name in harmonizers}
    for _, harmonizer in harmonizers.values():
        harmonizer(melody)  # warm up (a chorale net's first decoding also loads its compiled voice leading)
    for _ in range(runs):
        for name, (_, harmonizer) in harmonizers.items():
            began = time.perf_counter()
            harmonizer(melody)
            times[name].append(1e3 * (time.perf_counter() - began))
    minibach = {name: np.array(ms) for name, ms in times.items() if harmonizers[name][0] == "minibach"}
    for name, ms in times.items():
        ms = np.array(ms)
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(f"{name:22s} ({harmonizers[name][0]:11s}) p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   "
              f"{p50 / np.percentile(neighbour_ms, 50):.1f}x the nearest neighbour's one harmonisation; "
              f"target p99 < 200 ms: {'met' if p99 < 200 else 'MISSED'}")
        for other, base in minibach.items():
            if other != name:
                print(f"{'':22s} against {other} in the same run: p50 {p50 / np.percentile(base, 50):.2f}x, "
                      f"p99 {p99 / np.percentile(base, 99):.2f}x")


if __name__ == "__main__":
    main()
