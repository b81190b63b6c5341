"""Every bad input raises a clear exception naming the argument, and a failed call changes nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flatsearch as fs
from flatsearch.sharded import ShardedIndex

KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags", "posted": "time"}


@pytest.fixture
def index():
    index = fs.Index(4, attributes=KINDS, partition_by="city", partition_size=32)
    index.add([1, 2, 3], torch.eye(4)[:3], attributes={"city": [1, 1, 2], "pay": [1.0, None, 3.0],
                                                       "remote": [True, False, None], "geo": [[5], [], [5, 6]],
                                                       "posted": [100, 200, 300]})
    return index


def snapshot(index):
    result = index.search(torch.ones(4), 10)
    rows = index.get([i for i in result.ids[0].tolist() if i >= 0])
    return result.ids.tolist(), result.scores.tolist(), rows.vectors.tolist(), rows.attributes, index.stats()


def assert_unchanged(index, before):
    assert snapshot(index) == before


@pytest.mark.parametrize("call, error, words", [
    # constructor
    (lambda: fs.Index(0), ValueError, "dim"),
    (lambda: fs.Index(4.5), TypeError, "dim"),
    (lambda: fs.Index(4, metric="dot"), ValueError, "metric"),
    (lambda: fs.Index(4, dtype="int8"), ValueError, "dtype"),
    (lambda: fs.Index(4, device="tpu"), ValueError, "device"),
    (lambda: fs.Index(4, partition_size=100), ValueError, "partition_size"),
    (lambda: fs.Index(4, attributes={"a": "string"}), ValueError, "attributes"),
    (lambda: fs.Index(4, attributes={"a": "float"}, partition_by="a"), ValueError, "partition_by"),
    (lambda: fs.Index(4, partition_by="missing"), KeyError, "partition_by"),
    (lambda: fs.Index(4, backend="cuda"), ValueError, "backend"),
])
def test_bad_constructor_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_cuda_is_a_value_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        fs.Index(4, device="cuda")


@pytest.mark.parametrize("ids, vectors, attributes, error, words", [
    ([4], np.ones(4), None, ValueError, r"vectors: expected shape \(n, dim\)"),
    ([4], np.ones((1, 5)), None, ValueError, "vectors: expected dim=4"),
    ([4, 5], np.ones((1, 4)), None, ValueError, "vectors: expected 2 rows"),
    ([4], np.array([[1.0, np.nan, 0, 0]]), None, ValueError, "vectors: expected finite values, got NaN or Inf in row 0"),
    ([4], np.array([[1.0, np.inf, 0, 0]]), None, ValueError, "finite"),
    ([4], np.array([["a", "b", "c", "d"]]), None, TypeError, "vectors"),
    ([4.5], np.ones((1, 4)), None, TypeError, "ids: expected integer ids"),
    ([-4], np.ones((1, 4)), None, ValueError, "ids: expected non-negative ids, got -4"),
    ([4, 4], np.ones((2, 4)), None, ValueError, "ids: expected unique ids, got 4"),
    ([[4]], np.ones((1, 4)), None, ValueError, "ids: expected a 1-D"),
    ([1], np.ones((1, 4)), None, ValueError, "ids: expected ids not already in the index, got 1"),
    ([4], np.ones((1, 4)), {"colour": [1]}, KeyError, "unknown attribute 'colour'"),
    ([4], np.ones((1, 4)), {"city": [1, 2]}, ValueError, r"attributes\['city'\]: expected 1 values"),
    ([4], np.ones((1, 4)), {"city": ["x"]}, TypeError, r"attributes\['city'\]\[0\].*expected an int"),
    ([4], np.ones((1, 4)), {"city": np.array([1.5])}, TypeError, "expected integers"),
    ([4], np.ones((1, 4)), {"pay": ["high"]}, TypeError, "expected a finite number"),
    ([4], np.ones((1, 4)), {"pay": np.array([np.inf])}, ValueError, "Inf"),
    ([4], np.ones((1, 4)), {"remote": [1]}, TypeError, "expected True or False"),
    ([4], np.ones((1, 4)), {"geo": [5]}, TypeError, "expected a list of ints"),
    ([4], np.ones((1, 4)), {"geo": [["a"]]}, TypeError, "expected int tags"),
    ([4], np.ones((1, 4)), {"posted": ["yesterday"]}, TypeError, "seconds since the epoch"),
    ([4], np.ones((1, 4)), "city=1", TypeError, "attributes: expected a dict"),
])
def test_bad_add_changes_nothing(index, ids, vectors, attributes, error, words):
    before = snapshot(index)
    with pytest.raises(error, match=words):
        index.add(ids, vectors, attributes)
    assert_unchanged(index, before)


def test_failed_batch_is_all_or_nothing(index):
    """One bad row in a batch leaves even the good rows out."""
    before = snapshot(index)
    with pytest.raises(ValueError, match="present"):
        index.add([10, 11, 1], np.ones((3, 4)))
    assert 10 not in index and 11 not in index
    with pytest.raises(ValueError, match="row 2"):
        index.upsert([10, 1, 12], np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, np.nan, 0]]))
    assert_unchanged(index, before)


@pytest.mark.parametrize("call, error, words", [
    (lambda i: i.upsert([1], np.ones((1, 3))), ValueError, "vectors: expected dim=4"),
    (lambda i: i.upsert([1, 1], np.ones((2, 4))), ValueError, "unique"),
    (lambda i: i.delete([1.5]), TypeError, "ids"),
    (lambda i: i.delete("1"), TypeError, "ids"),
    (lambda i: i.set_attributes([99], {"pay": [1.0]}), KeyError, "99 is not in the index"),
    (lambda i: i.set_attributes([1], {"pay": ["x"]}), TypeError, "pay"),
    (lambda i: i.set_attributes([1], {"nope": [1]}), KeyError, "nope"),
    (lambda i: i.set_attributes([1], {}), ValueError, "columns"),
    (lambda i: i.set_attributes([1, 2], {"pay": [1.0]}), ValueError, "expected 2 values"),
    (lambda i: i.get([99]), KeyError, "99"),
])
def test_bad_mutations_change_nothing(index, call, error, words):
    before = snapshot(index)
    with pytest.raises(error, match=words):
        call(index)
    assert_unchanged(index, before)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(queries=np.ones(3), k=1), ValueError, "queries: expected dim=4"),
    (dict(queries=np.ones((2, 2, 4)), k=1), ValueError, "queries: expected shape"),
    (dict(queries=np.array([np.nan, 0, 0, 0]), k=1), ValueError, "queries: expected finite"),
    (dict(queries=np.ones(4), k=0), ValueError, "k: expected a positive int, got 0"),
    (dict(queries=np.ones(4), k=-3), ValueError, "k: expected a positive int"),
    (dict(queries=np.ones(4), k=2.0), TypeError, "k: expected a positive int"),
    (dict(queries=np.ones(4), k=1, filter=fs.col("nope") == 1), KeyError, "unknown attribute 'nope'"),
    (dict(queries=np.ones(4), k=1, filter=fs.col("city") == True), TypeError, "expected an int"),
    (dict(queries=np.ones(4), k=1, filter={"pay": {"gte": "high"}}), TypeError, "pay"),
    (dict(queries=np.ones(4), k=1, filter=fs.col("remote") > True), TypeError, "bool"),
    (dict(queries=np.ones(4), k=1, filter={"city": {"approx": 1}}), ValueError, "unknown operator 'approx'"),
    (dict(queries=np.ones(4), k=1, filter={"and": []}), TypeError, "non-empty list"),
    (dict(queries=np.ones(4), k=1, filter="city == 1"), TypeError, "filter"),
    (dict(queries=np.ones((2, 4)), k=1, filter=[None]), ValueError, "one filter per query"),
    (dict(queries=np.ones(4), k=1, boost={"nope": 1.0}), KeyError, "boost"),
    (dict(queries=np.ones(4), k=1, boost={"geo": 1.0}), TypeError, "tags"),
    (dict(queries=np.ones(4), k=1, boost={"pay": float("nan")}), TypeError, "finite"),
    (dict(queries=np.ones(4), k=1, boost={"pay": "1"}), TypeError, "weight"),
    (dict(queries=np.ones(4), k=1, boost=[("pay", 1.0)]), TypeError, "boost: expected a dict"),
])
def test_bad_search_arguments(index, kwargs, error, words):
    with pytest.raises(error, match=words):
        index.search(**kwargs)


@pytest.mark.parametrize("filter, error, words", [
    (fs.col("nope") == 1, KeyError, "unknown attribute 'nope'"),
    (fs.col("city") == True, TypeError, "expected an int"),
    ({"city": {"approx": 1}}, ValueError, "unknown operator 'approx'"),
    ("city == 1", TypeError, "filter"),
    ([fs.col("city") == 1], TypeError, "one filter expression"),
])
def test_bad_ids_filter(index, filter, error, words):
    with pytest.raises(error, match=words):
        index.ids(filter=filter)
    sharded = ShardedIndex(4, shards=2, attributes=KINDS)
    with pytest.raises(error, match=words):
        sharded.ids(filter=filter)


def test_filter_expressions_have_no_truth_value():
    with pytest.raises(TypeError, match="no truth value"):
        bool(fs.col("a") == 1)
    with pytest.raises(TypeError, match="expected a filter expression"):
        (fs.col("a") == 1) & True
    with pytest.raises(TypeError, match="filter value"):
        fs.col("a") == "x"


def test_cosine_rejects_zero_vectors():
    index = fs.Index(3, metric="cosine")
    with pytest.raises(ValueError, match="non-zero"):
        index.add([1], np.zeros((1, 3)))
    assert len(index) == 0
    index.add([1], np.ones((1, 3)))
    with pytest.raises(ValueError, match="queries"):
        index.search(np.zeros(3), 1)


def test_k_larger_than_rows_pads(index):
    result = index.search(np.ones(4), 7)
    assert result.ids[0, 3:].tolist() == [-1] * 4
    assert torch.isinf(result.scores[0, 3:]).all() and (result.scores[0, 3:] < 0).all()


def test_unknown_ids_are_skipped_by_delete(index):
    assert index.delete([2, 99, 2, -7]) == 1
    assert len(index) == 2 and 2 not in index and "2" not in index


def test_merge_results_rejects_bad_input():
    result = fs.SearchResult(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="results"):
        fs.merge_results(result, 2)
    with pytest.raises(ValueError, match="metric"):
        fs.merge_results([result], 2, metric="cos")
    with pytest.raises(ValueError, match="k"):
        fs.merge_results([result], 0)
    with pytest.raises(ValueError, match=r"results\[1\]"):
        fs.merge_results([result, fs.SearchResult(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.int64))], 2)


def test_triton_backend_on_cpu_without_the_interpreter_says_why():
    """Run in a fresh interpreter: another test module turns TRITON_INTERPRET on for this session."""
    import os
    import subprocess
    import sys
    env = {key: value for key, value in os.environ.items() if key not in ("TRITON_INTERPRET", "FLATSEARCH_BACKEND")}
    code = ("import flatsearch as fs\n"
            "try:\n    fs.Index(4, backend='triton')\nexcept ValueError as error:\n    print('ValueError:', error)\n")
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "ValueError: backend='triton' cannot run on device cpu" in output.stdout, output.stdout + output.stderr
