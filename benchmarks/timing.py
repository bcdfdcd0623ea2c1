"""Shared timing helper for the benchmark scripts."""

import statistics
import time


def median_time(fn, repeats: int = 5) -> float:
    """Median seconds of `fn()` over `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
