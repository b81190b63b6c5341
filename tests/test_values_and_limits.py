"""Values are checked as stored, conversions are never silent, deep or large input
fails clearly, and Index and ShardedIndex read every input the same way."""
from __future__ import annotations

import functools
import operator
import pickle

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch.sharded import ShardedIndex


def both(dim=2, **kwargs):
    return fs.Index(dim, **kwargs), ShardedIndex(dim, shards=3, **kwargs)


# -- values checked after the cast to the storage dtype -------------------------------------------

def test_float16_overflow_is_a_value_error_naming_row_and_column():
    """Repro: [1e5, 0] was stored as inf in float16 and ranked first with a NaN score."""
    for index in both(metric="l2", dtype="float16"):
        with pytest.raises(ValueError, match=r"vectors: row 1, column 0: 100000.0 does not fit torch.float16"):
            index.add([1, 2], [[1.0, 0.0], [1e5, 0.0]])
        assert len(index) == 0
        index.add([1], [[65504.0, 0.0]])  # the largest float16 value is fine


def _exact_check(matrix, dtypes):
    """The error text of the exact checks (check_matrix, then to_storage_dtype per dtype), or the cast."""
    from flatsearch._validation import check_matrix, to_storage_dtype
    try:
        checked = check_matrix(matrix, name="vectors", dim=matrix.shape[1])
        return [to_storage_dtype(checked, dtype, name="vectors") for dtype in dtypes][0]
    except ValueError as error:
        return str(error)


@pytest.mark.parametrize("dtypes", [(torch.float32,), (torch.float16,), (torch.bfloat16,),
                                    (torch.float32, torch.float16), (torch.bfloat16, torch.float32)])
def test_one_pass_vector_check_agrees_with_the_exact_checks_at_every_limit(dtypes):
    """check_vectors' single pass may hand back a cast only when the exact checks pass and give
    the same bits; rows straddling float16's range, the squared-norm limit and float32's range
    (squares that overflow though every value is finite) and NaN / Inf rows probe its margins."""
    from flatsearch._validation import SQUARED_NORM_LIMIT, check_vectors
    generator = torch.Generator().manual_seed(7)
    scales = [1.0, 6e4, 6.55e4, 6.6e4, 1e5, SQUARED_NORM_LIMIT ** 0.5 * 0.97, SQUARED_NORM_LIMIT ** 0.5 * 0.999,
              SQUARED_NORM_LIMIT ** 0.5 * 1.001, 1e20, 3e38]
    fast_seen = slow_seen = 0
    for scale in scales:
        for trial in range(20):
            matrix = torch.randn(5, 4, generator=generator)
            matrix = matrix / matrix.norm(dim=1, keepdim=True) * scale
            if trial == 1:
                matrix[3, 2] = float("nan")
            if trial == 2:
                matrix[4, 0] = float("inf")
            if trial == 3:  # one large value: the row's norm is about that value
                matrix[2] = 0.0
                matrix[2, 1] = scale
            expected = _exact_check(matrix, dtypes)
            # A tensor, a float32 numpy array (checked without torch) and one numpy row as a vector.
            for given, rows in ((matrix, matrix), (matrix.numpy(), matrix), (matrix[3].numpy(), matrix[3:4])):
                row_expected = expected if rows is matrix else _exact_check(rows, dtypes)
                try:
                    got, stored = check_vectors(given, name="vectors", dim=4, dtypes=dtypes, allow_vector=True)
                except ValueError as error:
                    assert str(error) == row_expected
                    continue
                assert torch.equal(got, rows)
                if stored is None:  # the caller runs the exact checks
                    slow_seen += 1
                    continue
                fast_seen += 1
                assert not isinstance(row_expected, str), (scale, trial, row_expected)
                assert stored.dtype == dtypes[0] and torch.equal(
                    stored.view(torch.int16 if stored.element_size() == 2 else torch.int32),
                    row_expected.view(torch.int16 if row_expected.element_size() == 2 else torch.int32))
    assert fast_seen and slow_seen  # both paths were exercised


def test_add_reports_the_same_errors_through_the_one_pass_check():
    """Index.add's messages for bad vectors are the exact checks' messages, whichever path found them."""
    cases = [([[1.0, 0.0], [float("nan"), 0.0]], "float32"), ([[1.0, 0.0], [1e5, 0.0]], "float16"),
             ([[1.0, 0.0], [1e19, 1e19]], "float32"), ([[1.0, 0.0], [1e20, 0.0]], "bfloat16")]
    for rows, dtype in cases:
        expected = _exact_check(torch.tensor(rows), (getattr(torch, dtype),))
        assert isinstance(expected, str)
        for index in both(metric="ip", dtype=dtype):
            with pytest.raises(ValueError) as raised:
                index.add([1, 2], rows)
            assert str(raised.value) == expected
            assert len(index) == 0


def test_float16_query_above_65504_is_a_value_error():
    """Repro: a query component above 65504 gave NaN for every row."""
    for index in both(metric="ip", dtype="float16"):
        index.add([1], [[1.0, 0.0]])
        with pytest.raises(ValueError, match=r"queries: row 0, column 1: 70000.0 does not fit torch.float16"):
            index.search([1.0, 7e4], 1)


def test_cosine_of_huge_vectors_normalises_without_overflow():
    """Repro: cosine of [3e38, 3e38] stored zeros."""
    single, sharded = both(metric="cosine")
    for index in (single, sharded):
        index.add([1, 2], [[3e38, 3e38], [1e-30, 0.0]])
        stored = index.get([1, 2]).vectors.cpu()
        assert torch.allclose(stored, torch.tensor([[0.70710677, 0.70710677], [1.0, 0.0]]))
        result = index.search([3e38, -3e38], 2)
        assert result.ids.tolist() == [[2, 1]] and torch.isfinite(result.scores).all()


def test_l2_with_a_squared_norm_overflowing_float32_is_a_value_error():
    """Repro: l2 with [2e19, 0] ranked a NaN first."""
    for index in both(metric="l2"):
        with pytest.raises(ValueError, match=r"vectors: row 0 \(largest value 2e\+19 in column 0\) has a squared norm"):
            index.add([1], [[2e19, 0.0]])
        index.add([1], [[1.0, 0.0]])
        with pytest.raises(ValueError, match=r"queries: row 0 .* squared norm"):
            index.search([2e19, 0.0], 1)


def test_boost_terms_that_overflow_float32_are_value_errors():
    for index in both(attributes={"pay": "float"}):
        index.add([1, 2], np.eye(2, dtype="f4"), {"pay": [3e38, 1.0]})
        with pytest.raises(ValueError, match=r"boost\['pay'\]: weight -10.0 times the largest stored \|pay\|"):
            index.search([1.0, 0.0], 2, boost={"pay": -10.0})
        assert index.search([1.0, 0.0], 2, boost={"pay": 1e-38}).ids.tolist() == [[1, 2]]


# -- silent conversions ---------------------------------------------------------------------------

def test_uint64_above_int64_is_a_value_error():
    """Repro: 2**63 + 5 was stored as a negative number."""
    for index in both(attributes={"c": "int"}):
        with pytest.raises(ValueError, match=r"attributes\['c'\]\[1\]: 9223372036854775813 does not fit int64"):
            index.add([1, 2], np.eye(2), {"c": np.array([1, 2**63 + 5], dtype=np.uint64)})
        with pytest.raises(ValueError, match="does not fit int64"):
            index.add([1], [[1.0, 0.0]], {"c": [2**63 + 5]})
        with pytest.raises(ValueError, match="ids: expected values that fit int64"):
            index.add(np.array([2**63 + 5], dtype=np.uint64), [[1.0, 0.0]])
        assert len(index) == 0


def test_time_of_1e30_is_a_value_error():
    """Repro: a time of 1e30 became null."""
    for index in both(attributes={"t": "time"}):
        with pytest.raises(ValueError, match=r"attributes\['t'\]\[0\].*does not fit int64"):
            index.add([1], [[1.0, 0.0]], {"t": [1e30]})
        with pytest.raises(ValueError, match=r"attributes\['t'\]\[0\]: expected finite seconds that fit int64"):
            index.add([1], [[1.0, 0.0]], {"t": np.array([1e30])})
        assert len(index) == 0


@pytest.mark.parametrize("bound", [5.5, 5.0, 4.999, -0.5, 2**63, 2**63 + 5, -(2**63) - 5, 1e30, -1e30,
                                   float("inf"), float("-inf")])
@pytest.mark.parametrize("op", ["lt", "lte", "gt", "gte", "eq", "ne"])
def test_numeric_bounds_on_int_columns_compare_numerically(op, bound):
    """Repro: {"c": {"lt": 2**63}} matched no row; float bounds on int columns were rejected."""
    values = np.array([-(2**63) + 1, -3, 0, 5, 6, 2**63 - 1])
    expected = {"lt": values < bound, "lte": values <= bound, "gt": values > bound, "gte": values >= bound,
                "eq": values == bound, "ne": values != bound}[op]
    # numpy compares int64 with a float bound after converting to float; use exact Python comparisons instead.
    exact = np.array([{"lt": int(v) < bound, "lte": int(v) <= bound, "gt": int(v) > bound, "gte": int(v) >= bound,
                       "eq": int(v) == bound, "ne": int(v) != bound}[op] for v in values])
    del expected
    ids = np.arange(len(values))
    for index in both(attributes={"c": "int", "tags": "tags"}):
        index.add(ids, np.ones((len(ids), 2)), {"c": values, "tags": [[int(v)] for v in values]})
        assert index.ids(filter={"c": {op: bound}}).tolist() == ids[exact].tolist()
        if op not in ("ne",):
            assert index.ids(filter={"tags": {op: bound}}).tolist() == ids[exact].tolist()
    index = fs.Index(2, attributes={"c": "int"})
    index.add(ids, np.ones((len(ids), 2)), {"c": values})
    assert index.ids(filter=fs.col("c").isin([5.0, 5.5, 2**64, 6])).tolist() == [3, 4]


def test_dict_and_pandas_series_columns_are_read_the_same_by_both_classes():
    """Repro: Index stored a dict's keys, ShardedIndex its values."""
    pd = pytest.importorskip("pandas")
    series = pd.Series([7, 8, 9], index=[2, 0, 1])  # labels that differ from positions
    for index in both(attributes={"c": "int"}):
        with pytest.raises(TypeError, match=r"attributes\['c'\]: expected a sequence of 2 values .* got a dict"):
            index.add([1, 2], np.eye(2), {"c": {0: 7, 1: 8}})
        index.add([1, 2, 3], np.eye(3, 2), {"c": series})
        assert index.get([1, 2, 3]).attributes == {"c": [7, 8, 9]}


# -- valid or deep input that crashed -------------------------------------------------------------

def test_no_queries_with_per_query_filters_returns_shape_0_by_k():
    """Repro: search(zeros((0, dim)), k, filter=[]) raised RuntimeError from torch.stack."""
    for index in both(attributes={"c": "int"}):
        index.add([1], [[1.0, 0.0]], {"c": [1]})
        for filter in ([], None, fs.col("c") == 1):
            result = index.search(np.zeros((0, 2), dtype=np.float32), 4, filter=filter)
            assert tuple(result.ids.shape) == (0, 4) and tuple(result.scores.shape) == (0, 4)


def test_a_chain_of_a_thousand_ands_is_one_level():
    """Repro: functools.reduce(operator.and_, ...) over 1000 comparisons raised RecursionError."""
    chain = functools.reduce(operator.and_, [fs.col("c") != v for v in range(1000)])
    assert len(chain.children) == 1000
    either = functools.reduce(operator.or_, [fs.col("c") == v for v in range(1000)])
    for index in both(attributes={"c": "int"}):
        index.add([1, 2], np.eye(2), {"c": [5, 1000]})
        assert index.ids(filter=chain).tolist() == [2]
        assert index.ids(filter=either).tolist() == [1]
        assert index.search([1.0, 1.0], 2, filter=chain).ids.tolist() == [[2, -1]]


def test_a_json_filter_nested_5000_deep_is_a_clear_value_error():
    """Repro: a JSON filter nested 5,000 deep raised RecursionError."""
    deep = {"c": 5}
    for _ in range(5000):
        deep = {"not": deep}
    objects = fs.col("c") == 5
    for _ in range(5000):
        objects = ~objects
    for index in both(attributes={"c": "int"}):
        index.add([1], [[1.0, 0.0]], {"c": [5]})
        for filter in (deep, objects):
            with pytest.raises(ValueError, match=r"filter: expected and / or / not nested at most 64 deep"):
                index.search([1.0, 0.0], 1, filter=filter)
    previous = fs.set_limits(max_filter_depth=200)
    try:
        nested = {"c": 5}
        for _ in range(200):
            nested = {"not": nested}
        assert fs.Index(2, attributes={"c": "int"}).ids(filter=nested).tolist() == []
    finally:
        fs.set_limits(**vars(previous))
    with pytest.raises(ValueError, match="max_filter_depth: expected at most 200"):
        fs.set_limits(max_filter_depth=10_000)


def test_meta_tensors_and_big_endian_arrays():
    """Repro: meta tensors and big-endian arrays raised errors that did not name the argument."""
    for index in both(attributes={"c": "int"}):
        with pytest.raises(TypeError, match="queries: expected a tensor holding data .* on meta"):
            index.search(torch.zeros(2, device="meta"), 1)
        with pytest.raises(TypeError, match="vectors: expected a tensor holding data"):
            index.add([1], torch.zeros(1, 2, device="meta"))
        index.add(np.array([1, 2], dtype=">i8"), np.eye(2, dtype=">f4"), {"c": np.array([3, 4], dtype=">i8")})
        assert index.search(np.array([0.0, 1.0], dtype=">f8"), 1).ids.tolist() == [[2]]
        assert index.get([1, 2]).attributes == {"c": [3, 4]}


# -- bounded work ---------------------------------------------------------------------------------

def test_huge_k_is_clamped_to_the_rows_then_padded():
    """Repro: k=10**9 on a 100-row index allocated the full padded result and was killed."""
    for index in both():
        index.add(np.arange(100), np.random.default_rng(0).normal(size=(100, 2)))
        result = index.search(np.ones(2), 1000)
        assert tuple(result.ids.shape) == (1, 1000)
        assert (result.ids[0, :100] >= 0).all() and (result.ids[0, 100:] == -1).all()
        with pytest.raises(ValueError, match=r"k: expected at most 16777216 \(fs.set_limits\(max_k=...\)\), got 1000000000"):
            index.search(np.ones(2), 10**9)


def test_isin_lists_are_capped():
    """Repro: an isin over 10M values took about 100 s per search."""
    for index in both(attributes={"c": "int"}):
        with pytest.raises(ValueError, match=r"filter \(c in\): expected at most 100000 values"):
            index.search(np.ones(2), 1, filter={"c": {"in": list(range(100_001))}})


# -- one validation layer -------------------------------------------------------------------------

def test_contains_and_ids_return_the_same_types_from_both_classes():
    single, sharded = both()
    for index in (single, sharded):
        index.add([3, 1], np.eye(2))
    for method in (lambda i: i.contains([1, 2]), lambda i: i.ids()):
        a, b = method(single), method(sharded)
        assert type(a) is type(b) is torch.Tensor and a.dtype == b.dtype and torch.equal(a, b)


def test_zero_vectors_under_cosine_raise_in_both_classes():
    for index in both(metric="cosine"):
        with pytest.raises(ValueError, match="vectors: the cosine metric needs non-zero vectors, got a zero vector in "
                                             "row 1"):
            index.add([1, 2], [[1.0, 0.0], [0.0, 0.0]])
        index.add([1], [[1.0, 0.0]])
        with pytest.raises(ValueError, match="queries: the cosine metric needs non-zero vectors"):
            index.search([0.0, 0.0], 1)


def test_index_pickles_and_matches_after_unpickling():
    index = fs.Index(3, metric="l2", attributes={"c": "int"})
    index.add([4, 5, 6], np.arange(9.0).reshape(3, 3), {"c": [1, 2, 3]})
    copy = pickle.loads(pickle.dumps(index))
    a, b = index.search(np.ones(3), 3, filter=fs.col("c") > 1.5), copy.search(np.ones(3), 3, filter=fs.col("c") > 1.5)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.scores, b.scores) and a.ids.tolist() == [[5, 6, -1]]


def test_boost_overflow_check_sees_values_written_after_an_earlier_search():
    # The largest |value| of a boosted column is cached per storage version; set_attributes must bump it.
    index = fs.Index(2, attributes={"pay": "float"})
    index.add([1, 2], torch.eye(2), {"pay": [1.0, 2.0]})
    assert index.search(torch.tensor([1.0, 0.0]), 2, boost={"pay": 10.0}).ids.tolist() == [[2, 1]]
    index.set_attributes([1], {"pay": [3e38]})
    with pytest.raises(ValueError, match="boost"):
        index.search(torch.tensor([1.0, 0.0]), 2, boost={"pay": 10.0})


def test_a_boost_under_a_selective_filter_scores_like_one_without():
    # The bias is computed at the passing slots only; an unfiltered search over an index of just
    # the passing rows computes it over every slot, and must agree exactly.
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(5000, 4)).astype(np.float32)
    city, pay = rng.integers(0, 1000, 5000), rng.random(5000).astype(np.float32)
    index = fs.Index(4, metric="l2", attributes={"city": "int", "pay": "float"})
    index.add(np.arange(5000), vectors, {"city": city, "pay": pay})
    passing = np.flatnonzero(city == 7)
    alone = fs.Index(4, metric="l2", attributes={"pay": "float"})
    alone.add(passing, vectors[passing], {"pay": pay[passing]})
    queries = rng.normal(size=(3, 4)).astype(np.float32)
    request = index._scan_request(torch.zeros(1, 4), 5, fs.col("city") == 7, {"pay": 2.0})
    assert request.passing_slots.numel() == len(passing) and int((request.bias != 0).sum()) <= len(passing)
    selective = index.search(queries, 5, filter=fs.col("city") == 7, boost={"pay": 2.0})
    expected = alone.search(queries, 5, boost={"pay": 2.0})
    assert torch.equal(selective.ids, expected.ids) and torch.allclose(selective.scores, expected.scores)
