"""Random sequences of mutations and searches, compared with a brute-force model.

Vectors, queries, attribute values and boost weights are small integers (or
halves), so every score is exact in float32, float16 and bfloat16 and the
comparison is exact; ties are frequent and must follow the documented rule
(lower id first).
"""
from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import flatsearch as fs
from flatsearch import attribute_index, filter_plan, idmap, torch_scan
from flatsearch import storage as storage_module
from reference_model import ModelIndex

DIM = 6
KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags", "posted": "time"}
ID_POOL = st.integers(min_value=0, max_value=60)

coordinates = st.lists(st.integers(-3, 3), min_size=DIM, max_size=DIM)
city = st.one_of(st.none(), st.integers(0, 3))
pay = st.one_of(st.none(), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))
remote = st.one_of(st.none(), st.booleans())
geo = st.lists(st.integers(0, 5), max_size=3)
posted = st.one_of(st.none(), st.integers(1_000, 1_010))


def leaf_filters():
    return st.one_of(
        st.builds(lambda v, op: {"city": {op: v}}, st.integers(0, 3), st.sampled_from(["eq", "ne", "lt", "gte"])),
        st.builds(lambda v: {"city": {"in": v}}, st.lists(st.integers(0, 3), min_size=1, max_size=3)),
        st.builds(lambda v, op: {"pay": {op: v}}, st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from(["gt", "lte", "ne"])),
        st.builds(lambda v: {"remote": v}, st.booleans()),
        st.builds(lambda v, op: {"geo": {op: v}}, st.integers(0, 5), st.sampled_from(["eq", "ne", "gt"])),
        st.builds(lambda v: {"geo": {"in": v}}, st.lists(st.integers(0, 5), min_size=1, max_size=2)),
        st.builds(lambda v: {"posted": {"gte": v}}, st.integers(1_000, 1_010)),
    )


filters = st.recursive(leaf_filters(), lambda children: st.one_of(
    st.builds(lambda c: {"and": c}, st.lists(children, min_size=2, max_size=3)),
    st.builds(lambda c: {"or": c}, st.lists(children, min_size=2, max_size=3)),
    st.builds(lambda c: {"not": c}, children),
), max_leaves=4)
boosts = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "pay": st.sampled_from([-1.0, 0.5, 2.0]), "city": st.sampled_from([1.0, -0.5]), "remote": st.sampled_from([1.5, 3.0]),
}))


@contextlib.contextmanager
def _threshold(module, name, value):
    """Set ``module.name`` to ``value`` for the block (None leaves the default)."""
    saved = getattr(module, name)
    if value is not None:
        setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def gathering(fraction):
    """Force the torch scan's strategy: 0.0 scans ranges, 1.0 gathers the passing rows, None is the default."""
    return _threshold(torch_scan, "GATHER_MAX_FRACTION", fraction)


def planned_by(fraction):
    """Force the filter plan: 0.0 scans columns, 1.0 reads postings wherever it can, None is the default."""
    return _threshold(filter_plan, "POSTINGS_MAX_FRACTION", fraction)


@contextlib.contextmanager
def pruning():
    """Force the torch scan's bounded pre-scan (int8 bounds, then exact rescoring) on every float32 search."""
    with _threshold(torch_scan, "PRUNE_MIN_ROWS", 0), _threshold(torch_scan, "PRUNE_MIN_RATIO", 0), \
            _threshold(torch_scan, "PRUNE_MAX_FRACTION", 1.0), _threshold(torch_scan, "PRUNE_MAX_QUERIES", 3), \
            _threshold(torch_scan, "_int8_products_fast", lambda dim: True), \
            _threshold(storage_module, "COARSE_BUILD_AFTER", 0), \
            _threshold(storage_module, "COARSE_STEP_MIN_ROWS", 1 << 40):
        yield


def rows(draw_ids):
    return st.builds(lambda ids, data: (ids, data), draw_ids, st.data())


class IndexVersusModel(RuleBasedStateMachine):
    @initialize(metric=st.sampled_from(["ip", "l2"]), dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
                partition_by=st.sampled_from([None, "city"]), partition_size=st.sampled_from([32, 64, 65536]),
                fold_below=st.sampled_from([0, 6, None]))
    def build(self, metric, dtype, partition_by, partition_size, fold_below):
        # The id map and attribute indexes keep writes in a delta folded in past a size: 0 folds
        # at nearly every write, 6 now and then, None (the default) never at these sizes.
        self.saved_minimums = (idmap.MERGE_MIN, attribute_index.DELTA_MIN)
        if fold_below is not None:
            idmap.MERGE_MIN = attribute_index.DELTA_MIN = fold_below
        self.index = fs.Index(DIM, metric=metric, dtype=dtype, attributes=KINDS, partition_by=partition_by,
                              partition_size=partition_size)
        self.model = ModelIndex(metric=metric, kinds=KINDS)
        self.directory = tempfile.mkdtemp()

    def _draw_rows(self, data, ids):
        n = len(ids)
        vectors = np.array([data.draw(coordinates) for _ in range(n)], dtype=np.float32).reshape(n, DIM)
        columns = {
            "city": [data.draw(city) for _ in range(n)], "pay": [data.draw(pay) for _ in range(n)],
            "remote": [data.draw(remote) for _ in range(n)], "geo": [data.draw(geo) for _ in range(n)],
            "posted": [data.draw(posted) for _ in range(n)],
        }
        given = data.draw(st.sets(st.sampled_from(sorted(KINDS)), min_size=3))
        return vectors, {name: column for name, column in columns.items() if name in given}

    @rule(data=st.data(), ids=st.sets(ID_POOL, min_size=1, max_size=12))
    def add(self, data, ids):
        ids = sorted(i for i in ids if i not in self.model.rows)
        if not ids:
            return
        vectors, columns = self._draw_rows(data, ids)
        self.index.add(np.array(ids), vectors, attributes=columns)
        self.model.add(ids, vectors, columns)

    @rule(data=st.data(), ids=st.sets(ID_POOL, min_size=1, max_size=8))
    def upsert(self, data, ids):
        ids = sorted(ids)
        vectors, columns = self._draw_rows(data, ids)
        self.index.upsert(torch.tensor(ids), torch.from_numpy(vectors), attributes=columns)
        self.model.upsert(ids, vectors, columns)

    @rule(ids=st.lists(ID_POOL, max_size=10))
    def delete(self, ids):
        assert self.index.delete(ids) == self.model.delete(ids)

    @precondition(lambda self: self.model.rows)
    @rule(data=st.data())
    def set_attributes(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model.rows)), min_size=1, max_size=5, unique=True))
        columns = {"pay": [data.draw(pay) for _ in ids]}
        if data.draw(st.booleans()):
            columns["city"] = [data.draw(city) for _ in ids]
        self.index.set_attributes(ids, columns)
        self.model.set_attributes(ids, columns)

    @rule()
    def compact(self):
        self.index.compact()
        assert self.index.stats()["deleted"] == 0

    @rule()
    def save_and_load(self):
        path = os.path.join(self.directory, "index.fsx")
        self.index.save(path)
        self.index = fs.Index.load(path)

    @rule(data=st.data(), nq=st.integers(1, 3), k=st.integers(1, 70), boost=boosts,
          per_query=st.sampled_from([False, "independent", "with preferences"]), same_query=st.booleans())
    def search(self, data, nq, k, boost, per_query, same_query):
        queries = np.array([data.draw(coordinates) for _ in range(1 if same_query else nq)], dtype=np.float32)
        queries = np.tile(queries, (nq, 1)) if same_query else queries
        if per_query == "independent":
            filter_dicts = [data.draw(st.one_of(st.none(), filters)) for _ in range(nq)]
            argument = filter_dicts
        elif per_query:
            # As the job search sends them: one filter, and the same ANDed with a preference per query
            # (planned once from their common clauses).
            base = data.draw(filters)
            filter_dicts = [base] + [{"and": [base, data.draw(leaf_filters())]} for _ in range(nq - 1)]
            argument = filter_dicts
        else:
            shared = data.draw(st.one_of(st.none(), filters))
            filter_dicts = [shared] * nq
            argument = shared if shared is None or data.draw(st.booleans()) else fs.Filter.from_dict(shared)
        expected = [self.model.search(queries[row], k, filter_dicts[row], boost) for row in range(nq)]
        # The default plan, then every filter answered by a column scan, then by postings wherever
        # possible; the torch scan gathering its default share of rows, none, or all it can.
        # Last, the bounded pre-scan on every search it can take (float32 rows).
        for fraction, gather, prune in ((None, None, False), (0.0, 0.0, False), (1.0, 0.0, False), (0.0, 1.0, False),
                                        (1.0, 1.0, False), (None, None, True), (0.0, 0.0, True)):
            with planned_by(fraction), gathering(gather), (pruning() if prune else contextlib.nullcontext()):
                result = self.index.search(queries, k, filter=argument, boost=boost)
                passing = None if filter_dicts[0] is None else self.index.ids(filter=filter_dicts[0]).tolist()
            assert result.scores.shape == result.ids.shape == (nq, k)
            for row, (scores, ids) in enumerate(expected):
                assert result.ids[row].tolist() == ids, (fraction, filter_dicts[row], boost, result.ids[row].tolist(), ids)
                np.testing.assert_allclose(result.scores[row].double().numpy(), np.array(scores), rtol=1e-6, atol=1e-6)
            if passing is not None:
                assert passing == self.model.passing_ids(filter_dicts[0]), (fraction, filter_dicts[0])

    def teardown(self):
        if hasattr(self, "saved_minimums"):
            idmap.MERGE_MIN, attribute_index.DELTA_MIN = self.saved_minimums

    @invariant()
    def same_rows(self):
        assert len(self.index) == len(self.model.rows)
        stats = self.index.stats()
        assert stats["live"] == len(self.model.rows) and stats["rows"] == stats["live"] + stats["deleted"]


IndexVersusModel.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])
TestIndexVersusModel = IndexVersusModel.TestCase
