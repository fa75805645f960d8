"""Timing helpers shared by the benchmarks: best-of-k wall time, and the geometric mean of ratios."""

from __future__ import annotations

import math
import time


def best_time(fn, repeat: int = 5, min_time: float = 0.05) -> float:
    """Best per-call time over `repeat` rounds, each long enough (min_time) to be measurable."""
    fn()  # warm-up: allocations, BLAS thread start
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))
