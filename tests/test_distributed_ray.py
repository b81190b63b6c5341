"""RayIndex with 3 shard actors against one fs.Index, on a local 2-CPU Ray instance.

One Ray instance serves the whole module. Vectors have small integer entries so
scores are exact and results must match one Index bit for bit.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch.sharded import ShardedIndex, shard_of
from local_ray import local_ray_session

ray = pytest.importorskip("ray")
from flatsearch.distributed import PartialSearchResult, RayIndex, ShardUnavailableError  # noqa: E402

DIM = 5
ATTRIBUTES = {"city": "int", "pay": "float", "remote": "bool", "skills": "tags"}
REPO_ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Workers must import flatsearch even when it is not installed (a plain checkout).
    with local_ray_session(REPO_ROOT):
        yield


@pytest.fixture(scope="module")
def ray_index(local_ray):
    index = RayIndex(DIM, shards=3, attributes=ATTRIBUTES)
    yield index
    index.close()


def rows(rng: np.random.Generator, ids: np.ndarray) -> tuple[np.ndarray, dict]:
    n = len(ids)
    vectors = rng.integers(-3, 4, size=(n, DIM)).astype(np.float32)
    attributes = {
        "city": rng.integers(0, 4, n),
        "pay": [None if rng.random() < 0.1 else float(rng.integers(0, 8)) / 2 for _ in range(n)],
        "remote": rng.random(n) < 0.5,
        "skills": [list(rng.integers(0, 6, rng.integers(0, 3))) for _ in range(n)],
    }
    return vectors, attributes


def search_arguments(rng: np.random.Generator) -> dict:
    nq = int(rng.integers(1, 4))
    filters = [None, fs.col("city") == 1, (fs.col("pay") >= 1.5) | fs.col("skills").isin([2]),
               {"not": {"remote": True}}]
    filter = filters[int(rng.integers(0, len(filters)))]
    if rng.random() < 0.3:
        filter = [filters[int(i)] for i in rng.integers(0, len(filters), nq)]
    return dict(queries=rng.integers(-3, 4, size=(nq, DIM)).astype(np.float32), k=int(rng.choice([1, 4, 50])),
                filter=filter, boost=[None, {"pay": 0.5}, {"remote": -1.0}][int(rng.integers(0, 3))])


def assert_same_results(expected: fs.SearchResult, got: fs.SearchResult) -> None:
    assert torch.equal(got.ids, expected.ids.cpu()), f"expected ids\n{expected.ids}\ngot\n{got.ids}"
    assert torch.equal(got.scores, expected.scores.cpu()), f"expected scores\n{expected.scores}\ngot\n{got.scores}"


def test_random_operations_match_one_index(ray_index):
    rng = np.random.default_rng(0)
    single = fs.Index(DIM, attributes=ATTRIBUTES)
    pool = rng.choice(2**50, size=120, replace=False)
    for step in range(60):
        present = np.array([id_ for id_ in pool if int(id_) in single], dtype=np.int64)
        absent = np.setdiff1d(pool, present)
        operation = ["add", "upsert", "delete", "set_attributes", "search", "search"][step % 6]
        if operation == "add" and len(absent):
            ids = rng.choice(absent, min(len(absent), 25), replace=False)
            vectors, attributes = rows(rng, ids)
            single.add(ids, vectors, attributes)
            ray_index.add(ids, vectors, attributes)
        elif operation == "upsert":
            ids = rng.choice(pool, 10, replace=False)
            vectors, attributes = rows(rng, ids)
            single.upsert(ids, vectors, attributes)
            ray_index.upsert(ids, vectors, attributes)
        elif operation == "delete":
            ids = rng.choice(pool, 8, replace=False)
            assert ray_index.delete(ids) == single.delete(ids)
        elif operation == "set_attributes" and len(present):
            ids = rng.choice(present, min(len(present), 6), replace=False)
            columns = {"pay": [float(value) for value in rng.integers(0, 9, len(ids))], "city": rng.integers(0, 4, len(ids))}
            single.set_attributes(ids, columns)
            ray_index.set_attributes(ids, columns)
        elif operation == "search":
            arguments = search_arguments(rng)
            assert_same_results(single.search(**arguments), ray_index.search(**arguments))
        if step == 30:
            single.compact()
            ray_index.compact()
    assert len(ray_index) == len(single) > 0
    sample = rng.choice(present, 10, replace=False)
    got, expected = ray_index.get(sample), single.get(sample)
    assert torch.equal(got.vectors, expected.vectors) and got.attributes == expected.attributes
    for filter in (None, fs.col("city") == 2, fs.col("pay") >= 4):
        assert ray_index.ids(filter=filter).tolist() == single.ids(filter=filter).tolist()
    with pytest.raises(ValueError, match="already in the index"):
        ray_index.add(sample[:1], np.ones((1, DIM)))
    with pytest.raises(KeyError, match="unknown attribute 'salary'"):
        ray_index.search(np.ones(DIM), 3, filter=fs.col("salary") > 1)


def test_concurrent_searches_are_coalesced_into_one_call_per_shard(ray_index):
    rng = np.random.default_rng(1)
    ids = np.arange(10_000, 10_300)
    vectors, attributes = rows(rng, ids)
    ray_index.upsert(ids, vectors, attributes)
    searches = [search_arguments(rng) for _ in range(12)]
    expected = [ray_index.search(**arguments) for arguments in searches]

    coalescer = ray_index._coalescer
    run_batch, batch_sizes = coalescer._run_batch, []
    all_queued = threading.Event()

    def recording_run_batch(requests):
        if not batch_sizes:  # hold the first batch until every other search is queued
            all_queued.wait(timeout=30)
        batch_sizes.append(len(requests))
        return run_batch(requests)

    coalescer._run_batch = recording_run_batch
    results = [None] * len(searches)

    def search(position):
        results[position] = ray_index.search(**searches[position])

    try:
        threads = [threading.Thread(target=search, args=(position,)) for position in range(len(searches))]
        threads[0].start()
        while not batch_sizes and not coalescer._sending:
            time.sleep(0.001)
        for thread in threads[1:]:
            thread.start()
        deadline = time.monotonic() + 30
        while len(coalescer._queue) < len(searches) - 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        all_queued.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        coalescer._run_batch = run_batch
    assert batch_sizes == [1, len(searches) - 1]
    for want, got in zip(expected, results):
        assert_same_results(want, got)


def test_save_load_and_reshard_between_ray_and_local(tmp_path, ray_index):
    rng = np.random.default_rng(2)
    queries = rng.integers(-3, 4, size=(6, DIM)).astype(np.float32)
    expected = ray_index.search(queries, 20, filter=fs.col("city") != 0, boost={"pay": 0.25})
    ray_index.save(tmp_path / "saved")
    local = ShardedIndex.load(tmp_path / "saved")
    assert local.shards == 3
    assert_same_results(expected, local.search(queries, 20, filter=fs.col("city") != 0, boost={"pay": 0.25}))
    resharded = RayIndex.load(tmp_path / "saved", shards=2)
    try:
        assert len(resharded) == len(ray_index)
        assert_same_results(expected, resharded.search(queries, 20, filter=fs.col("city") != 0, boost={"pay": 0.25}))
    finally:
        resharded.close()


def test_a_killed_actor_fails_searches_by_name_and_loses_nothing_elsewhere(local_ray):
    rng = np.random.default_rng(3)
    index = RayIndex(DIM, shards=3, attributes=ATTRIBUTES)
    single = fs.Index(DIM, attributes=ATTRIBUTES)
    ids = rng.choice(10**12, size=300, replace=False)
    vectors, attributes = rows(rng, ids)
    index.add(ids, vectors, attributes)
    single.add(ids, vectors, attributes)
    ray.kill(index.actors[1])
    queries = rng.integers(-3, 4, size=(4, DIM)).astype(np.float32)
    candidates = np.arange(10**13, 10**13 + 10)
    owned_by_dead_shard = candidates[shard_of(candidates, 3) == 1][:1]

    with pytest.raises(ShardUnavailableError, match=r"shard 1 of 3 \(Ray actor [0-9a-f]+\) is unavailable") as error:
        index.search(queries, 10)
    assert error.value.shard == 1
    with pytest.raises(ShardUnavailableError, match="shard 1 of 3"):
        len(index)
    with pytest.raises(ShardUnavailableError, match="shard 1 of 3"):
        index.add(owned_by_dead_shard, np.ones((1, DIM)))

    survivors = ids[shard_of(ids, 3) != 1]
    single.delete(ids[shard_of(ids, 3) == 1])
    index.allow_partial = True
    for filter in (None, fs.col("city") == 2):
        result = index.search(queries, 10, filter=filter, boost={"pay": 0.5})
        assert isinstance(result, PartialSearchResult) and result.missing_shards == (1,)
        assert_same_results(single.search(queries, 10, filter=filter, boost={"pay": 0.5}), result)
    got = index.get(survivors)
    assert torch.equal(got.vectors, single.get(survivors).vectors)
    index.close()


def test_bad_arguments_fail_in_this_process(local_ray):
    with pytest.raises(ValueError, match="metric: expected one of"):
        RayIndex(DIM, shards=2, metric="dot")
    with pytest.raises(ValueError, match="backend: expected one of"):
        RayIndex(DIM, shards=2, backend="cuda")
    with pytest.raises(ValueError, match="shards: expected a positive int"):
        RayIndex(DIM, shards=0)
    with pytest.raises(ValueError, match="has no GPUs"):
        RayIndex(DIM, shards=2, device="cuda")


def test_an_error_inside_an_actor_reaches_the_caller_as_itself(ray_index):
    # The client validates everything it can, so call a shard directly with an id it lacks.
    with pytest.raises(KeyError, match="is not in the index") as error:
        ray_index._call({2: ("get", (np.array([123_456_789_012]),))})
    assert "raised by shard 2 of 3" in "".join(getattr(error.value, "__notes__", []))


def test_a_write_that_reaches_a_dead_actor_is_rolled_back_on_the_other_shards(local_ray):
    """Repro: an actor killed mid-add left two shards with their part applied and lost the third's."""
    from flatsearch.sharded import ShardWriteError
    index = RayIndex(DIM, shards=3)
    ids = np.arange(30)
    index.add(ids, np.ones((30, DIM), dtype=np.float32))
    before = {shard: index._call({shard: ("ids", (None,))})[0][shard].tolist() for shard in (0, 2)}
    ray.kill(index.actors[1])
    batch = np.arange(20, 50)  # replaces some rows and adds others, on every shard
    with pytest.raises(ShardWriteError, match=r"upsert failed on shard\(s\) \[1\] of 3 \(ShardUnavailableError: "
                                              r"shard 1 of 3.*shards \[0, 2\] had applied their part and rolled it back"):
        index.upsert(batch, np.full((len(batch), DIM), 2.0, dtype=np.float32))
    for shard in (0, 2):
        assert index._call({shard: ("ids", (None,))})[0][shard].tolist() == before[shard]
        rows = index._call({shard: ("get", (np.array(before[shard]),))})[0][shard]
        assert torch.equal(rows.vectors, torch.ones(len(before[shard]), DIM))
    index.close()
