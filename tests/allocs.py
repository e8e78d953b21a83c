"""Measuring what a piece of code allocates, for the tests that say a callback or a
hot loop allocates no buffers."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

__all__ = ["peak_growth"]


def peak_growth(step: Callable[[], None], calls: int = 1000) -> tuple[int, int]:
    """(peak, final) bytes traced above the start while ``step`` runs ``calls`` times.

    tracemalloc sees every thread; the smallest of three runs is taken so that a
    stray allocation elsewhere in the process does not count. Earlier tests' garbage
    is collected first and the collector paused: finalizers it would run meanwhile
    allocate too, and are not ``step``'s work.
    """
    results = []
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for _ in range(3):
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for _ in range(calls):
                step()
            end, peak = tracemalloc.get_traced_memory()
            results.append((peak - start, end - start))
    finally:
        tracemalloc.stop()
        gc.enable()
    return min(results)
