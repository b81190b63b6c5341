"""The Index's plan cache (filter_plan.PlanCache): a repeated search reads its plan back, and every kind of
write (add, upsert, delete, set_attributes, compact, load) makes the next search plan again, with results
equal to a search of a freshly built index holding the same rows."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch import filter_plan

DIM = 8


def _rows(n: int, seed: int):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    attributes = {"city": rng.integers(0, 20, n).tolist(), "pay": rng.uniform(0, 100, n).astype(np.float32).tolist(),
                  "remote": (rng.random(n) < 0.5).tolist()}
    return vectors, attributes


def _index(n: int = 600, seed: int = 0, metric: str = "ip") -> fs.Index:
    index = fs.Index(DIM, metric=metric, attributes={"city": "int", "pay": "float", "remote": "bool"}, partition_size=256)
    vectors, attributes = _rows(n, seed)
    index.add(np.arange(n), vectors, attributes)
    return index


def _rebuilt(index: fs.Index) -> fs.Index:
    """A fresh index of the same live rows (no plan cached)."""
    ids = index.ids()
    rows = index.get(ids)
    fresh = fs.Index(DIM, metric=index.metric, attributes=dict(index.schema.kinds), partition_size=256)
    fresh.add(ids, rows.vectors, rows.attributes)
    return fresh


# One filter of each planning path: postings, a column scan, per-query with a common clause, per-query
# with none in common, and unfiltered (its boost is planned too).
SEARCHES = [
    dict(filter={"city": 3}),
    dict(filter={"pay": {"gte": 10.0}}),
    dict(filter=[{"city": {"in": [1, 2, 3]}}, {"and": [{"city": {"in": [1, 2, 3]}}, {"remote": True}]}]),
    dict(filter=[{"city": 4}, {"pay": {"lt": 5.0}}]),
    dict(filter=None),
]
QUERIES = np.random.default_rng(9).standard_normal((2, DIM)).astype(np.float32)


def _search(index: fs.Index, search: dict) -> fs.SearchResult:
    return index.search(QUERIES, 10, filter=search["filter"], boost={"pay": 0.01})


def _assert_same(found: fs.SearchResult, expected: fs.SearchResult, what: str) -> None:
    if not torch.equal(found.ids, expected.ids):
        raise AssertionError(f"{what}: ids {found.ids.tolist()} != expected {expected.ids.tolist()}")
    if not torch.equal(found.scores, expected.scores):
        raise AssertionError(f"{what}: scores differ, {found.scores.tolist()} != {expected.scores.tolist()}")


def test_a_repeated_search_reads_its_plan_back():
    index = _index()
    for search in SEARCHES:
        first = _search(index, search)
        hits = index._plans.hits
        _assert_same(_search(index, search), first, f"repeat of {search}")
        assert index._plans.hits == hits + 1, f"the second {search} planned again instead of reading the cache"


def test_equal_filters_built_anew_share_a_plan():
    index = _index()
    index.search(QUERIES, 5, filter=(fs.col("city") == 3) & (fs.col("pay") > 20.0))
    hits = index._plans.hits
    index.search(QUERIES, 5, filter=(fs.col("city") == 3) & (fs.col("pay") > 20.0))
    assert index._plans.hits == hits + 1
    # Same structure, other values: another plan.
    index.search(QUERIES, 5, filter=(fs.col("city") == 3) & (fs.col("pay") > 20.5))
    assert index._plans.hits == hits + 1


def _writes():
    """Each kind of write, as a function of an index built by _index()."""
    vectors, attributes = _rows(40, seed=5)
    # Rows that pass every filter above and score high for the queries: a stale plan misses them.
    best = np.tile(QUERIES[0] * 10, (40, 1)).astype(np.float32)
    passing = {"city": [3] * 40, "pay": [50.0] * 40, "remote": [True] * 40}

    def add(index):
        index.add(np.arange(1000, 1040), best, passing)

    def upsert(index):
        index.upsert(np.arange(0, 40), best, passing)

    def delete(index):
        # Delete every row the first searches found (a stale plan returns them again).
        for search in SEARCHES:
            found = _search(index, search).ids.flatten()
            index.delete(found[found >= 0])

    def set_attributes(index):
        index.set_attributes(np.arange(0, 300), {"city": [3] * 300, "pay": [99.0] * 300, "remote": [True] * 300})

    def compact(index):
        index.delete(np.arange(0, 600, 2))
        index.compact()

    def upsert_vectors_only(index):
        index.upsert(np.arange(0, 40), vectors)

    return [add, upsert, delete, set_attributes, compact, upsert_vectors_only]


# With l2 a plan holds each row's -|x|^2 in its bias: a write of vectors alone must make it stale too.
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("write", _writes(), ids=lambda write: write.__name__)
def test_every_write_makes_cached_plans_stale(write, metric):
    index = _index(metric=metric)
    for search in SEARCHES:  # plan and cache every search
        _search(index, search)
        _search(index, search)
    write(index)
    fresh = _rebuilt(index)
    for search in SEARCHES:
        _assert_same(_search(index, search), _search(fresh, search), f"{search} after {write.__name__}")


def test_a_loaded_index_plans_its_own_rows():
    index = _index()
    for search in SEARCHES:
        _search(index, search)
    path = os.path.join(tempfile.mkdtemp(), "plans.fsx")
    index.delete(np.arange(0, 100))
    index.save(path)
    loaded = fs.Index.load(path)
    fresh = _rebuilt(index)
    for search in SEARCHES:
        _assert_same(_search(loaded, search), _search(fresh, search), f"{search} after load")
        _assert_same(_search(index, search), _search(fresh, search), f"{search} of the saved index")


def test_a_boost_of_other_weights_is_another_plan():
    index = _index()
    first = index.search(QUERIES, 10, filter={"city": 3}, boost={"pay": 0.01})
    other = index.search(QUERIES, 10, filter={"city": 3}, boost={"pay": 1.0})
    fresh = _rebuilt(index)
    _assert_same(other, fresh.search(QUERIES, 10, filter={"city": 3}, boost={"pay": 1.0}), "boost 1.0")
    _assert_same(first, fresh.search(QUERIES, 10, filter={"city": 3}, boost={"pay": 0.01}), "boost 0.01")


def test_the_cache_drops_the_oldest_plans_past_its_limits():
    index = _index()
    cache = filter_plan.PlanCache(max_entries=3, max_bytes=1 << 20)
    storage = index._storage
    for key in range(5):
        cache.put(storage, key, {"slots": torch.arange(10)})
    assert len(cache) == 3 and cache.get(storage, 0) is None and cache.get(storage, 4) is not None
    cache.put(storage, "big", {"slots": torch.zeros(1 << 17, dtype=torch.int64)})  # 1 MiB: over a quarter
    assert cache.get(storage, "big") is None
    cache.put(storage, "many", {"slots": torch.zeros(1 << 15, dtype=torch.int64)})  # 256 KiB: kept
    assert cache.get(storage, "many") is not None


def test_plans_of_another_storage_or_version_are_never_read():
    index, other = _index(), _index(seed=1)
    cache = filter_plan.PlanCache()
    cache.put(index._storage, "k", {"slots": torch.arange(3)})
    assert cache.get(other._storage, "k") is None
    index.set_attributes([0], {"pay": [1.0]})
    assert cache.get(index._storage, "k") is None


def test_a_filter_changed_in_place_is_planned_again():
    index = _index()
    values = [1, 2]
    expr = fs.filters.Comparison("city", "in", values)  # a list value: checked into a tuple
    first = index.search(QUERIES, 10, filter=expr)
    values.append(3)
    second = index.search(QUERIES, 10, filter=expr)
    fresh = _rebuilt(index)
    _assert_same(first, fresh.search(QUERIES, 10, filter=fs.col("city").isin([1, 2])), "city in [1, 2]")
    _assert_same(second, fresh.search(QUERIES, 10, filter=fs.col("city").isin([1, 2, 3])), "city in [1, 2, 3]")


def test_a_gather_keeps_its_padded_inputs_with_the_plan():
    index = _index()
    search = SEARCHES[2]  # per-query filters with a common clause: candidate slots and bits
    first = _search(index, search)
    plans = [plan for plan, _ in index._plans._plans.values() if plan.get("candidate_slots") is not None]
    assert plans and all("padded" in plan["memo"] for plan in plans), "the gather kept nothing with its plan"
    padded_slots, _, padded_keep = plans[0]["memo"]["padded"][1]
    assert padded_slots.numel() % 8 == 0 and padded_keep.shape[-1] == padded_slots.numel()
    _assert_same(_search(index, search), first, "second search from the memo")
    _assert_same(first, _search(_rebuilt(index), search), "against a fresh index")
