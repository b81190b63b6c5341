"""Memory and slot reuse under churn: freed slots, emptied blocks across partitions, tags width."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flatsearch as fs


def _vectors(rng, n, dim=8):
    return rng.normal(size=(n, dim)).astype(np.float32)


def test_blocks_emptied_by_deletes_are_reused_by_other_partitions():
    rng = np.random.default_rng(0)
    index = fs.Index(8, attributes={"day": "int"}, partition_by="day", partition_size=256)
    next_id, live_by_day = 0, {}
    for day in range(40):  # each round: postings of a new day arrive, those of the oldest live day go
        ids = np.arange(next_id, next_id + 500)
        next_id += 500
        index.add(ids, _vectors(rng, 500), {"day": np.full(500, day)})
        live_by_day[day] = ids
        if len(live_by_day) > 4:
            assert index.delete(live_by_day.pop(min(live_by_day))) == 500
        stats = index.stats()
        if day >= 5:  # memory follows the 2,000-2,500 live rows, not the 20,000 ever added
            assert stats["capacity"] <= 2 * 2500 + 1024, (day, stats)
    assert len(index) == 2000
    query = rng.normal(size=8).astype(np.float32)
    expected = np.concatenate(list(live_by_day.values()))
    day = max(live_by_day)
    got = index.search(query, 10, filter=fs.col("day") == day).ids[0].numpy()
    assert set(got.tolist()) <= set(live_by_day[day].tolist()) and (got >= 0).all()
    assert sorted(index.ids().tolist()) == sorted(expected.tolist())
    # each block holds a single partition's rows
    storage = index._storage
    for block in storage.blocks:
        rows = storage.live[block.start:block.start + block.fill]
        days = storage.columns["day"][block.start:block.start + block.fill][rows]
        assert days.numel() == 0 or bool((days == block.key).all())


def test_inserts_into_freed_slots_reuse_them_and_search_exactly():
    rng = np.random.default_rng(1)
    index = fs.Index(8, attributes={"city": "int", "geo": "tags"}, partition_by="city", partition_size=64)
    vectors = _vectors(rng, 3000)
    cities = rng.integers(0, 7, 3000)
    index.add(np.arange(3000), vectors, {"city": cities, "geo": [[int(c)] for c in cities]})
    capacity = index.stats()["capacity"]
    gone = rng.choice(3000, 1500, replace=False)
    index.delete(gone)
    new_vectors = _vectors(rng, 1500)
    new_cities = rng.integers(0, 7, 1500)
    index.add(np.arange(3000, 4500), new_vectors, {"city": new_cities, "geo": [[int(c)] for c in new_cities]})
    assert index.stats()["capacity"] <= capacity + 7 * 64
    kept = np.setdiff1d(np.arange(3000), gone)
    all_ids = np.concatenate([kept, np.arange(3000, 4500)])
    all_vectors = np.concatenate([vectors[kept], new_vectors])
    all_cities = np.concatenate([cities[kept], new_cities])
    query = rng.normal(size=(3, 8)).astype(np.float32)
    for city in range(7):
        mask = all_cities == city
        scores = query @ all_vectors[mask].T
        expected = all_ids[mask][np.argsort(-scores, axis=1, kind="stable")[:, :5]]
        assert index.search(query, 5, filter=fs.col("city") == city).ids.numpy().tolist() == expected.tolist()
        assert index.ids(filter=fs.col("geo") == city).tolist() == sorted(all_ids[mask].tolist())


def test_a_deleted_wide_tags_row_stops_costing_memory_after_compact():
    rng = np.random.default_rng(2)
    index = fs.Index(8, attributes={"geo": "tags"})
    index.add(np.arange(1000), _vectors(rng, 1000), {"geo": [[i % 5, 7] for i in range(1000)]})
    narrow = index.stats()["bytes"]
    index.add([5000], _vectors(rng, 1), {"geo": [list(range(2000))]})
    assert index.ids(filter=fs.col("geo") == 1999).tolist() == [5000]
    index.delete([5000])
    index.compact()
    assert index.stats()["bytes"] <= narrow * 1.1
    assert index.ids(filter=fs.col("geo") == 7).tolist() == list(range(1000))
    assert index.get([3]).attributes["geo"] == [[3, 7]]


def test_random_churn_under_new_partition_keys_keeps_memory_near_live_rows():
    rng = np.random.default_rng(3)
    n, dim = 4000, 8
    index = fs.Index(dim, attributes={"day": "int"}, partition_by="day", partition_size=256)
    live = np.arange(n)
    stored = {int(i): v for i, v in zip(live, _vectors(rng, n))}
    index.add(live, np.stack([stored[int(i)] for i in live]), {"day": rng.integers(0, 10, n)})
    start_capacity = index.stats()["capacity"]
    next_id = n
    for round_ in range(1, 31):  # 10% random deletes, 10% new rows under keys never seen before
        gone = rng.choice(live, n // 10, replace=False)
        assert index.delete(gone) == len(gone)
        for i in gone:
            del stored[int(i)]
        new_ids = np.arange(next_id, next_id + n // 10)
        next_id += n // 10
        new_vectors = _vectors(rng, len(new_ids))
        stored.update({int(i): v for i, v in zip(new_ids, new_vectors)})
        index.add(new_ids, new_vectors, {"day": rng.integers(10 * round_, 10 * round_ + 10, len(new_ids))})
        live = np.concatenate([np.setdiff1d(live, gone), new_ids])
    stats = index.stats()
    assert stats["live"] == n and stats["rows"] <= 1.4 * n and stats["capacity"] <= 2 * start_capacity, stats
    ids = np.array(sorted(stored))
    matrix = np.stack([stored[int(i)] for i in ids])
    query = rng.normal(size=(2, dim)).astype(np.float32)
    expected = ids[np.argsort(-(query @ matrix.T), axis=1, kind="stable")[:, :20]]
    assert index.search(query, 20).ids.numpy().tolist() == expected.tolist()


def _index_with_poisoned_unused_rows(rng, metric):
    """3,000 rows over 60 day partitions (blocks with unused tails between them), every row not holding a live one NaN."""
    index = fs.Index(8, metric=metric, attributes={"day": "int"}, partition_by="day", partition_size=128)
    n = 3000
    vectors = _vectors(rng, n)
    days = rng.integers(0, 60, n)
    index.add(np.arange(n), vectors, {"day": days})
    storage = index._storage
    for arena, start in zip(storage.arenas, storage.arena_starts):
        arena[~storage.live[start:start + arena.shape[0]]] = float("nan")
    return index, vectors, days


def test_scans_joining_ranges_across_unused_rows_ignore_what_those_rows_hold():
    rng = np.random.default_rng(4)
    for metric in ("ip", "l2"):
        index, vectors, days = _index_with_poisoned_unused_rows(rng, metric)
        assert len(index._scan_request(torch.zeros(1, 8), 5, None, {}).ranges) > 10
        query = rng.normal(size=(3, 8)).astype(np.float32)
        scores = query @ vectors.T if metric == "ip" else -((query[:, None] - vectors[None]) ** 2).sum(-1)
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :15]
        assert index.search(query, 15).ids.numpy().tolist() == expected.tolist()
        keep = days < 30
        masked = np.where(keep, scores, -np.inf)
        expected = np.argsort(-masked, axis=1, kind="stable")[:, :15]
        assert index.search(query, 15, filter=fs.col("day") < 30).ids.numpy().tolist() == expected.tolist()


def test_per_query_filters_on_a_span_scan_ignore_what_unused_rows_hold(monkeypatch):
    from flatsearch import torch_scan
    monkeypatch.setattr(torch_scan, "GATHER_MAX_FRACTION", 0.0)  # the span scan, its rows masked per query
    rng = np.random.default_rng(5)
    index, vectors, days = _index_with_poisoned_unused_rows(rng, "ip")
    query = rng.normal(size=(3, 8)).astype(np.float32)
    scores = query @ vectors.T
    filters = [fs.col("day") < 30, fs.col("day") >= 20, fs.col("day") != 7]
    keep = np.stack([days < 30, days >= 20, days != 7])
    expected = np.argsort(-np.where(keep, scores, -np.inf), axis=1, kind="stable")[:, :15]
    found = index.search(query, 15, filter=filters)
    assert found.ids.numpy().tolist() == expected.tolist()
    assert np.isfinite(found.scores.numpy()).all()


def test_a_block_moved_to_another_partition_never_hands_its_deleted_slot_out_twice():
    index = fs.Index(2, attributes={"city": "int"}, partition_by="city", partition_size=32)
    index.add([0, 2], torch.zeros(2, 2), {"city": [2, None]})
    index.set_attributes([2], {"city": [1]})  # id 2 moves to a block of its own ...
    index.set_attributes([2], {"city": [2]})  # ... and back, leaving that block empty with one deleted slot
    index.upsert([0, 1], torch.tensor([[1.0, 0.0], [0.0, 1.0]]), {"city": [0, None]})
    slots = index._ids.lookup(torch.tensor([0, 1, 2]))
    assert len(set(slots.tolist())) == 3 and int(index._storage.live.sum()) == 3
    assert index.search(torch.tensor([1.0, 0.0]), 3).ids.tolist() == [[0, 1, 2]]


@pytest.mark.parametrize("failing", ["write", "insert"])
def test_compact_that_fails_part_way_leaves_every_row_in_place(failing, monkeypatch):
    from flatsearch.idmap import IdMap
    from flatsearch.storage import Storage
    rng = np.random.default_rng(12)
    index = fs.Index(4, attributes={"city": "int", "tags": "tags"}, partition_by="city", partition_size=64)
    index.add(np.arange(500), rng.normal(size=(500, 4)).astype(np.float32),
              {"city": rng.integers(0, 5, 500), "tags": [[int(t)] for t in rng.integers(0, 9, 500)]})
    index.delete(np.arange(0, 500, 3))
    queries = rng.normal(size=(4, 4)).astype(np.float32)
    before = (index.ids(), index.search(queries, 20, filter=fs.col("tags") == 3), index.get(index.ids()), index.stats())

    def fail(*args, **kwargs):
        raise RuntimeError("injected failure")
    monkeypatch.setattr(Storage if failing == "write" else IdMap, failing, fail)
    with pytest.raises(RuntimeError, match="injected"):
        index.compact()
    monkeypatch.undo()
    after = (index.ids(), index.search(queries, 20, filter=fs.col("tags") == 3), index.get(index.ids()), index.stats())
    assert torch.equal(before[0], after[0]) and torch.equal(before[1].ids, after[1].ids)
    assert torch.equal(before[2].vectors, after[2].vectors) and before[2].attributes == after[2].attributes
    assert before[3] == after[3]
    index.compact()  # and a later compact still works
    assert torch.equal(index.ids(), before[0]) and index.stats()["deleted"] == 0


def test_compact_after_attribute_writes_that_move_rows_between_partitions_keeps_every_row():
    # Rows moved to new partition keys by set_attributes, then compacted: one row was lost.
    index = fs.Index(6, metric="ip", attributes={"city": "int", "pay": "float", "geo": "tags"},
                     partition_by="city", partition_size=32)
    index.add([0, 1, 2, 3, 4], np.zeros((5, 6), np.float32),
              {"city": [None, None, 1, 1, 3], "pay": [None] * 5, "geo": [[]] * 5})
    index.set_attributes([0, 1, 2, 3], {"pay": [None] * 4, "city": [None, None, 0, 2]})
    index.compact()
    assert len(index) == 5
    assert index.ids().tolist() == [0, 1, 2, 3, 4]
    assert list(index.get([2, 3]).attributes["city"]) == [0, 2]


def test_id_map_removes_after_lookups_match_a_dict_whatever_was_looked_up_before():
    """A remove reuses the positions of the last lookup only when it removes exactly the ids that
    lookup found; any other remove (other ids, a changed probe tensor, a change in between) searches."""
    from flatsearch import idmap
    from flatsearch.idmap import IdMap
    rng = np.random.default_rng(21)
    for fold_below in (0, 50, 10**9):
        previous = idmap.MERGE_MIN
        idmap.MERGE_MIN = fold_below
        try:
            ids, truth = IdMap(torch.device("cpu")), {}
            for step in range(80):
                new = [i for i in rng.choice(400, 40, replace=False).tolist() if i not in truth]
                slots = rng.integers(0, 10_000, len(new))
                ids.insert(torch.tensor(new, dtype=torch.int64), torch.from_numpy(slots))
                truth.update(zip(new, slots.tolist()))
                probe = torch.from_numpy(rng.choice(420, int(rng.integers(1, 300)), replace=False))
                found = ids.lookup(probe)
                assert found.tolist() == [truth.get(i, -1) for i in probe.tolist()], (fold_below, step)
                case = step % 4
                if case == 0:  # what a delete does: remove exactly the ids found
                    gone = probe[found >= 0]
                elif case == 1:  # a subset of them: must not reuse the positions
                    gone = probe[found >= 0][::2]
                elif case == 2:  # the probe tensor changed after the lookup, to other present ids
                    others = np.setdiff1d(np.array(sorted(truth)), probe.numpy())
                    hits = (found >= 0).nonzero().flatten()[:len(others)]
                    probe[hits] = torch.from_numpy(others[:len(hits)])
                    gone = probe[hits].clone()
                else:  # ids looked up long ago, with a change in between
                    ids.lookup(torch.arange(0, 420))
                    extra = int(max(truth) + 1000)
                    ids.insert(torch.tensor([extra]), torch.tensor([1]))
                    truth[extra] = 1
                    gone = torch.tensor(sorted(truth)[::3], dtype=torch.int64)
                ids.remove(gone)
                for i in gone.tolist():
                    del truth[i]
                every = torch.arange(-2, int(max(truth, default=0)) + 3)
                assert ids.lookup(every).tolist() == [truth.get(i, -1) for i in every.tolist()], (fold_below, step)
                assert len(ids) == len(truth) and ids.sorted_ids().tolist() == sorted(truth)
        finally:
            idmap.MERGE_MIN = previous


def _write_path_run(rng_seed: int) -> dict:
    """A churn of adds, deletes, upserts, attribute writes (moving rows between partitions) and a
    compact, with filters reading the attribute indexes in between; everything observable after."""
    rng = np.random.default_rng(rng_seed)
    index = fs.Index(6, metric="l2", attributes={"city": "int", "pay": "float", "geo": "tags", "remote": "bool"},
                     partition_by="city", partition_size=64)
    seen = []
    live = np.array([], dtype=np.int64)
    next_id = 0
    queries = rng.normal(size=(3, 6)).astype(np.float32)
    filters = [fs.col("city") == 2, fs.col("pay") > 0.5, fs.col("geo") == 3, fs.col("remote") == True]  # noqa: E712
    for step in range(24):
        n = int(rng.integers(1, 400))
        ids = np.arange(next_id, next_id + n)
        next_id += n
        index.add(ids, rng.normal(size=(n, 6)).astype(np.float32),
                  {"city": rng.integers(step, step + 6, n), "pay": rng.random(n),
                   "geo": [[int(t) for t in rng.integers(0, 6, int(rng.integers(0, 3)))] for _ in range(n)],
                   "remote": rng.random(n) < 0.5})
        live = np.concatenate([live, ids])
        gone = rng.choice(live, len(live) // 5, replace=False)
        assert index.delete(np.concatenate([gone, [10**9]])) == len(gone)
        live = np.setdiff1d(live, gone)
        again = rng.choice(live, min(len(live), 30), replace=False)
        fresh = np.arange(next_id, next_id + 10)
        next_id += 10
        index.upsert(np.concatenate([again, fresh]), rng.normal(size=(len(again) + 10, 6)).astype(np.float32))
        live = np.concatenate([live, fresh])
        moved = rng.choice(live, min(len(live), 20), replace=False)
        index.set_attributes(moved, {"city": rng.integers(0, 40, len(moved)), "pay": rng.random(len(moved))})
        if step % 8 == 7:
            index.compact()
        for expr in filters:
            seen.append(index.search(queries, 7, filter=expr).ids.tolist())
            seen.append(index.ids(filter=expr).tolist())
    storage = index._storage
    return {"seen": seen, "ids": index.ids().tolist(), "get": index.get(index.ids()), "stats": index.stats(),
            "slot_ids": storage.slot_ids.tolist(), "live": storage.live.tolist(),
            "block_of_slot": storage.block_of_slot.tolist(), "handed_out": storage.handed_out.tolist(),
            "columns": {name: column.tolist() for name, column in storage.columns.items()}}


def test_numpy_write_path_on_a_cpu_matches_the_torch_steps_a_gpu_runs(monkeypatch):
    """The CPU write path runs its bookkeeping in numpy; the same steps in torch (what a CUDA index
    runs) must leave the very same slots, ids, columns and answers."""
    from flatsearch import attribute_index, idmap, storage
    with_numpy = _write_path_run(5)
    for module in (storage, idmap, attribute_index):
        monkeypatch.setattr(module, "NUMPY_ON_CPU", False)
    with_torch = _write_path_run(5)
    assert with_numpy["seen"] == with_torch["seen"]
    for key in ("ids", "stats", "slot_ids", "live", "block_of_slot", "handed_out"):
        assert with_numpy[key] == with_torch[key], key
    assert torch.equal(with_numpy["get"].vectors, with_torch["get"].vectors)
    assert with_numpy["get"].attributes.keys() == with_torch["get"].attributes.keys()
    for name, values in with_numpy["get"].attributes.items():
        assert str(values) == str(with_torch["get"].attributes[name]), name  # str: NaN equals NaN
    assert str(with_numpy["columns"]) == str(with_torch["columns"])
