"""Fused exhaustive scan: scores, keep-bits, bias and a running top-K in one pass.

A program owns a tile of queries and one split of the scanned rows (a list of
row segments). For each tile of rows it first reads the packed keep-bits and
skips the tile, vectors unread, when no bit is set. Otherwise it computes the
scores with fp32 accumulation, adds the per-slot bias and folds them into a
running top-K held as packed int64 keys::

    key = order_preserving_int32(score) << 32 | (0xFFFFFFFF - slot)

Comparing keys compares scores first and, on equal scores, prefers the lower
slot, so one integer max/sort implements the tie rule. Masked entries hold
``EMPTY_KEY``, the smallest int64, which no real score maps to. Each program
writes its K keys in ascending order to its own row of the partial buffer.
"""
import triton
import triton.language as tl

from .bitonic import best_first, merge_runs

EMPTY_KEY = tl.constexpr(-(2**63))


@triton.jit
def _ordered_keys(scores, slots):
    # Flipping the magnitude bits of negative floats makes signed-int order
    # equal float order; -0.0 is folded onto +0.0 because they are equal scores.
    bits = scores.to(tl.int32, bitcast=True)
    ordered = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    ordered = tl.where(scores == 0.0, 0, ordered)
    return (ordered.to(tl.int64) << 32) | (0xFFFFFFFF - slots)


# Runtime sizes are not specialised on their value, so one compiled kernel serves every
# batch and table size of a (dtype, DIM, K, tile) configuration.
@triton.jit(do_not_specialize=["nq", "n_splits", "nq_bucket", "stride_mask"])
def scan_topk_kernel(
    # pointers
    queries_ptr, vectors_ptr, mask_ptr, bias_ptr, segments_ptr, split_starts_ptr, partial_ptr,
    # sizes (nq_bucket only keys the autotuner)
    nq, n_splits, nq_bucket,
    # strides (queries are contiguous rows of DIM)
    stride_mask,
    # scoring
    score_scale,
    # meta-parameters
    DIM: tl.constexpr, K: tl.constexpr, PER_QUERY_MASK: tl.constexpr, HAS_BIAS: tl.constexpr,
    ALIGNED: tl.constexpr, INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
    BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Partial top-K of one (query tile, split) into ``partial[q, split, :]``.

    ``segments`` is (n_segments, 3) int64: first slot, stop slot and the element
    offset that turns ``vectors_ptr + offset + slot * DIM`` into the row of the
    segment's arena. Split ``s`` owns segments ``split_starts[s]`` up to
    ``split_starts[s + 1]``.
    """
    query_tile = tl.program_id(0)
    split = tl.program_id(1)
    query_rows = query_tile * BLOCK_Q + tl.arange(0, BLOCK_Q)
    query_ok = query_rows < nq
    top = tl.full((BLOCK_Q, K), EMPTY_KEY, tl.int64)

    first_segment = tl.load(split_starts_ptr + split)
    end_segment = tl.load(split_starts_ptr + split + 1)
    for segment in range(first_segment, end_segment):
        start = tl.load(segments_ptr + 3 * segment)
        stop = tl.load(segments_ptr + 3 * segment + 1)
        arena_offset = tl.load(segments_ptr + 3 * segment + 2)
        if ALIGNED:
            arena_offset = tl.multiple_of(arena_offset, 16)
        for tile in range(0, tl.cdiv(stop - start, BLOCK_N)):
            slots = start + tile * BLOCK_N + tl.arange(0, BLOCK_N)
            in_range = slots < stop
            bit = (slots & 31).to(tl.int32)
            if PER_QUERY_MASK:
                word_ptrs = mask_ptr + query_rows[:, None].to(tl.int64) * stride_mask + (slots >> 5)[None, :]
                words = tl.load(word_ptrs, mask=query_ok[:, None] & in_range[None, :], other=0)
                keep = ((words >> bit[None, :]) & 1) != 0
            else:
                words = tl.load(mask_ptr + (slots >> 5), mask=in_range, other=0)
                keep = (((words >> bit) & 1) != 0)[None, :] & query_ok[:, None]
            row_needed = tl.max(keep.to(tl.int32), axis=0) > 0
            if tl.max(row_needed.to(tl.int32), axis=0) > 0:
                acc = tl.zeros((BLOCK_Q, BLOCK_N), dtype=tl.float32)
                row_ptrs = vectors_ptr + arena_offset + slots[:, None] * DIM
                for dim_start in range(0, DIM, BLOCK_D):
                    dims = dim_start + tl.arange(0, BLOCK_D)
                    query_ptrs = queries_ptr + query_rows[:, None] * DIM + dims[None, :]
                    # Rows no query keeps are not read: a row spans whole memory
                    # sectors, so sparse masks save bandwidth here too.
                    if DIM % BLOCK_D == 0:
                        q = tl.load(query_ptrs, mask=query_ok[:, None], other=0.0)
                        x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None], other=0.0)
                    else:
                        dims_ok = dims < DIM
                        q = tl.load(query_ptrs, mask=query_ok[:, None] & dims_ok[None, :], other=0.0)
                        x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None] & dims_ok[None, :], other=0.0)
                    if BLOCK_Q >= 16:
                        if UPCAST_DOT:
                            # Triton's interpreter multiplies bfloat16 bit patterns as
                            # integers; the exact fp32 copies give the same products.
                            q = q.to(tl.float32)
                            x = x.to(tl.float32)
                        acc = tl.dot(q, tl.trans(x), acc, input_precision=INPUT_PRECISION)
                    else:
                        # tl.dot needs at least 16 rows; a few queries are memory-bound anyway.
                        acc += tl.sum(q[:, None, :].to(tl.float32) * x[None, :, :].to(tl.float32), axis=2)
                scores = acc * score_scale
                if HAS_BIAS:
                    scores += tl.load(bias_ptr + slots, mask=row_needed, other=0.0)[None, :]
                keys = tl.where(keep, _ordered_keys(scores, slots[None, :]), EMPTY_KEY)
                threshold = tl.min(top, axis=1)
                if tl.max(tl.max((keys > threshold[:, None]).to(tl.int32), axis=1), axis=0) > 0:
                    # top is ascending and the candidates descending, so their
                    # element-wise max holds the best K of both as a bitonic sequence.
                    top = merge_runs(tl.maximum(top, best_first(keys, K, EMPTY_KEY)), K, False)

    out_ptrs = partial_ptr + (query_rows[:, None].to(tl.int64) * n_splits + split) * K + tl.arange(0, K)[None, :]
    tl.store(out_ptrs, top, mask=query_ok[:, None])
