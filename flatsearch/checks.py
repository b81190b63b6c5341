"""The argument checks of one index configuration, shared by :class:`fs.Index` and
:class:`fs.ShardedIndex` (and so RayIndex): both accept and reject exactly the
same inputs with the same messages, because both call these functions.

Limits on the work one call may ask for live in :data:`LIMITS` and can be
changed with :func:`set_limits`:

- ``max_k`` (default 2**24): the largest ``k`` a search accepts. A search never
  scans for more candidates than the index has live rows; larger ``k`` is padded.
- ``max_isin_values`` (default 100,000): values in one ``isin`` list.
- ``max_filter_depth`` (default 64, at most 200): nesting of and / or / not in
  one filter (a chain of ``&`` or of ``|`` is one level however long).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from . import filters as filter_module
from ._validation import (check_ids, check_matrix, check_positive_int, check_unique, check_vectors, describe,
                          to_storage_dtype)
from .schema import Schema, StoredColumns


@dataclasses.dataclass
class Limits:
    max_k: int = 2**24
    max_isin_values: int = 100_000
    max_filter_depth: int = 64


LIMITS = Limits()
COMPILED_FILTERS = 4096  # checked dict filters kept per index (all dropped when full)
_MAX_FILTER_DEPTH = 200  # filters are walked recursively when evaluated; this keeps far from Python's limit


def set_limits(*, max_k: int | None = None, max_isin_values: int | None = None,
               max_filter_depth: int | None = None) -> Limits:
    """Change the limits on the work one call may ask for; returns the previous ones.

    Example:
        >>> import flatsearch as fs
        >>> previous = fs.set_limits(max_isin_values=10)
        >>> fs.Index(2, attributes={"c": "int"}).search([1.0, 0.0], 1, filter=fs.col("c").isin(range(11)))
        Traceback (most recent call last):
        ...
        ValueError: filter (c in): expected at most 10 values (fs.set_limits(max_isin_values=...)), got 11
        >>> _ = fs.set_limits(**vars(previous))
    """
    previous = dataclasses.replace(LIMITS)
    if max_k is not None:
        LIMITS.max_k = check_positive_int(max_k, name="max_k")
    if max_isin_values is not None:
        LIMITS.max_isin_values = check_positive_int(max_isin_values, name="max_isin_values")
    if max_filter_depth is not None:
        depth = check_positive_int(max_filter_depth, name="max_filter_depth")
        if depth > _MAX_FILTER_DEPTH:
            raise ValueError(f"max_filter_depth: expected at most {_MAX_FILTER_DEPTH}, got {depth}")
        LIMITS.max_filter_depth = depth
    return previous


class Checks:
    """Validation of every argument an index method takes, for one configuration.

    ``dtypes`` are the storage dtypes of the shards (one for an Index): vectors
    and queries must fit each after the cast.
    """

    def __init__(self, *, dim: int, metric: str, dtypes: Sequence[torch.dtype], schema: Schema):
        self.dim, self.metric, self.schema = dim, metric, schema
        self.dtypes = tuple(dict.fromkeys(dtypes))
        self._compiled: dict = {}  # canonical key of a dict filter and the limits -> checked expression

    # -- rows ---------------------------------------------------------------------------------
    def rows(self, ids: Any, vectors: Any, attributes: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """ids (CPU int64, unique, non-negative); vectors as given (finite float32,
        on their device) and as stored in the first dtype (normalised for cosine,
        checked after the cast in every dtype); attribute columns in storage form
        (:class:`StoredColumns` of CPU tensors)."""
        ids = check_ids(ids)
        check_unique(ids)
        # One pass proves finite and storable in every dtype (cosine rows are checked after normalising).
        vectors, stored = check_vectors(vectors, name="vectors", dim=self.dim, rows=len(ids),
                                        dtypes=() if self.metric == "cosine" else self.dtypes)
        columns = StoredColumns(self.schema.columns(attributes, len(ids), argument="attributes"))
        return ids, vectors, self.storable(vectors, name="vectors") if stored is None else stored, columns

    def storable(self, matrix: torch.Tensor, *, name: str) -> torch.Tensor:
        """``matrix`` (finite float32) normalised for cosine and cast to the first
        storage dtype, checked after the cast in each dtype."""
        if self.metric == "cosine":
            matrix = normalise(matrix, name=name)
        stored = [to_storage_dtype(matrix, dtype, name=name) for dtype in self.dtypes]
        return stored[0]

    def delete_ids(self, ids: Any) -> torch.Tensor:
        # numpy's sort is single-threaded: torch.unique on 100k ids is a parallel region that
        # can stall for hundreds of ms while the other core is busy.
        ordered = np.sort(check_ids(ids, allow_negative=True).numpy())
        if ordered.size > 1:
            distinct = np.ones(ordered.size, dtype=bool)
            distinct[1:] = ordered[1:] != ordered[:-1]
            ordered = ordered[distinct]
        return torch.from_numpy(ordered)

    def attribute_update(self, ids: Any, columns: Any) -> tuple[torch.Tensor, dict]:
        ids = check_ids(ids)
        check_unique(ids)
        if columns is None or (isinstance(columns, Mapping) and not columns):
            raise ValueError("columns: expected a dict with at least one attribute column, got none")
        return ids, StoredColumns(self.schema.columns(columns, len(ids), argument="columns"))

    # -- searches -----------------------------------------------------------------------------
    def queries(self, queries: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(nq, dim) queries as given (finite float32 on their device) and as the
        scan uses them (normalised for cosine), checked after the cast to every
        storage dtype."""
        if self.metric != "cosine":
            # One pass proves finite values that fit every storage dtype (as rows() does for vectors).
            queries, fits = check_vectors(queries, name="queries", dim=self.dim, allow_vector=True, dtypes=self.dtypes)
            if fits is not None:
                return queries, queries
        else:
            queries = check_matrix(queries, name="queries", dim=self.dim, allow_vector=True)
        prepared = normalise(queries, name="queries") if self.metric == "cosine" else queries
        for dtype in self.dtypes:
            to_storage_dtype(prepared, dtype, name="queries")
        return queries, prepared

    def k(self, k: Any) -> int:
        k = check_positive_int(k, name="k")
        if k > LIMITS.max_k:
            raise ValueError(f"k: expected at most {LIMITS.max_k} (fs.set_limits(max_k=...)), got {k}")
        return k

    def filters(self, filter: Any, nq: int) -> Any:
        """None, one checked expression, or a list of nq (None or checked expressions)."""
        if filter is None:
            return None
        if isinstance(filter, (list, tuple)):
            if len(filter) != nq:
                raise ValueError(f"filter: expected one filter per query ({nq}), got a list of {len(filter)}")
            memo: dict = {}  # clauses the filters share (the same dicts) are parsed and normalised once
            return [None if expr is None else self.filter(expr, argument=f"filter[{row}]", memo=memo)
                    for row, expr in enumerate(filter)]
        return self.filter(filter)

    def filter(self, filter: Any, *, argument: str = "filter", memo: dict | None = None) -> Any:
        """One checked, normalised expression. Dict forms that passed before (under the same limits)
        are taken from a cache keyed by :func:`~flatsearch.filters.canonical_key`: a search sends the
        same few plans again and again, and parsing is a fifth of a job-search call. Failures are
        never cached, so a bad filter raises every time."""
        key = None
        if type(filter) is dict:
            key = filter_module.canonical_key(filter)
            if key is not None:
                key = (key, LIMITS.max_isin_values, LIMITS.max_filter_depth)
                cached = self._compiled.get(key)
                if cached is not None:
                    return cached
        checked = filter_module.checked(filter, self.schema, argument=argument, limits=LIMITS, memo=memo)
        if key is not None:
            if len(self._compiled) >= COMPILED_FILTERS:
                self._compiled.clear()
            self._compiled[key] = checked
        return checked

    def boost(self, boost: Any) -> dict[str, float]:
        """``{attribute: finite float weight}``; {} for None."""
        if boost is None:
            return {}
        if not isinstance(boost, Mapping):
            raise TypeError(f"boost: expected a dict of attribute -> weight, got {describe(boost)}")
        weights = {}
        for name, weight in boost.items():
            if self.schema.kind(name, argument="boost") == "tags":
                raise TypeError(f"boost[{name!r}]: expected a numeric attribute, got one of kind 'tags'")
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight):
                raise TypeError(f"boost[{name!r}]: expected a finite number as weight, got {describe(weight)}")
            weights[name] = float(weight)
        return weights


def check_boost_terms(weights: Mapping[str, float], magnitudes: Mapping[str, float]) -> None:
    """Reject boosts whose terms ``weight * value`` could overflow float32 scores,
    given the largest stored magnitude of each boosted column."""
    from ._validation import SQUARED_NORM_LIMIT
    total = 0.0
    for name, weight in weights.items():
        term = abs(weight) * magnitudes.get(name, 0.0)
        total += term
        if not total <= SQUARED_NORM_LIMIT:
            raise ValueError(f"boost[{name!r}]: weight {weight} times the largest stored |{name}| "
                             f"({magnitudes[name]:.4g}) makes a boost term of {term:.4g}; boost terms must sum to at "
                             f"most {SQUARED_NORM_LIMIT:.4g} to keep scores finite in float32")


def normalise(matrix: torch.Tensor, *, name: str) -> torch.Tensor:
    """Rows scaled to unit length. Rows whose norm overflows or underflows float32
    are first divided by their largest magnitude, so [3e38, 3e38] normalises like
    [1, 1]. Zero rows are a ValueError: the cosine of a zero vector is undefined.

    Example:
        >>> import torch
        >>> normalise(torch.tensor([[3e38, 3e38], [3.0, 4.0]]), name="vectors")
        tensor([[0.7071, 0.7071],
                [0.6000, 0.8000]])
    """
    if matrix.numel() == 0:
        return matrix
    norms = matrix.norm(dim=1, keepdim=True)
    extreme = ~torch.isfinite(norms) | (norms < 1e-18)
    if bool(extreme.any()):
        largest = matrix.abs().amax(dim=1, keepdim=True)
        zero = (largest == 0).flatten()
        if bool(zero.any()):
            raise ValueError(f"{name}: the cosine metric needs non-zero vectors, got a zero vector in row "
                             f"{int(zero.nonzero()[0])}")
        rescaled = matrix / torch.where(extreme, largest, torch.ones_like(largest))
        matrix = torch.where(extreme, rescaled, matrix)
        norms = torch.where(extreme, rescaled.norm(dim=1, keepdim=True), norms)
    return matrix / norms
