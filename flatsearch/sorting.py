"""Stable argsort and searchsorted for the index's bookkeeping arrays, on any device.

On a CPU these run in numpy, single-threaded. torch's CPU sort and search split a
batch across OpenMP threads; when another process keeps a core busy, each of those
parallel regions waits for a descheduled thread (measured: a stable argsort of
100,000 int64 values went from 2 ms to 219 ms on 2 shared cores), while the
single-threaded numpy pass costs the same loaded or not. On CUDA torch is used.

Example:
    >>> import torch
    >>> from flatsearch.sorting import stable_argsort, searchsorted
    >>> stable_argsort(torch.tensor([3, 1, 3, 0])).tolist()
    [3, 1, 0, 2]
    >>> searchsorted(torch.tensor([1, 3, 3, 7]), torch.tensor([3, 8]), right=True).tolist()
    [3, 4]
"""
from __future__ import annotations

import numpy as np
import torch


def _numpy_view(tensor: torch.Tensor) -> np.ndarray | None:
    if tensor.device.type != "cpu" or tensor.dtype in (torch.bfloat16, torch.bool):
        return None
    return tensor.contiguous().numpy()


def stable_argsort(values: torch.Tensor) -> torch.Tensor:
    """Positions that sort a 1-D tensor ascending, equal values kept in input order (int64)."""
    array = _numpy_view(values)
    if array is None:
        return torch.argsort(values, stable=True)
    return torch.from_numpy(np.argsort(array, kind="stable").astype(np.int64, copy=False))


def searchsorted(sorted_values: torch.Tensor, probes: torch.Tensor, *, right: bool = False) -> torch.Tensor:
    """``torch.searchsorted`` of 1-D tensors (int64 positions)."""
    haystack, needles = _numpy_view(sorted_values), _numpy_view(probes)
    if haystack is None or needles is None or haystack.dtype != needles.dtype:
        return torch.searchsorted(sorted_values, probes, right=right)
    side = "right" if right else "left"
    return torch.from_numpy(np.searchsorted(haystack, needles, side=side).astype(np.int64, copy=False))
