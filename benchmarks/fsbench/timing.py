"""Thread pinning and repeated timing, shared by every library under test.

Every library runs with the same thread count (torch intra-op threads, faiss
OpenMP threads, hnswlib ``num_threads``), after warm-up, and reports the
median of repeated runs so one disturbed run cannot move a result.

Example:
    >>> from fsbench.timing import time_repeated
    >>> times = time_repeated(lambda: sum(range(1000)), repeats=3, warmup=1)
    >>> len(times)
    3
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import numpy as np
import torch


def default_threads() -> int:
    """The number of CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pin_threads(threads: int) -> int:
    """Give torch and faiss the same thread count; returns it.

    Example:
        >>> pin_threads(1)
        1
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    torch.set_num_threads(threads)
    import faiss

    faiss.omp_set_num_threads(threads)
    return threads


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work so that a timer measures it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_repeated(fn: Callable[[], object], *, repeats: int, warmup: int = 1,
                  device: str | torch.device = "cpu") -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; seconds per run.

    Example:
        >>> times = time_repeated(lambda: None, repeats=2, warmup=0)
        >>> all(t >= 0 for t in times)
        True
    """
    if repeats < 1:
        raise ValueError(f"repeats: expected >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def time_interleaved(fns: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 1,
                     device: str | torch.device = "cpu") -> dict[str, list[float]]:
    """Time several functions round-robin, so slow drifts in machine load hit them alike.

    Example:
        >>> times = time_interleaved({"a": lambda: None, "b": lambda: None}, repeats=2, warmup=0)
        >>> sorted(times), len(times["a"])
        (['a', 'b'], 2)
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_once(fn, device=device))
    return times


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(values))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of a non-empty list, linear interpolation."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def time_once(fn: Callable[[], object], *, device: str | torch.device = "cpu") -> float:
    """Seconds taken by one call of ``fn`` (for operations that change state)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start
