"""ShardedIndex against one fs.Index fed the same operations, plus routing, errors and persistence.

Vectors have small integer entries and boosts are multiples of 1/4, so every
score is exact in float32: equal scores are real ties, and results must match
one Index bit for bit, ids and scores, ties broken by id across shards.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import flatsearch as fs
from flatsearch.sharded import ShardedIndex, ShardServer, shard_of, splitmix64

DIM = 6
ATTRIBUTES = {"city": "int", "pay": "float", "remote": "bool", "posted": "time", "skills": "tags"}


def random_rows(rng: np.random.Generator, ids: np.ndarray) -> tuple[np.ndarray, dict]:
    """Integer-valued vectors and attributes (with some nulls) for ``ids``."""
    n = len(ids)
    vectors = rng.integers(-3, 4, size=(n, DIM)).astype(np.float32)
    vectors[np.all(vectors == 0, axis=1), 0] = 1  # keep cosine well defined
    attributes = {
        "city": rng.integers(0, 4, n),
        "pay": [None if rng.random() < 0.1 else float(rng.integers(0, 8)) / 2 for _ in range(n)],
        "remote": [None if rng.random() < 0.1 else bool(rng.random() < 0.5) for _ in range(n)],
        "posted": rng.integers(1_700_000_000, 1_700_000_100, n),
        "skills": [list(rng.integers(0, 6, rng.integers(0, 3))) for _ in range(n)],
    }
    return vectors, attributes


def random_filter(rng: np.random.Generator):
    choice = rng.integers(0, 6)
    if choice == 0:
        return None
    if choice == 1:
        return fs.col("city") == int(rng.integers(0, 4))
    if choice == 2:
        return (fs.col("pay") >= float(rng.integers(0, 4))) & ~fs.col("remote").isin([True])
    if choice == 3:
        return fs.col("skills").isin([int(rng.integers(0, 6))]) | (fs.col("posted") < 1_700_000_030)
    if choice == 4:
        return {"and": [{"city": {"in": [0, 2]}}, {"remote": True}]}
    return fs.col("city") != 1


def random_boost(rng: np.random.Generator):
    return [None, {"pay": 0.5}, {"remote": 1.0, "city": -0.25}][int(rng.integers(0, 3))]


def assert_same_results(expected: fs.SearchResult, got: fs.SearchResult) -> None:
    assert got.ids.shape == expected.ids.shape, (got.ids.shape, expected.ids.shape)
    mismatch = (got.ids.cpu() != expected.ids.cpu()).nonzero()
    assert len(mismatch) == 0, (f"first differing (query, rank) {mismatch[0].tolist()}: expected ids\n"
                                f"{expected.ids}\nscores\n{expected.scores}\ngot ids\n{got.ids}\nscores\n{got.scores}")
    assert torch.equal(got.scores.cpu(), expected.scores.cpu()), (expected.scores, got.scores)


def both_raise(error_type, call_single, call_sharded) -> None:
    with pytest.raises(error_type) as expected:
        call_single()
    with pytest.raises(error_type) as got:
        call_sharded()
    assert str(got.value).split(":")[0] == str(expected.value).split(":")[0], (expected.value, got.value)


class ShardedMatchesOneIndex(RuleBasedStateMachine):
    """Random add / upsert / delete / set_attributes / compact / save+load / search
    sequences on a 4-shard ShardedIndex and one Index; every search must agree."""

    @initialize(metric=st.sampled_from(["ip", "l2"]), partitioned=st.booleans(), seed=st.integers(0, 2**32 - 1))
    def start(self, metric, partitioned, seed):
        self.rng = np.random.default_rng(seed)
        options = dict(metric=metric, attributes=ATTRIBUTES, partition_size=64,
                       partition_by="city" if partitioned else None)
        self.single = fs.Index(DIM, **options)
        self.sharded = ShardedIndex(DIM, shards=4, **options)
        self.id_pool = self.rng.choice(2**40, size=80, replace=False)  # large, sparse ids exercise the hash

    def teardown(self):
        if hasattr(self, "sharded"):
            self.sharded.close()

    def present_ids(self) -> np.ndarray:
        return np.array([id_ for id_ in self.id_pool if int(id_) in self.single], dtype=np.int64)

    def pick(self, ids: np.ndarray, most: int) -> np.ndarray:
        return self.rng.choice(ids, size=min(len(ids), int(self.rng.integers(1, most + 1))), replace=False)

    @rule()
    def add(self):
        absent = np.setdiff1d(self.id_pool, self.present_ids())
        if len(absent):
            ids = self.pick(absent, 12)
            vectors, attributes = random_rows(self.rng, ids)
            self.single.add(ids, vectors, attributes)
            self.sharded.add(ids, vectors, attributes)

    @rule()
    def add_with_one_present_id_changes_nothing(self):
        present, absent = self.present_ids(), np.setdiff1d(self.id_pool, self.present_ids())
        if len(present) and len(absent):
            ids = np.concatenate([self.pick(absent, 6), present[:1]])
            vectors, attributes = random_rows(self.rng, ids)
            both_raise(ValueError, lambda: self.single.add(ids, vectors, attributes),
                       lambda: self.sharded.add(ids, vectors, attributes))

    @rule()
    def upsert(self):
        ids = self.pick(self.id_pool, 10)
        vectors, attributes = random_rows(self.rng, ids)
        if self.rng.random() < 0.3:
            attributes = None  # present rows keep their attributes
        self.single.upsert(ids, vectors, attributes)
        self.sharded.upsert(ids, vectors, attributes)

    @rule()
    def delete(self):
        ids = self.pick(self.id_pool, 10)
        assert self.sharded.delete(ids) == self.single.delete(ids)

    @rule()
    def set_attributes(self):
        present = self.present_ids()
        if len(present):
            ids = self.pick(present, 8)
            _, attributes = random_rows(self.rng, ids)
            columns = {name: attributes[name] for name in ("pay", "city", "skills")[: int(self.rng.integers(1, 4))]}
            self.single.set_attributes(ids, columns)
            self.sharded.set_attributes(ids, columns)

    @rule()
    def compact(self):
        self.single.compact()
        self.sharded.compact()

    @rule(shards=st.sampled_from([None, 1, 3, 4, 6]))
    def save_and_load(self, shards):
        with tempfile.TemporaryDirectory() as folder:
            self.sharded.save(folder)
            loaded = ShardedIndex.load(folder, shards=shards)
        assert loaded.shards == (self.sharded.shards if shards is None else shards)
        self.sharded.close()
        self.sharded = loaded

    @rule(k=st.sampled_from([1, 3, 10, 100]), nq=st.integers(1, 4))
    def search(self, k, nq):
        queries = self.rng.integers(-3, 4, size=(nq, DIM)).astype(np.float32)
        if self.rng.random() < 0.3:
            filter = [random_filter(self.rng) for _ in range(nq)]
        else:
            filter = random_filter(self.rng)
        boost = random_boost(self.rng)
        expected = self.single.search(queries, k, filter=filter, boost=boost)
        assert_same_results(expected, self.sharded.search(queries, k, filter=filter, boost=boost))

    @invariant()
    def same_rows(self):
        if hasattr(self, "sharded"):
            assert len(self.sharded) == len(self.single)
            present = self.present_ids()
            assert self.sharded.contains(self.id_pool).tolist() == np.isin(self.id_pool, present).tolist()


ShardedMatchesOneIndex.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
test_sharded_matches_one_index = ShardedMatchesOneIndex.TestCase


# -- routing -----------------------------------------------------------------------------------


def test_splitmix64_matches_the_reference_generator():
    # The first two outputs of the reference splitmix64 generator seeded with 0.
    gamma = 0x9E3779B97F4A7C15
    assert [hex(int(value)) for value in splitmix64(np.array([0, gamma - 2**64]))] == [
        "0xe220a8397b1dcdaf", "0x6e789e6aa1b965f4"]


def test_routing_is_balanced_and_owned_rows_sit_on_their_shard():
    ids = np.arange(100_000, dtype=np.int64) * 7
    counts = np.bincount(shard_of(ids, 4), minlength=4)
    assert np.all(np.abs(counts / len(ids) - 0.25) < 0.01), counts
    index = ShardedIndex(2, shards=4)
    sample = ids[:2000]
    index.add(sample, np.random.default_rng(0).normal(size=(len(sample), 2)))
    per_shard = [stats["live"] for stats in index.stats()["per_shard"]]
    assert per_shard == np.bincount(shard_of(sample, 4), minlength=4).tolist()


def test_delete_and_upsert_touch_only_the_owning_shard():
    index = ShardedIndex(2, shards=4)
    ids = np.arange(40)
    index.add(ids, np.ones((40, 2)))
    target = 17
    owner = int(shard_of([target], 4)[0])
    before = index.stats()["per_shard"]
    index.upsert([target], np.zeros((1, 2)) + 2)
    index.delete([target])
    after = index.stats()["per_shard"]
    for shard in range(4):
        changed = before[shard] != after[shard]
        assert changed == (shard == owner), (shard, owner, before[shard], after[shard])


def test_importing_flatsearch_does_not_import_ray():
    code = "import sys, flatsearch, flatsearch.sharded, flatsearch.distributed; print('ray' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert output.stdout.strip() == "False"


# -- exactness on other metrics and reads --------------------------------------------------------


def test_cosine_search_and_get_match_one_index():
    rng = np.random.default_rng(1)
    ids = rng.choice(10**9, size=500, replace=False)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    attributes = {"city": rng.integers(0, 5, 500), "skills": [list(rng.integers(0, 9, 2)) for _ in range(500)]}
    options = dict(metric="cosine", attributes={"city": "int", "skills": "tags"})
    single, sharded = fs.Index(16, **options), ShardedIndex(16, shards=4, **options)
    for index in (single, sharded):
        index.add(ids, vectors, attributes)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    for filter in (None, fs.col("city") == 3, [fs.col("skills") == int(tag) for tag in rng.integers(0, 9, 20)]):
        expected = single.search(queries, 7, filter=filter)
        got = sharded.search(queries, 7, filter=filter)
        assert torch.equal(got.ids, expected.ids)
        torch.testing.assert_close(got.scores, expected.scores, rtol=1e-6, atol=1e-6)
    for filter in (None, fs.col("city") == 3, (fs.col("skills") == 4) & (fs.col("city") != 0)):
        assert sharded.ids(filter=filter).tolist() == single.ids(filter=filter).tolist()
    order = rng.permutation(ids)[:50]
    expected, got = single.get(order), sharded.get(order)
    assert torch.equal(got.vectors, expected.vectors)
    assert got.attributes == expected.attributes


def test_fewer_passing_rows_than_k_pads_like_one_index():
    rng = np.random.default_rng(2)
    single, sharded = fs.Index(DIM, attributes=ATTRIBUTES), ShardedIndex(DIM, shards=4, attributes=ATTRIBUTES)
    ids = np.arange(10)
    vectors, attributes = random_rows(rng, ids)
    for index in (single, sharded):
        index.add(ids, vectors, attributes)
    query = np.ones(DIM, dtype=np.float32)
    assert_same_results(single.search(query, 30), sharded.search(query, 30))
    assert_same_results(single.search(query, 5, filter=fs.col("city") == 99),
                        sharded.search(query, 5, filter=fs.col("city") == 99))


def test_empty_sharded_index_returns_padding():
    index = ShardedIndex(3, shards=2, metric="l2")
    result = index.search(np.ones(3), 2)
    assert result.ids.tolist() == [[-1, -1]] and result.scores.tolist() == [[float("inf")] * 2]


def test_stats_sum_the_shards():
    index = ShardedIndex(2, shards=3)
    index.add(np.arange(30), np.ones((30, 2)))
    index.delete(np.arange(5))
    stats = index.stats()
    assert (stats["live"], stats["deleted"], stats["shards"]) == (25, 5, 3)
    assert sum(part["live"] for part in stats["per_shard"]) == 25


def test_a_search_sees_a_concurrent_add_wholly_or_not_at_all():
    index = ShardedIndex(4, shards=4)
    batch, batches = 40, 30
    rng = np.random.default_rng(5)
    seen = []

    def searcher():
        while len(seen) < 2000 and (not seen or seen[-1] < batch * batches):
            found = index.search(np.ones(4, dtype=np.float32), batch * batches).ids
            seen.append(int((found >= 0).sum()))

    thread = threading.Thread(target=searcher)
    thread.start()
    for number in range(batches):
        index.add(np.arange(number * batch, (number + 1) * batch), rng.normal(size=(batch, 4)))
    thread.join(timeout=120)
    assert seen and all(count % batch == 0 for count in seen), sorted(set(seen))


# -- bad input: clear errors, nothing changed -----------------------------------------------------


def filled_pair(seed: int = 3):
    rng = np.random.default_rng(seed)
    single, sharded = fs.Index(DIM, attributes=ATTRIBUTES), ShardedIndex(DIM, shards=4, attributes=ATTRIBUTES)
    ids = np.arange(0, 200, 2)
    vectors, attributes = random_rows(rng, ids)
    for index in (single, sharded):
        index.add(ids, vectors, attributes)
    return rng, single, sharded


def assert_unchanged(single, sharded) -> None:
    queries = np.random.default_rng(9).integers(-3, 4, size=(5, DIM)).astype(np.float32)
    assert len(sharded) == len(single)
    assert_same_results(single.search(queries, 200), sharded.search(queries, 200))


@pytest.mark.parametrize("case", ["present_id", "nan_row", "bad_attribute", "duplicate", "wrong_dim", "negative_id",
                                  "short_column", "unknown_attribute"])
def test_rejected_add_changes_no_shard(case):
    rng, single, sharded = filled_pair()
    ids = np.arange(1, 41, 2)  # absent ids spread over every shard
    vectors, attributes = random_rows(rng, ids)
    error = ValueError
    if case == "present_id":
        ids = np.concatenate([ids[:-1], [100]])
    elif case == "nan_row":
        vectors[-1, 2] = np.nan
    elif case == "bad_attribute":
        attributes["remote"] = attributes["remote"][:-1] + ["yes"]
        error = TypeError
    elif case == "duplicate":
        ids[-1] = ids[0]
    elif case == "wrong_dim":
        vectors = vectors[:, :-1]
    elif case == "negative_id":
        ids[-1] = -5
    elif case == "short_column":
        attributes["city"] = attributes["city"][:-1]
    elif case == "unknown_attribute":
        attributes["salary"] = [1.0] * len(ids)
        error = KeyError
    both_raise(error, lambda: single.add(ids, vectors, attributes), lambda: sharded.add(ids, vectors, attributes))
    assert not sharded.contains(ids[:-1]).any()
    assert_unchanged(single, sharded)


def test_rejected_upsert_and_set_attributes_change_no_shard():
    rng, single, sharded = filled_pair()
    ids = np.arange(0, 60, 3)
    vectors, attributes = random_rows(rng, ids)
    vectors[-1] = np.inf
    both_raise(ValueError, lambda: single.upsert(ids, vectors, attributes),
               lambda: sharded.upsert(ids, vectors, attributes))
    missing_last = np.concatenate([np.arange(0, 40, 2), [1]])
    columns = {"pay": [1.5] * len(missing_last)}
    both_raise(KeyError, lambda: single.set_attributes(missing_last, columns),
               lambda: sharded.set_attributes(missing_last, columns))
    both_raise(ValueError, lambda: single.set_attributes([0], {}), lambda: sharded.set_attributes([0], {}))
    assert_unchanged(single, sharded)


def test_cosine_zero_vector_is_rejected_before_any_shard_changes():
    sharded = ShardedIndex(3, shards=4, metric="cosine")
    vectors = np.ones((20, 3), dtype=np.float32)
    vectors[-1] = 0
    with pytest.raises(ValueError, match="vectors: the cosine metric needs non-zero vectors"):
        sharded.add(np.arange(20), vectors)
    assert len(sharded) == 0


def test_bad_search_arguments_raise_like_one_index():
    _, single, sharded = filled_pair()
    query = np.ones(DIM, dtype=np.float32)
    both_raise(ValueError, lambda: single.search(query, 0), lambda: sharded.search(query, 0))
    both_raise(ValueError, lambda: single.search(np.ones(DIM + 1), 3), lambda: sharded.search(np.ones(DIM + 1), 3))
    both_raise(KeyError, lambda: single.search(query, 3, filter=fs.col("salary") > 1),
               lambda: sharded.search(query, 3, filter=fs.col("salary") > 1))
    both_raise(TypeError, lambda: single.search(query, 3, filter=fs.col("city") == "x"),
               lambda: sharded.search(query, 3, filter=fs.col("city") == "x"))
    both_raise(ValueError, lambda: single.search(np.ones((2, DIM)), 3, filter=[None]),
               lambda: sharded.search(np.ones((2, DIM)), 3, filter=[None]))
    both_raise(KeyError, lambda: single.search(query, 3, boost={"salary": 1.0}),
               lambda: sharded.search(query, 3, boost={"salary": 1.0}))
    both_raise(TypeError, lambda: single.search(query, 3, boost={"skills": 1.0}),
               lambda: sharded.search(query, 3, boost={"skills": 1.0}))
    both_raise(TypeError, lambda: single.search(query, 3, boost={"pay": "high"}),
               lambda: sharded.search(query, 3, boost={"pay": "high"}))
    both_raise(KeyError, lambda: single.get([1]), lambda: sharded.get([1]))


@pytest.mark.parametrize("arguments, error, message", [
    (dict(shards=0), ValueError, "shards: expected a positive int"),
    (dict(shards=2, devices=["cpu"]), ValueError, "shards: expected 1"),
    (dict(devices="cpu"), TypeError, "devices: expected a non-empty list"),
    (dict(devices=[]), TypeError, "devices: expected a non-empty list"),
    (dict(devices=["cpu"], device="cpu"), ValueError, "device: expected None when devices is given"),
    (dict(shards=2, metric="dot"), ValueError, "metric: expected one of"),
    (dict(shards=2, dtype=np.float64), TypeError, "index_kwargs: expected JSON-serialisable"),
])
def test_bad_construction_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        ShardedIndex(4, **arguments)


# -- persistence -------------------------------------------------------------------------------


def test_save_load_and_reshard_keep_every_row(tmp_path):
    rng, single, sharded = filled_pair(4)
    sharded.save(tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / "manifest.json").read_text())
    assert manifest["rows"] == [stats["live"] for stats in sharded.stats()["per_shard"]]
    queries = rng.integers(-3, 4, size=(8, DIM)).astype(np.float32)
    expected = single.search(queries, 15, filter=fs.col("city") != 2, boost={"pay": 0.25})
    for shards in (None, 1, 3, 7):
        loaded = ShardedIndex.load(tmp_path / "saved", shards=shards)
        assert loaded.shards == (4 if shards is None else shards)
        assert_same_results(expected, loaded.search(queries, 15, filter=fs.col("city") != 2, boost={"pay": 0.25}))
        per_shard = [stats["live"] for stats in loaded.stats()["per_shard"]]
        all_ids = np.arange(0, 200, 2)
        assert per_shard == np.bincount(shard_of(all_ids, loaded.shards), minlength=loaded.shards).tolist()
        sample = rng.choice(all_ids, 10, replace=False)
        assert loaded.get(sample).attributes == single.get(sample).attributes


def test_saving_again_replaces_the_previous_generation(tmp_path):
    index = ShardedIndex(2, shards=2)
    index.add([1, 2, 3], np.eye(2)[[0, 1, 0]])
    index.save(tmp_path)
    index.delete([1])
    index.save(tmp_path)
    assert len(list(tmp_path.glob("generation-*"))) == 1
    assert len(ShardedIndex.load(tmp_path)) == 2


def test_interrupted_save_leaves_the_previous_save_loadable(tmp_path, monkeypatch):
    index = ShardedIndex(2, shards=3)
    index.add(np.arange(12), np.ones((12, 2)))
    index.save(tmp_path)
    index.add(np.arange(12, 20), np.ones((8, 2)))

    def failing_save(self, path):
        if path.endswith("shard-0002.fsx"):
            raise OSError("disk full")
        return original_save(self, path)

    original_save = ShardServer.save
    monkeypatch.setattr(ShardServer, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        index.save(tmp_path)
    assert len(list(tmp_path.glob("generation-*"))) == 1
    assert len(ShardedIndex.load(tmp_path)) == 12


def test_load_rejects_foreign_damaged_and_incomplete_saves(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        ShardedIndex.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a sharded index manifest"):
        ShardedIndex.load(tmp_path)
    index = ShardedIndex(2, shards=2)
    index.add([1, 2, 3], np.ones((3, 2)))
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ValueError, match="expected manifest version 1"):
        ShardedIndex.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "rows": [3, 3]}))
    with pytest.raises(ValueError, match="lists 6 rows but the shard files hold 3"):
        ShardedIndex.load(tmp_path)
    (tmp_path / manifest["shard_files"][1]).unlink()
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FileNotFoundError, match="shard files that are missing"):
        ShardedIndex.load(tmp_path)
    with pytest.raises(ValueError, match="expected a folder"):
        index.save(tmp_path / "manifest.json")
