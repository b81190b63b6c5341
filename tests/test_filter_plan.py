"""Filter plans over attribute indexes return exactly what a full column scan returns."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch import attribute_index, filter_plan, idmap
from flatsearch.bitmask import pack_bits, pack_slots, popcount, word_popcount
from flatsearch.filters import And, Comparison, Not

KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags", "posted": "time"}
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")


def _columns(rng, n):
    city = [None if rng.random() < 0.15 else int(rng.integers(0, 6)) for _ in range(n)]
    pay = [None if rng.random() < 0.15 else float(rng.choice([0.5, 1.0, 1.5, 2.25, -0.0, 0.0])) for _ in range(n)]
    remote = [None if rng.random() < 0.2 else bool(rng.random() < 0.4) for _ in range(n)]
    geo = [None if rng.random() < 0.1 else [int(t) for t in rng.integers(0, 6, rng.integers(0, 4))] for _ in range(n)]
    posted = [None if rng.random() < 0.15 else int(rng.integers(1000, 1006)) for _ in range(n)]
    return {"city": city, "pay": pay, "remote": remote, "geo": geo, "posted": posted}


def _churned_index(seed=0, n=400, partition_by=None):
    """An index whose attribute indexes were built early and then maintained through every kind of write."""
    rng = np.random.default_rng(seed)
    index = fs.Index(4, attributes=KINDS, partition_size=64, partition_by=partition_by)
    index.add(np.arange(n), rng.normal(size=(n, 4)).astype(np.float32), _columns(rng, n))
    for name in KINDS:  # build every attribute index now, so later writes must maintain them
        index._storage.attribute_index(name)
    index.delete(rng.choice(n, 120, replace=False))
    index.add(np.arange(n, n + 150), rng.normal(size=(150, 4)).astype(np.float32), _columns(rng, 150))
    upserted = rng.choice(n + 150, 60, replace=False)
    partial = {name: values for name, values in _columns(rng, 60).items() if name in ("pay", "geo")}
    index.upsert(upserted, rng.normal(size=(60, 4)).astype(np.float32), partial)
    live = index.ids().numpy()
    changed = rng.choice(live, 40, replace=False)
    index.set_attributes(changed, {"city": _columns(rng, 40)["city"], "posted": _columns(rng, 40)["posted"]})
    return index


def _values(kind):
    return {"int": [0, 3, 5, 9], "float": [0.0, 1.0, 1.7, 2.25], "bool": [True, False], "time": [1000, 1003, 1005],
            "tags": [0, 2, 5, 7]}[kind]


def _comparisons():
    for name, kind in KINDS.items():
        for op in OPERATORS:
            if kind == "bool" and op in ("lt", "lte", "gt", "gte"):
                continue
            if op == "in":
                values = _values(kind)
                yield Comparison(name, "in", tuple(values[:2]))
                yield Comparison(name, "in", ())
            else:
                for value in _values(kind):
                    yield Comparison(name, op, value)


def _scan_reference(index, expr):
    storage = index._storage
    return (storage.live & expr.evaluate(index.schema, storage.columns)).nonzero().flatten().tolist()


def _planned(index, expr, fraction):
    selection = filter_plan.select(expr, index.schema, index._storage, max_fraction=fraction)
    slots = selection.as_slots()
    if selection.slots is not None:
        assert bool((slots[1:] > slots[:-1]).all())  # sorted and unique
    return slots.tolist()


@pytest.mark.parametrize("fold_below", [None, 0, 50])
@pytest.mark.parametrize("fraction", [0.0, 0.05, 1.0])
def test_every_operator_and_kind_matches_the_column_scan(fraction, fold_below, monkeypatch):
    if fold_below is not None:  # writes folded into the main run at every write (0), or now and then (50)
        monkeypatch.setattr(attribute_index, "DELTA_MIN", fold_below)
        monkeypatch.setattr(idmap, "MERGE_MIN", fold_below)
    index = _churned_index()
    compared = 0
    for expr in _comparisons():
        assert _planned(index, expr, fraction) == _scan_reference(index, expr), (fraction, expr)
        compared += 1
    assert compared > 80


@pytest.mark.parametrize("fraction", [0.0, 0.05, 1.0])
def test_combinations_match_the_column_scan(fraction):
    index = _churned_index(seed=1, partition_by="city")
    rng = np.random.default_rng(2)
    leaves = list(_comparisons())
    for _ in range(150):
        a, b, c = (leaves[i] for i in rng.choice(len(leaves), 3))
        for expr in (a & b, a | b, ~a, (a | b) & c, a & ~b, (a & b) | ~c, ~(a | b) & c):
            assert _planned(index, expr, fraction) == _scan_reference(index, expr), (fraction, expr)


def test_indexes_survive_compact_and_save_load():
    index = _churned_index(seed=3)
    expr = (fs.col("geo") == 2) | ((fs.col("city") >= 4) & (fs.col("pay") != 1.0))
    before = index.ids(filter=expr).tolist()
    index.compact()
    assert index.ids(filter=expr).tolist() == before
    path = os.path.join(tempfile.mkdtemp(), "index.fsx")
    index.save(path)
    loaded = fs.Index.load(path)
    for fraction in (0.0, 1.0):
        assert [loaded._storage.slot_ids[s].item() for s in _planned(loaded, expr, fraction)] == \
            [loaded._storage.slot_ids[s].item() for s in _scan_reference(loaded, expr)]
    assert loaded.ids(filter=expr).tolist() == before


def test_a_selective_filter_is_answered_from_postings():
    rng = np.random.default_rng(4)
    index = fs.Index(4, attributes={"city": "int", "pay": "float"})
    index.add(np.arange(20_000), rng.normal(size=(20_000, 4)).astype(np.float32),
              {"city": rng.integers(0, 1000, 20_000), "pay": rng.random(20_000)})
    selective = filter_plan.select((fs.col("city") == 7) & (fs.col("pay") > 0.5), index.schema, index._storage)
    loose = filter_plan.select(fs.col("pay") > 0.5, index.schema, index._storage)
    assert selective.slots is not None and selective.mask is None
    assert loose.mask is not None
    request = index._scan_request(torch.zeros(1, 4), 5, fs.col("city") == 7, {})
    assert request.keep is None and torch.equal(request.passing_slots, index._storage.live.nonzero().flatten()[
        (index._storage.columns["city"] == 7)[index._storage.live]])


def test_packed_slots_and_popcounts_match_the_bool_path():
    rng = np.random.default_rng(5)
    for n in (1, 31, 32, 33, 1000, 4099):
        keep = torch.from_numpy(rng.random(n) < 0.3)
        keep[-1] = True  # bit 31 of the last word is set for n = 32
        words = pack_bits(keep)
        assert torch.equal(pack_slots(keep.nonzero().flatten(), n), words)
        assert torch.equal(word_popcount(words), popcount(words.unsqueeze(-1)))
    assert pack_slots(torch.tensor([31]), 32).tolist() == [-2**31]


def test_ranges_with_hits_lists_exactly_the_blocks_holding_passing_rows():
    index = _churned_index(seed=6, partition_by="city")
    storage = index._storage
    for expr in (fs.col("city") == 2, fs.col("geo") == 1, fs.col("pay") > 100.0, None):
        keep = storage.live if expr is None else storage.live & expr.evaluate(index.schema, storage.columns)
        blocks = sorted((b.start, b.start + b.fill) for b in storage.blocks if b.fill and bool(keep[b.start:b.start + b.fill].any()))
        merged = []
        for start, stop in blocks:  # the previous, per-block loop, as the reference
            if merged and merged[-1][1] == start and start not in storage.arena_starts:
                merged[-1][1] = stop
            else:
                merged.append([start, stop])
        assert index._ranges_with_hits(pack_bits(keep)).tolist() == merged


def test_attribute_index_keeps_current_entries_through_deltas_and_folds(monkeypatch):
    """Random writes into a SortedColumn, folding or not, against the column it indexes."""
    from flatsearch.attribute_index import SortedColumn
    rng = np.random.default_rng(7)
    for fold_below in (0, 20, 10**9):
        monkeypatch.setattr(attribute_index, "DELTA_MIN", fold_below)
        column = torch.from_numpy(rng.integers(0, 8, 300))
        index = SortedColumn.build(column, "int")
        for _ in range(40):
            slots = torch.from_numpy(rng.choice(400, int(rng.integers(1, 60)), replace=False))
            new = torch.from_numpy(rng.integers(-1, 8, len(slots)))
            new[new < 0] = torch.iinfo(torch.int64).min  # null
            if int(slots.max()) >= len(column):
                column = torch.cat([column, torch.full((400 - len(column),), torch.iinfo(torch.int64).min)])
            index.write(slots, column[slots], new)
            column[slots] = new
            for value in range(8):
                for op in ("eq", "lt", "gte", "ne"):
                    got = sorted(torch.unique(index.slots_between(*index.bounds(op, value))).tolist())
                    present = column != torch.iinfo(torch.int64).min
                    truth = {"eq": column == value, "lt": column < value, "gte": column >= value,
                             "ne": column != value}[op] & present
                    assert got == truth.nonzero().flatten().tolist(), (fold_below, op, value)
            assert len(index) == int(present.sum())


def test_id_map_lookups_survive_removes_re_adds_and_folds(monkeypatch):
    from flatsearch.idmap import IdMap
    rng = np.random.default_rng(8)
    for fold_below in (0, 10, 10**9):
        monkeypatch.setattr(idmap, "MERGE_MIN", fold_below)
        ids, truth = IdMap(torch.device("cpu")), {}
        for step in range(60):
            if truth and rng.random() < 0.4:
                gone = rng.choice(sorted(truth), min(len(truth), int(rng.integers(1, 20))), replace=False)
                ids.remove(torch.from_numpy(gone))
                for i in gone:
                    del truth[int(i)]
            else:
                new = [i for i in rng.choice(200, 25, replace=False).tolist() if i not in truth]
                slots = rng.integers(0, 10_000, len(new))
                ids.insert(torch.tensor(new, dtype=torch.int64), torch.from_numpy(slots))
                truth.update(zip(new, slots.tolist()))
            probe = torch.arange(-2, 205)
            assert ids.lookup(probe).tolist() == [truth.get(i, -1) for i in probe.tolist()], (fold_below, step)
            assert len(ids) == len(truth) and ids.sorted_ids().tolist() == sorted(truth)


def test_per_query_filters_planned_to_slots_match_one_search_per_query():
    rng = np.random.default_rng(9)
    index = fs.Index(4, attributes={"city": "int", "geo": "tags", "pay": "float"})
    index.add(np.arange(20_000), rng.normal(size=(20_000, 4)).astype(np.float32),
              {"city": rng.integers(0, 1000, 20_000), "geo": [[int(t)] for t in rng.integers(0, 500, 20_000)],
               "pay": rng.random(20_000)})
    filters = [fs.col("city") == 7, fs.col("geo").isin([3, 4]) & (fs.col("pay") > 0.3), fs.col("city") == 7]
    queries = rng.normal(size=(3, 4)).astype(np.float32)
    request = index._scan_request(torch.from_numpy(queries), 6, filters, {"pay": 1.0})
    assert request.candidate_slots is not None and request.keep is None and request.mask_words.shape[0] == 3
    together = index.search(queries, 5, filter=filters, boost={"pay": 1.0})
    for row, expr in enumerate(filters):
        alone = index.search(queries[row], 5, filter=expr, boost={"pay": 1.0})
        assert together.ids[row].tolist() == alone.ids[0].tolist()
        torch.testing.assert_close(together.scores[row], alone.scores[0], rtol=1e-6, atol=1e-6)  # matmul shapes differ


@pytest.mark.parametrize("fraction", [None, 0.0, 1.0])
def test_per_query_plans_equal_each_filter_scanned_alone(fraction):
    """Per-query filters planned together (common clauses once, the rest at their rows; the union of
    postings; or masks when loose) select exactly what each filter's full scan selects."""
    index = _churned_index(seed=8)
    storage, schema = index._storage, index.schema
    comparisons = [c for c in _comparisons() if not (c.op == "in" and not c.value)]
    rng = np.random.default_rng(9)
    for _ in range(60):
        base = [comparisons[i] for i in rng.choice(len(comparisons), int(rng.integers(1, 3)), replace=False)]
        extra = [comparisons[i] for i in rng.choice(len(comparisons), 2, replace=False)]
        shapes = [[*base], [*base, extra[0]], [*base, Not(extra[1])]] if rng.random() < 0.7 else \
            [[extra[0]], [extra[1]]]
        exprs = [clauses[0] if len(clauses) == 1 else And(tuple(clauses)) for clauses in shapes]
        for limit in (0, 40, 10**9):
            planned = filter_plan.select_per_query(exprs, schema, storage, max_candidates=limit, max_fraction=fraction)
            if planned is None:
                continue
            for row, expr in enumerate(exprs):
                expected = (expr.evaluate(schema, storage.columns) & storage.live).nonzero().flatten()
                if planned.mask is not None:
                    got = planned.mask[row].nonzero().flatten()
                else:
                    assert planned.slots.numel() <= limit
                    assert bool((planned.slots[1:] > planned.slots[:-1]).all())
                    got = planned.slots[planned.keep[row]]
                assert got.tolist() == expected.tolist(), (fraction, limit, expr.to_dict())
    assert filter_plan.select_per_query([None, exprs[0]], schema, storage, max_candidates=10**9) is None


@pytest.mark.parametrize("fraction", [0.0, 0.05, 1.0])
def test_nulls_never_match_a_comparison_in_scans_and_plans(fraction):
    """Comparisons skip their null test where a null already fails them; checked against
    the reference semantics (a null row matches no comparison, ``ne`` included)."""
    from reference_model import matches

    rng = np.random.default_rng(7)
    n = 300
    rows = _columns(rng, n)
    index = fs.Index(4, attributes=KINDS, partition_size=64)
    index.add(np.arange(n), rng.normal(size=(n, 4)).astype(np.float32), rows)
    extra = [Comparison("posted", "gte", -(2**63) + 1), Comparison("city", "gt", -(2**63) + 1),
             Comparison("pay", "lt", 3.5e38), Comparison("remote", "in", (True, False))]
    compared = 0
    for expr in [*_comparisons(), *extra]:
        for tree in (expr, Not(expr)):
            expected = [slot for slot in range(n)
                        if matches(tree.to_dict(), {name: rows[name][slot] for name in KINDS}, KINDS)]
            assert _scan_reference(index, tree) == expected, tree
            assert _planned(index, tree, fraction) == expected, (fraction, tree)
            compared += 1
    assert compared > 160
