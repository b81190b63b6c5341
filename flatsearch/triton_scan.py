"""Triton scan backend: validate a :class:`ScanRequest`, launch the fused kernel, merge.

The kernel (``flatsearch.kernels.scan``) splits the scanned rows across
programs, flash-decoding style, so that a single query still fills the GPU:
the split count comes from the real query-tile size and the SM count
(:func:`plan_splits`). Each (query tile, split) program leaves its best K
candidates (32-bit scores and slots) in the front of its staging rows
(selection by threshold, :mod:`flatsearch.kernels.topk`, so K up to
:data:`MAX_KERNEL_K` never needs more registers) with their count; one more
kernel packs them into int64 keys (:func:`pack_split_lists`, as :func:`pack_keys`),
one ``torch.topk`` over the keys merges the splits,
and the keys are decoded back into scores and slots. Keys embed the slot, so equal scores come out lower slot
first, exactly as the torch backend orders them.

Scans of ``tl.dot`` tiles over many rows start each query's threshold from a
strided sample (:func:`start_thresholds`): from k = :data:`TIGHT_START_MIN_K` on
(at every k for 128-query tiles), from a tight rank of it (:func:`tight_start_rank`), far above the sample's k-th,
so that few row tiles hold winners; a query whose tight start turns out too high
(fewer than k rows above it) is scanned again from the sample's k-th, which is
always safe, so results stay exact.

One query per program multiplies on CUDA cores; 2-15 queries are padded to a
16-query tile for ``tl.dot``. On CUDA the kernel is autotuned per (dim, storage
dtype, k bucket, nq bucket, row-count bucket). On CPU tensors it runs through
Triton's interpreter, which must be switched on with ``TRITON_INTERPRET=1``
before the kernels are first imported; that is how the test suite exercises
it. k above :data:`MAX_KERNEL_K` goes to the torch backend, which returns the
same results.
"""
from __future__ import annotations

import functools
import math
import numbers
import os
import threading
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import describe
from .scan import ScanRequest, ScanResult
from .torch_scan import torch_scan

MAX_KERNEL_K = 1024
MIN_TRITON = (3, 6)
STORAGE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
EMPTY_KEY = -(2**63)  # padding of the packed keys, below every real key
EMPTY_SLOT = -1  # the kernel's EMPTY_SLOT: slot bits of an unused place (0xFFFFFFFF, never a real slot)
# The kernel stores 0xFFFFFFFF - slot in the low half of a key.
MAX_SLOTS = 2**32 - 1
_SLOT_BITS = 0xFFFFFFFF
_MIN_K_WIDTH = 16
# Largest grid dimension y of a CUDA launch: the split count never exceeds it.
MAX_SPLITS = 65_535


@dataclass(frozen=True)
class KernelConfig:
    """Tile sizes and launch settings for one kernel launch.

    ``block_q`` is 1 (one query per program, CUDA-core multiply-adds) or a
    power of two of at least 16 (``tl.dot``, which needs 16 rows; fewer queries
    are padded). ``block_n`` and ``block_d`` are powers of two, at least 16,
    ``block_n`` at most half the staging row (:func:`staging_capacity`).
    """

    block_q: int
    block_n: int
    block_d: int
    num_warps: int = 4
    num_stages: int = 2
    max_registers: int | None = None  # ptx .maxnreg; None lets ptxas choose

    def __post_init__(self):
        if self.max_registers is not None and (isinstance(self.max_registers, bool) or
                                               not isinstance(self.max_registers, int) or
                                               not 32 <= self.max_registers <= 255):
            raise ValueError(f"KernelConfig.max_registers: expected None or an int from 32 to 255, "
                             f"got {self.max_registers!r}")
        for name in ("block_q", "block_n", "block_d", "num_warps", "num_stages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"KernelConfig.{name}: expected a positive int, got {value!r}")
        if self.block_q != 1 and (self.block_q < 16 or self.block_q & (self.block_q - 1)):
            raise ValueError(f"KernelConfig.block_q: expected 1 or a power of two >= 16, got {self.block_q}")
        for name in ("block_n", "block_d"):
            value = getattr(self, name)
            if value < 16 or value & (value - 1) or (name == "block_n" and 2 * value > _MIN_STAGE):
                raise ValueError(f"KernelConfig.{name}: expected a power of two from 16 to "
                                 f"{_MIN_STAGE // 2 if name == 'block_n' else 'any'}, got {value}")

    def meta(self) -> dict:
        meta = {"BLOCK_Q": self.block_q, "BLOCK_N": self.block_n, "BLOCK_D": self.block_d,
                "num_warps": self.num_warps, "num_stages": self.num_stages}
        if self.max_registers is not None:
            meta["maxnreg"] = self.max_registers
        return meta


def triton_unavailable_reason(device: torch.device | str) -> str | None:
    """Why the Triton backend cannot scan tensors on ``device``, or None when it can.

    CUDA devices need a working CUDA torch and Triton; CPU tensors need
    Triton's interpreter, switched on by ``TRITON_INTERPRET=1`` before the
    kernels are first imported.

    Example:
        >>> import os
        >>> from flatsearch.triton_scan import triton_unavailable_reason
        >>> reason = triton_unavailable_reason("cpu")
        >>> (reason is None) == (os.environ.get("TRITON_INTERPRET") == "1")
        True
    """
    device = torch.device(device)
    try:
        import triton
    except ImportError as error:
        return f"triton is not installed ({error}); install it with `pip install triton`"
    if _version_tuple(triton.__version__) < MIN_TRITON:
        return f"triton {triton.__version__} is older than the oldest tested version; install triton>=3.6"
    interpret_requested = os.environ.get("TRITON_INTERPRET", "") == "1"
    if device.type == "cpu":
        if not interpret_requested:
            return ("Triton runs on CPU tensors only through its interpreter: set TRITON_INTERPRET=1 "
                    "before importing flatsearch (slow; meant for tests), or use a CUDA device")
        if not _kernels_interpreted():
            return ("flatsearch.kernels was imported before TRITON_INTERPRET=1 was set; "
                    "set it before the first import")
        return None
    if device.type != "cuda":
        return f"the Triton backend runs on CUDA devices (or CPU through the interpreter), got device {device}"
    if not torch.cuda.is_available():
        return "torch reports no usable CUDA device"
    if interpret_requested or _kernels_interpreted():
        return "TRITON_INTERPRET=1 is set: the interpreter scans CPU tensors only; unset it for CUDA"
    return None


def triton_scan(request: ScanRequest, *, config: KernelConfig | None = None,
                n_splits: int | None = None) -> ScanResult:
    """Best ``request.k`` slots per query by the fused Triton kernel (see :mod:`flatsearch.scan`).

    Args:
        request: the scan to run; its tensors on a CUDA device, or on the CPU
            with ``TRITON_INTERPRET=1``.
        config: fixed tile sizes instead of the autotuned (CUDA) or default
            (interpreter) ones.
        n_splits: number of row splits scanned by separate programs; by
            default enough to fill the device.

    Example (needs ``TRITON_INTERPRET=1`` on a CPU):
        >>> import torch
        >>> from flatsearch.bitmask import pack_bits
        >>> from flatsearch.scan import ScanRequest
        >>> request = ScanRequest(queries=torch.tensor([[0.0, 1.0, 0.5, 0.0]]), k=2,
        ...     arenas=(torch.eye(4),), arena_starts=(0,), ranges=torch.tensor([[0, 4]]),
        ...     mask_words=pack_bits(torch.ones(4, dtype=torch.bool)), bias=None, score_scale=1.0)
        >>> triton_scan(request).slots.tolist()
        [[1, 2]]
    """
    _check_request(request)
    return _scan(request, config=config, n_splits=n_splits)


def _scan(request: ScanRequest, *, config: KernelConfig | None = None, n_splits: int | None = None,
          start: torch.Tensor | None = None) -> ScanResult:
    """:func:`triton_scan` of a checked request; ``start``: each query's start threshold, already known (no sample
    is taken; otherwise the scan starts from the sample's tight start where one is taken)."""
    if config is not None and not isinstance(config, KernelConfig):
        raise TypeError(f"config: expected a KernelConfig or None, got {type(config).__name__}")
    if n_splits is not None and (isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral)
                                 or n_splits < 1):
        raise ValueError(f"n_splits: expected a positive int or None, got {n_splits!r}")
    device = request.queries.device
    problem = triton_unavailable_reason(device)
    if problem is not None:
        raise ValueError(f"request.queries: the Triton backend cannot scan tensors on device {device}: {problem}")
    nq, k = request.queries.shape[0], request.k
    ranges = request.ranges[request.ranges[:, 1] > request.ranges[:, 0]]
    if nq == 0 or len(ranges) == 0:
        return _padded_result(nq, k, device)
    capacity = request.arena_starts[-1] + request.arenas[-1].shape[0]
    if k > MAX_KERNEL_K or capacity > MAX_SLOTS:
        return torch_scan(request)

    k_width = k_width_for(k)
    total_rows = int((ranges[:, 1] - ranges[:, 0]).sum())
    gather = uses_gather(request, total_rows)
    if gather:
        # Scan the list of passing rows, not the ranges: a sparse filter leaves passing rows in
        # most tiles of the ranges, so skipping tiles whose bits are all clear saves little.
        if request.passing_slots.numel() == 0:
            return _padded_result(nq, k, device)
        total_rows = request.passing_slots.numel()
        ranges = torch.tensor([[0, total_rows]], dtype=torch.int64)
    wide = uses_wide_tiles(nq, total_rows, per_query_mask=request.mask_words.dim() == 2, dim=request.queries.shape[1])
    if config is None and device.type == "cpu":
        config = _interpreter_config(nq, wide)
    block_q = config.block_q if config is not None else _bucket_block_q(_bucket(nq), wide)
    requested_splits = n_splits  # a rescan of a few queries sizes its own splits, as this call did
    if n_splits is None:
        n_splits = _default_splits(device, nq=nq, total_rows=total_rows, k_width=k_width, block_q=block_q)
    n_splits = min(n_splits, MAX_SPLITS)
    tables, n_splits, aligned = _work_tables(request, ranges, n_splits)
    split_starts_at = tables.numel() - (n_splits + 1)
    segments, split_starts = tables[:split_starts_at], tables[split_starts_at:]

    storage_dtype = request.arenas[0].dtype
    if gather:
        gather_slots = request.passing_slots.contiguous()
        gather_offsets = _row_offsets(request, gather_slots)
    else:
        gather_slots = gather_offsets = torch.zeros(1, dtype=torch.int64, device=device)
    queries = _tile_padded(request.queries, block_q, dtype=storage_dtype)
    mask = request.mask_words.contiguous()
    bias = request.bias.contiguous() if request.bias is not None else torch.zeros(1, dtype=torch.float32, device=device)
    stage = staging_capacity(k_width)
    # Each row holds a list (its first k_width places) and the candidates staged behind it; the
    # kernel leaves each list's count, so nothing is filled first. Counts have a row for every
    # padding query too (see _tile_padded), but staging has rows for real queries only: a padding
    # query's +inf start is what keeps the kernel from staging (and writing past stage_scores).
    stage_scores = torch.empty((nq, n_splits, stage), dtype=torch.float32, device=device)
    stage_slots = torch.empty((nq, n_splits, stage), dtype=torch.int32, device=device)
    counts = torch.empty((queries.shape[0], n_splits), dtype=torch.int32, device=device)

    rank = k
    if start is not None:
        start = start.to(device=device, dtype=torch.float32).contiguous()
    elif uses_start_sample(block_q, total_rows):
        rank = start_rank(k, sample_size(k, total_rows), total_rows, block_q)
        if rank < k:
            start, safe = start_thresholds(request, k, ranges, gather_slots if gather else None,
                                           total_rows=total_rows, rank=rank)
        else:
            start = start_thresholds(request, k, ranges, gather_slots if gather else None, total_rows=total_rows)
    else:
        start = torch.full((nq,), float("-inf"), dtype=torch.float32, device=device)

    upcast = device.type == "cpu" and storage_dtype == torch.bfloat16
    constants = {"DIM": queries.shape[1], "K": k_width, "STAGE": stage, "PER_QUERY_MASK": mask.dim() == 2,
                 "HAS_BIAS": request.bias is not None, "ALIGNED": aligned,
                 "INPUT_PRECISION": "ieee" if storage_dtype == torch.float32 or upcast else None,
                 "UPCAST_DOT": upcast, "MERGE_ROWS": merge_rows(block_q, k_width), "GATHER": gather,
                 "EXTRACT": extracts(block_q)}
    if config is None:
        kernel, meta = _tuned_kernel(), {}
    else:
        kernel, meta = _kernels().scan_topk_kernel, config.meta()

    def grid(launch_meta):
        # The kernel reads queries and starts and writes counts without a query mask: the tile
        # it runs must be the one they were padded to (every tuning candidate of a bucket shares it).
        if queries.shape[0] % launch_meta["BLOCK_Q"]:
            raise RuntimeError(f"scan tile of {launch_meta['BLOCK_Q']} queries does not divide the "
                               f"{queries.shape[0]} padded query rows (padded for {block_q})")
        return (_cdiv(nq, launch_meta["BLOCK_Q"]), n_splits)

    kernel[grid](
        queries, request.arenas[0], mask, bias, segments, split_starts, stage_scores, stage_slots, counts,
        gather_slots, gather_offsets, _tile_padded(start, block_q, float("inf")),
        nq, n_splits, _bucket(nq), _bucket(max(1, total_rows // 65536)),
        mask.stride(0) if mask.dim() == 2 else 0,
        float(request.score_scale),
        **constants, **meta,
    )
    keys = pack_split_lists(stage_scores, stage_slots, counts[:nq], k_width)
    result = decode_keys(torch.topk(keys, k, dim=1).values)
    if rank < k:
        result = _rescan_missed(request, result, start, safe, config, requested_splits)
    return result


def _rescan_missed(request: ScanRequest, result: ScanResult, tight: torch.Tensor, safe: torch.Tensor,
                   config: KernelConfig | None, n_splits: int | None) -> ScanResult:
    """``result`` with every query whose tight start missed scanned again from its safe start.

    A query missed when fewer than k rows scored above its tight start (its k-th place is empty)
    and that start lay above the safe one: rows at or below it may then belong to its best k.
    Otherwise every row of its best k scored above the start and was kept. One device-to-host
    read decides whether to scan again; only the queries that missed are scanned.
    """
    missed = (result.slots[:, -1] < 0) & (tight > safe)
    if not bool(missed.any()):
        return result
    rows = missed.nonzero().flatten()
    # The sub-request carries no memo: the padded copies memoised for the whole request do not describe these queries.
    again = _scan(request.for_queries(rows), config=config, n_splits=n_splits, start=safe[rows])
    scores, slots = result.scores.clone(), result.slots.clone()
    scores[rows], slots[rows] = again.scores, again.slots
    return ScanResult(scores=scores, slots=slots)


# The start thresholds' sample: at least SAMPLE_MIN_PER_K rows per result and at least one row in
# SAMPLE_DIVISOR of the scanned rows, at most SAMPLE_MAX_ROWS.
SAMPLE_MIN_PER_K = 16
SAMPLE_DIVISOR = 64
SAMPLE_MAX_ROWS = 1 << 20
# Unit roundoff assumed for the kernel's fp32 dot products: four times float32's, as tensor-core
# accumulation need not round to nearest.
_KERNEL_ROUNDOFF = 2.0**-22


# Fewest scanned rows for which tl.dot tiles take a start sample: on shorter scans (a filter's few
# blocks) its thirty small kernels (about 0.13 ms) cost more than the staging a 16-query tile saves
# (model, sm_90). Tiles of 64 or more queries sample from SAMPLE_MIN_ROWS_MANY rows on: from a start
# at -inf each of their splits merges at least once, and such a merge costs about 0.3 ms (64 rows
# selected one at a time; model, sm_90: nq=128 with a 1% filter, k=10, 0.76 ms without a sample).
SAMPLE_MIN_ROWS = 1 << 20
SAMPLE_MIN_ROWS_MANY = 1 << 14


def uses_start_sample(block_q: int, total_rows: int) -> bool:
    """Whether the scan starts from sampled thresholds (:func:`start_thresholds`) rather than -inf.

    One query per program has short splits that stage little, so only tl.dot tiles
    (``block_q`` > 1) take a sample: over at least :data:`SAMPLE_MIN_ROWS` scanned rows, or
    :data:`SAMPLE_MIN_ROWS_MANY` for tiles of 64 or more queries.

    Example:
        >>> uses_start_sample(64, 10_000_000), uses_start_sample(1, 10_000_000), uses_start_sample(16, 100_000)
        (True, False, False)
        >>> uses_start_sample(64, 100_000), uses_start_sample(64, 10_000)
        (True, False)
    """
    if block_q >= 64:
        return total_rows >= SAMPLE_MIN_ROWS_MANY
    return block_q > 1 and total_rows >= SAMPLE_MIN_ROWS


def sample_size(k: int, total_rows: int) -> int:
    """Rows of the scanned rows sampled for the start thresholds (all of them when there are few).

    Example:
        >>> sample_size(10, 10_000_000), sample_size(10, 100), sample_size(1000, 10_000_000)
        (156250, 100, 156250)
    """
    return min(total_rows, SAMPLE_MAX_ROWS, max(SAMPLE_MIN_PER_K * k, total_rows // SAMPLE_DIVISOR))


def sample_kernel_meta(nq: int, dim: int, storage_dtype: torch.dtype, *, interpreted: bool = False) -> dict:
    """Tile sizes and launch settings of ``sample_scores_kernel`` (see :func:`start_thresholds`).

    Example:
        >>> import torch
        >>> sample_kernel_meta(128, 384, torch.float16)
        {'BLOCK_Q': 64, 'BLOCK_N': 64, 'BLOCK_D': 64, 'num_warps': 8, 'num_stages': 2}
    """
    if interpreted:
        block_q, block_n = 16, 32
    else:
        block_q, block_n = 16 if nq <= 16 else 64, 64
    block_d = min(64 if storage_dtype != torch.float32 else 32, max(16, 1 << (dim - 1).bit_length()))
    return {"BLOCK_Q": block_q, "BLOCK_N": block_n, "BLOCK_D": block_d, "num_warps": 8, "num_stages": 2}


def start_thresholds(request: ScanRequest, k: int, ranges: torch.Tensor, gather_slots: torch.Tensor | None = None,
                     sample_rows: int | None = None, *, total_rows: int | None = None,
                     rank: int | None = None) -> torch.Tensor:
    """Per query, a float32 score below which no row can be among its best ``k``: the scan starts there.

    It is the k-th best score over an evenly strided sample of the scanned rows (of
    ``gather_slots`` when given, else of ``ranges``, ``total_rows`` of them, counted when not
    given; ``sample_rows`` of them, by default :func:`sample_size`), counting only rows whose mask
    bit is set, scored as the kernel scores (``score_scale * q . x + bias``, queries rounded to the
    storage dtype, ``tl.dot`` with float32 accumulation: ``sample_scores_kernel``, on tensor
    cores), lowered by a bound on the difference between two such sums in different orders and
    then to the next float below it. Every row of the best ``k`` scores at least the k-th best of
    any subset of the passing rows, so a kernel that keeps scores above the start (strictly) keeps
    every row it needs, ties included. -inf where the sample holds fewer than ``k`` passing rows.

    With ``rank`` (at most ``k``) it returns a (2, nq) tensor: the start from the rank-th best of
    the same sample (a tight start, which may lie above a query's k-th score:
    :func:`tight_start_rank`), then the k-th one above (always safe).

    Example (needs ``TRITON_INTERPRET=1`` on a CPU):
        >>> import torch
        >>> from flatsearch.bitmask import pack_bits
        >>> request = ScanRequest(queries=torch.tensor([[1.0, 0.0]]), k=2,
        ...     arenas=(torch.tensor([[3.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 0.0]]),), arena_starts=(0,),
        ...     ranges=torch.tensor([[0, 4]]), mask_words=pack_bits(torch.tensor([True, True, False, True])),
        ...     bias=None, score_scale=1.0)
        >>> start = start_thresholds(request, 2, request.ranges)
        >>> 0.999 < start.item() < 1.0, start_thresholds(request, 4, request.ranges).tolist()
        (True, [-inf])
        >>> tight, safe = start_thresholds(request, 2, request.ranges, rank=1)
        >>> 2.999 < tight.item() < 3.0, bool(safe == start)
        (True, True)
    """
    queries = request.queries
    device = queries.device
    nq, dim = queries.shape
    ranks = (k,) if rank is None else (min(rank, k), k)
    minus_inf = torch.full((len(ranks), nq), float("-inf"), dtype=torch.float32, device=device)
    if total_rows is None:
        total_rows = gather_slots.numel() if gather_slots is not None else int((ranges[:, 1] - ranges[:, 0]).sum())
    total = total_rows
    m = sample_size(k, total) if sample_rows is None else min(sample_rows, total)
    if m < k:
        return minus_inf[0] if rank is None else minus_inf
    # Evenly strided positions among the scanned rows, turned into slots on the device.
    positions = torch.div(torch.arange(m, dtype=torch.int64, device=device) * total, m, rounding_mode="floor")
    if gather_slots is not None:
        slots = gather_slots[positions]
    else:
        lengths = ranges[:, 1] - ranges[:, 0]
        firsts = torch.cumsum(lengths, 0) - lengths
        which = torch.searchsorted(firsts.to(device), positions, right=True) - 1
        slots = ranges[:, 0].to(device)[which] + positions - firsts.to(device)[which]
    storage_dtype = request.arenas[0].dtype
    rounded = queries.to(storage_dtype).contiguous()
    mask = request.mask_words.contiguous()
    bias = request.bias if request.bias is not None else torch.zeros(1, dtype=torch.float32, device=device)
    meta = sample_kernel_meta(nq, dim, storage_dtype, interpreted=device.type == "cpu")
    scores = torch.empty((nq, m), dtype=torch.float32, device=device)
    bounds = torch.zeros(2, dtype=torch.float32, device=device)
    upcast = device.type == "cpu" and storage_dtype == torch.bfloat16
    _kernels().sample_scores_kernel[(_cdiv(nq, meta["BLOCK_Q"]), _cdiv(m, meta["BLOCK_N"]))](
        rounded, request.arenas[0], mask, bias, slots.contiguous(), _row_offsets(request, slots).contiguous(),
        scores, bounds, nq, m, mask.stride(0) if mask.dim() == 2 else 0, float(request.score_scale),
        DIM=dim, PER_QUERY_MASK=mask.dim() == 2, HAS_BIAS=request.bias is not None,
        INPUT_PRECISION="ieee" if storage_dtype == torch.float32 or upcast else None, UPCAST_DOT=upcast, **meta)
    best = torch.topk(scores, k, dim=1).values
    kth = best[:, [r - 1 for r in ranks]].T
    # |scan score - sample score| for a sampled row is at most (dim + 2) roundoffs of each sum times
    # scale |q| |x| + |bias| (Cauchy-Schwarz bounds sum |q_i x_i|); an order statistic of the sample
    # moves by no more than its rows do. Only rows some query keeps count (the kernel's bounds: with
    # per-query masks the others may be never-written memory). The rows' norms are float32 sums,
    # raised by a 2**-10 share so the bound holds over their own rounding.
    bias_bound = bounds[1] if request.bias is not None else 0.0
    row_bound = bounds[0].sqrt() * (1.0 + 2.0**-10)
    bound = abs(float(request.score_scale)) * rounded.float().norm(dim=1) * (1.0 + 2.0**-10) * row_bound + bias_bound
    margin = 2.0 * (dim + 2) * (2.0 * _KERNEL_ROUNDOFF) * bound
    start = torch.nextafter(kth - margin, minus_inf)
    start = torch.where(torch.isfinite(kth), start, minus_inf).float()
    return start[0] if rank is None else start


# The tight start's miss probability per query, with rows in random order: the chance that more than
# its rank's worth of the sampled rows are among the query's best k (:func:`tight_start_rank`).
TIGHT_START_MISS = 1e-5


# Smallest k that starts from a tight rank: below it the sample's k-th already leaves few tiles staging,
# and the check costs more than it saves (model, sm_90, 10M x 384: nq=16 k=10 2.016 -> 2.047 ms with it).
# Tiles of 128 queries (staging by extraction) start from a tight rank at every k: 128 x 128 scores a
# tile beat the sample's 10th of 156,250 rows in about two tiles of three, and each such tile pays
# a staging pass and its rounds (model, sm_90 on an H200, 10M x 384, nq=128 k=10: 3.49 -> 3.18 ms with it).
TIGHT_START_MIN_K = 64
TIGHT_START_MIN_QUERIES = 128


def start_rank(k: int, sample_rows: int, total_rows: int, block_q: int = 1) -> int:
    """The sample's order statistic a scan in tiles of ``block_q`` queries starts from: :func:`tight_start_rank`
    from :data:`TIGHT_START_MIN_K` results on or for tiles of :data:`TIGHT_START_MIN_QUERIES` queries, else the k-th.

    Example:
        >>> start_rank(10, 156_250, 10_000_000), start_rank(100, 156_250, 10_000_000)
        (10, 11)
        >>> start_rank(10, 156_250, 10_000_000, block_q=64), start_rank(10, 156_250, 10_000_000, block_q=128)
        (10, 5)
    """
    if k < TIGHT_START_MIN_K and block_q < TIGHT_START_MIN_QUERIES:
        return k
    return tight_start_rank(k, sample_rows, total_rows)


def tight_start_rank(k: int, sample_rows: int, total_rows: int, miss: float | None = None) -> int:
    """Rank of the sample's order statistic that a scan starts from instead of its k-th (at most ``k``).

    The start from the j-th best of the sample lies above a query's k-th best score only when at
    least j of the sampled rows are among its best k. With rows in random order (the strided
    positions then are a uniform random subset) that count is hypergeometric, with the mean
    ``k * sample_rows / total_rows``; its tail is at most the Chernoff bound of the binomial
    ``exp(-k D(j/k || sample_rows/total_rows))`` (Hoeffding 1963), and j is the smallest rank with
    that bound at most ``miss`` (:data:`TIGHT_START_MISS`). Whatever the order, a query whose tight
    start turns out too high (fewer than k rows above it) is found and scanned again from the safe
    start (:func:`triton_scan`), so results stay exact; the rank only sets how rarely that happens.

    Example:
        >>> tight_start_rank(1000, 156_250, 10_000_000), tight_start_rank(10, 156_250, 10_000_000)
        (38, 5)
        >>> tight_start_rank(1000, 1_000, 1_000)  # the whole table sampled: its k-th is the k-th
        1000
    """
    # Resolved before the cache: a later TIGHT_START_MISS is read, not an old default's answer.
    return _tight_start_rank(k, sample_rows, total_rows, TIGHT_START_MISS if miss is None else miss)


@functools.lru_cache(maxsize=256)
def _tight_start_rank(k: int, sample_rows: int, total_rows: int, miss: float) -> int:
    share = sample_rows / max(1, total_rows)
    if share >= 1.0:
        return k
    for rank in range(1, k):
        fraction = rank / k
        if fraction <= share:
            continue
        divergence = fraction * math.log(fraction / share)
        if fraction < 1.0:
            divergence += (1.0 - fraction) * math.log((1.0 - fraction) / (1.0 - share))
        if math.exp(-k * divergence) <= miss:
            return rank
    return k


def pack_keys(scores: torch.Tensor, slot_bits: torch.Tensor) -> torch.Tensor:
    """int64 keys of the kernel's 32-bit candidates: the order-preserving score above ``0xFFFFFFFF - slot``.

    ``slot_bits`` are the int32 bits of the slots; ``EMPTY_SLOT`` places become ``EMPTY_KEY``.
    Sorting the keys in descending order sorts by score, equal scores lower slot first.

    Example:
        >>> import torch
        >>> keys = pack_keys(torch.tensor([[1.5, 1.5, -2.0, 0.0]]), torch.tensor([[7, 3, 1, EMPTY_SLOT]],
        ...                                                                       dtype=torch.int32))
        >>> decode_keys(keys.sort(descending=True).values).slots.tolist()
        [[3, 7, 1, -1]]
    """
    bits = scores.contiguous().view(torch.int32).long()
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    ordered = torch.where(scores == 0, torch.zeros_like(ordered), ordered)
    keys = (ordered << 32) | (_SLOT_BITS - (slot_bits.long() & _SLOT_BITS))
    return keys.masked_fill(slot_bits == EMPTY_SLOT, EMPTY_KEY)


# Places one program of the key-packing kernel packs.
PACK_BLOCK = 1024


def pack_split_lists(stage_scores: torch.Tensor, stage_slots: torch.Tensor, counts: torch.Tensor,
                     k_width: int) -> torch.Tensor:
    """The scan's split lists as (nq, n_splits * k_width) int64 keys (:func:`pack_keys`), by one kernel.

    ``stage_scores`` (float32) and ``stage_slots`` (int32 slot bits) are the kernel's (nq, n_splits,
    stage) staging rows, ``counts`` (int32, (nq, n_splits)) how many of each row's first ``k_width``
    places hold candidates; the places after them become ``EMPTY_KEY`` unread. One pass over the
    lists replaces the element-wise torch packing (and the fill of the lists' slots it needed).

    Example (needs ``TRITON_INTERPRET=1`` on a CPU):
        >>> import torch
        >>> scores = torch.tensor([[[1.5, -2.0, 9.0, 9.0]]])
        >>> slots = torch.tensor([[[7, 3, 1, 1]]], dtype=torch.int32)
        >>> keys = pack_split_lists(scores, slots, torch.tensor([[2]], dtype=torch.int32), 2)
        >>> decode_keys(keys).slots.tolist(), bool(torch.equal(keys, pack_keys(scores[0, :, :2], slots[0, :, :2])))
        ([[7, 3]], True)
        >>> decode_keys(pack_split_lists(scores, slots, torch.tensor([[1]], dtype=torch.int32), 2)).slots.tolist()
        [[7, -1]]
    """
    nq, n_splits, stage = stage_scores.shape
    keys = torch.empty((nq, n_splits * k_width), dtype=torch.int64, device=stage_scores.device)
    n_places = keys.numel()
    if n_places:
        _topk_kernels().pack_list_keys_kernel[(_cdiv(n_places, PACK_BLOCK),)](
            stage_scores, stage_slots, counts, keys, n_places, K=k_width, STAGE=stage, BLOCK=PACK_BLOCK)
    return keys


def decode_keys(keys: torch.Tensor) -> ScanResult:
    """Turn packed keys (see :func:`pack_keys`) back into scores and slots.

    Example:
        >>> import torch
        >>> key = (torch.tensor([1.5]).view(torch.int32).long() << 32) | (0xFFFFFFFF - 7)
        >>> result = decode_keys(torch.stack([key, torch.tensor([-(2**63)])], dim=1))
        >>> result.scores.tolist(), result.slots.tolist()
        ([[1.5, -inf]], [[7, -1]])
    """
    empty = keys == EMPTY_KEY
    slots = _SLOT_BITS - (keys & _SLOT_BITS)
    high = keys >> 32
    bits = torch.where(high < 0, high ^ 0x7FFFFFFF, high).to(torch.int32)
    scores = bits.view(torch.float32).masked_fill(empty, float("-inf"))
    return ScanResult(scores=scores, slots=slots.masked_fill(empty, -1))


# -- launch planning --------------------------------------------------------------------------------
def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _bucket(n: int) -> int:
    """Power-of-two bucket of a query count: the autotuner keys on it."""
    return 1 << max(0, n - 1).bit_length()


def _default_splits(device: torch.device, *, nq: int, total_rows: int, k_width: int, block_q: int) -> int:
    # The interpreter runs programs one after another, so more splits only cost.
    sm_count = _sm_count(device) if device.type == "cuda" else 0
    return plan_splits(sm_count=sm_count, nq=nq, total_rows=total_rows, k_width=k_width, block_q=block_q)


@functools.cache
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


# Programs per SM the split count aims for: enough resident blocks to hide memory latency. The
# tl.dot tiles use about 240 registers per thread at 8 warps, so one block fills an SM's register
# file: more of their programs than SMs add waves, and per-split lists and merges, without adding
# resident warps (PROGRAMS_PER_SM_DOT).
PROGRAMS_PER_SM = 4
PROGRAMS_PER_SM_DOT = 1
# Shortest split: a few row tiles, so a program's fixed cost (its list, the final merge) stays
# small next to its scan.
MIN_SPLIT_ROWS = 512


def plan_splits(*, sm_count: int, nq: int, total_rows: int, k_width: int, block_q: int) -> int:
    """Row splits for a launch on a device with ``sm_count`` SMs (0: the interpreter, one split).

    Enough (query tile, split) programs for :data:`PROGRAMS_PER_SM` per SM
    (:data:`PROGRAMS_PER_SM_DOT` for tl.dot tiles, ``block_q`` > 1), counting
    the real query tiles of ``block_q`` queries; each split at least
    :data:`MIN_SPLIT_ROWS` rows; never more than the grid allows. K does not
    limit the split count: a split of at most K passing rows keeps them all in
    its list and never merges, and the split merge reads only ``splits x K``
    keys per query (a few MB, next to the GB the scan reads).

    Example:
        >>> plan_splits(sm_count=132, nq=1, total_rows=10_000_000, k_width=16, block_q=1)
        528
        >>> plan_splits(sm_count=132, nq=128, total_rows=10_000_000, k_width=16, block_q=64)
        66
        >>> plan_splits(sm_count=132, nq=1, total_rows=100_000, k_width=1024, block_q=1)
        195
    """
    if not sm_count:
        return 1
    query_tiles = _cdiv(nq, block_q)
    per_sm = PROGRAMS_PER_SM if block_q == 1 else PROGRAMS_PER_SM_DOT
    wanted = _cdiv(per_sm * sm_count, query_tiles)
    longest = max(1, total_rows // MIN_SPLIT_ROWS)
    return max(1, min(wanted, longest, MAX_SPLITS))


# A shared mask with passing slots at most this fraction of the ranged rows is scanned as a
# list of rows (the gather path): fewer tiles, each full of passing rows.
GATHER_MAX_FRACTION = 0.25


def uses_gather(request: ScanRequest, total_rows: int) -> bool:
    """Whether the scan visits ``request.passing_slots`` instead of the ranges (see GATHER_MAX_FRACTION)."""
    slots = request.passing_slots
    return (slots is not None and request.mask_words.dim() == 1
            and slots.numel() <= GATHER_MAX_FRACTION * total_rows)


def _arena_element_offsets(request: ScanRequest) -> tuple[np.ndarray, bool]:
    """Per arena, the element offset that turns ``arena0 + offset + slot * dim`` into the slot's row;
    and whether every row then starts 16 elements aligned."""
    dim = request.queries.shape[1]
    element_size = request.arenas[0].element_size()
    base = request.arenas[0].data_ptr()
    byte_gaps = np.array([arena.data_ptr() - base for arena in request.arenas], dtype=np.int64)
    offsets = byte_gaps // element_size - np.array(request.arena_starts, dtype=np.int64) * dim
    return offsets, bool(np.all(byte_gaps % (16 * element_size) == 0)) and dim % 16 == 0


def _row_offsets(request: ScanRequest, slots: torch.Tensor) -> torch.Tensor:
    """Element offsets of the rows of ``slots`` from the first arena, computed on the slots' device."""
    offsets, _ = _arena_element_offsets(request)
    dim = request.queries.shape[1]
    if len(offsets) == 1:
        return slots * dim + int(offsets[0])
    starts = torch.tensor(request.arena_starts, dtype=torch.int64).to(slots.device)
    arena = torch.searchsorted(starts, slots, right=True) - 1
    return torch.from_numpy(offsets).to(slots.device)[arena] + slots * dim


def _work_tables(request: ScanRequest, ranges: torch.Tensor, n_splits: int) -> tuple[torch.Tensor, int, bool]:
    """Cut the ranges into ``n_splits`` near-equal row splits of segments.

    Returns one int64 device tensor (one host-to-device copy) holding the
    (n_segments, 3) segment table [start, stop, arena element offset], padded to
    an even length so the split starts that follow keep 16-byte alignment (the
    compiled kernel is specialised on pointer alignment); the actual number of
    splits; and whether every arena offset is a multiple of 16 elements.
    """
    starts, stops = ranges[:, 0].numpy(), ranges[:, 1].numpy()
    lengths = stops - starts
    range_offsets = np.concatenate([[0], np.cumsum(lengths)])
    total = int(range_offsets[-1])
    rows_per_split = _cdiv(total, n_splits)
    n_splits = _cdiv(total, rows_per_split)
    cuts = np.arange(n_splits, dtype=np.int64) * rows_per_split
    boundaries = np.union1d(range_offsets[:-1], cuts)
    ends = np.append(boundaries[1:], total)
    range_of = np.searchsorted(range_offsets, boundaries, side="right") - 1
    segment_starts = starts[range_of] + (boundaries - range_offsets[range_of])
    segment_stops = segment_starts + (ends - boundaries)
    split_starts = np.searchsorted(boundaries // rows_per_split, np.arange(n_splits + 1), side="left")

    arena_offsets, aligned = _arena_element_offsets(request)
    arena_of = np.searchsorted(np.array(request.arena_starts, dtype=np.int64), segment_starts, side="right") - 1
    segments = np.stack([segment_starts, segment_stops, arena_offsets[arena_of]], axis=1)
    padding = np.zeros(segments.size % 2, dtype=np.int64)
    host = np.concatenate([segments.reshape(-1), padding, split_starts]).astype(np.int64)
    return _to_device(host, request.queries.device), n_splits, aligned


class _PinnedUpload:
    """One reusable page-locked host buffer for the small tables each launch uploads.

    A ``non_blocking`` copy from pageable memory is not asynchronous (and the
    memory may change under it); from page-locked memory it is. The buffer is
    rewritten only after the previous upload from it has finished (its event).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.buffer = None
        self.done = None

    def upload(self, host: np.ndarray, device: torch.device) -> torch.Tensor:
        with self.lock:
            if self.done is not None:
                self.done.synchronize()
            if self.buffer is None or self.buffer.numel() < host.size:
                self.buffer = torch.empty(max(host.size, 4096), dtype=torch.int64, pin_memory=True)
            staged = self.buffer[:host.size]
            staged.numpy()[:] = host
            on_device = staged.to(device, non_blocking=True)
            self.done = torch.cuda.Event()
            self.done.record(torch.cuda.current_stream(device))
            return on_device


_PINNED = _PinnedUpload()


def _to_device(host: np.ndarray, device: torch.device) -> torch.Tensor:
    if device.type != "cuda":
        return torch.from_numpy(host)
    return _PINNED.upload(host, device)


def _interpreter_config(nq: int, wide: bool = False) -> KernelConfig:
    # Small tiles keep the interpreter's numpy arrays, and so its run time, small.
    return KernelConfig(block_q=_bucket_block_q(_bucket(nq), wide) if nq > 1 else 1, block_n=32, block_d=32)


# Staging rows hold at least this many keys: with the list in front, room for a whole
# tile of the widest candidate (256 rows) for every list width up to 256.
_MIN_STAGE = 512
# Candidates the merge holds in registers at once: the rows of several queries (see merge_rows).
# Each counting pass costs a block-wide reduction, so rows go together (at least two). 2048 keeps
# every dispatched tile free of spills on Triton 3.6 and 3.9; 16-query tiles on Triton 3.7 and
# later merge twice as many (MERGE_KEYS_WIDE) without spilling, which makes their K = 16 merge
# about four times cheaper (model, sm_90: eight rows give each warp a row of its own). 64-query
# tiles with lists of at most 256 places merge one row at a time from Triton 3.7 on: each merge
# costs about half (36k instead of 116k integer instructions per thread: the batch's reductions no
# longer span several rows), which pays for the hotter row-tile loop (244 registers instead of
# 203, +9% issue per tile), as the scan merges a few times per split (model, sm_90, 10M x 384
# fp16, nq=128: k=10 9.93 -> 9.66 ms, a 1% filter at k=10 1.24 -> 0.76 ms; k=100 9.96 -> 9.69
# ms before the model followed the threshold between merges). At K = 1024 they keep two rows
# (one: 18.3 -> 22.5 ms), as do 16-query tiles (nq=16 k=1000 3.5 -> 5.5 ms with one).
MERGE_KEYS = 2048
MERGE_KEYS_WIDE = 4096


def staging_capacity(k_width: int) -> int:
    """Keys per staging row (per query and split): the top-K list of ``k_width``, then room for as many.

    Example:
        >>> staging_capacity(16), staging_capacity(1024)
        (512, 2048)
    """
    return max(2 * k_width, _MIN_STAGE)


def merge_rows(block_q: int, k_width: int, version: tuple[int, ...] | None = None) -> int:
    """Queries whose staging rows one merge step selects from together (about MERGE_KEYS places, at least two rows;
    one for 64-query tiles with at most 256 list places, from Triton 3.7 on).

    ``version`` is Triton's (the installed one by default): register use, and so the widest merge
    that does not spill, depends on its code generation.

    Example:
        >>> merge_rows(16, 16, (3, 9)), merge_rows(16, 16, (3, 6)), merge_rows(64, 1024), merge_rows(1, 16)
        (8, 4, 2, 1)
        >>> merge_rows(64, 16, (3, 9)), merge_rows(64, 256, (3, 9)), merge_rows(64, 512, (3, 9)), merge_rows(64, 16, (3, 6))
        (1, 1, 2, 4)
    """
    version = _triton_version() if version is None else version
    if block_q >= 64 and k_width <= 256 and version >= (3, 7):
        return 1
    keys = MERGE_KEYS_WIDE if block_q == 16 and version >= (3, 7) else MERGE_KEYS
    return max(1, min(block_q, max(2, keys // staging_capacity(k_width))))


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _tile_padded(per_query: torch.Tensor, block_q: int, fill: float = 0.0, *,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """``per_query`` (one row per query) contiguous in ``dtype`` (default: its own), with rows of ``fill``
    after it up to whole ``block_q``-query tiles; converted and padded in one copy.

    The scan kernel reads its queries, start thresholds and counts without a query-validity mask:
    such a mask is live through the whole scan, and its registers spilled at 255 (Triton 3.6,
    sm_80). Padding queries (zero vectors) start at +inf, so they stage nothing: they have no
    staging rows, and that start is what keeps the kernel inside them.

    Example:
        >>> import torch
        >>> _tile_padded(torch.ones(3, 4), 16).shape, _tile_padded(torch.ones(3, 4), 1).shape
        (torch.Size([16, 4]), torch.Size([3, 4]))
        >>> _tile_padded(torch.zeros(2), 4, float("inf")).tolist()
        [0.0, 0.0, inf, inf]
    """
    dtype = per_query.dtype if dtype is None else dtype
    nq = per_query.shape[0]
    padded = _cdiv(nq, block_q) * block_q
    if padded == nq:
        return per_query.to(dtype).contiguous()
    tiles = per_query.new_full((padded, *per_query.shape[1:]), fill, dtype=dtype)
    tiles[:nq] = per_query
    return tiles


def _padded_result(nq: int, k: int, device: torch.device) -> ScanResult:
    return ScanResult(scores=torch.full((nq, k), float("-inf"), device=device),
                      slots=torch.full((nq, k), -1, dtype=torch.int64, device=device))


# -- kernels and tuning ------------------------------------------------------------------------------
def _kernels():
    from .kernels import scan
    return scan


def _topk_kernels():
    from .kernels import topk
    return topk


def _kernels_interpreted() -> bool:
    from triton.runtime.interpreter import InterpretedFunction
    return isinstance(_kernels().scan_topk_kernel, InterpretedFunction)


# Autotuning candidates (BLOCK_Q, BLOCK_N, BLOCK_D, num_warps, num_stages) per query-count bucket.
# Few per bucket: each is compiled and timed the first time a (dim, dtype, k, nq, rows) bucket is
# searched. Every query tile of a bucket has the same BLOCK_Q, so the split count is known before
# the autotuner picks. 2-15 queries share the 16-query tile. The top-K list is in global memory
# (selection by threshold), so K does not limit the tile.
_CANDIDATES = {
    "one": ((1, 128, 64, 4, 3, 255), (1, 256, 64, 8, 3, 255), (1, 128, 128, 8, 2, 255), (1, 64, 64, 4, 3, 255)),
    # .maxnreg 255 everywhere: left to itself ptxas may settle on 128 or 168 registers and spill.
    # The tl.dot tiles use 8 warps (with 4 the staging code spills) and, for float32 storage,
    # 32-wide dim chunks (see _tuning_configs). 128-row tiles halve the fixed cost per row of the
    # selection (see _tuning_configs and _spills_on_this_triton for where they are left out).
    "tile": ((16, 128, 64, 8, 3, 255), (16, 128, 128, 8, 2, 255), (16, 64, 64, 8, 3, 255), (16, 64, 32, 8, 3, 255)),
    # 128-dim chunks halve the chunks' barriers and address work per tile (model, sm_90).
    "many": ((64, 32, 64, 8, 3, 255), (64, 64, 64, 8, 3, 255), (64, 64, 32, 8, 3, 255), (64, 64, 128, 8, 3, 255)),
    # 128 x 128 tiles load the query tile once per 128 rows, not per 64 (the L2 traffic; see
    # _spills_on_this_triton for where they are left out).
    "wide": ((128, 64, 128, 8, 3, 255), (128, 64, 64, 8, 3, 255), (128, 32, 128, 8, 3, 255), (128, 32, 64, 8, 3, 255),
             (128, 128, 64, 8, 2, 255)),
}


def _bucket_group(nq_bucket: int, wide: bool = False) -> str:
    return "one" if nq_bucket <= 1 else "tile" if nq_bucket <= 16 else "wide" if wide and nq_bucket >= 128 else "many"


def _bucket_block_q(nq_bucket: int, wide: bool = False) -> int:
    return _CANDIDATES[_bucket_group(nq_bucket, wide)][0][0]


# Queries of a tile from which staging goes by extraction rounds (stage_by_extraction in the kernel):
# a running count along the rows of 128 queries, with its (queries, rows) positions and addresses,
# spills 830-1,120 bytes (sm_90); one round per winner of the busiest query does not.
EXTRACT_MIN_QUERIES = 128


def extracts(block_q: int) -> bool:
    """Whether a tile of ``block_q`` queries stages its winners by extraction rounds (each query's best per round)."""
    return block_q >= EXTRACT_MIN_QUERIES


# Widest vectors scanned by 128-query tiles: at 768 dims with a bias they spill (float32 24-56 bytes,
# bfloat16 16-80 bytes; sm_90 and sm_80), so wider vectors keep 64-query tiles.
WIDE_MAX_DIM = 512


def uses_wide_tiles(nq: int, total_rows: int, *, per_query_mask: bool = False, dim: int = 0) -> bool:
    """Whether ``nq`` queries scan in 128-query tiles (each row read once per 128 queries, not per 64).

    Only a scan that starts from sampled thresholds (:func:`uses_start_sample`) and has one mask
    for every query: from a start at -inf a tile stages every kept row, one extraction round each
    (model, sm_90: a 1% filter at nq=128 0.76 -> 1.65 ms), and with per-query masks the 128-query
    tiles spill (776 bytes, bf16 with bias, sm_90); nor above :data:`WIDE_MAX_DIM` dims.

    Example:
        >>> uses_wide_tiles(128, 10_000_000), uses_wide_tiles(64, 10_000_000), uses_wide_tiles(128, 10_000)
        (True, False, False)
    """
    return (_bucket(nq) >= EXTRACT_MIN_QUERIES and not per_query_mask and dim <= WIDE_MAX_DIM
            and uses_start_sample(EXTRACT_MIN_QUERIES, total_rows))


def k_width_for(k: int) -> int:
    """Width of the kernel's top-K list for ``k`` results: a power of two, at least 16.

    Example:
        >>> [k_width_for(k) for k in (1, 11, 101, 1001)]
        [16, 16, 128, 1024]
    """
    return max(_MIN_K_WIDTH, 1 << (k - 1).bit_length())


@dataclass(frozen=True)
class KernelVariant:
    """One compiled form of the scan kernel: what dispatch can launch for a call shape."""

    storage_dtype: torch.dtype
    dim: int
    k_width: int
    config: KernelConfig
    per_query_mask: bool
    has_bias: bool
    gather: bool = False

    def constants(self, *, aligned: bool = True, upcast: bool = False) -> dict:
        """The kernel's constexpr arguments, tile sizes included."""
        return {"DIM": self.dim, "K": self.k_width, "STAGE": staging_capacity(self.k_width),
                "PER_QUERY_MASK": self.per_query_mask,
                "HAS_BIAS": self.has_bias, "ALIGNED": aligned,
                "INPUT_PRECISION": "ieee" if self.storage_dtype == torch.float32 or upcast else None,
                "UPCAST_DOT": upcast, "MERGE_ROWS": merge_rows(self.config.block_q, self.k_width),
                "GATHER": self.gather, "EXTRACT": extracts(self.config.block_q),
                "BLOCK_Q": self.config.block_q, "BLOCK_N": self.config.block_n,
                "BLOCK_D": self.config.block_d}

    @property
    def name(self) -> str:
        c = self.config
        return (f"{str(self.storage_dtype).replace('torch.', '')} dim={self.dim} K={self.k_width} "
                f"tile={c.block_q}x{c.block_n}x{c.block_d} warps={c.num_warps} stages={c.num_stages}"
                f"{f' maxnreg={c.max_registers}' if c.max_registers else ''}"
                f"{' per-query-mask' if self.per_query_mask else ''}{' bias' if self.has_bias else ''}"
                f"{' gather' if self.gather else ''}")

    def signature(self) -> dict:
        """Argument types for ``triton.compile(ASTSource(...))``: compiling without a GPU."""
        element = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.storage_dtype]
        signature = {"queries_ptr": "*" + element, "vectors_ptr": "*" + element, "mask_ptr": "*i32",
                     "bias_ptr": "*fp32", "segments_ptr": "*i64", "split_starts_ptr": "*i64",
                     "stage_scores_ptr": "*fp32", "stage_slots_ptr": "*i32", "counts_ptr": "*i32",
                     "gather_slots_ptr": "*i64",
                     "gather_offsets_ptr": "*i64", "start_ptr": "*fp32", "nq": "i32", "n_splits": "i32",
                     "nq_bucket": "i32", "rows_bucket": "i32", "stride_mask": "i32", "score_scale": "fp32"}
        signature.update({name: "constexpr" for name in self.constants()})
        return signature


def dispatch_variants(*, storage_dtype: torch.dtype, dim: int, k: int, nq: int, per_query_mask: bool,
                      has_bias: bool, gather: bool = False, arch: int | None = None,
                      total_rows: int = 0) -> list[KernelVariant]:
    """Every kernel variant dispatch may launch for one call shape (the autotuner picks among them).

    ``arch`` is the compute capability (90 for sm_90); by default the current CUDA device's, or 90
    without one. Register use differs between architectures, so a few tiles are left out on some.
    ``total_rows`` is the number of rows the kernel scans (the passing rows on the gather path): it
    decides between 64- and 128-query tiles (:func:`uses_wide_tiles`).

    Example:
        >>> import torch
        >>> variants = dispatch_variants(storage_dtype=torch.float16, dim=384, k=11, nq=1,
        ...                              per_query_mask=False, has_bias=False)
        >>> sorted({v.k_width for v in variants}), all(v.config.block_q == 1 for v in variants)
        ([16], True)
    """
    k_width = k_width_for(k)
    return [KernelVariant(storage_dtype, dim, k_width,
                          KernelConfig(c.kwargs["BLOCK_Q"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_D"],
                                       c.num_warps, c.num_stages, c.maxnreg), per_query_mask, has_bias,
                          gather and not per_query_mask)
            for c in _tuning_configs(_bucket(nq), k_width, dim, torch.empty((), dtype=storage_dtype).element_size(),
                                     per_query_mask=per_query_mask, gather=gather and not per_query_mask,
                                     arch=_arch(arch),
                                     wide=uses_wide_tiles(nq, total_rows, per_query_mask=per_query_mask, dim=dim))]


# tl.dot tiles longer than this many rows spill above 512 dims (ptxas at 255 registers, sm_90)
# and for float32 storage; 64 x 64 tiles spill with K = 1024 (sm_90), 128 x 64 tiles (staging by
# extraction, no running count) do not (220-228 registers, sm_90, Triton 3.9).
_WIDE_DOT_ROWS = 64


def _triton_version() -> tuple[int, ...]:
    import triton
    return _version_tuple(triton.__version__)


def _arch(arch: int | None = None, device: torch.device | None = None) -> int:
    """``arch``, else the compute capability of ``device`` (or the current CUDA device), else 90."""
    if arch is not None:
        return arch
    if (device is None or device.type == "cuda") and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return 10 * major + minor
    return 90


def _spills_on_this_triton(block_q: int, block_n: int, num_stages: int, k_width: int, gather: bool,
                           version: tuple[int, ...], block_d: int = 0, arch: int = 90, dim: int = 0) -> bool:
    """Whether a tl.dot tile is known to spill with the code this Triton release generates.

    Register use is decided by Triton's code generation and ptxas, and it moves between releases
    (the same candidate spilled 288 bytes on 3.6 and none on 3.9 before the 32-bit selection, and
    the reverse now), so the exclusions that depend on the release are kept apart and checked on
    every release the project supports by ``benchmarks/kernel_model.py`` (its test fails on any
    dispatched variant that spills). Found with Triton 3.6.0 and 3.9.0 (sm_90 and sm_80):

    * from 3.7 on (3.9 checked; 3.7-3.8 assumed like it): 16 x 128 tiles with three stages spill
      (40 bytes at K = 16 and 128, 168 at K = 1024, sm_90), and with two stages at K = 1024
      (8 bytes); 3.6 compiles them without spilling, but for three stages on sm_90 (24 bytes at
      K = 16, 16 at K = 128 and 1024);
    * every release: 16 x 128 gather tiles with three stages (24-80 bytes, sm_90);
    * from 3.7 on, above 512 dims (768 checked), sm_90: 16 x 64 x 32 tiles with three stages at
      K = 128 and 1024 (8 and 12 bytes; K = 32-512 assumed like them) and 64 x 64 x 64 tiles at
      K = 16 (8 bytes; K up to 128 left out with it);
    * sm_80 (mma.sync keeps both operands of a chunk in registers): 64-query tiles with 128-dim
      chunks (16 bytes; sm_90's wgmma reads them from shared memory and does not spill);
    * 128 x 128 tiles (3.9 checked) on sm_80 (40-64 bytes on the gather path, 48 with a bias) and
      at K = 1024 on sm_90 (8 bytes); on sm_90 up to K = 128 they take 200-241 registers (384 and
      512 dims, bias, gather); before 3.7 (3.6 checked) they spill on sm_90 too (192 bytes at K = 16
      and 128; the gather path takes 249 registers, too close to keep);
    * before 3.7 (3.6 checked), sm_80, K = 1024 without the gather path: 16 x 64 tiles with
      three stages (8-16 bytes) and 64-query tiles with 64-dim chunks (16 bytes), so those take
      32-dim chunks there (see :func:`_tuning_configs`); 128 x 64 tiles spill with 32-dim chunks
      too (16 bytes), so 128-query tiles keep 32 rows there;
    * not left out: before 3.7 (3.6.0 checked, 384 dims) on sm_80, 128 x 32 x 32 tiles at K = 1024
      spill 16 bytes at 255 registers; they are that bucket's only candidate there (the rules above
      leave out the others), and a bucket whose every tile spills keeps them. What spilled in 14 tl.dot tiles there before (12-52 bytes) was state
      that lived through the whole scan for the counts' store after it (ptxas stored it at the
      start and loaded it for the store); the kernel now writes the counts in each split's last
      row tile, and reads each start once (see ``merge_and_restart``), which freed the other 13.

    Example:
        >>> _spills_on_this_triton(16, 128, 2, 1024, False, (3, 9)), _spills_on_this_triton(16, 128, 2, 1024, False, (3, 6))
        (True, False)
        >>> [_spills_on_this_triton(64, 32, 3, 1024, False, (3, 6), chunk, 80) for chunk in (64, 32)]
        [True, False]
    """
    if arch < 90 and block_q >= 64 and block_d >= 128:
        return True
    if block_q >= 128 and block_n >= 128 and (arch < 90 or k_width >= 1024 or version < (3, 7)):
        return True
    wide = block_q == 16 and block_n >= 128
    if wide and num_stages >= 3 and gather:
        return True
    if version >= (3, 7) and wide and (num_stages >= 3 or k_width >= 1024):
        return True
    if version >= (3, 7) and arch >= 90 and dim > 512 and not gather:
        if block_q == 16 and block_n == 64 and block_d <= 32 and num_stages >= 3 and k_width > 16:
            return True
        if block_q == 64 and block_n == 64 and block_d == 64 and k_width <= 128:
            return True
    if version < (3, 7) and arch >= 90 and wide and num_stages >= 3:
        return True
    if version < (3, 7) and k_width >= 1024 and not gather:
        if arch < 90 and ((block_q == 16 and block_n <= 64 and num_stages >= 3) or
                          (block_q >= 64 and block_d >= 64) or (block_q >= 128 and block_n >= 64)):
            return True
    return False


def _tuning_configs(nq_bucket: int = 0, k_width: int = 0, dim: int = 0, element_size: int = 2, *,
                    per_query_mask: bool = False, gather: bool = False, arch: int = 90, wide: bool = False) -> list:
    """Candidate launch configs; all of them, or those that suit one bucket (``wide``: see :func:`uses_wide_tiles`)."""
    import triton
    groups = [_bucket_group(nq_bucket, wide)] if nq_bucket else list(_CANDIDATES)
    version = _triton_version()
    configs, spilling, seen = [], [], set()
    for group in groups:
        for block_q, block_n, block_d, num_warps, num_stages, *max_registers in _CANDIDATES[group]:
            if dim:
                block_d = min(block_d, max(16, 1 << (dim - 1).bit_length()))
            if element_size == 4 and block_q > 1:
                block_d = min(block_d, 32)  # float32 tiles through tl.dot: twice the registers per chunk
            if block_q >= 64 and k_width >= 1024 and not gather and arch < 90 and version < (3, 7):
                block_d = min(block_d, 32)  # 64-dim chunks spill there (see _spills_on_this_triton)
            if nq_bucket and block_q > 1 and block_n > _WIDE_DOT_ROWS and (element_size == 4 or dim > 512):
                continue
            if nq_bucket and block_q == 64 and block_n >= 64 and k_width >= 1024:
                continue
            spills = nq_bucket and block_q > 1 and _spills_on_this_triton(block_q, block_n, num_stages, k_width, gather,
                                                                         version, block_d, arch, dim)
            key = (block_q, block_n, block_d, num_warps, num_stages, *max_registers)
            if key not in seen:
                seen.add(key)
                (spilling if spills else configs).append(
                    triton.Config({"BLOCK_Q": block_q, "BLOCK_N": block_n, "BLOCK_D": block_d}, num_warps=num_warps,
                                  num_stages=num_stages, maxnreg=max_registers[0] if max_registers else None))
    # A bucket whose every tile spills keeps them: a few spilled bytes cost less than the one-query tile the
    # autotuner would fall back to, which reads every row once per query (float32 above 512 dims, 2-16 queries).
    return configs or spilling


def _prune_configs(configs: list, named_args: dict, **kwargs) -> list:
    """The candidates of this call's bucket, tile sizes capped by the dimension."""
    return _tuning_configs(named_args["nq_bucket"], kwargs["K"], kwargs["DIM"],
                           named_args["vectors_ptr"].element_size(),
                           per_query_mask=kwargs["PER_QUERY_MASK"], gather=kwargs["GATHER"],
                           arch=_arch(device=named_args["vectors_ptr"].device), wide=kwargs["EXTRACT"]) or configs[:1]


@functools.cache
def _tuned_kernel():
    import triton
    return triton.autotune(configs=_tuning_configs(), key=["DIM", "K", "GATHER", "EXTRACT", "nq_bucket", "rows_bucket"],
                           prune_configs_by={"early_config_prune": _prune_configs})(_kernels().scan_topk_kernel)


# -- validation --------------------------------------------------------------------------------------
def _check_request(request: ScanRequest) -> None:
    if not isinstance(request, ScanRequest):
        raise TypeError(f"request: expected a flatsearch.scan.ScanRequest, got {type(request).__name__}")
    queries = request.queries
    if not isinstance(queries, torch.Tensor) or queries.dim() != 2 or queries.dtype != torch.float32:
        raise ValueError(f"request.queries: expected a (nq, dim) float32 tensor, got {describe(queries)}")
    if isinstance(request.k, bool) or not isinstance(request.k, numbers.Integral) or request.k < 1:
        raise ValueError(f"request.k: expected a positive int, got {request.k!r}")
    nq, dim = queries.shape
    device = queries.device
    arenas = request.arenas
    if not isinstance(arenas, tuple) or not arenas:
        raise ValueError(f"request.arenas: expected a non-empty tuple of (capacity, dim) tensors, got {describe(arenas)}")
    if len(request.arena_starts) != len(arenas):
        raise ValueError(f"request.arena_starts: expected {len(arenas)} starts (one per arena), "
                         f"got {len(request.arena_starts)}")
    for i, arena in enumerate(arenas):
        if not isinstance(arena, torch.Tensor) or arena.dim() != 2 or arena.shape[1] != dim:
            raise ValueError(f"request.arenas[{i}]: expected a (capacity, {dim}) tensor, got {describe(arena)}")
        if arena.dtype not in STORAGE_DTYPES or arena.dtype != arenas[0].dtype:
            raise TypeError(f"request.arenas[{i}]: expected dtype {arenas[0].dtype} (one of float32, float16, "
                            f"bfloat16, the same for every arena), got {arena.dtype}")
        if arena.device != device or not arena.is_contiguous():
            raise ValueError(f"request.arenas[{i}]: expected a contiguous tensor on {device}, "
                             f"got one on {arena.device} (contiguous={arena.is_contiguous()})")
    ranges = request.ranges
    if (not isinstance(ranges, torch.Tensor) or ranges.dim() != 2 or ranges.shape[1] != 2
            or ranges.dtype != torch.int64 or ranges.device.type != "cpu"):
        raise ValueError(f"request.ranges: expected an (n_ranges, 2) int64 CPU tensor, got {describe(ranges)}")
    _check_ranges(ranges, request.arena_starts, [arena.shape[0] for arena in arenas])
    max_stop = int(ranges[:, 1].max()) if len(ranges) else 0
    mask = request.mask_words
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.int32 or mask.dim() not in (1, 2):
        raise ValueError(f"request.mask_words: expected an int32 tensor (n_words,) or (nq, n_words), "
                         f"got {describe(mask)}")
    if mask.device != device:
        raise ValueError(f"request.mask_words: expected a tensor on {device}, got one on {mask.device}")
    if mask.dim() == 2 and mask.shape[0] != nq:
        raise ValueError(f"request.mask_words: expected {nq} rows (one per query), got {mask.shape[0]}")
    if mask.shape[-1] * 32 < max_stop:
        raise ValueError(f"request.mask_words: expected at least {_cdiv(max_stop, 32)} words to cover "
                         f"slot {max_stop - 1}, got {mask.shape[-1]}")
    bias = request.bias
    if bias is not None:
        if not isinstance(bias, torch.Tensor) or bias.dim() != 1 or bias.dtype != torch.float32 or bias.device != device:
            raise ValueError(f"request.bias: expected None or a (capacity,) float32 tensor on {device}, "
                             f"got {describe(bias)}")
        if bias.shape[0] < max_stop:
            raise ValueError(f"request.bias: expected at least {max_stop} entries, got {bias.shape[0]}")
    scale = request.score_scale
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise ValueError(f"request.score_scale: expected a finite number, got {scale!r}")


def _check_ranges(ranges: torch.Tensor, arena_starts: tuple[int, ...], capacities: list[int]) -> None:
    starts = np.array(arena_starts, dtype=np.int64)
    ends = starts + np.array(capacities, dtype=np.int64)
    range_starts, range_stops = ranges[:, 0].numpy(), ranges[:, 1].numpy()
    arena = np.clip(np.searchsorted(starts, range_starts, side="right") - 1, 0, None)
    inside = (range_starts >= starts[arena]) & (range_stops <= ends[arena])
    bad = (range_starts > range_stops) | ((range_starts < range_stops) & ~inside)
    if bad.any():
        start, stop = ranges[int(np.argmax(bad))].tolist()
        raise ValueError(f"request.ranges: expected [start, stop) slot ranges each inside one arena "
                         f"(arenas span {list(zip(starts.tolist(), ends.tolist()))}), got [{start}, {stop})")
