"""Pure-torch scan backend: the reference for the Triton kernel and the CPU path.

Two strategies, picked per search by how many rows pass the mask:

* scan: blocked ``addmm`` over the listed slot ranges, the mask and boost folded
  into a bias row (or applied per query), top-k per chunk, then a merge;
* gather: when few rows pass, copy just those rows and multiply them alone. On a
  CPU matrix multiplication costs far more than copying, so gathering wins up to
  a large pass fraction (measured: see ``GATHER_MAX_FRACTION``).

Ties between equal scores go to the lower slot, exactly, as the contract in
:mod:`flatsearch.scan` requires (:func:`flatsearch.topk.best_k`); a slot is
padding (-1) only when no passing row is left, whatever the scores.
"""
from __future__ import annotations

import torch

from .bitmask import bits_at, unpack_bits
from .scan import ScanRequest, ScanResult
from .topk import best_k

# Below this fraction of passing rows (among the rows in the listed ranges) the
# gather strategy is used. Measured on a 2-core CPU at N=200k, dim=384, nq=200:
# gathering was faster at every fraction up to about 0.5.
GATHER_MAX_FRACTION = 0.4
# Neighbouring scan ranges of one arena at most this many rows apart are scanned as one span.
SPAN_GAP_ROWS = 1024
# Largest score matrix one chunk may allocate, in float32 elements.
CHUNK_ELEMENTS = 1 << 26


def _empty(queries: torch.Tensor, k: int) -> ScanResult:
    nq = queries.shape[0]
    return ScanResult(queries.new_full((nq, k), float("-inf")), torch.full((nq, k), -1, dtype=torch.int64, device=queries.device))


def rounded_queries(request: ScanRequest) -> torch.Tensor:
    """Queries rounded to the storage dtype, in float32: every backend multiplies these numbers."""
    return request.queries.to(request.arenas[0].dtype).float() if request.arenas else request.queries


def _keep_bits(request: ScanRequest) -> torch.Tensor:
    if request.keep is not None:
        return request.keep
    return unpack_bits(request.mask_words, request.mask_words.shape[-1] * 32)


def _arena_rows(request: ScanRequest, start: int, stop: int) -> torch.Tensor:
    for arena, arena_start in zip(request.arenas, request.arena_starts):
        if arena_start <= start and stop <= arena_start + arena.shape[0]:
            return arena[start - arena_start:stop - arena_start]
    raise ValueError(f"ranges: slot range [{start}, {stop}) is not inside one arena")


def _score_block(request, queries, vectors, keep, bias) -> torch.Tensor:
    """Internal scores of queries against rows, -inf where the mask is clear."""
    vectors = vectors.float()
    neg_inf = torch.full((), float("-inf"), device=queries.device)
    if keep is None or keep.dim() == 1:
        everything_passes = keep is None or bool(keep.all())
        if bias is None and everything_passes:
            scores = torch.mm(queries, vectors.T)
            return scores if request.score_scale == 1 else scores.mul_(request.score_scale)
        row = torch.zeros(vectors.shape[0], device=queries.device) if bias is None else bias
        if not everything_passes:
            row = torch.where(keep, row, neg_inf)
        return torch.addmm(row.unsqueeze(0), queries, vectors.T, alpha=request.score_scale)
    scores = torch.mm(queries, vectors.T)
    if request.score_scale != 1:
        scores.mul_(request.score_scale)
    if bias is not None:
        scores.add_(bias)
    return scores.masked_fill_(~keep, float("-inf"))


def torch_scan(request: ScanRequest) -> ScanResult:
    """Best ``request.k`` slots per query (see :class:`flatsearch.scan.ScanRequest`).

    Example:
        >>> import torch
        >>> from flatsearch.scan import ScanRequest
        >>> from flatsearch.bitmask import pack_bits
        >>> vectors = torch.eye(4)
        >>> request = ScanRequest(queries=torch.tensor([[0.0, 1.0, 0.5, 0.0]]), k=2, arenas=(vectors,),
        ...     arena_starts=(0,), ranges=torch.tensor([[0, 4]]), mask_words=pack_bits(torch.ones(4, dtype=torch.bool)),
        ...     bias=None, score_scale=1.0)
        >>> torch_scan(request).slots.tolist()
        [[1, 2]]
    """
    queries = rounded_queries(request)
    nq, k = queries.shape[0], request.k
    total_rows = int((request.ranges[:, 1] - request.ranges[:, 0]).sum())
    if request.passing_slots is not None and not request.per_query_mask:
        slots = request.passing_slots
        if slots.numel() == 0 or nq == 0:
            return _empty(queries, k)
        if slots.numel() <= GATHER_MAX_FRACTION * total_rows:
            return _gather_scan(request, queries, None, slots)
    elif request.candidate_slots is not None and request.candidate_slots.numel() <= GATHER_MAX_FRACTION * total_rows:
        slots = request.candidate_slots
        if slots.numel() == 0 or nq == 0:
            return _empty(queries, k)
        return _gather_scan(request, queries, bits_at(request.mask_words, slots), slots)
    keep_all = _keep_bits(request)
    passing = keep_all if keep_all.dim() == 1 else keep_all.any(dim=0)
    n_passing = int(passing.sum())
    if n_passing == 0 or nq == 0:
        return _empty(queries, k)
    if n_passing <= GATHER_MAX_FRACTION * total_rows:
        slots = passing.nonzero().flatten()
        return _gather_scan(request, queries, keep_all.index_select(-1, slots), slots)
    ranges = _spans(request)
    candidates_scores, candidates_slots = [], []
    chunk_rows = max(4096, CHUNK_ELEMENTS // max(nq, 1))
    for start, stop in ranges:
        for chunk_start in range(start, stop, chunk_rows):
            chunk_stop = min(stop, chunk_start + chunk_rows)
            keep = keep_all[..., chunk_start:chunk_stop]
            if not bool(keep.any()):
                continue
            bias = None if request.bias is None else request.bias[chunk_start:chunk_stop]
            scores = _score_block(request, queries, _arena_rows(request, chunk_start, chunk_stop), keep, bias)
            everything_passes = keep.dim() == 1 and bool(keep.all())
            values, columns = best_k(scores, k, valid=None if everything_passes else keep)
            candidates_scores.append(values)
            candidates_slots.append(torch.where(columns >= 0, columns + chunk_start, columns))
    if len(candidates_scores) == 1:
        return ScanResult(candidates_scores[0], candidates_slots[0])
    slots = torch.cat(candidates_slots, 1)
    return ScanResult(*best_k(torch.cat(candidates_scores, 1), k, keys=slots, valid=slots >= 0))


def _spans(request: ScanRequest) -> list[list[int]]:
    """The listed ranges, neighbours in one arena joined across gaps of up to ``SPAN_GAP_ROWS``.

    Many partitions mean many short ranges; one multiplication per range would cost a few
    torch calls each. Rows in a gap are never live, so the mask (and ``best_k``'s validity)
    drops them, whatever the unused memory there holds.
    """
    ranges = request.ranges
    if len(ranges) <= 1:
        return ranges.tolist()
    starts = torch.tensor(request.arena_starts, dtype=torch.int64)
    arena_of = torch.searchsorted(starts, ranges[:, 0].contiguous(), right=True)
    join = (arena_of[1:] == arena_of[:-1]) & (ranges[1:, 0] - ranges[:-1, 1] <= SPAN_GAP_ROWS)
    first = torch.cat([torch.ones(1, dtype=torch.bool), ~join])
    last = torch.cat([~join, torch.ones(1, dtype=torch.bool)])
    return torch.stack([ranges[first, 0], ranges[last, 1]], dim=1).tolist()


def _gather_scan(request: ScanRequest, queries: torch.Tensor, keep: torch.Tensor | None, slots: torch.Tensor) -> ScanResult:
    """Scores of just the rows at ``slots`` (sorted); ``keep``: the mask bits at those slots, or None."""
    vectors = gather_rows(request, slots)
    bias = None if request.bias is None else request.bias.index_select(0, slots)
    scores = _score_block(request, queries, vectors, keep, bias)
    # Slots are sorted, so the lower column is the lower slot.
    values, columns = best_k(scores, request.k, valid=keep)
    return ScanResult(values, torch.where(columns >= 0, slots[columns.clamp(min=0)], columns))


def gather_rows(request: ScanRequest, slots: torch.Tensor) -> torch.Tensor:
    """Stored vectors of the given (sorted) slots."""
    pieces = []
    stops = [start + arena.shape[0] for arena, start in zip(request.arenas, request.arena_starts)]
    # Where each arena's slots begin and end in ``slots``: one searchsorted, one copy to the host.
    edges = torch.searchsorted(slots, torch.tensor(stops, dtype=torch.int64, device=slots.device)).tolist()
    for arena, arena_start, lo, hi in zip(request.arenas, request.arena_starts, [0] + edges[:-1], edges):
        if hi > lo:
            pieces.append(arena.index_select(0, slots[lo:hi] - arena_start))  # far faster than arena[...] on CPU
    if len(pieces) == 1:
        return pieces[0]
    return torch.cat(pieces) if pieces else request.arenas[0].new_empty((0, request.queries.shape[1]))
