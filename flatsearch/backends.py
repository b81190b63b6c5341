"""Which scan backend runs a search.

``backend="auto"`` runs the Triton kernel on CUDA and the torch scan on the CPU;
``"torch"`` and ``"triton"`` force one. The environment variable
``FLATSEARCH_BACKEND=torch|triton`` overrides the choice for debugging. Triton
on a CPU index runs through Triton's interpreter and so needs
``TRITON_INTERPRET=1``.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

from .scan import ScanRequest, ScanResult
from .torch_scan import torch_scan

BACKENDS = ("auto", "torch", "triton")
ScanFunction = Callable[[ScanRequest], ScanResult]


def chosen_backend(requested: str, device: torch.device) -> str:
    """The backend that will run: the override, else the request, 'auto' resolved by device."""
    override = os.environ.get("FLATSEARCH_BACKEND", "").strip().lower()
    if override:
        if override not in ("torch", "triton"):
            raise ValueError(f"FLATSEARCH_BACKEND: expected 'torch' or 'triton', got {override!r}")
        requested = override
    if requested == "auto":
        return "triton" if device.type == "cuda" and _triton_problem(device) is None else "torch"
    return requested


_CHOSEN: dict[tuple, ScanFunction] = {}  # (requested, device, FLATSEARCH_BACKEND) -> scan, once resolved


def scan_function(requested: str, device: torch.device) -> ScanFunction:
    """The scan to call, or a ValueError saying why Triton cannot run here.

    Resolved once per (request, device, ``FLATSEARCH_BACKEND`` value): a search reads one dict entry."""
    key = (requested, device, os.environ.get("FLATSEARCH_BACKEND"))
    scan = _CHOSEN.get(key)
    if scan is None:
        scan = _CHOSEN[key] = _resolve(requested, device)
    return scan


def _resolve(requested: str, device: torch.device) -> ScanFunction:
    backend = chosen_backend(requested, device)
    if backend == "torch":
        return torch_scan
    problem = _triton_problem(device)
    if problem is not None:
        raise ValueError(f"backend='triton' cannot run on device {device}: {problem}")
    from .triton_scan import triton_scan
    return triton_scan


def _triton_problem(device: torch.device) -> str | None:
    try:
        from .triton_scan import triton_unavailable_reason
    except ImportError as error:
        return f"the Triton backend could not be imported ({error}); install triton"
    return triton_unavailable_reason(device)
