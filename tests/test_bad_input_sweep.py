"""A sweep of bad inputs over Index and ShardedIndex: every one is a clear ValueError,
TypeError or KeyError, the same (type and message) from both classes, and changes nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch.sharded import ShardedIndex

DIM = 4
KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags", "posted": "time"}
GOOD_ROW = {"city": [1], "pay": [1.0], "remote": [True], "geo": [[1]], "posted": [5]}

BAD_IDS = [[-1], [1.5], ["a"], [[1]], [True], "7", None, {1: 2}, [2**63], np.array([2**63 + 1], dtype=np.uint64),
           np.array([1.0]), torch.tensor([1.0]), torch.zeros(1, device="meta", dtype=torch.int64), [1, 1], object()]
BAD_VECTORS = [np.ones(DIM), np.ones((1, DIM + 1)), np.ones((2, DIM)), [[np.nan] * DIM], [[np.inf] * DIM],
               [["a"] * DIM], np.zeros((1, DIM), dtype=bool), np.ones((1, DIM), dtype=complex), None, "vector",
               [[1.0, 2.0], [3.0]], torch.zeros(1, DIM, device="meta"), [[1e39] + [0.0] * (DIM - 1)],
               [[1e20] + [0.0] * (DIM - 1)], np.ones((1, 1, DIM))]
BAD_ATTRIBUTES = [{"colour": [1]}, {"city": [1, 2]}, {"city": ["x"]}, {"city": np.array([1.5])}, {"city": [2**63]},
                  {"city": np.array([2**63 + 5], dtype=np.uint64)}, {"city": {0: 1}}, {"city": 5},
                  {"pay": ["high"]}, {"pay": [1e39]}, {"pay": np.array([np.inf])}, {"remote": [1]},
                  {"remote": np.array([1])}, {"geo": [5]}, {"geo": [["a"]]}, {"geo": [[1.5]]},
                  {"posted": ["yesterday"]}, {"posted": [1e30]}, {"posted": np.array([np.nan])}, "city=1", [1], 3,
                  {"city": [-(2**63)]}]
BAD_QUERIES = [np.ones(DIM - 1), np.ones((2, 2, DIM)), [np.nan] + [0.0] * (DIM - 1), ["a"] * DIM, None, "q",
               torch.zeros(DIM, device="meta"), np.ones(DIM, dtype=complex), [1e20] * DIM, [[1.0] * DIM, [1.0]]]
BAD_K = [0, -1, 2.0, "3", None, True, 10**12, [1]]
BAD_FILTERS = [fs.col("nope") == 1, fs.col("city") == True, {"pay": {"gte": "high"}}, fs.col("remote") > True,
               {"city": {"approx": 1}}, {"and": []}, {"or": "x"}, "city == 1", 5, {"city": {}}, {"": 1},
               {1: {"eq": 1}}, {"city": {"in": "abc"}}, {"city": {"in": list(range(100_001))}}, {"geo": {"lt": "x"}},
               {"posted": {"gte": "2020"}}, {"pay": {"eq": None}}, {"remote": {"in": [1]}}, {"not": []}]
BAD_BOOSTS = [{"nope": 1.0}, {"geo": 1.0}, {"pay": float("nan")}, {"pay": float("inf")}, {"pay": "1"}, {"pay": True},
              [("pay", 1.0)], "pay", {1: 1.0}, {"pay": None}]


def cases() -> list[tuple[str, object]]:
    out = []
    for position, ids in enumerate(BAD_IDS):
        vectors = np.ones((1, DIM), dtype=np.float32)
        out.append((f"add ids[{position}]", lambda i, ids=ids, v=vectors: i.add(ids, v)))
        out.append((f"upsert ids[{position}]", lambda i, ids=ids, v=vectors: i.upsert(ids, v)))
        out.append((f"set_attributes ids[{position}]", lambda i, ids=ids: i.set_attributes(ids, {"pay": [2.0]})))
        if not (isinstance(ids, list) and ids == [1, 1]):  # get may repeat an id
            out.append((f"get ids[{position}]", lambda i, ids=ids: i.get(ids)))
    out.append(("add present id", lambda i: i.add([1], np.ones((1, DIM)))))
    out.append(("get unknown id", lambda i: i.get([99])))
    out.append(("set_attributes unknown id", lambda i: i.set_attributes([99], {"pay": [1.0]})))
    out.append(("set_attributes no columns", lambda i: i.set_attributes([1], {})))
    out.append(("set_attributes None", lambda i: i.set_attributes([1], None)))
    out.append(("delete floats", lambda i: i.delete([1.5])))
    out.append(("delete text", lambda i: i.delete("1")))
    out.append(("contains floats", lambda i: i.contains([1.5])))
    for position, vectors in enumerate(BAD_VECTORS):
        out.append((f"add vectors[{position}]", lambda i, v=vectors: i.add([10], v)))
        out.append((f"upsert vectors[{position}]", lambda i, v=vectors: i.upsert([1], v)))
    for position, attributes in enumerate(BAD_ATTRIBUTES):
        out.append((f"add attributes[{position}]", lambda i, a=attributes: i.add([10], np.ones((1, DIM)), a)))
        out.append((f"upsert attributes[{position}]", lambda i, a=attributes: i.upsert([1], np.ones((1, DIM)), a)))
        out.append((f"set_attributes columns[{position}]", lambda i, a=attributes: i.set_attributes([1], a)))
    for position, queries in enumerate(BAD_QUERIES):
        out.append((f"search queries[{position}]", lambda i, q=queries: i.search(q, 2)))
    for position, k in enumerate(BAD_K):
        out.append((f"search k[{position}]", lambda i, k=k: i.search(np.ones(DIM), k)))
    for position, expr in enumerate(BAD_FILTERS):
        out.append((f"search filter[{position}]", lambda i, f=expr: i.search(np.ones(DIM), 2, filter=f)))
        out.append((f"search per-query filter[{position}]",
                    lambda i, f=expr: i.search(np.ones((2, DIM)), 2, filter=[None, f])))
        out.append((f"ids filter[{position}]", lambda i, f=expr: i.ids(filter=f)))
    out.append(("search filter list too short", lambda i: i.search(np.ones((2, DIM)), 2, filter=[None])))
    out.append(("ids filter list", lambda i: i.ids(filter=[fs.col("city") == 1])))
    for position, boost in enumerate(BAD_BOOSTS):
        out.append((f"search boost[{position}]", lambda i, b=boost: i.search(np.ones(DIM), 2, boost=b)))
    out.append(("boost term overflows", lambda i: i.search(np.ones(DIM), 2, boost={"pay": 1e38})))
    return out


CASES = cases()


def filled(kind):
    index = (fs.Index(DIM, attributes=KINDS, partition_by="city", partition_size=32) if kind == "Index" else
             ShardedIndex(DIM, shards=3, attributes=KINDS, partition_by="city", partition_size=32))
    index.add([1, 2, 3], torch.eye(DIM)[:3] + 0.25, {"city": [1, 1, 2], "pay": [10.0, None, 30.0],
                                                     "remote": [True, False, None], "geo": [[5], [], [5, 6]],
                                                     "posted": [100, 200, 300]})
    return index


def snapshot(index):
    ids = index.ids()
    rows = index.get(ids)
    result = index.search(torch.ones(DIM), 5, boost={"pay": 0.5})
    return ids.tolist(), rows.vectors.tolist(), rows.attributes, result.ids.tolist(), result.scores.tolist(), len(index)


@pytest.fixture(scope="module")
def pair():
    return {"Index": filled("Index"), "ShardedIndex": filled("ShardedIndex")}


def test_the_sweep_has_at_least_150_inputs():
    assert len(CASES) >= 150, len(CASES)


@pytest.mark.parametrize("name, call", CASES, ids=[name for name, _ in CASES])
def test_bad_input_is_a_clear_error_from_both_classes_and_changes_nothing(pair, name, call):
    errors = {}
    for kind, index in pair.items():
        before = snapshot(index)
        with pytest.raises((ValueError, TypeError, KeyError)) as raised:
            call(index)
        errors[kind] = raised.value
        assert snapshot(index) == before, f"{kind}: {name} changed the index"
        message = str(raised.value)
        assert ":" in message and len(message) > 15, f"{kind}: {name}: unclear message {message!r}"
    single, sharded = errors["Index"], errors["ShardedIndex"]
    assert type(single) is type(sharded) and str(single) == str(sharded), (single, sharded)
