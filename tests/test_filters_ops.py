"""Comparison.evaluate runs one set of steps on numpy (CPU columns) and on torch (other devices):
the torch steps, run here on CPU tensors, give the same rows for every operator and kind, nulls included."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from flatsearch import filters
from flatsearch.filters import Comparison
from flatsearch.schema import Schema

SCHEMA = Schema({"n": "int", "x": "float", "b": "bool", "t": "time", "g": "tags"})
VALUES = {"n": [0, 3, -7], "x": [0.5, -1.0, 3e38, 0.0], "b": [True, False], "t": [1_000, 5], "g": [2, 9]}


def columns():
    rng = np.random.default_rng(0)
    n = 200
    raw = {"n": [None if v % 7 == 0 else int(v) for v in rng.integers(-8, 8, n)],
           "x": [None if v < 0.1 else float(v) for v in rng.choice([0.5, -1.0, 2.0, 0.1, 0.0, 0.05], n)],
           "b": [None if v == 2 else bool(v) for v in rng.integers(0, 3, n)],
           "t": [None if v % 5 == 0 else int(v) for v in rng.integers(0, 2_000, n)],
           "g": [[int(t) for t in rng.integers(0, 12, rng.integers(0, 4))] for _ in range(n)]}
    return SCHEMA.columns(raw, n, argument="attributes")


@pytest.mark.parametrize("name,op", list(itertools.product(VALUES, filters.OPERATORS)))
def test_torch_steps_equal_numpy_steps(name, op):
    if name == "b" and op in ("lt", "lte", "gt", "gte"):
        pytest.skip("bool supports eq, ne and in")
    data = columns()
    column = data[name]
    for value in VALUES[name]:
        expr = Comparison(name, op, tuple(VALUES[name]) if op == "in" else value)
        host = expr.evaluate(SCHEMA, data)  # a CPU column: the numpy steps
        with np.errstate(over="ignore"):
            device_steps = expr._hits(SCHEMA, SCHEMA.kinds[name], column, filters._TORCH_OPS)
        assert host.dtype == device_steps.dtype == torch.bool
        assert torch.equal(host, device_steps), (name, op, value)
