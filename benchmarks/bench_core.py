"""Micro benchmarks of the core operations, one ``provider`` switch per operation.

    pytest benchmarks --benchmark-only                 # timings, grouped by operation
    pytest benchmarks --benchmark-only --benchmark-group-by=group --benchmark-sort=mean

Every benchmark also checks its result against exact ground truth, so a fast
wrong answer fails. Timings are never asserted.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsbench import synthetic
from fsbench.competitors.base import FilterSpec, Rows
from fsbench.competitors.faiss_side import FaissFlatAdapter
from fsbench.competitors.flatsearch_side import FlatsearchAdapter
from fsbench.competitors.torch_side import TorchTopkAdapter
from fsbench.groundtruth import exact_topk

PROVIDERS = {"flatsearch": lambda: FlatsearchAdapter(device="cpu"), "torch-topk": lambda: TorchTopkAdapter(),
             "faiss-flat": FaissFlatAdapter}
SELECTIVITY = 0.01
MICRO_N, MICRO_DIM, MICRO_NQ, MICRO_K, MICRO_CHURN = 50_000, 256, 64, 10, 5_000


@pytest.fixture(scope="session")
def micro_data():
    """Base rows, churn rows, queries and the ids churn deletes, all seeded."""
    shape = synthetic.ClusteredSpec(dim=MICRO_DIM, n_clusters=200, seed=1)
    rng = np.random.default_rng(1)
    base = Rows(np.arange(MICRO_N, dtype=np.int64), synthetic.base_vectors(shape, MICRO_N),
                rng.random(MICRO_N, dtype=np.float32))
    churn = Rows(np.arange(MICRO_N, MICRO_N + MICRO_CHURN, dtype=np.int64),
                 synthetic.extra_vectors(shape, MICRO_CHURN), rng.random(MICRO_CHURN, dtype=np.float32))
    delete_ids = rng.choice(MICRO_N, size=MICRO_CHURN, replace=False).astype(np.int64)
    return {"base": base, "churn": churn, "queries": synthetic.query_vectors(shape, MICRO_NQ),
            "delete_ids": delete_ids}


@pytest.fixture(params=sorted(PROVIDERS))
def built(request, micro_data):
    adapter = PROVIDERS[request.param]()
    adapter.build(micro_data["base"])
    yield adapter
    adapter.close()


def _assert_same_ids(found: np.ndarray, expected: np.ndarray, what: str) -> None:
    mismatched = np.flatnonzero((found != expected).any(axis=1))
    if mismatched.size:
        row = mismatched[0]
        raise AssertionError(f"{what}: {mismatched.size} queries differ from exact search; "
                             f"first is query {row}: got {found[row].tolist()}, expected {expected[row].tolist()}")


def test_search(benchmark, built, micro_data):
    benchmark.group = "search nq=64 k=10"
    queries = built.prepare_queries(micro_data["queries"])
    result = benchmark(built.search, queries, MICRO_K, {})
    expected = exact_topk(micro_data["base"].vectors, micro_data["queries"], MICRO_K).numpy()
    _assert_same_ids(built.result_ids(result), expected, built.label)


def test_filtered_search(benchmark, built, micro_data):
    benchmark.group = f"search, {SELECTIVITY:.0%} of rows pass the filter"
    base = micro_data["base"]
    spec = FilterSpec(threshold=SELECTIVITY, keep_by_id=base.r < SELECTIVITY)
    queries = built.prepare_queries(micro_data["queries"])
    prepared = built.prepare_filter(spec)
    result = benchmark(built.search, queries, MICRO_K, {}, prepared)
    keep = torch.from_numpy(spec.keep_by_id)
    expected = exact_topk(base.vectors, micro_data["queries"], MICRO_K, keep=keep).numpy()
    _assert_same_ids(built.result_ids(result), expected, built.label)


@pytest.mark.parametrize("operation", ["insert", "delete"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_churn(benchmark, provider, operation, micro_data):
    benchmark.group = f"{operation} {MICRO_CHURN} rows"
    adapters = []

    def fresh():
        adapter = PROVIDERS[provider]()
        adapter.build(micro_data["base"])
        adapters.append(adapter)
        payload = micro_data["churn"] if operation == "insert" else micro_data["delete_ids"]
        return (payload,), {}

    benchmark.pedantic(lambda payload: getattr(adapters[-1], operation)(payload), setup=fresh, rounds=3)
    adapter = adapters[-1]
    queries = adapter.prepare_queries(micro_data["queries"])
    found = adapter.result_ids(adapter.search(queries, MICRO_K, {}))
    base, churn = micro_data["base"], micro_data["churn"]
    if operation == "insert":
        vectors, ids = torch.cat([base.vectors, churn.vectors]), np.concatenate([base.ids, churn.ids])
    else:
        survivors = ~np.isin(base.ids, micro_data["delete_ids"])
        vectors, ids = base.vectors[torch.from_numpy(survivors)], base.ids[survivors]
    expected = ids[exact_topk(vectors, micro_data["queries"], MICRO_K).numpy()]
    _assert_same_ids(found, expected, f"{adapter.label} after {operation}")
