"""Exact l2 results from the fast expanded-form scan.

The scan ranks rows by ``2 q.x - |x|^2 + boost`` in float32 (one matrix
multiply), which cancels catastrophically when the data sit far from the
origin: at ``|x|^2 ~ 1e8`` one float32 ulp is 8, so distances of 0.09 vanish.
This module keeps that scan for candidate generation and then re-scores the
candidates exactly, ``sum((q - x)^2) - boost`` (float64 on a CPU, float32 on
CUDA, where the subtraction happens before squaring and so loses nothing to
cancellation).

How many candidates are enough follows from a bound on the scan's error. For
every row, ``|scan score - true score| <= E`` with

    E = 1.1 * u * ((dim + 2) * (2 |q| M + M^2) + 2 |q| M + 3 B)

where ``u`` is the unit roundoff of the scan's arithmetic (2^-24, or 2^-11 on
CUDA with float32 storage, where matrix multiplies may use TF32), ``M`` the
largest stored norm and ``B`` the largest magnitude of the bias (boost minus
squared norm). It is the worst case of a float32 dot product of length
``dim`` (``dim * u * |q||x|``), of the stored squared norm, and of the two
additions. A row outside the K candidates scores at most ``s_K`` by the scan,
so truly at most ``s_K + E``; when the k-th best exact score among the
candidates beats that, no outside row can enter the top k, and the result
equals a float64 brute force. Queries where it does not are re-scanned with
sixteen times as many candidates; those still short score every passing row
in blocks (on a CPU by the expanded form in float64, whose error, about 1e-16
|x|^2, is far below any float32 distance; on CUDA by direct differences). Near the origin ``E`` is tiny and the scan's k+1 candidates almost
always suffice; far from it, more rows are re-scored, which costs time but
never correctness.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from .bitmask import unpack_bits
from .results import SearchResult
from .scan import ScanRequest
from .schema import Schema
from .topk import best_k
from .torch_scan import rounded_queries, torch_scan


def candidate_margin(k: int) -> int:
    """Extra candidates an l2 scan returns beyond k, so that the error bound rarely
    forces a second scan (a near-tie at the k-th place needs a gap of 2E after it)."""
    return 8 + min(k // 2, 32)


def negated_sq_norms(storage: Any) -> torch.Tensor:
    """``-|x|^2`` of every slot, the l2 scan's bias without a boost; kept until the
    stored vectors change, so an unfiltered l2 search adds no pass over the slots
    to the scan (each such pass waits for every thread on a busy machine).

    Example:
        >>> import torch, flatsearch as fs
        >>> from flatsearch.exact_l2 import negated_sq_norms
        >>> index = fs.Index(2, metric="l2")
        >>> index.add([1], torch.tensor([[3.0, 4.0]]))
        >>> negated_sq_norms(index._storage)[:1].tolist()
        [-25.0]
    """
    key = (storage.version, storage.sq_norms.data_ptr(), storage.sq_norms.numel())
    cached = getattr(storage, "_negated_sq_norms", None)
    if cached is None or cached[0] != key:
        storage._negated_sq_norms = cached = (key, -storage.sq_norms)
    return cached[1]


def exact_l2_results(index: Any, request: ScanRequest, scan_scores: torch.Tensor, scan_slots: torch.Tensor, k: int,
                     weights: Mapping[str, float]) -> SearchResult:
    """Top-k by exact squared distance minus boost, ties by lower id, padded with id -1 / +inf.

    ``scan_scores`` / ``scan_slots`` are the scan's best ``k + 1`` (or more) per
    query, best first; ``weights`` the boost. Called with the index's read lock held.

    Example:
        >>> import numpy as np, flatsearch as fs
        >>> index = fs.Index(1, metric="l2")
        >>> index.add(np.arange(5), (12345 + np.arange(5.0)).reshape(-1, 1).astype("f4"))
        >>> index.search(np.array([[12346.3]], dtype="f4"), 2)
        SearchResult(scores=tensor([[0.0899, 0.4903]]), ids=tensor([[1, 2]]))
    """
    storage = index._storage
    device = scan_slots.device
    work = torch.float64 if device.type == "cpu" else torch.float32
    queries = rounded_queries(request).to(work)
    query_norms = queries.pow(2).sum(dim=1)
    bound = _error_bound(index, request, query_norms, weights)
    # The common case: one gather and one re-score of every query's candidates, and
    # the bound proves every query's top k at once.
    final = _exact_l2_scores(index, queries, scan_slots, weights, work)
    enough = _proven(final, scan_scores, scan_slots, query_norms - bound, k)
    if bool(enough.all()):
        best = _best_k(final, storage.slot_ids, scan_slots, k)
        return SearchResult(best.scores.to(torch.float32), best.ids)
    nq = queries.shape[0]
    out_scores = torch.full((nq, k), math.inf, dtype=torch.float32, device=device)
    out_ids = torch.full((nq, k), -1, dtype=torch.int64, device=device)
    scores, slots = scan_scores, scan_slots
    pending = torch.arange(nq, device=device)
    for wanted in (None, _WIDER * scan_slots.shape[1]):
        if wanted is not None:
            scores, slots = _rescan(request, pending, wanted)
            final = _exact_l2_scores(index, queries[pending], slots, weights, work)
            enough = _proven(final, scores, slots, query_norms[pending] - bound[pending], k)
        done = pending[enough]
        if done.numel():
            best = _best_k(final[enough], storage.slot_ids, slots[enough], k)
            out_scores[done], out_ids[done] = best.scores.to(torch.float32), best.ids
        pending = pending[~enough]
        if not pending.numel():
            return SearchResult(out_scores, out_ids)
    # The scan's error exceeds the gaps between distances (data far from the origin):
    # score every passing row exactly for the queries left.
    best = _every_passing_row(index, request, pending, queries[pending], weights, k)
    out_scores[pending], out_ids[pending] = best.scores.to(torch.float32), best.ids
    return SearchResult(out_scores, out_ids)


_WIDER = 16  # second round: this many times the scan's candidates


def _proven(final: torch.Tensor, scores: torch.Tensor, slots: torch.Tensor, floor: torch.Tensor, k: int
            ) -> torch.Tensor:
    """Per query: whether the exact scores ``final`` of its candidates hold its top k.

    ``floor`` is ``|q|^2 - E``: a row the scan left out scores at most
    ``scores[:, -1] + E`` by the scan's reckoning, so its exact l2 score is at
    least ``floor - scores[:, -1]``; the k-th best candidate must beat that. A
    padded candidate list already holds every passing row."""
    kth = torch.kthvalue(final, min(k, final.shape[1]), dim=1).values
    complete = (slots >= 0).sum(dim=1) < slots.shape[1]
    return complete | (kth < floor - scores[:, -1].to(final.dtype))


def _error_bound(index: Any, request: ScanRequest, query_norms: torch.Tensor, weights: Mapping[str, float]
                 ) -> torch.Tensor:
    """E of the module docstring, per query."""
    storage = index._storage
    if len(index._ids) == 0:
        return torch.zeros_like(query_norms)
    cached = getattr(index, "_largest_norm", None)
    if cached is None or cached[0] != storage.version:  # vectors change only with the storage version
        squared = torch.where(storage.live, storage.sq_norms, torch.zeros_like(storage.sq_norms)).max()
        index._largest_norm = cached = (storage.version, math.sqrt(float(squared) * 1.01))  # float32 sums
    largest_norm = cached[1]
    bias = largest_norm**2  # |bias| <= |x|^2 + sum |weight| * max |value|
    for name, weight in weights.items():
        values = Schema.as_float(index.schema.kinds[name], storage.columns[name])
        bias += abs(weight) * float(torch.where(storage.live, values.abs(), torch.zeros_like(values)).max())
    tf32 = storage.device.type == "cuda" and storage.dtype == torch.float32
    unit = 2.0**-11 if tf32 else 2.0**-24
    dim = request.queries.shape[1]
    cross = 2 * query_norms.sqrt() * largest_norm
    return 1.1 * unit * ((dim + 2) * (cross + largest_norm**2) + cross + 3 * bias)


def _exact_l2_scores(index: Any, queries: torch.Tensor, slots: torch.Tensor, weights: Mapping[str, float],
                     work: torch.dtype, *, shared: bool = False) -> torch.Tensor:
    """``|q - x|^2 - boost`` of each candidate in ``work`` precision, +inf for padding."""
    storage = index._storage
    safe = slots.clamp(min=0)
    final = torch.empty(slots.shape, dtype=work, device=slots.device)
    if shared:  # one candidate list for every query
        vectors = _gather(storage, safe[0]).to(work)
        final[:] = (queries.pow(2).sum(dim=1, keepdim=True) - 2 * queries @ vectors.T
                    + vectors.pow(2).sum(dim=1)).clamp_(min=0) if work == torch.float64 else \
            torch.cdist(queries, vectors, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    else:
        per_chunk = max(1, _CHUNK_ELEMENTS // max(1, slots.shape[1] * queries.shape[1]))
        for start in range(0, slots.shape[0], per_chunk):  # bounded memory when many candidates are re-scored
            rows = slice(start, start + per_chunk)
            vectors = _gather(storage, safe[rows].flatten()).to(work).reshape(*safe[rows].shape, -1)
            # Direct differences summed as squares: no cancellation, and no square root taken and
            # squared again (cdist's sqrt(d)^2 is off by an ulp, which broke exact ties between rows).
            final[rows] = (queries[rows].unsqueeze(1) - vectors).square_().sum(dim=2)
    for name, weight in weights.items():
        values = Schema.as_float(index.schema.kinds[name], storage.columns[name])[safe]
        final -= weight * values.to(work)
    return torch.where(slots >= 0, final, torch.full_like(final, math.inf))


def _gather(storage: Any, slots: torch.Tensor) -> torch.Tensor:
    if len(storage.arenas) == 1:  # the common case, one index_select (far faster than arena[...] on a CPU)
        return storage.arenas[0].index_select(0, slots - storage.arena_starts[0])
    return storage.gather_vectors(slots)


_CHUNK_ELEMENTS = 1 << 22  # candidate vector elements re-scored at once (32 MiB in float64)


def _best_k(final: torch.Tensor, slot_ids: torch.Tensor, slots: torch.Tensor, k: int) -> SearchResult:
    """Best (lowest) k per row, ties by lower id, padding last."""
    ids = torch.where(slots >= 0, slot_ids[slots.clamp(min=0)], torch.full_like(slots, -1))
    return _ordered(final, ids, k, lower_is_better=True)


def _ordered(scores: torch.Tensor, ids: torch.Tensor, k: int, *, lower_is_better: bool) -> SearchResult:
    """Best k per row by score, ties by lower id, id -1 as padding (the one top-k of :mod:`flatsearch.topk`)."""
    return SearchResult(*best_k(scores, k, keys=ids, valid=ids >= 0, lower_is_better=lower_is_better))


def _every_passing_row(index: Any, request: ScanRequest, pending: torch.Tensor, queries: torch.Tensor,
                       weights: Mapping[str, float], k: int) -> SearchResult:
    """Exact top-k over every live row passing the filter, in blocks of rows."""
    storage = index._storage
    keep = request.keep if request.keep is not None else unpack_bits(request.mask_words,
                                                                     request.mask_words.shape[-1] * 32)
    keep = keep[..., :storage.capacity]
    passing = (keep if keep.dim() == 1 else keep[pending].any(dim=0)).nonzero().flatten()
    best = SearchResult(queries.new_full((len(queries), k), math.inf),
                        torch.full((len(queries), k), -1, dtype=torch.int64, device=queries.device))
    block = max(1, _CHUNK_ELEMENTS // max(1, queries.shape[1]))
    for start in range(0, len(passing), block):
        slots = passing[start:start + block]
        final = _exact_l2_scores(index, queries, slots.expand(len(queries), -1), weights, queries.dtype, shared=True)
        if keep.dim() == 2:  # per-query filters: rows another query's filter passes
            final = torch.where(keep[pending][:, slots], final, torch.full_like(final, math.inf))
        ids = storage.slot_ids[slots].expand(len(queries), -1)
        ids = torch.where(torch.isfinite(final), ids, torch.full_like(ids, -1))
        best = _ordered(torch.cat([best.scores, final], 1), torch.cat([best.ids, ids], 1), k,
                             lower_is_better=True)
    return best


def _rescan(request: ScanRequest, queries: torch.Tensor, wanted: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The scan's best ``wanted`` candidates for some queries (the torch reference scan)."""
    found = torch_scan(request.for_queries(queries).replace(k=wanted))
    return found.scores, found.slots
