"""Fused exhaustive scan: scores, keep-bits, bias and a running top-K in one pass.

A program owns a tile of queries and one split of the scanned rows (a list of
row segments). For each tile of rows it first reads the packed keep-bits and
skips the tile, vectors unread, when no bit is set. Otherwise it computes the
scores with fp32 accumulation and adds the per-slot bias. One query per
program multiplies on CUDA cores into a (rows, dims) accumulator summed once
per tile, so the dim loop has no cross-thread reduction; 16 or more go through
``tl.dot`` (the launcher pads 2-15 queries to 16). Scores that beat their
query's running K-th score are staged behind the query's top-K list (in the
list's own places until it first fills) and merged into it only when the row
fills (:mod:`flatsearch.kernels.topk`); 128-query tiles stage by extraction rounds instead
(:func:`stage_by_extraction`). Candidates are kept as 32-bit score
and slot; they order as the packed key

    key = order_preserving_int32(score) << 32 | (0xFFFFFFFF - slot)

scores first and, on equal scores, the lower slot (the tie rule). Each program
leaves its candidates (at most K per query), in no particular order, in the first places of its
rows of the staging arrays, and their count per row; a second kernel packs them into keys
(:func:`flatsearch.kernels.topk.pack_list_keys_kernel`) for the launcher's split merge.

``sample_scores_kernel`` scores a sample of rows the same way for the launcher's start
thresholds (:func:`flatsearch.triton_scan.start_thresholds`).
"""
import triton
import triton.language as tl

from .topk import EMPTY_SLOT, merge_staged, stage_candidates  # noqa: F401

# Largest list for which a tl.dot tile's gate is each query's best score, the winners counted only when
# some query has one: with a list of up to 64 few tiles stage (model, sm_90, 16 x 128 tiles at k=10:
# 4,040 instead of 4,220 issue cycles per tile); with 1,024 nearly every tile stages and counting
# the winners up front is cheaper (16 x 64 tiles at k=1000: 3,356 instead of 3,632).
BEST_GATE_MAX_K = tl.constexpr(64)
# Largest list for which 128-query tiles with one mask leave the unkept rows to staging (drop_unkept):
# with lists up to 128 (k up to 100, a tight start) about two tiles of three stage, and the tiles'
# saved per-row bits pay for staging's (model, sm_90, 10M x 384, nq=128 k=10: 3.94 -> 3.51 ms); at
# K = 1024 nearly every tile stages and the bits cost twice (nq=128 k=1000 5.08 -> 5.36 ms).
DROP_LATER_MAX_K = tl.constexpr(128)


@triton.jit
def merge_and_restart(score_base, slot_base, count, threshold, row_stride,
                      K: tl.constexpr, STAGE: tl.constexpr, BLOCK_Q: tl.constexpr, MERGE_ROWS: tl.constexpr):
    """Merge the tile's staging rows (:func:`flatsearch.kernels.topk.merge_staged`).

    Returns the new thresholds, the counts and the largest count.

    A threshold never falls: a row merged with fewer than K keys reads -inf and keeps the one it
    had (its start: it never held K), and a row of K or more holds only keys at or above its
    threshold (its list's, whose K-th that threshold is, and the staged ones above it), so its new
    K-th is at or above it too. So no threshold falls below the query's start, read once at the
    kernel's start (not again here: the start's pointers are then not live through the scan), and
    padding queries stay at +inf (their start, the launcher's padding). Merged rows keep their K
    best, rows of at most K keys were left as they were.
    """
    merged = merge_staged(score_base, slot_base, count, threshold, row_stride, K, STAGE, BLOCK_Q, MERGE_ROWS)
    threshold = tl.maximum(merged, threshold)
    count = tl.minimum(count, K)
    return threshold, count, tl.max(count, axis=0)


@triton.jit
def store_counts(counts_ptr, list_index, row_offsets_in_stage, count, STAGE: tl.constexpr):
    """Write the split's counts (``counts[q, split]``), once, in the split's last row tile.

    Every row holds at most K candidates there (that tile merged any longer one). They are
    written there, not after the loops: written after them, the state of their addresses lived
    through the whole scan, and at 255 registers ptxas spilled it (stored at the start, loaded for
    the store: 12-52 bytes in 14 tl.dot tiles, Triton 3.6, sm_80). Every split has a last tile
    (the launcher's work tables give each split at least one segment, none of them empty).
    """
    tl.store(counts_ptr + list_index + row_offsets_in_stage // STAGE, count)


@triton.jit
def stage_above(score_rows, slot_rows, count, scores, threshold, slot_bits):
    """:func:`stage_winners` of the scores above each query's threshold."""
    winners = scores > threshold[:, None]
    return stage_winners(score_rows, slot_rows, count, winners, tl.sum(winners.to(tl.int32), axis=1), scores,
                         slot_bits)


@triton.jit
def stage_winners(score_rows, slot_rows, count, winners, wins, scores, slot_bits):
    """Append the winners of a (BLOCK_Q, BLOCK_N) tile to each query's row; the new counts and the largest
    (:func:`flatsearch.kernels.topk.stage_candidates`: positions by a running count along the rows)."""
    count = stage_candidates(score_rows, slot_rows, count, winners, wins, scores, slot_bits)
    return count, tl.max(count, axis=0)


@triton.jit
def drop_unkept(scores, mask_ptr, first_position, n_rows, GATHER: tl.constexpr, BLOCK_N: tl.constexpr):
    """``scores`` (BLOCK_Q, BLOCK_N) with -inf at the tile's rows no query keeps: those from ``n_rows`` on
    (past the segment's end) and, with one mask for every query (not ``GATHER``: every listed row
    passes), those whose keep-bit is clear.

    The bits are read again here, in the scores' own layout, so the tiles that stage nothing never
    build per-row bits or positions for their scores.
    """
    local = tl.arange(0, BLOCK_N)
    kept = local < n_rows
    if not GATHER:
        offset = (first_position & 31).to(tl.int32) + local
        words = tl.load(mask_ptr + (first_position >> 5) + (offset >> 5), mask=kept, other=0)
        kept = ((words >> (offset & 31)) & 1) != 0
    return tl.where(kept[None, :], scores, float("-inf"))


@triton.jit
def stage_by_extraction(score_rows, slot_rows, count, scores, threshold, first_position, gather_slots_ptr,
                        mask_ptr, n_rows, GATHER: tl.constexpr, DROP_UNKEPT: tl.constexpr, BLOCK_N: tl.constexpr):
    """Append a tile's scores above each query's threshold to its row, best first; the new counts and the largest.

    The tile is (BLOCK_Q, BLOCK_N). With ``DROP_UNKEPT`` the scores of rows no query keeps are
    still in it (their rows read as zeros) and are dropped first (:func:`drop_unkept`); without,
    they are -inf already.

    Each round takes every query's best remaining score (one reduction along the rows) and
    stores it where it beats the threshold, so a tile costs as many rounds as its busiest query
    has winners and only (BLOCK_Q,) values are stored: no (BLOCK_Q, BLOCK_N) positions or
    addresses are built. ``scores`` are -inf at rows a query does not keep; ``score_rows`` and
    ``slot_rows`` are (BLOCK_Q,) pointers to the rows; ``first_position`` is the position of the
    tile's first row (its slot, or with ``GATHER`` its place in the list of passing slots).
    """
    if DROP_UNKEPT:
        scores = drop_unkept(scores, mask_ptr, first_position, n_rows, GATHER, BLOCK_N)
    columns = tl.arange(0, BLOCK_N)
    best, column = tl.max(scores, axis=1, return_indices=True)
    take = best > threshold
    while tl.max(take.to(tl.int32), axis=0) > 0:
        position = first_position + column
        if GATHER:
            slot = tl.load(gather_slots_ptr + position, mask=take, other=0)
        else:
            slot = position
        tl.store(score_rows + count, best, mask=take)
        tl.store(slot_rows + count, slot.to(tl.int32), mask=take)
        count += take.to(tl.int32)
        # A taken place drops to -inf, below every threshold, so it is never taken again.
        scores = tl.where(columns[None, :] == column[:, None], float("-inf"), scores)
        best, column = tl.max(scores, axis=1, return_indices=True)
        take = best > threshold
    return count, tl.max(count, axis=0)


# Runtime sizes are not specialised on their value, so one compiled kernel serves every
# batch and table size of a (dtype, DIM, K, tile) configuration.
@triton.jit(do_not_specialize=["nq", "n_splits", "nq_bucket", "rows_bucket", "stride_mask"])
def scan_topk_kernel(
    # pointers
    queries_ptr, vectors_ptr, mask_ptr, bias_ptr, segments_ptr, split_starts_ptr, stage_scores_ptr, stage_slots_ptr,
    counts_ptr, gather_slots_ptr, gather_offsets_ptr, start_ptr,
    # sizes (nq_bucket and rows_bucket only key the autotuner)
    nq, n_splits, nq_bucket, rows_bucket,
    # strides (queries are contiguous rows of DIM)
    stride_mask,
    # scoring
    score_scale,
    # meta-parameters
    DIM: tl.constexpr, K: tl.constexpr, STAGE: tl.constexpr, PER_QUERY_MASK: tl.constexpr,
    HAS_BIAS: tl.constexpr, ALIGNED: tl.constexpr, INPUT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
    MERGE_ROWS: tl.constexpr, GATHER: tl.constexpr, EXTRACT: tl.constexpr,
    BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Partial top-K of one (query tile, split) into ``stage_scores[q, split, :K]`` and ``stage_slots[q, split, :K]``.

    ``segments`` is (n_segments, 3) int64: first slot, stop slot and the element
    offset that turns ``vectors_ptr + offset + slot * DIM`` into the row of the
    segment's arena. Split ``s`` owns segments ``split_starts[s]`` up to
    ``split_starts[s + 1]``. ``stage_scores`` (float32) and ``stage_slots`` (int32
    bits of the slot) are (nq, n_splits, STAGE); ``counts[q, split]`` (int32, (nq padded
    to whole query tiles, n_splits)) receives how many of the first K places hold candidates (places after it hold none).

    With ``GATHER`` the scan visits a list of passing rows instead of slot ranges:
    segments hold positions in that list, ``gather_slots[i]`` is the slot of its
    row ``i`` and ``gather_offsets[i]`` the element offset of that row from
    ``vectors_ptr``; the keep-bits are not read (every listed row passes).

    ``start[q]`` (float32, one per query) is where query ``q``'s threshold starts: only
    scores above it are staged, and a merge never lowers the threshold below it. The
    launcher sets it just below a score that at least K passing rows reach (or -inf).

    The launcher pads ``queries`` (zero rows), ``start`` (+inf) and ``counts`` to whole tiles of
    BLOCK_Q queries, so that only the per-query masks are read under a query-validity mask: a
    (BLOCK_Q,) mask live through the whole scan is what spilled at 255 registers (Triton 3.6, sm_80).
    """
    query_tile = tl.program_id(0)
    split = tl.program_id(1)
    query_rows = query_tile * BLOCK_Q + tl.arange(0, BLOCK_Q)
    query_ok = query_rows < nq
    list_index = query_tile.to(tl.int64) * BLOCK_Q * n_splits + split
    score_base = stage_scores_ptr + list_index * STAGE
    slot_base = stage_slots_ptr + list_index * STAGE
    row_offsets_in_stage = tl.arange(0, BLOCK_Q).to(tl.int64) * n_splits * STAGE
    score_rows = score_base + row_offsets_in_stage[:, None]
    slot_rows = slot_base + row_offsets_in_stage[:, None]
    # Padding queries start (and stay) at +inf: no score beats it, so the tiles' winner tests need
    # no query-validity term.
    threshold = tl.load(start_ptr + query_rows)
    # Places filled in each row. Until a row's first merge its list places stage candidates too, so a
    # split with at most K passing rows never merges, and the first merge comes a list later.
    count = tl.zeros((BLOCK_Q,), tl.int32)
    most_staged = 0  # the largest count, kept as a scalar so the merge test costs no reduction

    first_segment = tl.load(split_starts_ptr + split)
    end_segment = tl.load(split_starts_ptr + split + 1)
    # A while loop: some interpreters cannot take a loaded scalar as a range bound.
    segment = first_segment
    while segment < end_segment:
        start = tl.load(segments_ptr + 3 * segment)
        stop = tl.load(segments_ptr + 3 * segment + 1)
        arena_offset = tl.load(segments_ptr + 3 * segment + 2)
        if ALIGNED:
            arena_offset = tl.multiple_of(arena_offset, 16)
        tiles = tl.cdiv(stop - start, BLOCK_N)
        tile = 0
        while tile < tiles:
            positions = start + tile * BLOCK_N + tl.arange(0, BLOCK_N)
            in_range = positions < stop
            if GATHER:
                slots = tl.load(gather_slots_ptr + positions, mask=in_range, other=0)
                row_offsets = tl.load(gather_offsets_ptr + positions, mask=in_range, other=0)
                if ALIGNED:
                    row_offsets = tl.multiple_of(row_offsets, 16)
                row_needed = in_range
                keep = in_range[None, :]
                needed_rows = 1  # a listed tile is never empty
            elif PER_QUERY_MASK:
                slots = positions
                row_offsets = arena_offset + slots * DIM
                bit = (slots & 31).to(tl.int32)
                word_ptrs = mask_ptr + query_rows[:, None].to(tl.int64) * stride_mask + (slots >> 5)[None, :]
                words = tl.load(word_ptrs, mask=query_ok[:, None] & in_range[None, :], other=0)
                keep = ((words >> bit[None, :]) & 1) != 0
                row_needed = tl.max(keep.to(tl.int32), axis=0) > 0
            elif BLOCK_N <= 64:
                slots = positions
                row_offsets = arena_offset + slots * DIM
                # One mask for every query, and a tile of at most 64 rows: its bits, from the few
                # words the tile spans, make one 64-bit scalar, so each row's bit is a shift of it
                # (no per-row word loads or addresses) and the skip test is that scalar.
                first_slot = start + tile * BLOCK_N
                first_word = first_slot >> 5
                first_bit = (first_slot & 31).to(tl.uint64)
                n_rows = (tl.minimum(first_slot + BLOCK_N, stop) - first_slot).to(tl.int32)
                window = tl.zeros((), tl.uint64)
                # A tile starting at any bit of a word spans (BLOCK_N + 62) // 32 words (2 for 16 rows).
                for j in tl.static_range((BLOCK_N + 62) // 32):
                    word = tl.load(mask_ptr + first_word + j, mask=32 * j < first_bit.to(tl.int32) + n_rows, other=0)
                    word = word.to(tl.uint32, bitcast=True).to(tl.uint64)
                    # Every shift is below 64 (wider shifts are not defined the same everywhere).
                    if j == 0:
                        window = window | (word >> first_bit)
                    else:
                        window = window | ((word << (32 * (j - 1))) << (32 - first_bit))
                window = window & (tl.full((), 0xFFFFFFFFFFFFFFFF, tl.uint64) >> (64 - n_rows).to(tl.uint64))
                row_needed = ((window >> tl.arange(0, BLOCK_N).to(tl.uint64)) & 1) != 0
                keep = row_needed[None, :]
                needed_rows = window
            else:
                slots = positions
                row_offsets = arena_offset + slots * DIM
                bit = (slots & 31).to(tl.int32)
                # One mask for every query: the rows to read come from the bits, not from a
                # reduction over the (queries, rows) tile.
                words = tl.load(mask_ptr + (slots >> 5), mask=in_range, other=0)
                row_needed = ((words >> bit) & 1) != 0
                keep = row_needed[None, :]
            if PER_QUERY_MASK:
                needed_rows = tl.max(row_needed.to(tl.int32), axis=0)
            elif not GATHER and BLOCK_N > 64:
                # Whether any row of the tile is kept, from the few words its rows span, as scalars:
                # no block-wide reduction (and no barrier) before the test.
                first_slot = start + tile * BLOCK_N
                first_word = first_slot >> 5
                first_bit = (first_slot & 31).to(tl.int32)
                last_bit = first_bit + (tl.minimum(first_slot + BLOCK_N, stop) - 1 - first_slot).to(tl.int32)
                all_bits = tl.full((), 0xFFFFFFFF, tl.uint32)
                needed_rows = tl.zeros((), tl.uint32)
                for j in tl.static_range(BLOCK_N // 32 + 1):
                    low_bit = tl.maximum(first_bit - 32 * j, 0)
                    high_bit = tl.minimum(last_bit - 32 * j, 31)
                    word = tl.load(mask_ptr + first_word + j, mask=high_bit >= low_bit, other=0)
                    span = (all_bits >> (31 - high_bit).to(tl.uint32)) & (all_bits << low_bit.to(tl.uint32))
                    needed_rows = needed_rows | (word.to(tl.uint32, bitcast=True) & span)
            if needed_rows > 0:
                row_ptrs = vectors_ptr + row_offsets[:, None]
                if BLOCK_Q == 1:
                    # One query: multiply-add into a (rows, dims) accumulator and reduce it once
                    # per tile, so the dim loop is loads and FMAs only.
                    acc = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
                    for dim_start in range(0, DIM, BLOCK_D):
                        dims = dim_start + tl.arange(0, BLOCK_D)
                        # Rows no query keeps are not read: a row spans whole memory
                        # sectors, so sparse masks save bandwidth here too.
                        if DIM % BLOCK_D == 0:
                            q = tl.load(queries_ptr + query_tile * DIM + dims)
                            x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None], other=0.0)
                        else:
                            q = tl.load(queries_ptr + query_tile * DIM + dims, mask=dims < DIM, other=0.0)
                            x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None] & (dims < DIM)[None, :],
                                        other=0.0)
                        acc += x.to(tl.float32) * q.to(tl.float32)[None, :]
                    scores = tl.sum(acc, axis=1)[None, :] * score_scale
                else:
                    acc = tl.zeros((BLOCK_Q, BLOCK_N), dtype=tl.float32)
                    for dim_start in range(0, DIM, BLOCK_D):
                        dims = dim_start + tl.arange(0, BLOCK_D)
                        query_ptrs = queries_ptr + query_rows[:, None] * DIM + dims[None, :]
                        # The queries are padded to whole tiles: no query mask (see the docstring).
                        if DIM % BLOCK_D == 0:
                            q = tl.load(query_ptrs)
                            x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None], other=0.0)
                        else:
                            dims_ok = dims < DIM
                            q = tl.load(query_ptrs, mask=dims_ok[None, :], other=0.0)
                            x = tl.load(row_ptrs + dims[None, :], mask=row_needed[:, None] & dims_ok[None, :],
                                        other=0.0)
                        if UPCAST_DOT:
                            # Triton's interpreter multiplies bfloat16 bit patterns as
                            # integers; the exact fp32 copies give the same products.
                            q = q.to(tl.float32)
                            x = x.to(tl.float32)
                        acc = tl.dot(q, tl.trans(x), acc, input_precision=INPUT_PRECISION)
                    scores = acc * score_scale
                # Rows a query does not keep score -inf: below every threshold, and out of the
                # tile's best. With one mask for every query that is a term per row, with the bias.
                # 128-query tiles with one mask, no bias and a short list leave that to staging
                # (drop_unkept): the gate then reads unkept rows too (as zeros) and may open for
                # one, but the many tiles that stage nothing build no per-row bits for their scores.
                # (With a bias the per-row term is built anyway, and loading it apart spills: 368
                # bytes, bf16, 512 dims, 128 x 128 tiles, sm_90.)
                drop_unkept_later = EXTRACT and not PER_QUERY_MASK and not HAS_BIAS and K <= DROP_LATER_MAX_K
                if not drop_unkept_later:
                    if HAS_BIAS:
                        row_term = tl.load(bias_ptr + slots, mask=row_needed, other=0.0)
                    else:
                        row_term = tl.zeros((BLOCK_N,), dtype=tl.float32)
                    if PER_QUERY_MASK:
                        scores = tl.where(keep, scores + row_term[None, :], float("-inf"))
                    else:
                        scores = scores + tl.where(row_needed, row_term, float("-inf"))[None, :]
                if EXTRACT or (BLOCK_Q > 1 and K <= BEST_GATE_MAX_K):
                    # The gate: whether any query's best score of the tile beats its threshold (a
                    # max along the rows, cheaper than counting the winners where few tiles stage).
                    best = tl.max(scores, axis=1)
                    if tl.max((best > threshold).to(tl.int32), axis=0) > 0:
                        if EXTRACT:
                            first_position = start + tile * BLOCK_N
                            count, most_staged = stage_by_extraction(
                                score_base + row_offsets_in_stage, slot_base + row_offsets_in_stage, count, scores,
                                threshold, first_position, gather_slots_ptr, mask_ptr,
                                (tl.minimum(first_position + BLOCK_N, stop) - first_position).to(tl.int32),
                                GATHER, drop_unkept_later, BLOCK_N)
                        else:
                            count, most_staged = stage_above(score_rows, slot_rows, count, scores, threshold,
                                                             slots.to(tl.int32)[None, :])
                else:
                    # One reduction along the rows gives each query's winners; the gate is on them.
                    winners = scores > threshold[:, None]
                    wins = tl.sum(winners.to(tl.int32), axis=1)
                    if tl.max(wins, axis=0) > 0:
                        # Slots below 2**32 - 1 (the launcher checks): their low 32 bits are the slot.
                        count, most_staged = stage_winners(score_rows, slot_rows, count, winners, wins, scores,
                                                           slots.to(tl.int32)[None, :])
            # Merge when a staging row could not take another tile, and after the split's last
            # tile; one merge site inside the loop keeps the code (and its registers) single.
            last_tile = (segment == end_segment - 1) & (tile == tiles - 1)
            if (most_staged > STAGE - BLOCK_N) | (last_tile & (most_staged > K)):
                threshold, count, most_staged = merge_and_restart(
                    score_base, slot_base, count, threshold, n_splits * STAGE, K, STAGE, BLOCK_Q, MERGE_ROWS)
            if last_tile:
                store_counts(counts_ptr, list_index, row_offsets_in_stage, count, STAGE)
            tile += 1
        segment += 1


@triton.jit(do_not_specialize=["nq", "m", "stride_mask"])
def sample_scores_kernel(
    queries_ptr, vectors_ptr, mask_ptr, bias_ptr, slots_ptr, offsets_ptr, scores_ptr, bounds_ptr,
    nq, m, stride_mask, score_scale,
    DIM: tl.constexpr, PER_QUERY_MASK: tl.constexpr, HAS_BIAS: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    UPCAST_DOT: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Scores of a sample of rows, as the scan computes them: ``scores[q, i]`` (float32, (nq, m)) of row ``i``.

    Row ``i`` is slot ``slots[i]`` at element offset ``offsets[i]`` from ``vectors_ptr``. Its score
    is ``score_scale * q . x + bias[slot]`` by ``tl.dot`` with float32 accumulation (the scan's
    arithmetic), -inf where query ``q``'s mask bit of the slot is clear. Over the rows some query of
    its tile keeps, each program also raises ``bounds[0]`` (float32, two values, zero at launch) to
    the largest squared Euclidean norm (float32 sums) and, with ``HAS_BIAS``, ``bounds[1]`` to the
    largest ``|bias[slot]|``: the launcher bounds the roundoff with them. With one mask for every
    query the rows it clears are not read; with per-query masks every sampled row is read,
    never-written ones too, so their contents (NaN, inf) must stay out of the bounds.
    """
    query_tile = tl.program_id(0)
    query_rows = query_tile * BLOCK_Q + tl.arange(0, BLOCK_Q)
    query_ok = query_rows < nq
    positions = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_range = positions < m
    slots = tl.load(slots_ptr + positions, mask=in_range, other=0)
    row_offsets = tl.load(offsets_ptr + positions, mask=in_range, other=0)
    bit = (slots & 31).to(tl.int32)
    if PER_QUERY_MASK:
        word_ptrs = mask_ptr + query_rows[:, None].to(tl.int64) * stride_mask + (slots >> 5)[None, :]
        words = tl.load(word_ptrs, mask=query_ok[:, None] & in_range[None, :], other=0)
        keep = ((words >> bit[None, :]) & 1) != 0
        row_needed = in_range
    else:
        words = tl.load(mask_ptr + (slots >> 5), mask=in_range, other=0)
        row_needed = in_range & (((words >> bit) & 1) != 0)
        keep = row_needed[None, :]
    acc = tl.zeros((BLOCK_Q, BLOCK_N), dtype=tl.float32)
    squares = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for dim_start in range(0, DIM, BLOCK_D):
        dims = dim_start + tl.arange(0, BLOCK_D)
        dims_ok = dims < DIM
        q = tl.load(queries_ptr + query_rows[:, None] * DIM + dims[None, :], mask=query_ok[:, None] & dims_ok[None, :],
                    other=0.0)
        x = tl.load(vectors_ptr + row_offsets[:, None] + dims[None, :], mask=row_needed[:, None] & dims_ok[None, :],
                    other=0.0)
        wide_x = x.to(tl.float32)
        squares += tl.sum(wide_x * wide_x, axis=1)
        if UPCAST_DOT:
            q = q.to(tl.float32)
            x = wide_x
        acc = tl.dot(q, tl.trans(x), acc, input_precision=INPUT_PRECISION)
    scores = acc * score_scale
    if HAS_BIAS:
        row_bias = tl.load(bias_ptr + slots, mask=in_range, other=0.0)
        scores += row_bias[None, :]
    scores = tl.where(keep, scores, float("-inf"))
    tl.store(scores_ptr + query_rows[:, None].to(tl.int64) * m + positions[None, :], scores,
             mask=query_ok[:, None] & in_range[None, :])
    # Both bounds are at least zero, so the largest of them all is the float atomic maximum.
    kept = tl.max((keep & query_ok[:, None] & in_range[None, :]).to(tl.int32), axis=0) > 0
    tl.atomic_max(bounds_ptr, tl.max(tl.where(kept, squares, 0.0), axis=0))
    if HAS_BIAS:
        tl.atomic_max(bounds_ptr + 1, tl.max(tl.where(kept, tl.abs(row_bias), 0.0), axis=0))
