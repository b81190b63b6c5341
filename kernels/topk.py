"""Top-K by threshold: stage the candidates that beat each query's K-th score, merge them rarely.

Each (query, split) owns one row of ``STAGE`` places in global memory, as two
32-bit arrays: the candidates' scores (float32) and their slots (int32 bits of
the unsigned slot; ``EMPTY_SLOT`` in unused places). The row's first ``K``
places hold the query's running top-K list, in no particular order, and the
places after it stage new candidates; before the row's first merge, candidates
fill the list's places too. A scan tile compares its scores with the query's
running K-th score (one fp32 compare per score); only the winners are
compacted into the row (``tl.cumsum`` gives each its position, two masked
32-bit stores write score and slot). When some query's row could not take
another tile, or at the end, the rows are merged: the K best of each row are
compacted back into its first K places.

Order is that of the packed key ``order_preserving_int32(score) << 32 |
(0xFFFFFFFF - slot)``: scores first and, on equal scores, the lower slot. The
kernel never builds the 64-bit key; it compares its two halves (see
:func:`key_halves`), and the launcher packs the keys of the split lists once.

The merge is a radix select over whole rows, several queries at once: 32
counting passes over the keys' upper halves (their ordered scores, int32)
find the K-th largest score of each row; only when more than K keys reach it
(a tie at the K-th place) do 32 more passes over the lower halves (the slots)
break the tie, so the K-th largest key is exact (keys are unique: each embeds
its slot). The keys at or above it are then compacted to the front. Its
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

# Slot bits of an unused place: 0xFFFFFFFF, above every real slot (the launcher allows fewer
# than 2**32 - 1 slots).
EMPTY_SLOT = tl.constexpr(-1)
MIN_INT32 = tl.constexpr(-(2**31))
# The packed key of an empty place: below every real key.
EMPTY_KEY = tl.constexpr(-(2**63))


@triton.jit
def key_halves(scores, slot_bits):
    """The packed key's halves as int32 values whose signed order, upper half first, is the key's order.

    The upper half is the order-preserving int32 of the score: flipping the magnitude bits of
    negative floats makes signed-int order equal float order, and -0.0 is folded onto +0.0
    (they are equal scores). The lower half, ``0xFFFFFFFF - slot`` (that is ``~slot``), has its
    top bit flipped so that signed order is its unsigned order.
    """
    bits = scores.to(tl.int32, bitcast=True)
    high = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    high = tl.where(scores == 0.0, 0, high)
    low = (~slot_bits) ^ MIN_INT32
    return high, low


@triton.jit
def stage_candidates(score_rows, slot_rows, count, winners, wins, scores, slot_bits):
    """Append the winners of a (BLOCK_Q, BLOCK_N) tile to each query's row; the new counts.

    ``score_rows`` and ``slot_rows`` are (BLOCK_Q, 1) pointers to the rows, ``count`` (BLOCK_Q,)
    the places each already fills, ``wins`` (BLOCK_Q,) the winners of each query in this tile;
    there is room for a whole tile in every row.
    """
    position = count[:, None] + tl.cumsum(winners.to(tl.int32), axis=1) - 1
    tl.store(score_rows + position, scores, mask=winners)
    tl.store(slot_rows + position, slot_bits, mask=winners)
    return count + wins


@triton.jit
def kth_largest(high, K: tl.constexpr, ROWS: tl.constexpr):
    """The K-th largest upper half of each row of ``high`` (ROWS, n); MIN_INT32 where a row has fewer than K real keys.

    ``high`` holds the keys' upper halves from :func:`key_halves` (MIN_INT32 in unused places).
    """
    # Most significant bit first: the largest t with at least K halves >= t; 32-bit compares cost
    # half the int64 ones. The sign bit decides between the two halves of the range.
    zero = tl.zeros((ROWS,), tl.int32)
    at_least = tl.sum((high >= 0).to(tl.int32), axis=1)
    kth_high = tl.where(at_least >= K, zero, zero + MIN_INT32)
    for bit in range(30, -1, -1):
        candidate = kth_high | (1 << bit)
        at_least = tl.sum((high >= candidate[:, None]).to(tl.int32), axis=1)
        kth_high = tl.where(at_least >= K, candidate, kth_high)
    return kth_high


@triton.jit
def kth_lower_half(high, low, kth_high, active, K: tl.constexpr, ROWS: tl.constexpr):
    """The lower half of each row's K-th largest key, given its upper half ``kth_high``.

    (high, low) orders exactly as the int64 key. ``active`` (ROWS,) marks the rows being merged:
    only their ties decide whether the slots must be compared.
    """
    # Only keys whose score equals the K-th score need their lower halves (the slots) compared,
    # and only when more than K keys reach that score: with no tie at the K-th place, the lowest
    # lower half among those scores is the answer, and one reduction finds it.
    reach = high >= kth_high[:, None]
    tie = high == kth_high[:, None]
    above = tl.sum((high > kth_high[:, None]).to(tl.int32), axis=1)
    need = K - above  # places left for keys with the K-th score
    kth_low = tl.min(tl.where(tie, low, 2**31 - 1), axis=1)
    if tl.max(tl.where(active, tl.sum(reach.to(tl.int32), axis=1) - K, 0), axis=0) > 0:
        kth_low = kth_tiebreak(low, tie, need, ROWS)
    return kth_low


@triton.jit
def kth_tiebreak(low, tie, need, ROWS: tl.constexpr):
    """Per row, the ``need``-th largest ``low`` among the places where ``tie`` holds."""
    zero = tl.zeros((ROWS,), tl.int32)
    at_least = tl.sum((tie & (low >= 0)).to(tl.int32), axis=1)
    kth_low = tl.where(at_least >= need, zero, zero + MIN_INT32)
    for bit in range(30, -1, -1):
        candidate = kth_low | (1 << bit)
        at_least = tl.sum((tie & (low >= candidate[:, None])).to(tl.int32), axis=1)
        kth_low = tl.where(at_least >= need, candidate, kth_low)
    return kth_low


@triton.jit
def high_bits_score(high):
    """The score an ordered upper half was made from (+0.0 for either zero)."""
    bits = tl.where(high < 0, high ^ 0x7FFFFFFF, high)
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def high_score(high):
    """The score an ordered upper half holds; -inf for the empty key's."""
    bits = tl.where(high < 0, high ^ 0x7FFFFFFF, high)
    return tl.where(high == MIN_INT32, float("-inf"), bits.to(tl.float32, bitcast=True))


@triton.jit
def merge_staged(score_base, slot_base, count, threshold, row_stride,
                 K: tl.constexpr, STAGE: tl.constexpr, BLOCK_Q: tl.constexpr, ROWS: tl.constexpr):
    """Merge each query's staged candidates into the list at the front of its row; the queries' new K-th scores.

    Query ``i`` of the tile has its row at ``score_base + i * row_stride`` (and at the same
    offset from ``slot_base``), ``count[i]`` places long (0 for padding queries, which have no
    row). ``ROWS`` queries are merged at once (a power of two dividing BLOCK_Q). Rows of more
    than K places are merged; the others, whose candidates all fit the list, are left as they
    are. Returns the updated (BLOCK_Q,) threshold; the caller caps the counts at K.
    """
    # Staged candidates were written by other threads of the program: make them visible.
    tl.debug_barrier()
    lanes = tl.arange(0, BLOCK_Q)
    places = tl.arange(0, STAGE)
    for first in range(0, BLOCK_Q, ROWS):
        batch = first + tl.arange(0, ROWS)
        batch_count = tl.sum(tl.where(lanes[None, :] == batch[:, None], count[None, :], 0), axis=1)
        if tl.max(batch_count, axis=0) > K:
            offsets = batch[:, None].to(tl.int64) * row_stride + places[None, :]
            # Every place before a row's count holds a real candidate.
            filled = places[None, :] < batch_count[:, None]
            # Only the upper halves are live through the 32 counting passes (fewer registers); the
            # slots are read after them, and the stores rebuild score and slot from the halves.
            scores = tl.load(score_base + offsets, mask=filled, other=0.0)
            high, _ = key_halves(scores, tl.zeros_like(batch_count)[:, None])
            high = tl.where(filled, high, MIN_INT32)
            kth_high = kth_largest(high, K, ROWS)
            slot_bits = tl.load(slot_base + offsets, mask=filled, other=EMPTY_SLOT)
            low = (~slot_bits) ^ MIN_INT32  # as key_halves: scores are not kept live for it
            kth_low = kth_lower_half(high, low, kth_high, batch_count > K, K, ROWS)
            # Keys are unique, so at most K reach the K-th; places after the kept ones are past
            # the capped count (or still unused) and are never read as candidates.
            keep = filled & ((high > kth_high[:, None]) | ((high == kth_high[:, None]) & (low >= kth_low[:, None])))
            tl.debug_barrier()  # every thread has read its rows before any place of them is rewritten
            destination = batch[:, None].to(tl.int64) * row_stride + tl.cumsum(keep.to(tl.int32), axis=1) - 1
            tl.store(score_base + destination, high_bits_score(high), mask=keep)
            tl.store(slot_base + destination, ~(low ^ MIN_INT32), mask=keep)
            batch_threshold = high_score(kth_high)
            new_threshold = tl.sum(tl.where(lanes[:, None] == batch[None, :], batch_threshold[None, :], 0.0), axis=1)
            threshold = tl.where((lanes >= first) & (lanes < first + ROWS), new_threshold, threshold)
    # The next tile's staging stores must not overtake this merge's loads.
    tl.debug_barrier()
    return threshold


@triton.jit(do_not_specialize=["n_places"])
def pack_list_keys_kernel(stage_scores_ptr, stage_slots_ptr, counts_ptr, keys_ptr, n_places,
                          K: tl.constexpr, STAGE: tl.constexpr, BLOCK: tl.constexpr):
    """The split lists' candidates as packed int64 keys: ``keys[i]`` for the ``i``-th of ``n_places`` list places.

    Place ``i`` is place ``i % K`` of list ``i // K``, whose row of ``STAGE`` places starts at
    ``(i // K) * STAGE`` in ``stage_scores`` (float32) and ``stage_slots`` (int32 slot bits) and
    whose first ``counts[i // K]`` places hold its candidates (the scan leaves them there). The
    key is ``order_preserving_int32(score) << 32 | (0xFFFFFFFF - slot)``, -0.0 folded onto +0.0;
    places from the count on are ``EMPTY_KEY`` and are not read.
    """
    index = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = index < n_places
    row = index // K
    place = (index % K).to(tl.int32)
    count = tl.load(counts_ptr + row, mask=ok, other=0)
    real = ok & (place < count)
    scores = tl.load(stage_scores_ptr + row * STAGE + place, mask=real, other=0.0)
    slot_bits = tl.load(stage_slots_ptr + row * STAGE + place, mask=real, other=0)
    high, _ = key_halves(scores, slot_bits)
    low = (~slot_bits).to(tl.uint32, bitcast=True).to(tl.int64)  # 0xFFFFFFFF - slot, zero-extended
    key = (high.to(tl.int64) << 32) | low
    tl.store(keys_ptr + index, tl.where(real, key, EMPTY_KEY), mask=ok)
