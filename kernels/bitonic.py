"""Bitonic sorting network on the last axis of a (rows, width) tile, width a power of two.

Every stage pairs positions ``i`` and ``i + distance`` by viewing the tile as
(rows, groups, 2, distance) and taking the min and max over the pair axis.
``tl.sort`` and ``tl.topk`` implement the same network with an xor-sum
reduction, which Triton's interpreter runs element by element in Python; min
and max have vectorised interpreter paths, so the test suite stays fast, and
the compiled code is the same kind of register shuffle.

Runs of ``RUN`` positions alternate direction (ascending first, or descending
first when ``DESCENDING``); a run as wide as the tile is one sorted sequence.
"""
import triton
import triton.language as tl

# The static loops below run over 12 bit positions: widths up to 4096.


@triton.jit
def compare_exchange(x, DISTANCE: tl.constexpr, RUN: tl.constexpr, DESCENDING: tl.constexpr):
    """One network stage: order each pair (i, i + DISTANCE) inside runs of RUN positions."""
    ROWS: tl.constexpr = x.shape[0]
    WIDTH: tl.constexpr = x.shape[1]
    GROUPS: tl.constexpr = WIDTH // (2 * DISTANCE)
    pairs = tl.reshape(x, (ROWS, GROUPS, 2, DISTANCE))
    low = tl.min(pairs, axis=2, keep_dims=True)
    high = tl.max(pairs, axis=2, keep_dims=True)
    run_parity = (tl.arange(0, GROUPS)[None, :, None, None] * (2 * DISTANCE) // RUN) & 1
    side = tl.arange(0, 2)[None, None, :, None]
    if DESCENDING:
        take_high = side == run_parity
    else:
        take_high = side != run_parity
    return tl.reshape(tl.where(take_high, high, low), (ROWS, WIDTH))


@triton.jit
def sort_runs(x, RUN: tl.constexpr, DESCENDING: tl.constexpr):
    """Sort every run of RUN positions, directions alternating run by run."""
    for bit in tl.static_range(1, 13):
        if (1 << bit) <= RUN:
            for step in tl.static_range(bit):
                x = compare_exchange(x, 1 << (bit - 1 - step), 1 << bit, DESCENDING)
    return x


@triton.jit
def merge_runs(x, RUN: tl.constexpr, DESCENDING: tl.constexpr):
    """Sort every run of RUN positions that is already bitonic, directions alternating."""
    for step in tl.static_range(12):
        if (2 << (11 - step)) <= RUN:
            x = compare_exchange(x, 1 << (11 - step), RUN, DESCENDING)
    return x


@triton.jit
def best_first(x, K: tl.constexpr, FILL: tl.constexpr):
    """The K largest of each row, largest first; rows narrower than K are padded with FILL."""
    if x.shape[1] <= K:
        x = sort_runs(x, x.shape[1], True)
        if x.shape[1] < K:
            # Broadcast the row over K // width slots and keep only the first.
            ROWS: tl.constexpr = x.shape[0]
            WIDTH: tl.constexpr = x.shape[1]
            slot = tl.arange(0, K // WIDTH)[None, :, None]
            x = tl.where(slot == 0, x[:, None, :], FILL)
            x = tl.reshape(x, (ROWS, K))
    else:
        # Ascending and descending runs of K pair up; their element-wise max is
        # a bitonic run holding the best K of both (Batcher's half-cleaner).
        x = sort_runs(x, K, False)
        for _ in tl.static_range(12):
            if x.shape[1] > K:
                pairs = tl.reshape(x, (x.shape[0], x.shape[1] // (2 * K), 2, K))
                x = tl.reshape(tl.max(pairs, axis=2), (x.shape[0], x.shape[1] // 2))
                x = merge_runs(x, K, x.shape[1] == K)
    return x
