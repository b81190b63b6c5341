"""Top-K by threshold: stage the candidates that beat each query's K-th key, merge them rarely.

Each (query, split) owns one row of ``STAGE`` keys in global memory: its first
``K`` places hold the query's running top-K list (packed int64 keys, see
:mod:`flatsearch.kernels.scan`, in no particular order, ``EMPTY_KEY`` where
unused) and the places after it stage new candidates. A scan tile compares its
scores with the query's running K-th score (one fp32 compare per score); only
the winners are compacted behind the list (``tl.cumsum`` gives each its
position, one masked store writes them). When some query's row could not take
another tile, or at the end, the rows are merged: the K best keys of each row
are compacted back into its first K places.

The merge is a radix select over whole rows, several queries at once: 64
counting passes find the K-th largest key of each row (keys are unique: each
embeds its slot), then the keys at or above it are compacted to the front. Its
cost does not depend on how the keys are ordered, it needs no unrolled network
(compile time and registers stay flat in K), and nothing is padded to K. List
and candidates share one row, so each pass counts one tensor. The order within
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
    """Append the winners of a (BLOCK_Q, BLOCK_N) tile to each query's row; the new counts.

    ``stage_rows`` is (BLOCK_Q, 1) pointers to the rows, ``count`` (BLOCK_Q,) the keys each
    already holds (list included); there is room for a whole tile in every row.
    """
    position = count[:, None] + tl.cumsum(winners.to(tl.int32), axis=1) - 1
    tl.store(stage_rows + position, ordered_keys(scores, slots), mask=winners)
    return count + tl.sum(winners.to(tl.int32), axis=1)


@triton.jit
def kth_largest(keys, K: tl.constexpr, ROWS: tl.constexpr):
    """The K-th largest key of each row of ``keys`` (ROWS, n); EMPTY_KEY where a row has fewer than K real ones."""
    # Most significant bit first: the largest t with at least K keys >= t. The sign bit decides
    # between the negative and non-negative halves; each later bit only raises t.
    zero = tl.zeros((ROWS,), tl.int64)
    at_least = tl.sum((keys >= 0).to(tl.int32), axis=1)
    kth = tl.where(at_least >= K, zero, zero + EMPTY_KEY)
    for bit in range(62, -1, -1):
        candidate = kth | (tl.full((), 1, tl.int64) << bit)
        at_least = tl.sum((keys >= candidate[:, None]).to(tl.int32), axis=1)
        kth = tl.where(at_least >= K, candidate, kth)
    return kth


@triton.jit
def merge_staged(stage_base, count, threshold, row_stride,
                 K: tl.constexpr, STAGE: tl.constexpr, BLOCK_Q: tl.constexpr, ROWS: tl.constexpr):
    """Merge each query's staged keys into the list at the front of its row; the queries' new K-th scores.

    Query ``i`` of the tile has its row at ``stage_base + i * row_stride``, ``count[i]`` keys
    long (0 for padding queries, which have no row). ``ROWS`` queries are merged at once (a
    power of two dividing BLOCK_Q). Returns the updated (BLOCK_Q,) threshold; the caller
    resets the counts to K.
    """
    # Staged keys were written by other threads of the program: make them visible.
    tl.debug_barrier()
    lanes = tl.arange(0, BLOCK_Q)
    places = tl.arange(0, STAGE)
    for first in range(0, BLOCK_Q, ROWS):
        batch = first + tl.arange(0, ROWS)
        batch_count = tl.sum(tl.where(lanes[None, :] == batch[:, None], count[None, :], 0), axis=1)
        if tl.max(batch_count, axis=0) > K:
            rows = stage_base + batch[:, None].to(tl.int64) * row_stride
            keys = tl.load(rows + places[None, :], mask=places[None, :] < batch_count[:, None], other=EMPTY_KEY)
            kth = kth_largest(keys, K, ROWS)
            # Keys are unique, so at most K reach kth, and the list only grows: the places
            # after the kept keys already hold EMPTY_KEY.
            keep = (keys >= kth[:, None]) & (keys != EMPTY_KEY)
            tl.debug_barrier()  # every thread has read its rows before any place of them is rewritten
            tl.store(rows + tl.cumsum(keep.to(tl.int32), axis=1) - 1, keys, mask=keep)
            batch_threshold = key_score(kth)
            new_threshold = tl.sum(tl.where(lanes[:, None] == batch[None, :], batch_threshold[None, :], 0.0), axis=1)
            threshold = tl.where((lanes >= first) & (lanes < first + ROWS), new_threshold, threshold)
    # The next tile's staging stores must not overtake this merge's loads.
    tl.debug_barrier()
    return threshold
