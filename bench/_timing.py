"""Wall-time percentiles for the bench scripts (``from _timing import percentiles``: bench/ is the script's folder)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timings(fn: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    """Wall times of ``runs`` calls of ``fn()`` in milliseconds, after ``warmup`` calls that are not timed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def percentiles(fn: Callable[[], object], runs: int, warmup: int = 3) -> tuple[float, float]:
    """p50 and p99 wall time of ``fn()`` in milliseconds."""
    times = sorted(timings(fn, runs, warmup))
    return times[len(times) // 2], times[min(len(times) - 1, int(0.99 * len(times)))]
