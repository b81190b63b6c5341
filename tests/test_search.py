"""Search semantics on random float data: filters, boosts, metrics, dtypes and the two scan strategies."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch import topk, torch_scan

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# (dtype, absolute score tolerance against a float64 reference on unit-scale data)
DTYPE_TOLERANCES = [(torch.float32, 1e-4), (torch.float16, 2e-2), (torch.bfloat16, 1e-1)]


def random_index(n=3000, dim=16, *, seed=0, device="cpu", dtype=torch.float32, metric="ip", partition_by=None):
    generator = np.random.default_rng(seed)
    vectors = generator.standard_normal((n, dim)).astype(np.float32)
    ids = generator.permutation(10 * n)[:n]
    attributes = {"city": generator.integers(0, 20, n), "pay": generator.random(n).astype(np.float32),
                  "remote": generator.random(n) < 0.3,
                  "geo": [list(generator.integers(0, 50, generator.integers(0, 4))) for _ in range(n)]}
    index = fs.Index(dim, metric=metric, dtype=dtype, device=device, partition_size=512, partition_by=partition_by,
                     attributes={"city": "int", "pay": "float", "remote": "bool", "geo": "tags"})
    index.add(ids, vectors, attributes)
    return index, ids, vectors, attributes


def brute_force(vectors, ids, queries, k, keep=None, bias=None, metric="ip"):
    vectors64, queries64 = vectors.astype(np.float64), queries.astype(np.float64)
    if metric == "cosine":
        vectors64 = vectors64 / np.linalg.norm(vectors64, axis=1, keepdims=True)
        queries64 = queries64 / np.linalg.norm(queries64, axis=1, keepdims=True)
    if metric == "l2":
        scores = -((queries64[:, None, :] - vectors64[None]) ** 2).sum(-1)
    else:
        scores = queries64 @ vectors64.T
    if bias is not None:
        scores = scores + bias
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    order = np.lexsort((np.broadcast_to(ids, scores.shape), -scores), axis=1)[:, :k]
    best = np.take_along_axis(scores, order, 1)
    out_ids = np.where(np.isfinite(best), ids[order], -1)
    return (-best if metric == "l2" else best), out_ids


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
@pytest.mark.parametrize("dtype, tolerance", DTYPE_TOLERANCES)
def test_matches_brute_force_per_metric_and_dtype(device, metric, dtype, tolerance):
    index, ids, vectors, _ = random_index(device=device, dtype=dtype, metric=metric, seed=3)
    stored = index.get(ids).vectors.float().cpu().numpy()  # compare against the rounded stored vectors
    if metric == "cosine":
        stored = vectors  # the reference normalises itself
    queries = np.random.default_rng(9).standard_normal((7, 16)).astype(np.float32)
    result = index.search(queries, 10)
    expected_scores, expected_ids = brute_force(stored, ids, queries, 10, metric=metric)
    np.testing.assert_allclose(result.scores.cpu().numpy(), expected_scores, atol=tolerance * (8 if metric == "l2" else 1))
    if dtype == torch.float32:
        assert result.ids.cpu().numpy().tolist() == expected_ids.tolist()
    else:  # rounding may swap near-equal neighbours: compare the scores of what was returned
        assert (result.ids >= 0).all()


def test_filtered_search_equals_search_on_index_of_passing_rows():
    index, ids, vectors, attributes = random_index(seed=1)
    expr = (fs.col("city").isin([1, 2, 3]) | (fs.col("pay") > 0.9)) & ~(fs.col("remote") == True)
    keep = (np.isin(attributes["city"], [1, 2, 3]) | (attributes["pay"] > 0.9)) & ~attributes["remote"]
    small = fs.Index(16, attributes={"city": "int", "pay": "float", "remote": "bool", "geo": "tags"})
    small.add(ids[keep], vectors[keep], {name: [v for v, k in zip(col, keep) if k] for name, col in attributes.items()})
    queries = np.random.default_rng(2).standard_normal((5, 16)).astype(np.float32)
    for boost in (None, {"pay": 3.0, "city": -0.1}):
        full = index.search(queries, 25, filter=expr, boost=boost)
        sub = small.search(queries, 25, boost=boost)
        assert torch.equal(full.ids, sub.ids)
        torch.testing.assert_close(full.scores, sub.scores)


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.3, 0.6, 1.0])
def test_gather_and_scan_strategies_agree(monkeypatch, fraction):
    index, ids, vectors, attributes = random_index(n=4000, seed=4)
    queries = np.random.default_rng(5).standard_normal((6, 16)).astype(np.float32)
    expr = fs.col("pay") < fraction
    keep = attributes["pay"] < fraction
    results = []
    for threshold in (0.0, 1.0):  # force the scan, then force the gather
        monkeypatch.setattr(torch_scan, "GATHER_MAX_FRACTION", threshold)
        results.append(index.search(queries, 40, filter=expr, boost={"pay": 0.5}))
    expected_scores, expected_ids = brute_force(vectors, ids, queries, 40, keep=keep, bias=0.5 * attributes["pay"])
    for result in results:
        assert result.ids.numpy().tolist() == expected_ids.tolist()
        np.testing.assert_allclose(result.scores.numpy(), expected_scores, atol=1e-4)


def test_per_query_filters_equal_separate_searches():
    index, *_ = random_index(seed=6)
    queries = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    filters = [fs.col("city") == 3, None, {"geo": {"in": [7, 8]}}, fs.col("pay") >= 0.5]
    batch = index.search(queries, 12, filter=filters)
    for row, expr in enumerate(filters):
        alone = index.search(queries[row], 12, filter=expr)
        assert torch.equal(batch.ids[row], alone.ids[0])


@pytest.mark.parametrize("base", [fs.col("city") == 3, fs.col("pay") >= 0.3, fs.col("geo").isin([7, 8]) & ~(fs.col("city") == 1)])
@pytest.mark.parametrize("same_query", [True, False])
def test_plan_and_preference_filters_equal_separate_searches(monkeypatch, base, same_query):
    """Filters sharing clauses (planned once: postings or, when loose, a mask) give each query
    exactly its own search, with the scan gathering rows or scanning ranges."""
    index, ids, vectors, attributes = random_index(seed=7)
    queries = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    queries = queries[:1].expand(3, -1).contiguous() if same_query else queries
    filters = [base, base & (fs.col("remote") == False), base & (fs.col("geo") == 9)]
    for threshold in (0.0, 0.4, 1.0):
        monkeypatch.setattr(torch_scan, "GATHER_MAX_FRACTION", threshold)
        batch = index.search(queries, 15, filter=filters, boost={"pay": 0.5})
        for row, expr in enumerate(filters):
            alone = index.search(queries[row], 15, filter=expr, boost={"pay": 0.5})
            assert torch.equal(batch.ids[row], alone.ids[0]), (threshold, row)
            torch.testing.assert_close(batch.scores[row], alone.scores[0], atol=1e-5, rtol=1e-5)


def test_partition_by_filter_skips_other_partitions_and_stays_exact():
    index, ids, vectors, attributes = random_index(seed=7, partition_by="city")
    queries = np.random.default_rng(8).standard_normal((3, 16)).astype(np.float32)
    result = index.search(queries, 15, filter=fs.col("city") == 4)
    _, expected_ids = brute_force(vectors, ids, queries, 15, keep=attributes["city"] == 4)
    assert result.ids.numpy().tolist() == expected_ids.tolist()
    request = index._scan_request(torch.from_numpy(queries), 16, fs.col("city") == 4, {})
    scanned = int((request.ranges[:, 1] - request.ranges[:, 0]).sum())
    assert scanned <= 512 * 2 and scanned < len(index) / 5  # only city 4's blocks are listed


def test_tags_and_null_semantics():
    index = fs.Index(2, attributes={"geo": "tags", "pay": "float"})
    index.add([1, 2, 3, 4], torch.ones(4, 2), {"geo": [[1, 2], [2], [], None], "pay": [1.0, None, 3.0, None]})
    ids = lambda expr: sorted(i for i in index.search(torch.ones(2), 10, filter=expr).ids[0].tolist() if i >= 0)
    assert ids(fs.col("geo") == 2) == [1, 2]
    assert ids(fs.col("geo") != 2) == []  # rows 3 and 4 have no tags: null matches nothing
    assert ids(fs.col("geo") != 1) == [2]
    assert ids(~(fs.col("geo") == 1)) == [2, 3, 4]
    assert ids(fs.col("pay") != 1.0) == [3]
    assert ids(~(fs.col("pay") >= 2.0)) == [1, 2, 4]
    assert ids(fs.col("geo").isin([1, 9])) == [1]


def test_ids_with_a_filter_are_the_rows_a_search_can_return():
    rng = np.random.default_rng(7)
    index = fs.Index(4, attributes={"city": "int", "pay": "float", "geo": "tags"}, partition_by="city")
    ids = rng.choice(10**6, size=300, replace=False)
    pay = rng.uniform(0, 100, 300)
    pay[::7] = np.nan  # nulls never match
    index.add(ids, rng.normal(size=(300, 4)).astype(np.float32),
              {"city": rng.integers(0, 4, 300), "pay": pay, "geo": [list(rng.integers(0, 6, 2)) for _ in range(300)]})
    index.delete(ids[:40])
    for expr in (fs.col("pay") > 50, (fs.col("city") == 2) | (fs.col("geo") == 3), ~(fs.col("pay") <= 30), fs.col("city").isin([])):
        expected = np.sort(index.search(np.zeros(4, np.float32), len(index), filter=expr).ids[0].numpy())
        expected = expected[expected >= 0]
        got = index.ids(filter=expr)
        assert got.dtype == torch.int64 and got.tolist() == expected.tolist()
        assert index.ids(filter=expr.to_dict()).tolist() == expected.tolist()
    live = np.sort(ids[40:])
    assert index.ids().tolist() == live.tolist()
    assert index.ids(filter=fs.col("pay") > 50).tolist() == live[np.isin(live, ids[(pay > 50)])].tolist()


def test_time_attributes_accept_datetimes():
    index = fs.Index(2, attributes={"posted": "time"})
    day = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    index.add([1, 2], torch.ones(2, 2), {"posted": [day, day + dt.timedelta(days=3)]})
    since = fs.col("posted") >= day + dt.timedelta(days=1)
    assert index.search(torch.ones(2), 5, filter=since).ids[0, :2].tolist() == [2, -1]
    assert index.get([1]).attributes["posted"] == [int(day.timestamp())]


def test_dict_filter_round_trip_matches_expression():
    expr = (fs.col("city").isin([1, 2]) & (fs.col("pay") >= 0.25)) | ~(fs.col("remote") == False)
    data = expr.to_dict()
    assert data == {"or": [{"and": [{"city": {"in": [1, 2]}}, {"pay": {"gte": 0.25}}]}, {"not": {"remote": {"eq": False}}}]}
    assert fs.Filter.from_dict(data).to_dict() == data
    index, *_ = random_index(seed=10)
    queries = torch.randn(2, 16)
    assert torch.equal(index.search(queries, 20, filter=expr).ids, index.search(queries, 20, filter=data).ids)


def test_ties_are_broken_by_lower_id_across_the_kth_place():
    index = fs.Index(2, partition_size=32)
    ids = np.array([50, 7, 90, 3, 20, 61, 8])
    index.add(ids, np.ones((7, 2), dtype=np.float32))
    assert index.search(np.ones(2), 3).ids.tolist() == [[3, 7, 8]]
    index.delete([3])
    assert index.search(np.ones(2), 3).ids.tolist() == [[7, 8, 20]]


def _reference_best_k(scores, k, keys, valid, lower_is_better):
    out_scores, out_keys = [], []
    for row in range(scores.shape[0]):
        entries = [(float(scores[row, j]), int(keys[row, j])) for j in range(scores.shape[1]) if valid[row, j]]
        entries.sort(key=lambda e: (e[0] if lower_is_better else -e[0], e[1]))
        entries = entries[:k] + [(float("inf") if lower_is_better else float("-inf"), -1)] * (k - len(entries[:k]))
        out_scores.append([e[0] for e in entries])
        out_keys.append([e[1] for e in entries])
    return out_scores, out_keys


@pytest.mark.parametrize("with_keys", [False, True])
@pytest.mark.parametrize("lower_is_better", [False, True])
def test_best_k_matches_a_sort_by_validity_score_and_key(with_keys, lower_is_better):
    generator = torch.Generator().manual_seed(0)
    for n in (1, 3, 12, 50):
        scores = torch.randint(0, 4, (30, n), generator=generator).float()
        scores[torch.rand(30, n, generator=generator) < 0.2] = float("-inf")  # real rows may score -inf
        scores[torch.rand(30, n, generator=generator) < 0.1] = float("inf")
        valid = torch.rand(30, n, generator=generator) < 0.7
        keys = torch.randperm(30 * n, generator=generator).reshape(30, n) if with_keys else \
            torch.arange(n).expand(30, n)
        for k in (1, 2, 5, n, n + 3):
            for mask in (valid, None):
                got = topk.best_k(scores, k, keys=keys if with_keys else None, valid=mask, lower_is_better=lower_is_better)
                expected = _reference_best_k(scores, k, keys, torch.ones_like(valid) if mask is None else mask,
                                             lower_is_better)
                assert got[1].tolist() == expected[1], (n, k, mask is None)
                assert got[0].tolist() == expected[0]


def test_best_k_puts_nan_first_as_topk_does_whatever_the_other_rows_hold():
    nan = float("nan")
    scores = torch.tensor([[0.5, nan, 0.1, 0.9, 0.2, 0.3],  # NaN, no tie
                           [1.0, 1.0, 0.5, 0.2, 0.0, -1.0],  # a tie among the k
                           [0.4, nan, 0.4, 0.9, 0.2, 0.3],  # NaN and a tie at the k-th place
                           [0.7, nan, 0.7, 0.7, 0.2, 0.9]])  # NaN and a tie among the k
    expected = [[1, 3, 0], [0, 1, 2], [1, 3, 0], [1, 5, 0]]
    for valid in (None, torch.ones(4, 6, dtype=torch.bool)):
        values, columns = topk.best_k(scores, 3, valid=valid)
        assert columns.tolist() == expected
        torch.testing.assert_close(values, scores.gather(1, columns), rtol=0, atol=0, equal_nan=True)
        for row in range(4):  # each row as it is alone
            alone = topk.best_k(scores[row:row + 1], 3, valid=None if valid is None else valid[row:row + 1])
            assert alone[1].tolist() == [expected[row]], row


def test_a_real_row_scoring_minus_inf_is_returned_not_dropped_as_padding():
    # The Index now refuses boost terms that overflow (test_values_and_limits), so a -inf score is
    # built at the scan contract directly: padding must still be told by the slot, not the score.
    from flatsearch.bitmask import pack_bits
    from flatsearch.scan import ScanRequest
    from flatsearch.torch_scan import torch_scan

    vectors = torch.eye(2).repeat(32, 1)  # 64 slots, one block of passing rows
    keep = torch.zeros(64, dtype=torch.bool)
    keep[[0, 1]] = True
    bias = torch.zeros(64)
    bias[0] = float("-inf")
    for passing_slots in (None, torch.tensor([0, 1])):
        request = ScanRequest(queries=torch.tensor([[1.0, 0.0]]), k=3, arenas=(vectors,), arena_starts=(0,),
                              ranges=torch.tensor([[0, 64]]), mask_words=pack_bits(keep), bias=bias, score_scale=1.0,
                              keep=keep, passing_slots=passing_slots)
        found = torch_scan(request)
        assert found.slots.tolist() == [[1, 0, -1]], passing_slots
        assert found.scores[0, 1].item() == float("-inf")
    merged = fs.merge_results([fs.SearchResult(torch.tensor([[float("-inf"), float("-inf")]]), torch.tensor([[5, -1]]))], 2)
    assert merged.ids.tolist() == [[5, -1]]


def test_large_products_take_the_thread_choice_measured_faster_and_retry_the_other():
    timings, key = torch_scan._Timings(), (False, 30)
    first = []
    for _ in range(2 * timings.FIRST_RUNS):  # both choices timed alternately, the caller's threads first
        first.append(timings.use_threads(key))
        timings.record(key, first[-1], 3e-11 if first[-1] else 1e-11)
    assert first == [True, False] * timings.FIRST_RUNS
    # One thread is 3x faster: the caller's threads again once every 3 * RETRY_EVERY products.
    choices = [timings.use_threads(key) for _ in range(6 * torch_scan.RETRY_EVERY)]
    assert sum(choices) == 2 and choices[3 * torch_scan.RETRY_EVERY - 1], choices
    timings.record(key, False, 1e-8)  # one stall does not move the median
    assert timings.use_threads(key) is False
    for _ in range(3):
        timings.record(key, False, 9e-11)  # one thread became slower (another process took the core)
    assert timings.use_threads(key) is True


def _fake_load(readings, times):
    readings, times = iter(readings), iter(times)
    return torch_scan._OtherLoad(lambda: next(readings), cores=2, clock=lambda: next(times))


def test_other_processes_cpu_use_is_the_machines_busy_time_less_this_processes():
    # (machine busy s, own CPU s) at 0, 0.05 (inside the window: no reading), 0.2 and 0.5 s.
    load = _fake_load([(100.0, 5.0), (100.3, 5.2), (100.9, 5.26)], [0.0, 0.05, 0.2, 0.5])
    assert load.busy_cores() is None  # one reading: no window yet
    assert load.busy_cores() is None  # 0.05 s later: not read again
    assert load.busy_cores() == pytest.approx(0.5)  # (0.3 - 0.2) / 0.2
    assert load.busy_cores() == pytest.approx((0.6 - 0.06) / 0.3)
    assert torch_scan._OtherLoad().busy_cores() is None  # nothing to read: the timed choice decides


def test_a_failed_reading_is_given_up_only_after_several_in_a_row():
    calls = []

    def sample():
        calls.append(None)
        if len(calls) in (1, 2, 4, 5, 6):  # two failures, one reading, then three failures
            raise OSError(24, "Too many open files")
        return (1.0, 0.5)

    times = iter(0.2 * step for step in range(10))
    load = torch_scan._OtherLoad(sample, cores=2, clock=lambda: next(times))
    assert [load.busy_cores() for _ in range(2)] == [None, None]
    assert load._sample is not None  # two transient failures: still read
    load.busy_cores()
    assert [load.busy_cores() for _ in range(3)] == [None, None, None]
    assert load._sample is None and load.busy_cores() is None and len(calls) == 6


def test_a_reading_given_up_by_another_thread_meanwhile_is_not_called():
    # The clock runs between the check and the call: another thread giving the reading up there
    # (setting it to None) must not make this one call None.
    load = torch_scan._OtherLoad(lambda: (1.0, 0.5), cores=2)
    times = iter([0.0, 0.2])

    def clock():
        load._sample = None
        return next(times)

    load._clock = clock
    assert load.busy_cores() is None  # the first reading, taken with the sample it saw
    assert load._last is not None and load.busy_cores() is None


_FAKE_PROC_STAT = """\
cpu  1000 1000 1000 1000 1000 1000 1000 1000 0 0
cpu0 10 20 30 400 500 60 70 80 0 0
cpu1 1 2 3 4000 5000 6 7 8 0 0
cpu2 100 200 300 40 50 600 700 800 9 9
intr 12345 1 2 3
ctxt 999
"""


def test_proc_stat_busy_ticks_are_the_allowed_cpus_less_idle_and_iowait(tmp_path, monkeypatch):
    # user nice system idle iowait irq softirq steal (guest, guest_nice: already inside user and nice).
    stat = tmp_path / "stat"
    stat.write_text(_FAKE_PROC_STAT)
    monkeypatch.setattr(torch_scan, "_CLOCK_TICKS", 100.0)
    ticks = {0: 10 + 20 + 30 + 60 + 70 + 80, 1: 1 + 2 + 3 + 6 + 7 + 8, 2: 100 + 200 + 300 + 600 + 700 + 800}
    for cpus in ({0}, {1}, {2}, {0, 2}, {0, 1, 2}):
        busy, own = torch_scan._proc_stat_sample(frozenset(cpus), str(stat))
        assert busy == pytest.approx(sum(ticks[cpu] for cpu in cpus) / 100.0), cpus
        assert own == pytest.approx(time.process_time(), abs=0.5)
    # A second differently shaped file: an idle CPU reads no busy time, an all-busy one all of it.
    stat.write_text("cpu  5 0 5 900 0 0 0 0\ncpu0 0 0 0 900 0 0 0 0\ncpu1 5 0 5 0 0 0 0 0\n")
    assert torch_scan._proc_stat_sample(frozenset({0}), str(stat))[0] == 0.0
    assert torch_scan._proc_stat_sample(frozenset({1}), str(stat))[0] == pytest.approx(0.1)


def test_proc_stat_reading_of_one_cpu_is_within_the_machines_and_the_elapsed_time():
    load = torch_scan._system_load()
    if load.cores is None:
        pytest.skip("no /proc/stat covering this process's CPUs")
    cpus = frozenset(os.sched_getaffinity(0))
    tick = 1.0 / torch_scan._CLOCK_TICKS
    first = torch_scan._proc_stat_sample(frozenset({min(cpus)}))[0]
    whole = torch_scan._proc_stat_sample(cpus)[0]
    assert first <= whole + tick * len(cpus)  # one CPU's busy time is part of all of theirs
    before, started = whole, time.monotonic()
    time.sleep(0.2)
    after, elapsed = torch_scan._proc_stat_sample(cpus)[0], time.monotonic() - started
    # No more busy time than these CPUs had: summing CPUs this process may not use exceeds it wherever it
    # may use fewer than the machine has (idle time counted as busy is caught by the fixed text above).
    assert 0.0 <= after - before <= len(cpus) * elapsed + 2 * tick * len(cpus)


def test_proc_stat_reading_counts_this_processes_own_work():
    load = torch_scan._system_load()
    if load.cores is None:
        pytest.skip("no /proc/stat covering this process's CPUs")
    cpus = frozenset(os.sched_getaffinity(0))
    machine, own = torch_scan._proc_stat_sample(cpus)
    started = time.process_time()
    while time.process_time() - started < 0.3:  # one core busy in this process
        pass
    machine_after, own_after = torch_scan._proc_stat_sample(cpus)
    assert own_after - own >= 0.3
    # The machine counted at least most of this process's work (its ticks sample it, 10 ms each).
    assert machine_after - machine >= 0.2


def test_searches_in_this_process_are_counted_while_they_run():
    import threading

    if not torch_scan._openmp():
        pytest.skip("the count is kept where OpenMP threads are set per thread")
    inside, release = threading.Event(), threading.Event()
    counts = []

    def search():
        with torch_scan.one_thread(torch.device("cpu")):
            with torch_scan.one_thread(torch.device("cpu")):  # nested: counted once
                inside.set()
                release.wait(10)

    worker = threading.Thread(target=search)
    worker.start()
    assert inside.wait(10)
    with torch_scan.one_thread(torch.device("cpu")):
        counts.append(len(torch_scan._SEARCHING))
    release.set()
    worker.join(10)
    counts.append(len(torch_scan._SEARCHING))
    assert counts == [2, 0]


def test_a_search_that_raises_ends_its_count_and_restores_the_thread_count():
    if not torch_scan._openmp():
        pytest.skip("the count is kept where OpenMP threads are set per thread")
    before, running = torch.get_num_threads(), len(torch_scan._SEARCHING)
    with pytest.raises(RuntimeError):
        with torch_scan.one_thread(torch.device("cpu")):
            assert len(torch_scan._SEARCHING) == running + 1 and torch.get_num_threads() == 1
            with torch_scan._parallel(torch_scan.ALWAYS_PARALLEL_MACS, 64):
                torch.mm(torch.ones(3, 4), torch.ones(5, 4))  # shapes that do not multiply: raises
    assert len(torch_scan._SEARCHING) == running and torch.get_num_threads() == before
    assert not torch_scan._THREADS.searching and not torch_scan._THREADS.parallel and torch_scan._THREADS.caller == 0


def _forked_child_count(queue):
    last = torch_scan._OTHERS._last  # the child's own CPU time starts at 0: a baseline of the parent's exceeds it
    fresh = (last is None or last[2] <= time.process_time()) and torch_scan._OTHERS._busy is None  # no window yet
    queue.put((len(torch_scan._SEARCHING), fresh))


def test_a_forked_child_sees_no_search_of_the_parents_other_threads():
    import multiprocessing
    import threading

    if not torch_scan._openmp():
        pytest.skip("the count is kept where OpenMP threads are set per thread")
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        pytest.skip("no fork here")
    inside, release = threading.Event(), threading.Event()

    def search():
        with torch_scan.one_thread(torch.device("cpu")):
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=search)
    worker.start()
    try:
        assert inside.wait(10) and len(torch_scan._SEARCHING) == 1
        torch_scan._OTHERS.busy_cores()
        time.sleep(1.5 * torch_scan.LOAD_WINDOW_S)
        torch_scan._OTHERS.busy_cores()  # the parent has a window (where /proc/stat is read): the child must not
        results = []
        for in_search in (False, True):  # forked from outside a search, then from inside one
            queue = context.Queue()
            with contextlib.ExitStack() as stack:
                if in_search:
                    stack.enter_context(torch_scan.one_thread(torch.device("cpu")))
                child = context.Process(target=_forked_child_count, args=(queue,))
                child.start()
                results.append(queue.get(timeout=60))
                child.join(60)
            assert child.exitcode == 0
    finally:
        release.set()
        worker.join(10)
    # The parent's worker thread is not in the child; the forking thread's own search is; the child's
    # reading starts anew (one reading taken in the child, no window from the parent's baseline).
    assert [count for count, _ in results] == [0, 1]
    assert all(fresh for _, fresh in results)
    assert len(torch_scan._SEARCHING) == 0


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "200000 100000\n"}, 2.0),
    ({"cpu.max": "50000 100000\n"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.5),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu.max": "garbled\n"}, None),
    ({}, None),
])
def test_cfs_quota_is_read_from_cgroup_v2_or_v1(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert torch_scan._cpu_quota(str(tmp_path)) == expected


def test_a_cfs_quota_caps_the_free_cores(monkeypatch):
    key = (False, 26)
    monkeypatch.setattr(torch_scan, "_SEARCHING", [])
    for quota, expected in ((None, True), (2.0, True), (1.0, False), (1.5, True)):
        # An idle host of 2 CPUs; a quota of one core leaves one thread, 1.5 cores is within the margin.
        monkeypatch.setattr(torch_scan, "_OTHERS", _fake_load([(0.0, 0.0), (0.2, 0.2)], [0.0, 0.2]))
        torch_scan._OTHERS.quota = quota
        torch_scan._OTHERS.busy_cores()
        assert torch_scan._use_threads(2, key) is expected, quota


def test_large_products_take_the_callers_threads_only_when_other_processes_leave_the_cores_free(monkeypatch):
    key = (False, 26)
    # Readings 0.2 s apart: others busy 0.1 core, then 1.2 cores, then 0.4.
    monkeypatch.setattr(torch_scan, "_OTHERS", _fake_load(
        [(0.0, 0.0), (0.22, 0.2), (0.66, 0.4), (0.94, 0.6)], [0.0, 0.2, 0.4, 0.6]))
    monkeypatch.setattr(torch_scan, "_TIMINGS", torch_scan._Timings())
    assert torch_scan._use_threads(2, key) is True  # no window yet: the timed choice (threads first)
    assert torch_scan._use_threads(2, key) is True  # 1.9 cores free for 2 threads
    assert torch_scan._use_threads(2, key) is False  # 0.8 free: one thread
    assert torch_scan._use_threads(2, key) is True  # 1.6 free: within the margin
    # An oversubscribed caller (8 threads on 2 cores) needs both cores free, not 8.
    monkeypatch.setattr(torch_scan, "_OTHERS", _fake_load([(0.0, 0.0), (0.2, 0.2)], [0.0, 0.2]))
    torch_scan._use_threads(8, key)
    assert torch_scan._use_threads(8, key) is True
    # Another search running in this process holds a core of its own (its CPU time is this process's).
    monkeypatch.setattr(torch_scan, "_OTHERS", _fake_load([(0.0, 0.0), (0.2, 0.2)], [0.0, 0.2, 0.25]))
    torch_scan._OTHERS.busy_cores()
    monkeypatch.setattr(torch_scan, "_SEARCHING", [None, None])
    assert torch_scan._use_threads(2, key) is False
    monkeypatch.setattr(torch_scan, "_SEARCHING", [None])
    assert torch_scan._use_threads(2, key) is True
    monkeypatch.setattr(torch_scan, "_SEARCHING", [])  # no search running: one_thread() below is the only one
    if torch_scan._openmp() and torch.get_num_threads() > 1:  # the choice reaches the product's thread count
        caller = torch.get_num_threads()
        for busy, expected in ((0.0, caller), (1.0, 1)):
            monkeypatch.setattr(torch_scan, "_OTHERS", _fake_load([(0.0, 0.0), (0.2 * busy + 0.2, 0.2)], [0.0, 0.2]))
            torch_scan._OTHERS.busy_cores()
            with torch_scan.one_thread(torch.device("cpu")):
                with torch_scan._parallel(torch_scan.PARALLEL_MIN_MACS, 64):
                    inside = torch.get_num_threads()
            assert inside == expected, busy


@pytest.mark.parametrize("nq", [1, 5, 7, 9, 11, 12, 64])
def test_scan_scores_do_not_depend_on_the_thread_count(nq):
    # The thread choice of a large product follows measured timings, so the bits of a score must
    # not depend on it (MKL sums some small row counts differently on one thread and on two).
    generator = np.random.default_rng(nq)
    vectors = torch.from_numpy(generator.standard_normal((20_000, 384)).astype(np.float32))
    queries = torch.from_numpy(generator.standard_normal((nq, 384)).astype(np.float32))
    request = fs.scan.ScanRequest(queries=queries, k=20, arenas=(vectors,), arena_starts=(0,),
                                  ranges=torch.tensor([[0, 20_000]]), mask_words=torch.full((625,), -1, dtype=torch.int32),
                                  bias=torch.from_numpy(generator.random(20_000).astype(np.float32)), score_scale=1.0,
                                  dense=True)
    before = torch.get_num_threads()
    found = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            found.append(torch_scan.torch_scan(request))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(found[0].scores, found[1].scores) and torch.equal(found[0].slots, found[1].slots)


def test_scan_request_builds_deferred_values_once_on_first_read():
    from flatsearch.scan import Deferred, ScanRequest

    built = []

    def words():
        built.append(1)
        return torch.tensor([[3], [1]], dtype=torch.int32)

    request = ScanRequest(queries=torch.ones(2, 2), k=1, arenas=(torch.eye(2),), arena_starts=(0,),
                          ranges=torch.tensor([[0, 2]]), mask_words=Deferred(words, dim=2), bias=None, score_scale=1.0)
    copy = request.replace(k=2)
    assert request.per_query_mask and copy.per_query_mask and not built
    assert request.mask_words.tolist() == [[3], [1]] and copy.mask_words.tolist() == [[3], [1]]
    assert built == [1] and request.is_computed("mask_words")


def test_a_request_for_some_of_its_queries_picks_their_rows_and_leaves_shared_fields():
    from flatsearch.scan import Deferred, ScanRequest

    built = []

    def words():
        built.append(1)
        return torch.tensor([[1], [2], [4]], dtype=torch.int32)

    keep = torch.tensor([[True, False, False], [False, True, False], [False, False, True]])
    request = ScanRequest(queries=torch.arange(6.0).reshape(3, 2), k=1, arenas=(torch.eye(3, 2),), arena_starts=(0,),
                          ranges=torch.tensor([[0, 3]]), mask_words=Deferred(words, dim=2), bias=torch.ones(3),
                          score_scale=1.0, keep=keep, candidate_slots=torch.tensor([0, 1, 2]), candidate_keep=keep,
                          memo={"padded": None})
    part = request.for_queries(torch.tensor([2, 0]))
    assert part.per_query_mask and not built  # the words stay unbuilt until read
    assert part.queries.tolist() == [[4.0, 5.0], [0.0, 1.0]] and part.memo is None
    assert torch.equal(part.keep, keep[[2, 0]]) and torch.equal(part.candidate_keep, keep[[2, 0]])
    assert part.bias is request.bias and part.candidate_slots is request.candidate_slots
    assert part.mask_words.tolist() == [[4], [1]] and built == [1]
    # The picked queries scan as they do in the whole request.
    assert torch.equal(torch_scan.torch_scan(part).slots, torch_scan.torch_scan(request).slots[[2, 0]])
    shared = request.replace(mask_words=torch.tensor([7], dtype=torch.int32), keep=None, candidate_keep=None)
    assert shared.for_queries([1]).mask_words is shared.mask_words
    with pytest.raises(ValueError, match="rows"):
        request.for_queries([3])
    with pytest.raises(TypeError, match="rows"):
        request.for_queries([[0]])
    with pytest.raises(TypeError, match="rows"):
        request.for_queries([0.5])


@pytest.mark.parametrize("device", ["cpu", "meta"])  # meta stands in for a GPU: its values cannot be read
def test_a_request_for_some_of_its_queries_checks_positions_given_on_the_host(device):
    from flatsearch.scan import ScanRequest

    request = ScanRequest(queries=torch.zeros(3, 2, device=device), k=1, arenas=(torch.zeros(3, 2, device=device),),
                          arena_starts=(0,), ranges=torch.tensor([[0, 3]]),
                          mask_words=torch.zeros(3, 1, dtype=torch.int32, device=device), bias=None, score_scale=1.0)
    for rows in ([3], [-1], torch.tensor([3]), [2**63], [1, -2**63 - 1], np.array([2**63], dtype=np.uint64)):
        with pytest.raises(ValueError, match="rows"):
            request.for_queries(rows)
    for rows in ([2, 0], torch.tensor([2, 0]), np.array([2, 0])):
        part = request.for_queries(rows)
        assert part.queries.device.type == device and part.queries.shape == (2, 2) and part.mask_words.shape == (2, 1)
    with pytest.raises(TypeError, match="rows"):
        request.for_queries([[0]])
    if device == "meta":  # positions already on the device are taken as they are, not read back
        assert request.for_queries(torch.tensor([5], device=device)).queries.shape == (1, 2)


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("nq", [4, 8, 16, 64])
def test_a_gather_of_eight_rows_scores_as_a_span_scan_of_them(monkeypatch, nq, with_bias):
    # See MIN_PRODUCT_ROWS: a product of 8 columns has other bits than the same columns inside a wider one.
    from flatsearch.bitmask import pack_bits
    from flatsearch.scan import ScanRequest

    generator = torch.Generator().manual_seed(nq)
    vectors, queries = torch.randn(64, 384, generator=generator), torch.randn(nq, 384, generator=generator)
    slots = torch.sort(torch.randperm(64, generator=generator)[:8]).values
    passing = torch.zeros(64, dtype=torch.bool)
    passing[slots] = True
    bias = torch.randn(64, generator=generator) if with_bias else None
    found = []
    with torch_scan.one_thread(torch.device("cpu")):
        for threshold, fields in ((1.0, dict(passing_slots=slots)), (0.0, {})):  # the gather, then the span scan
            monkeypatch.setattr(torch_scan, "GATHER_MAX_FRACTION", threshold)
            request = ScanRequest(queries=queries, k=8, arenas=(vectors,), arena_starts=(0,),
                                  ranges=torch.tensor([[0, 64]]), mask_words=pack_bits(passing), bias=bias,
                                  score_scale=1.0, **fields)
            found.append(torch_scan.torch_scan(request))
    assert sorted(found[0].slots[0].tolist()) == slots.tolist()
    assert torch.equal(found[0].slots, found[1].slots) and torch.equal(found[0].scores, found[1].scores)


@pytest.mark.parametrize("filtered", [False, True])
def test_a_batch_whose_first_two_queries_are_equal_searches_the_third_as_itself(filtered):
    # One product serves a batch only when every query is the same, not just the first two.
    index, *_ = random_index(seed=8)
    first, third = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    queries = torch.stack([first, first, third])
    expr = fs.col("pay") < 0.3 if filtered else None
    batch = index.search(queries, 10, filter=expr)
    for row, query in enumerate((first, first, third)):
        alone = index.search(query, 10, filter=expr)
        assert torch.equal(batch.ids[row], alone.ids[0]), row
        torch.testing.assert_close(batch.scores[row], alone.scores[0])  # the bits may follow the batch's size


def test_upsert_replaces_vectors_and_keeps_unspecified_attributes():
    index, ids, vectors, attributes = random_index(n=200, seed=11)
    target = int(ids[5])
    index.upsert([target], 10 * np.ones((1, 16), dtype=np.float32))
    assert index.search(np.ones(16), 1).ids.tolist() == [[target]]
    assert index.get([target]).attributes["city"] == [int(attributes["city"][5])]
    assert len(index) == 200


def test_stats_and_compact_reuse_and_release_slots():
    index, ids, *_ = random_index(n=1000, seed=12)
    before = index.stats()
    index.delete(ids[:900])
    assert index.stats()["deleted"] == 900 and index.stats()["live"] == 100
    index.add(np.arange(10**6, 10**6 + 300), np.ones((300, 16), dtype=np.float32))
    assert index.stats()["rows"] == before["rows"]  # freed slots were reused
    index.compact()
    stats = index.stats()
    assert stats["deleted"] == 0 and stats["live"] == 400 and stats["bytes"] < before["bytes"]


def test_merge_results_equals_one_index():
    index, ids, vectors, attributes = random_index(n=900, seed=13)
    parts = [fs.Index(16, metric="ip") for _ in range(3)]
    for shard, part in enumerate(parts):
        mask = ids % 3 == shard
        part.add(ids[mask], vectors[mask])
    queries = torch.randn(5, 16)
    merged = fs.merge_results([part.search(queries, 30) for part in parts], 30)
    whole = index.search(queries, 30)
    assert torch.equal(merged.ids, whole.ids)
    torch.testing.assert_close(merged.scores, whole.scores)


def test_to_returns_an_independent_copy():
    index, ids, *_ = random_index(n=100, seed=14)
    copy = index.to("cpu")
    copy.delete(ids[:10])
    assert len(index) == 100 and len(copy) == 90


def test_checked_dict_filters_are_cached_by_content_and_limits_and_failures_are_not():
    index, ids, vectors, attributes = random_index(n=200)
    query = vectors[:1]
    plan = {"and": [{"city": {"in": list(range(11))}}, {"pay": {"gte": 0.5}}]}
    first = index.search(query, 5, filter=plan)
    reordered = {"and": [{"city": {"in": list(range(11))}}, {"pay": {"gte": 0.5}}]}
    assert index._checks.filter(reordered) is index._checks.filter(plan)  # equal content: one cache entry
    assert torch.equal(index.search(query, 5, filter=reordered).ids, first.ids)
    previous = fs.set_limits(max_isin_values=10)
    try:
        with pytest.raises(ValueError, match="at most 10 values"):
            index.search(query, 5, filter=plan)  # the limits are part of the key
    finally:
        fs.set_limits(**vars(previous))
    for _ in range(2):  # a failure is raised again, not cached
        with pytest.raises(TypeError):
            index.search(query, 5, filter={"city": {"eq": "3"}})
    # Types are part of the key: True and 1 are different filters on an int column.
    with pytest.raises(TypeError):
        index.search(query, 5, filter={"city": {"eq": True}})
    index.search(query, 5, filter={"city": {"eq": 1}})
