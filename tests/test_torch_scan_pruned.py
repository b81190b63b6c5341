"""The torch scan's bounded pre-scan: int8 score bounds, then exact rescoring of the rows that can
reach the top k. Results must be those of the plain scan bit for bit (ids, scores, ties), and the
int8 copy must follow every write."""
from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch import storage as storage_module
from flatsearch import torch_scan

KINDS = {"city": "int", "pay": "float", "remote": "bool"}


@pytest.fixture(autouse=True)
def copy_at_first_scan(monkeypatch):
    """Every test here scans with the int8 copy from the first search (see storage.COARSE_BUILD_AFTER),
    built whole by that search (see storage.COARSE_STEP_FRACTION)."""
    monkeypatch.setattr(storage_module, "COARSE_BUILD_AFTER", 0)
    monkeypatch.setattr(storage_module, "COARSE_STEP_MIN_ROWS", 1 << 40)
    # Whether int8 products are faster than float32 ones depends on the CPU; the results must be exact either way.
    monkeypatch.setattr(torch_scan, "_int8_products_fast", lambda dim: True)


@contextlib.contextmanager
def counting_prunes():
    """Yield a list that receives, per bounded pre-scan tried, whether it answered the search."""
    calls, original = [], torch_scan._pruned_scan

    def counted(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result is not None)
        return result

    torch_scan._pruned_scan = counted
    try:
        yield calls
    finally:
        torch_scan._pruned_scan = original


@contextlib.contextmanager
def no_pruning():
    saved = torch_scan.PRUNE_MIN_ROWS
    torch_scan.PRUNE_MIN_ROWS = 1 << 62
    try:
        yield
    finally:
        torch_scan.PRUNE_MIN_ROWS = saved


def build(n=6000, dim=48, metric="ip", seed=0, duplicates=0, partition_size=2048):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    if duplicates:  # many equal rows: ties at every place, the k-th included
        vectors[:duplicates] = vectors[0]
    attributes = {"city": rng.integers(0, 10, n), "pay": rng.random(n).astype(np.float32),
                  "remote": rng.random(n) < 0.5}
    index = fs.Index(dim, metric=metric, attributes=KINDS, partition_size=partition_size)
    index.add(np.arange(n), vectors, attributes)
    return index, vectors, rng


def same_as_plain_scan(index, queries, k, **kwargs):
    """Search with the pre-scan and without it; assert identical results; return how many pre-scans answered."""
    with counting_prunes() as calls:
        pruned = index.search(queries, k, **kwargs)
    with no_pruning():
        plain = index.search(queries, k, **kwargs)
    assert torch.equal(pruned.ids, plain.ids), kwargs
    assert torch.equal(pruned.scores, plain.scores), kwargs  # bit for bit, not close
    return sum(calls)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_loose_filters_match_the_plain_scan_and_are_pruned(metric):
    index, vectors, rng = build(metric=metric)
    query = rng.standard_normal((1, 48)).astype(np.float32)
    pair = np.repeat(query, 2, axis=0)
    two = rng.standard_normal((2, 48)).astype(np.float32)
    cases = [
        (query, dict()),
        (query, dict(filter=fs.col("city") < 7)),
        (query, dict(filter=~fs.col("city").isin([1, 2]), boost={"pay": 0.5})),
        (pair, dict(filter=[fs.col("city") < 8, (fs.col("city") < 8) & (fs.col("remote") == False)], boost={"pay": 2.0})),
        (two, dict(filter=fs.col("pay") > 0.2)),
        (two, dict(filter=[fs.col("pay") > 0.2, fs.col("city") != 3])),
        (pair, dict(filter=[fs.col("pay") > 0.1, None])),
    ]
    answered = 0
    for queries, kwargs in cases:
        for k in (1, 10, 50):
            answered += same_as_plain_scan(index, queries, k, **kwargs)
    assert answered >= len(cases) * 3 - 3  # the pre-scan answered (nearly) every one of these searches


def test_ties_at_the_kth_place_match_the_plain_scan():
    """2,000 equal rows: the k-th place is tied among many, resolved by the lower id in both paths."""
    index, vectors, rng = build(n=8000, duplicates=2000)
    for queries in (vectors[:1], vectors[:1] + 0.01, np.repeat(vectors[:1], 2, axis=0)):
        for k in (5, 50, 250):
            for expr in (None, fs.col("city") < 8):
                same_as_plain_scan(index, queries, k, filter=expr)


def test_mostly_tied_scores_fall_back_to_the_plain_scan():
    """Every row equal: no row can be left out, so the pre-scan gives way (and results still match)."""
    dim, n = 16, 4096
    index = fs.Index(dim, attributes=KINDS)
    index.add(np.arange(n), np.ones((n, dim), dtype=np.float32))
    with counting_prunes() as calls:
        result = index.search(np.ones(dim, dtype=np.float32), 10)
    assert calls and not any(calls)  # the search and its tie resolution each fell back
    assert result.ids[0].tolist() == list(range(10))


def test_int8_copy_follows_every_write(monkeypatch):
    monkeypatch.setattr(storage_module.CoarseArena, "CHUNK_ROWS", 1000)  # quantised in several chunks
    index, vectors, rng = build(n=5000, partition_size=1024)
    query = rng.standard_normal((1, 48)).astype(np.float32)
    assert same_as_plain_scan(index, query, 20) == 1  # builds the copy
    index.add(np.arange(5000, 7000), rng.standard_normal((2000, 48)).astype(np.float32),
              {"city": rng.integers(0, 10, 2000)})
    index.upsert(np.arange(0, 3000, 3), 5 * rng.standard_normal((1000, 48)).astype(np.float32))
    index.delete(np.arange(1, 3000, 7))
    index.set_attributes(np.arange(3000, 3100), {"pay": np.full(100, 9.0, dtype=np.float32)})
    index.add(np.arange(7000, 9000), 3 * rng.standard_normal((2000, 48)).astype(np.float32))  # into freed slots
    for expr in (None, fs.col("city") < 6, fs.col("pay") > 0.5):
        assert same_as_plain_scan(index, query, 30, filter=expr, boost={"pay": 0.1}) == 1
    storage = index._storage
    live = storage.live.numpy()
    for copy, arena, start in zip(storage.coarse(), storage.arenas, storage.arena_starts):
        rows = np.flatnonzero(live[start:start + arena.shape[0]])
        codes, scale, norm, residual = storage_module.quantize_rows(arena.numpy()[rows])
        assert np.array_equal(copy.codes.numpy()[rows], codes)
        assert np.array_equal(copy.scale[rows], scale) and np.array_equal(copy.residual[rows], residual)
        assert np.array_equal(copy.norm[rows], norm)
    for _ in range(3):  # more rows rewritten than the index holds: the copy is dropped and rebuilt on use
        live_ids = index.ids()
        index.upsert(live_ids, rng.standard_normal((len(live_ids), 48)).astype(np.float32))
    assert index._storage._coarse is None
    assert same_as_plain_scan(index, query, 30, filter=fs.col("city") < 6) == 1
    for rebuilt in (_compacted(index), _reloaded(index)):
        for expr in (None, fs.col("city") < 6):
            assert same_as_plain_scan(rebuilt, query, 30, filter=expr) == 1


def _compacted(index):
    index.compact()
    return index


def _reloaded(index):
    path = os.path.join(tempfile.mkdtemp(), "index.fsx")
    index.save(path)
    return fs.Index.load(path)


@pytest.mark.parametrize("magnitude", [1e-30, 1e-3, 1.0, 1e6, 1e17])
def test_bounds_hold_across_magnitudes(magnitude):
    """Rows and queries far from unit length, mixed with zero rows and tiny entries (the float32 error
    term and the int8 rounding of small values dominate in turn)."""
    rng = np.random.default_rng(3)
    n, dim = 4000, 40
    vectors = (rng.standard_normal((n, dim)) * magnitude).astype(np.float32)
    vectors[::50] = 0.0
    vectors[1::50, :3] = np.float32(magnitude * 1e-6)
    index = fs.Index(dim, attributes=KINDS)
    index.add(np.arange(n), vectors, {"pay": rng.random(n).astype(np.float32)})
    query = (rng.standard_normal((1, dim)) * magnitude).astype(np.float32)
    for boost in (None, {"pay": 1.0}):
        same_as_plain_scan(index, query, 25, boost=boost)
        same_as_plain_scan(index, query, 25, filter=fs.col("pay") > 0.3, boost=boost)


@pytest.mark.parametrize("n", [4093, 4096, 4101])
def test_gathered_and_scanned_products_give_the_same_bits(monkeypatch, n):
    """A row's float32 score does not depend on which rows it was multiplied with (see ROW_MULTIPLE):
    the gather path and the span scan agree bit for bit, on every row count."""
    index, vectors, rng = build(n=n, partition_size=65536)
    queries = rng.standard_normal((2, 48)).astype(np.float32)
    expr = fs.col("pay") < 0.6
    found = []
    with no_pruning():
        for threshold in (0.0, 1.0):  # the span scan, then the gather
            monkeypatch.setattr(torch_scan, "GATHER_MAX_FRACTION", threshold)
            found.append(index.search(queries, n, filter=expr))
    assert torch.equal(found[0].ids, found[1].ids)
    assert torch.equal(found[0].scores, found[1].scores)


def test_copy_is_built_after_enough_scans(monkeypatch):
    monkeypatch.setattr(storage_module, "COARSE_BUILD_AFTER", 3)
    index, vectors, rng = build(n=4000)
    query = rng.standard_normal((1, 48)).astype(np.float32)
    answered = [same_as_plain_scan(index, query, 10) for _ in range(5)]
    assert answered == [0, 0, 1, 1, 1]  # 4,000 rows read twice without the copy, the third scan builds it


def test_int8_products_are_checked_before_use():
    assert torch_scan._int8_products_exact(48)
    assert not torch_scan._int8_products_exact(1)  # one-value rows: never trusted (wrong on torch 2.13)


def test_slow_int8_products_decline_the_pre_scan(monkeypatch):
    index, vectors, rng = build(n=4000)
    query = rng.standard_normal((1, 48)).astype(np.float32)
    assert same_as_plain_scan(index, query, 10) == 1  # the pre-scan answers where int8 products pay
    monkeypatch.setattr(torch_scan, "_int8_products_fast", lambda dim: False)
    assert [same_as_plain_scan(index, query, 10) for _ in range(3)] == [0, 0, 0]


def test_int8_speed_is_timed_once_per_dim_on_one_thread(monkeypatch):
    monkeypatch.undo()  # drop the autouse fixture's stand-in: the real function is timed here
    saved = torch_scan._INT8_FAST.pop(40, None)
    threads = torch.get_num_threads()
    seen = []
    real_int_mm = torch._int_mm
    monkeypatch.setattr(torch, "_int_mm", lambda *a: seen.append(torch.get_num_threads()) or real_int_mm(*a))
    try:
        first = torch_scan._int8_products_fast(40)
        assert isinstance(first, bool) and seen == [1, 1, 1] and torch.get_num_threads() == threads
        assert torch_scan._int8_products_fast(40) is first and len(seen) == 3  # cached: not timed again
    finally:
        torch_scan._INT8_FAST.pop(40, None)
        if saved is not None:
            torch_scan._INT8_FAST[40] = saved


def test_high_matmul_precision_declines_the_pre_scan():
    """Under "medium" or "high" a CPU may multiply float32 through bfloat16: the pre-scan must not run then."""
    index, vectors, rng = build()
    query = rng.standard_normal((1, 48)).astype(np.float32)
    saved = torch.get_float32_matmul_precision()
    try:
        for precision in ("medium", "high"):
            torch.set_float32_matmul_precision(precision)
            for expr in (None, fs.col("city") < 7):
                assert same_as_plain_scan(index, query, 10, filter=expr) == 0
    finally:
        torch.set_float32_matmul_precision(saved)
    assert same_as_plain_scan(index, query, 10) == 1


def _request(vectors, queries, k, bias=None, score_scale=1.0, copies=None):
    from flatsearch.bitmask import pack_bits
    from flatsearch.scan import ScanRequest
    n = vectors.shape[0]
    if copies is None:
        copy = storage_module.CoarseArena.empty(n, vectors.shape[1])
        copy.write(np.arange(n), vectors)
        copies = [copy]
    return ScanRequest(queries=torch.from_numpy(queries), k=k, arenas=(torch.from_numpy(vectors),), arena_starts=(0,),
                       ranges=torch.tensor([[0, n]]), mask_words=pack_bits(torch.ones(n, dtype=torch.bool)),
                       bias=None if bias is None else torch.from_numpy(bias), score_scale=score_scale, dense=True,
                       coarse=lambda rows: copies)


def test_no_intermediate_overflow():
    """Row A's int8 product times its scale passes float32's range though its score does not: the pre-scan
    must not give A an infinite lower bound (and drop the better row B)."""
    dim, n = 16, 2048
    vectors = np.zeros((n, dim), np.float32)
    vectors[0] = np.float32(1.67625e35)
    s = np.float32(2.499e33)
    vectors[1] = s * 63.49
    vectors[1, 0] = s * 127
    vectors[2:] = np.float32(1e30) * np.random.default_rng(0).standard_normal((n - 2, dim))
    queries = np.ones((1, dim), np.float32)
    with_copy = torch_scan.torch_scan(_request(vectors, queries, 1))
    assert with_copy.slots.tolist() == [[1]]
    with no_pruning():
        plain = torch_scan.torch_scan(_request(vectors, queries, 1))
    assert torch.equal(with_copy.scores, plain.scores)


@pytest.mark.parametrize("dim", [2, 3])
def test_scores_lie_inside_their_bounds(dim):
    """Direct containment: the real score (float64) and the float32 product of every row lie in [lower, upper],
    on random rows (the int8 rounding term is nearly tight in 2-3 dims) and on rows and queries the int8 codes
    hold exactly, with a bias (then only the float32 rounding term keeps the real score inside)."""
    rng = np.random.default_rng(dim)
    n = 4096
    for magnitude in (1e-20, 1e-3, 1.0, 1e5, 1e20):
        for exact in (False, True):
            if exact:
                codes = rng.integers(-127, 128, (n, dim))
                codes[:, 0] = 127
                vectors = (codes * np.float32(2.0 ** np.round(np.log2(magnitude)))).astype(np.float32)
                q_codes = rng.integers(-127, 128, (2, dim))
                q_codes[:, 0] = 127
                queries = (q_codes * np.float32(2.0 ** -3)).astype(np.float32)
            else:
                vectors = (rng.standard_normal((n, dim)) * magnitude).astype(np.float32)
                queries = rng.standard_normal((2, dim)).astype(np.float32)
            biases = rng.random(n).astype(np.float32) * np.float32(magnitude * 100)
            for bias, score_scale in ((None, 1.0), (biases, 2.0)):
                request = _request(vectors, queries, 10, bias=bias, score_scale=score_scale)
                lower, upper = torch_scan._score_bounds(request, request.queries, False, torch.arange(n),
                                                        request.coarse(n))
                real = score_scale * (queries.astype(np.float64) @ vectors.astype(np.float64).T)
                if bias is not None:
                    real += bias.astype(np.float64)
                product = torch.mm(request.queries, request.arenas[0].T) * score_scale if bias is None else \
                    torch.addmm(request.bias.unsqueeze(0), request.queries, request.arenas[0].T, alpha=score_scale)
                for scores in (real, product.double().numpy()):
                    assert (lower <= scores).all() and (scores <= upper).all(), (magnitude, exact, bias is None)
                width = (upper.astype(np.float64) - lower) / (np.abs(real) + 1e-300)
                assert np.median(width) < 0.2  # a bound, not a range that holds everything


def test_candidate_rule_keeps_rows_that_can_tie():
    """A row whose upper bound equals the k-th largest lower bound may tie with the k-th and win by its slot."""
    lower = np.array([0.0, 1.0, 2.0, 3.0], np.float32)
    upper = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    assert torch_scan._reaching(lower, upper, 2).tolist() == [False, True, True, True]
    assert torch_scan._reaching(lower, upper, 1).tolist() == [False, False, True, True]


def near_tied(n=8000, dim=16):
    """Rows so close that no bound separates them: every pre-scan falls back."""
    rng = np.random.default_rng(5)
    index = fs.Index(dim, attributes=KINDS)
    index.add(np.arange(n), (1 + 1e-4 * rng.standard_normal((n, dim))).astype(np.float32),
              {"pay": rng.random(n).astype(np.float32)})
    return index, np.ones((1, dim), np.float32)


@pytest.mark.parametrize("expr", [None, fs.col("pay") > 0.5, fs.col("pay") > 0.05])
def test_a_search_runs_the_pre_scan_at_most_once(expr):
    index, query = near_tied()
    with counting_prunes() as calls:
        index.search(query, 10, filter=expr)
    assert calls == [False]


def test_fallbacks_are_remembered(monkeypatch):
    """Where the pre-scan does not prune, it is tried again after 2, 4, 8, ... searches, not on every one."""
    index, query = near_tied()
    tried, original = [], torch_scan._bounded_scan

    def counted(*args):
        result = original(*args)
        tried.append(result is not None)
        return result

    monkeypatch.setattr(torch_scan, "_bounded_scan", counted)
    for expr in (None, fs.col("pay") > 0.5):
        tried.clear()
        for _ in range(40):
            same_as_plain_scan(index, query, 10, filter=expr)
        assert tried[:1] == [False] and len(tried) <= 5, tried  # tries at searches 1, 4, 9, 18, 35
    # A class of its own (k far larger) is tried afresh.
    tried.clear()
    same_as_plain_scan(index, query, 500)
    assert tried == [False]


def test_searches_never_wait_for_the_copy():
    """While another search holds the copy's lock, a search scans plainly at once."""
    index, vectors, rng = build()
    query = rng.standard_normal((1, 48)).astype(np.float32)
    storage = index._storage
    with storage._coarse_lock:
        assert same_as_plain_scan(index, query, 10) == 0
        assert storage._coarse is None
    assert same_as_plain_scan(index, query, 10) == 1


def test_copy_is_built_and_refreshed_in_bounded_batches(monkeypatch):
    """Each search quantises at most a bounded batch (COARSE_STEP_FRACTION of its rows, at least
    COARSE_STEP_MIN_ROWS); results match the plain scan throughout, and the finished copy is exact."""
    monkeypatch.setattr(storage_module, "COARSE_STEP_MIN_ROWS", 256)
    monkeypatch.setattr(storage_module, "COARSE_STEP_FRACTION", 1 / 16)
    monkeypatch.setattr(storage_module.CoarseArena, "CHUNK_ROWS", 100)
    quantised, original = [], storage_module.quantize_rows

    def counted(rows):
        quantised[-1] += len(rows)
        return original(rows)

    monkeypatch.setattr(storage_module, "quantize_rows", counted)
    index, vectors, rng = build(n=6000, partition_size=1024)
    query = rng.standard_normal((1, 48)).astype(np.float32)
    answered = []
    for step in range(60):
        if step in (10, 30):  # writes while it is built, and after
            index.upsert(np.arange(0, 3000, 2), rng.standard_normal((1500, 48)).astype(np.float32))
            added = np.arange(10_000 + step * 100, 10_100 + step * 100)
            index.add(added, rng.standard_normal((100, 48)).astype(np.float32))
            index.delete(np.arange(1, 500, 3))
        quantised.append(0)
        answered.append(same_as_plain_scan(index, query, 10))
        assert quantised[-1] <= max(256, len(index) // 16) + 100, (step, quantised[-1])  # one chunk over at most
    assert answered[0] == 0 and answered[-1] == 1
    assert answered.index(1) >= 6000 // 500  # it took many searches to build
    storage = index._storage
    assert storage._coarse_ready
    live = storage.live.numpy()
    for copy, arena, start in zip(storage._coarse, storage.arenas, storage.arena_starts):
        rows = np.flatnonzero(live[start:start + arena.shape[0]])
        codes, scale, norm, residual = original(arena.numpy()[rows])
        assert np.array_equal(copy.codes.numpy()[rows], codes) and np.array_equal(copy.scale[rows], scale)
        assert np.array_equal(copy.norm[rows], norm) and np.array_equal(copy.residual[rows], residual)


def test_failing_to_allocate_the_copy_falls_back(monkeypatch):
    """A MemoryError building the optional copy: the search scans plainly, and later ones try again only
    after twice, four times, ... as many rows read."""
    attempts = []

    def no_memory(rows, dim):
        attempts.append(rows)
        raise MemoryError("no room for the int8 copy")

    index, vectors, rng = build()
    monkeypatch.setattr(storage_module.CoarseArena, "empty", classmethod(lambda cls, rows, dim: no_memory(rows, dim)))
    query = rng.standard_normal((1, 48)).astype(np.float32)
    for _ in range(16):
        assert same_as_plain_scan(index, query, 10) == 0
    assert 1 <= len(attempts) <= 4  # searches 1, 3, 7, 15
    assert index._storage._coarse is None


def test_pre_scan_out_of_memory_scans_plainly(monkeypatch):
    index, vectors, rng = build()
    query = rng.standard_normal((1, 48)).astype(np.float32)

    def no_memory(*args):
        raise MemoryError("no room for the bounds")

    monkeypatch.setattr(torch_scan, "_score_bounds", no_memory)
    for expr in (None, fs.col("city") < 7):
        assert same_as_plain_scan(index, query, 10, filter=expr) == 0


def test_nbytes_counts_the_slots_waiting_for_the_copy():
    index, vectors, rng = build()
    index.search(vectors[:1], 10)
    storage = index._storage
    before = storage.nbytes()
    index.upsert(np.arange(1000), rng.standard_normal((1000, 48)).astype(np.float32))
    assert storage._coarse_pending and storage.nbytes() - before >= sum(p.nbytes for p in storage._coarse_pending)


def test_kept_thresholds_match_the_masked_partition():
    """Each query's k-th largest lower bound over its kept rows equals the one over the masked row:
    every row kept, none, fewer than k, a narrow filter, equal values, a shared lower row and one per query."""
    rng = np.random.default_rng(11)
    n = 3000
    for shared in (True, False):
        for k in (1, 7, 50):
            lower = rng.standard_normal((1 if shared else 5, n)).astype(np.float32)
            lower[:, :400] = lower[:, :1]  # many equal values, the k-th among them for some rows
            bits = np.stack([np.ones(n, bool), np.zeros(n, bool), rng.random(n) < 0.003,
                             rng.random(n) < 0.05, rng.random(n) < 0.9])
            bits[2, :] = False
            bits[2, rng.choice(n, k - 1, replace=False)] = k > 1  # fewer than k kept
            masked = np.where(bits, lower, np.float32(-np.inf))
            expected = np.partition(masked, n - k, axis=-1)[:, n - k:n - k + 1]
            found = torch_scan._kept_thresholds(lower, bits, k)
            assert found.dtype == np.float32 and found.shape == (5, 1)
            assert np.array_equal(found, expected), (shared, k)


def brute_force_ids(vectors, ids, live, queries, k, keep, bias):
    """Ids of the float64 brute-force top k per query (ties by the lower id; -1 past the passing rows)."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T + bias
    scores = np.where(keep & live, scores, -np.inf)
    order = np.lexsort((np.broadcast_to(ids, scores.shape), -scores), axis=1)[:, :k]
    return np.where(np.isfinite(np.take_along_axis(scores, order, 1)), ids[order], -1)


@pytest.mark.parametrize("seed", [0, 1])
def test_narrow_filter_inside_a_loose_union_matches_brute_force(seed):
    """Per-query filters where one query keeps a few rows of a loose union (most of its row masked): exact ids
    against a brute-force reference on fresh data, ties among equal rows by id, after deletes; the pre-scan answers."""
    n, dim = 6000, 48
    rng = np.random.default_rng(100 + seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors[10:40] = vectors[10]  # equal rows: ties at the k-th place for a query near them
    city, pay, remote = rng.integers(0, 20, n), rng.random(n).astype(np.float32), rng.random(n) < 0.5
    ids = np.arange(n) * 3 + 7
    index = fs.Index(dim, attributes=KINDS, partition_size=2048)
    index.add(ids, vectors, {"city": city, "pay": pay, "remote": remote})
    gone = rng.choice(n, 300, replace=False)
    index.delete(ids[gone])
    live = np.ones(n, bool)
    live[gone] = False
    query = np.repeat(rng.standard_normal((1, dim)).astype(np.float32), 2, axis=0)
    near = np.repeat(vectors[10:11] + 0.01 * rng.standard_normal((1, dim)).astype(np.float32), 2, axis=0)
    two = rng.standard_normal((2, dim)).astype(np.float32)
    cases = [  # (queries, filters, each query's bits, boost weight)
        (query, [None, fs.col("city") == 3], [np.ones(n, bool), city == 3], 0.0),
        (near, [fs.col("pay") > 0.1, (fs.col("pay") > 0.1) & (fs.col("city") == 3)],
         [pay > 0.1, (pay > 0.1) & (city == 3)], 0.5),
        (two, [None, fs.col("city") == 5], [np.ones(n, bool), city == 5], 0.0),
        (query, [fs.col("pay") > 0.05, fs.col("city") == 99], [pay > 0.05, np.zeros(n, bool)], 0.25),  # one empty
        (near, [None, fs.col("remote") == True], [np.ones(n, bool), remote], 0.0),
    ]
    answered = 0
    for queries, filters, keep, weight in cases:
        boost = {"pay": weight} if weight else None
        for k in (1, 10, 50):
            with counting_prunes() as calls:
                result = index.search(queries, k, filter=filters, boost=boost)
            answered += sum(calls)
            expected = brute_force_ids(vectors, ids, live, queries, k, np.stack(keep), weight * pay.astype(np.float64))
            assert result.ids.numpy().tolist() == expected.tolist(), (filters, k)
            same_as_plain_scan(index, queries, k, filter=filters, boost=boost)
    assert answered >= 10  # the pre-scan answered most of these searches
