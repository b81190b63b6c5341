"""Top-K by threshold: stage the candidates that beat each query's K-th key, merge them rarely.

Each (query, split) owns a top-K list in global memory (its row of the partial
buffer: K packed int64 keys, see :mod:`flatsearch.kernels.scan`, in no
particular order) and a staging row of ``STAGE`` keys. A scan tile compares
its scores with the query's running K-th score (one fp32 compare per score);
only the winners are compacted into the staging row (``tl.cumsum`` gives each
its position, one masked store writes them). When some query's staging row
could not take another tile, or at the end, every query with staged keys
merges them into its list, one query at a time so that registers hold one
row whatever K is.

The merge is a radix select: 64 counting passes find the K-th largest key of
list and staged keys together (keys are unique: each embeds its slot), then
the keys at or above it are compacted back into the list. Its cost does not
depend on how the keys are ordered, it needs no unrolled network (compile time
and registers stay flat in K), and nothing is padded to K. The order within
a list does not matter: the launcher's split merge sorts.

Rows of one split are scanned in ascending slot order, so a later row that
ties the K-th score has the higher slot and would lose the tie: the strict
compare is exact.
"""
import triton
import triton.language as tl

EMPTY_KEY = tl.constexpr(-(2**63))


@triton.jit
def ordered_keys(scores, slots):
    """Packed keys: order-preserving int32 of the score above ``0xFFFFFFFF - slot``."""
    # Flipping the magnitude bits of negative floats makes signed-int order
    # equal float order; -0.0 is folded onto +0.0 because they are equal scores.
    bits = scores.to(tl.int32, bitcast=True)
    ordered = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    ordered = tl.where(scores == 0.0, 0, ordered)
    return (ordered.to(tl.int64) << 32) | (0xFFFFFFFF - slots.to(tl.int64))


@triton.jit
def key_score(key):
    """The score a packed key holds; -inf for the empty key."""
    high = (key >> 32).to(tl.int32)
    bits = tl.where(high < 0, high ^ 0x7FFFFFFF, high)
    return tl.where(key == EMPTY_KEY, float("-inf"), bits.to(tl.float32, bitcast=True))


@triton.jit
def stage_candidates(stage_rows, count, winners, scores, slots):
    """Append the winners of a (BLOCK_Q, BLOCK_N) tile to each query's staging row; the new counts.

    ``stage_rows`` is (BLOCK_Q, 1) pointers to the staging rows, ``count`` (BLOCK_Q,) the keys
    each already holds; there is room for a whole tile in every row.
    """
    position = count[:, None] + tl.cumsum(winners.to(tl.int32), axis=1) - 1
    tl.store(stage_rows + position, ordered_keys(scores, slots), mask=winners)
    return count + tl.sum(winners.to(tl.int32), axis=1)


@triton.jit
def kth_largest(top, staged, K: tl.constexpr):
    """The K-th largest of the keys of ``top`` and ``staged`` together (EMPTY_KEY when fewer are real)."""
    # Most significant bit first: the largest t with at least K keys >= t. The sign bit decides
    # between the negative and non-negative halves; each later bit only raises t.
    zero = tl.zeros((), tl.int64)
    at_least = tl.sum((top >= zero).to(tl.int32), axis=0) + tl.sum((staged >= zero).to(tl.int32), axis=0)
    kth = tl.where(at_least >= K, zero, zero + EMPTY_KEY)
    for bit in range(62, -1, -1):
        candidate = kth | (tl.full((), 1, tl.int64) << bit)
        at_least = tl.sum((top >= candidate).to(tl.int32), axis=0) + \
            tl.sum((staged >= candidate).to(tl.int32), axis=0)
        kth = tl.where(at_least >= K, candidate, kth)
    return kth


@triton.jit
def merge_staged(top_base, stage_base, count, threshold, row_stride_top, row_stride_stage,
                 K: tl.constexpr, STAGE: tl.constexpr, BLOCK_Q: tl.constexpr):
    """Merge each query's staged keys into its top-K list; the queries' new K-th scores.

    Query ``i`` of the tile has its list at ``top_base + i * row_stride_top`` (K keys,
    EMPTY_KEY where unused) and its staged keys at ``stage_base + i * row_stride_stage``
    (``count[i]`` of them). Returns the updated (BLOCK_Q,) threshold; the caller resets the counts.
    """
    # Staged keys were written by other threads of the program: make them visible.
    tl.debug_barrier()
    lanes = tl.arange(0, BLOCK_Q)
    stage_lanes = tl.arange(0, STAGE)
    top_lanes = tl.arange(0, K)
    for query in range(BLOCK_Q):
        staged_count = tl.sum(tl.where(lanes == query, count, 0), axis=0)
        if staged_count > 0:
            top_ptrs = top_base + query * row_stride_top + top_lanes
            top = tl.load(top_ptrs)
            staged = tl.load(stage_base + query * row_stride_stage + stage_lanes, mask=stage_lanes < staged_count,
                             other=EMPTY_KEY)
            kth = kth_largest(top, staged, K)
            # Keys are unique, so at most K reach kth; the list only grows, so the places
            # after the kept keys already hold EMPTY_KEY.
            keep_top = (top >= kth) & (top != EMPTY_KEY)
            keep_staged = (staged >= kth) & (staged != EMPTY_KEY)
            kept_top = tl.sum(keep_top.to(tl.int32), axis=0)
            tl.debug_barrier()  # every thread has read the list before any place of it is rewritten
            tl.store(top_base + query * row_stride_top + tl.cumsum(keep_top.to(tl.int32), axis=0) - 1, top,
                     mask=keep_top)
            tl.store(top_base + query * row_stride_top + kept_top + tl.cumsum(keep_staged.to(tl.int32), axis=0) - 1,
                     staged, mask=keep_staged)
            threshold = tl.where(lanes == query, key_score(kth), threshold)
    # The next tile's staging stores must not overtake this merge's loads.
    tl.debug_barrier()
    return threshold
