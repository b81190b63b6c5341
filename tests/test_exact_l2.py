"""l2 equals a float64 brute force over the stored vectors, also far from the origin."""
from __future__ import annotations

import numpy as np
import pytest

import flatsearch as fs
from flatsearch.sharded import ShardedIndex


def brute_force(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int, boost: np.ndarray | None = None,
                keep: np.ndarray | None = None):
    """float64 squared distances minus boost; ties by lower id; only ``keep`` rows."""
    v, q = vectors.astype(np.float64), queries.astype(np.float64)
    scores = ((q[:, None, :] - v[None, :, :]) ** 2).sum(axis=2)
    if boost is not None:
        scores = scores - boost[None, :]
    if keep is not None:
        scores[:, ~keep] = np.inf
    order = np.lexsort((np.broadcast_to(ids, scores.shape), scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), ids[order]


def assert_matches_brute_force(index, vectors, ids, queries, k, **search):
    boost = search.pop("boost_values", None)
    keep = search.pop("keep", None)
    expected_scores, expected_ids = brute_force(vectors, ids, queries, k, boost, keep)
    result = index.search(queries, k, **search)
    assert result.ids.cpu().numpy().tolist() == expected_ids.tolist()
    np.testing.assert_allclose(result.scores.cpu().numpy(), expected_scores, rtol=1e-6, atol=1e-6)


def test_l2_is_exact_for_vectors_far_along_one_axis():
    """Repro: vectors at 12345 + i, queries at +0.3: 17 of 25 neighbours wrong, distances 0.0 instead of 0.09."""
    n = 200
    ids = np.arange(n)
    vectors = np.zeros((n, 4), dtype=np.float32)
    vectors[:, 0] = 12345 + np.arange(n)
    queries = np.zeros((25, 4), dtype=np.float32)
    queries[:, 0] = 12345 + np.arange(25) * 7 + 0.3
    for index in (fs.Index(4, metric="l2"), ShardedIndex(4, shards=3, metric="l2")):
        index.add(ids, vectors)
        assert_matches_brute_force(index, vectors, ids, queries.astype(np.float32), 5)
        result = index.search(queries[:1], 1)
        assert abs(float(result.scores[0, 0]) - 0.09) < 1e-3


@pytest.mark.parametrize("shift", [100.0, 1000.0])
def test_l2_recall_is_one_for_shifted_gaussian_data(shift):
    """Repro: 64-d Gaussian data shifted by 1000 gave recall@10 0.442; shifted by 100, 0.988."""
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((3000, 64)) + shift).astype(np.float32)
    queries = (rng.standard_normal((20, 64)) + shift).astype(np.float32)
    ids = rng.choice(10**9, size=3000, replace=False)
    index = fs.Index(64, metric="l2")
    index.add(ids, vectors)
    assert_matches_brute_force(index, vectors, ids, queries, 10)


def test_l2_is_exact_with_boosts_filters_and_float16_storage():
    rng = np.random.default_rng(1)
    n = 2000
    vectors = (rng.standard_normal((n, 16)) * 3 + 500).astype(np.float16)
    pay = rng.integers(0, 50, n).astype(np.float32)
    ids = np.arange(n) * 3
    queries = (rng.standard_normal((8, 16)) * 3 + 500).astype(np.float16)
    index = fs.Index(16, metric="l2", dtype="float16", attributes={"pay": "float"})
    index.add(ids, vectors, {"pay": pay})
    stored = index.get(ids).vectors.float().numpy()
    assert_matches_brute_force(index, stored, ids, queries.astype(np.float32), 7, boost={"pay": 0.5},
                               boost_values=0.5 * pay.astype(np.float64), filter=fs.col("pay") >= 20,
                               keep=pay >= 20)


def test_l2_near_the_origin_keeps_matching_brute_force_with_ties():
    rng = np.random.default_rng(2)
    vectors = rng.integers(-2, 3, size=(500, 6)).astype(np.float32)  # many exact ties
    queries = rng.integers(-2, 3, size=(10, 6)).astype(np.float32)
    ids = rng.permutation(500) + 10
    index = fs.Index(6, metric="l2", partition_size=64)
    index.add(ids, vectors)
    for k in (1, 10, 499, 700):
        assert_matches_brute_force(index, vectors, ids, queries, min(k, 500))
        assert tuple(index.search(queries, k).ids.shape) == (10, k)


def test_l2_with_a_boost_breaks_an_exact_tie_by_the_lower_id():
    # |x9|^2 = 17 and |x10|^2 - 2 * 0.5 = 17: exactly equal, so the lower id comes first
    # (a square root taken and squared again put id 10 ahead by one ulp).
    vectors = np.zeros((12, 6), np.float32)
    vectors[9], vectors[10] = [1, 1, 1, 1, 2, 3], [1, 1, 2, 2, 2, 2]
    pay = [None] * 12
    pay[10] = 0.5
    index = fs.Index(6, metric="l2", attributes={"pay": "float"})
    index.add(np.arange(12), vectors, {"pay": pay})
    result = index.search(np.zeros((1, 6), np.float32), 11, boost={"pay": 2.0})
    assert result.ids[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 9]
    assert result.scores[0, -1].item() == 17.0
