"""One all-or-nothing scenario, run over both transports of ShardedIndex.

A shard server whose next write fails (as a device running out of memory would)
is started in this process (LocalShards) and as Ray actors (RayShards); the same
ShardedIndex code must roll the other shards back, say so, leave every read as it
was, and accept the retry. A plain fs.Index given only the calls that succeeded
is the reference for what the index must hold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch.sharded import LocalShards, ShardedIndex, ShardServer, ShardWriteError, shard_of
from local_ray import local_ray_session

DIM = 4
SHARDS = 4
ATTRIBUTES = {"city": "int", "pay": "float", "skills": "tags"}
TESTS = str(Path(__file__).resolve().parent)
REPO_ROOT = str(Path(__file__).resolve().parents[1])


class FlakyServer(ShardServer):
    """A shard server whose next call of one Index method fails after the write began."""

    def fail_next(self, method: str) -> None:
        def failing(*args, **kwargs):
            del self.index.__dict__[method]  # only this call fails
            raise RuntimeError("CUDA out of memory (simulated)")

        setattr(self.index, method, failing)


@pytest.fixture(scope="module")
def local_ray():
    pytest.importorskip("ray")
    # Actors must import flatsearch and this module (for FlakyServer).
    with local_ray_session(REPO_ROOT, TESTS):
        yield


def rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict]:
    vectors = rng.integers(-3, 4, size=(n, DIM)).astype(np.float32)
    columns = {"city": rng.integers(0, 4, n).tolist(), "pay": rng.integers(0, 8, n).astype(float).tolist(),
               "skills": [[int(s) for s in rng.integers(0, 5, int(rng.integers(0, 3)))] for _ in range(n)]}
    return vectors, columns


@pytest.fixture(scope="module", params=["local", "ray"])
def indexes(request):
    """(ShardedIndex over FlakyServers, reference fs.Index), filled alike."""
    arguments = [{"index_kwargs": {"attributes": ATTRIBUTES}}] * SHARDS
    if request.param == "local":
        transport = LocalShards.start(DIM, ["cpu"] * SHARDS, arguments, server_class=FlakyServer)
    else:
        request.getfixturevalue("local_ray")
        from flatsearch.distributed import RayShards
        transport = RayShards.start(DIM, arguments, device="cpu", server_class=FlakyServer)
    index = ShardedIndex(DIM, transport=transport, attributes=ATTRIBUTES)
    reference = fs.Index(DIM, attributes=ATTRIBUTES)
    ids = np.arange(60) * 7
    vectors, columns = rows(np.random.default_rng(0), len(ids))
    index.add(ids, vectors, columns)
    reference.add(ids, vectors, columns)
    yield index, reference
    index.close()


def contents(index) -> tuple:
    ids = index.ids()
    stored = index.get(ids)
    return ids.tolist(), stored.vectors.cpu().tolist(), stored.attributes


@pytest.mark.parametrize("method", ["add", "upsert", "delete", "set_attributes"])
def test_a_shard_failing_mid_write_rolls_the_others_back_over_either_transport(indexes, method):
    index, reference = indexes
    present = index.ids().numpy()
    new = np.arange(10_000, 10_040) + {"add": 0, "upsert": 100, "delete": 200, "set_attributes": 300}[method]
    batch = {"add": new, "upsert": np.concatenate([present[:20], new[:20]]),
             "delete": present[:30], "set_attributes": present[-30:]}[method]
    assert set(shard_of(batch, SHARDS).tolist()) == set(range(SHARDS))  # every shard takes part
    vectors, columns = rows(np.random.default_rng(len(present)), len(batch))
    columns.pop("pay")

    def call(target):
        if method in ("add", "upsert"):
            return getattr(target, method)(batch, vectors, columns)
        return target.delete(batch) if method == "delete" else target.set_attributes(batch, columns)

    queries = np.random.default_rng(1).integers(-3, 4, size=(3, DIM)).astype(np.float32)
    before, results_before = contents(index), index.search(queries, 50, boost={"pay": 0.5})
    assert before == contents(reference)
    index._call({2: ("fail_next", (method,))})
    with pytest.raises(ShardWriteError, match=rf"{method} failed on shard\(s\) \[2\] of 4 \(RuntimeError: CUDA out of "
                                              r"memory \(simulated\)\); shards \[0, 1, 3\] had applied their part "
                                              r"and rolled it back, so every shard that answers holds what it held "
                                              r"before the call") as error:
        call(index)
    assert error.value.consistent and error.value.rolled_back == [0, 1, 3] and list(error.value.failed) == [2]
    assert contents(index) == before
    after = index.search(queries, 50, boost={"pay": 0.5})
    assert torch.equal(after.ids, results_before.ids) and torch.equal(after.scores, results_before.scores)

    assert call(index) == call(reference)  # the shard recovered: the retry applies everywhere
    assert contents(index) == contents(reference)
    expected = reference.search(queries, 50, boost={"pay": 0.5})
    got = index.search(queries, 50, boost={"pay": 0.5})
    assert torch.equal(got.ids, expected.ids) and torch.equal(got.scores, expected.scores)


def test_a_transport_places_the_shards_so_placement_arguments_are_refused():
    transport = LocalShards.start(DIM, ["cpu"] * 2, [{"index_kwargs": {}}] * 2)
    with pytest.raises(ValueError, match=r"transport: the transport places the shards, so shards, devices and device "
                                         r"must be None, got \{'shards': 3\}"):
        ShardedIndex(DIM, shards=3, transport=transport)
    with pytest.raises(TypeError, match="allow_partial: expected True or False, got"):
        ShardedIndex(DIM, transport=transport, allow_partial="yes")
    index = ShardedIndex(DIM, transport=transport)
    assert index.shards == 2 and index.devices == ["cpu", "cpu"] and index.allow_partial is False
    index.close()
