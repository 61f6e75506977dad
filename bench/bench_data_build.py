"""Tunes per second of our ABC melody extraction against music21's plain ``converter.parse``.

Both run in this process on the same tunes of the folk-melodies corpus:

- 4/4 tunes: every tune is parsed by both, so this measures our parse path
  (no beaming, our own tie merge) plus everything after it (top line, melody
  split, encoding) against music21's parse alone;
- mixed meters: a random sample of the corpus as the build sees it, where our
  meter check skips the tunes that are not 4/4 without parsing them.

Run: ``python bench/bench_data_build.py [--tunes 200]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvae.config import SourceConfig  # noqa: E402
from musicvae.kinds.melody.data import extract_piece  # noqa: E402
from musicvae.kinds.melody.sources import abc_odd_meter, list_pieces  # noqa: E402

COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth")


def ours(items: list) -> float:
    """Seconds for our full per-tune extraction (what one build worker does per tune)."""
    began = time.perf_counter()
    for item in items:
        extract_piece(item, steps_per_bar=16, gap_bars=1, min_pitch=21, max_pitch=108)
    return time.perf_counter() - began


def music21_parse(items: list) -> float:
    """Seconds for music21's ``converter.parse(text, format="abc")`` of the same tunes."""
    from music21 import converter

    began = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        for _, _, text in items:
            converter.parse(text, format="abc")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunes", type=int, default=200, help="tunes per comparison (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    items = list_pieces(SourceConfig(type="music21-corpus", collections=COLLECTIONS))
    four_four = [item for item in items if not abc_odd_meter(item[2])]
    rng = random.Random(args.seed)
    samples = {
        f"{args.tunes} tunes in 4/4": rng.sample(four_four, args.tunes),
        f"{args.tunes} tunes of mixed meter": rng.sample(items, args.tunes),
    }
    ours(samples[next(iter(samples))][:3])  # warm up imports and music21's caches for both
    music21_parse(samples[next(iter(samples))][:3])
    print(f"corpus: {len(items)} tunes, {len(four_four)} in a 4-quarter meter")
    for name, sample in samples.items():
        ours_rate = len(sample) / ours(sample)
        music21_rate = len(sample) / music21_parse(sample)
        print(
            f"{name}: ours {ours_rate:.1f} tunes/s, music21 converter.parse {music21_rate:.1f} tunes/s, "
            f"ratio {ours_rate / music21_rate:.2f}x"
        )


if __name__ == "__main__":
    main()
