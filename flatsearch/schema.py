"""Attribute columns: their kinds, storage and null values.

Kinds and how a row stores them (one tensor per column on the index device):

========  ==================  ===========================================
kind      storage             null (missing value)
========  ==================  ===========================================
int       int64               ``INT_NULL`` (the smallest int64)
float     float32             NaN
bool      int8 (0 / 1)        -1
time      int64 seconds       ``INT_NULL``
tags      int64 (rows, width) ``INT_NULL`` padding; an empty list is null
========  ==================  ===========================================

A null never matches a comparison (``==``, ``!=``, ``<`` ... or ``isin``), as in
SQL; ``~`` inverts the whole expression, so ``~(col("pay") >= 10)`` matches rows
with no pay. Boosts treat a null as 0.
"""
from __future__ import annotations

import datetime as _dt
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from ._validation import describe

KINDS = ("int", "float", "bool", "time", "tags")
INT_NULL = torch.iinfo(torch.int64).min
_STORAGE_DTYPE = {"int": torch.int64, "float": torch.float32, "bool": torch.int8, "time": torch.int64, "tags": torch.int64}
_NULL = {"int": INT_NULL, "float": math.nan, "bool": -1, "time": INT_NULL, "tags": INT_NULL}


def to_epoch_seconds(value: Any, *, name: str) -> int:
    """Seconds since the epoch from an int/float, a datetime (naive = UTC) or numpy datetime64."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[s]").astype(np.int64))
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise TypeError(f"{name}: expected seconds since the epoch or a datetime, got {describe(value)}")


@dataclass(frozen=True)
class Schema:
    """The attribute columns of an index: name -> kind."""

    kinds: Mapping[str, str]

    @staticmethod
    def from_user(attributes: Mapping[str, str] | None) -> "Schema":
        if attributes is None:
            return Schema({})
        if not isinstance(attributes, Mapping):
            raise TypeError(f"attributes: expected a dict of name -> kind, got {describe(attributes)}")
        for name, kind in attributes.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"attributes: expected non-empty string names, got {describe(name)}")
            if kind not in KINDS:
                raise ValueError(f"attributes[{name!r}]: expected one of {', '.join(KINDS)}, got {describe(kind)}")
        return Schema(dict(attributes))

    def kind(self, name: str, *, argument: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"{argument}: expected an attribute name (str), got {describe(name)}")
        if name not in self.kinds:
            known = ", ".join(self.kinds) or "none"
            raise KeyError(f"{argument}: unknown attribute {name!r}; the index has: {known}")
        return self.kinds[name]

    # -- values ---------------------------------------------------------------------------------
    def scalar(self, name: str, value: Any, *, argument: str) -> int | float:
        """Convert one filter value to the column's stored representation."""
        kind = self.kind(name, argument=argument)
        where = f"{argument} (attribute {name!r} of kind {kind})"
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise TypeError(f"{where}: expected a finite number, got {describe(value)}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{where}: expected True or False, got {describe(value)}")
            return int(bool(value))
        if kind == "time":
            return to_epoch_seconds(value, name=where)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where}: expected an int, got {describe(value)}")
        if int(value) == INT_NULL:
            raise ValueError(f"{where}: {INT_NULL} is reserved for missing values")
        return int(value)

    # -- columns --------------------------------------------------------------------------------
    def columns(self, columns: Mapping[str, Any] | None, n: int, *, argument: str) -> dict[str, torch.Tensor]:
        """Validate user columns of length n and convert them to CPU storage tensors."""
        if columns is None:
            return {}
        if not isinstance(columns, Mapping):
            raise TypeError(f"{argument}: expected a dict of attribute name -> column, got {describe(columns)}")
        converted = {}
        for name, values in columns.items():
            kind = self.kind(name, argument=argument)
            converted[name] = self._column(name, kind, values, n, argument=f"{argument}[{name!r}]")
        return converted

    def null_column(self, name: str, n: int) -> torch.Tensor:
        kind = self.kinds[name]
        shape = (n, 1) if kind == "tags" else (n,)
        return torch.full(shape, _NULL[kind], dtype=_STORAGE_DTYPE[kind])

    def _column(self, name: str, kind: str, values: Any, n: int, *, argument: str) -> torch.Tensor:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"{argument}: expected a sequence of {n} values, got {describe(values)}")
        if len(values) != n:
            raise ValueError(f"{argument}: expected {n} values (one per id), got {len(values)}")
        if kind == "tags":
            return self._tags_column(values, n, argument=argument)
        dtype = _STORAGE_DTYPE[kind]
        array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else None
        if array is None and isinstance(values, np.ndarray):
            array = values
        if array is not None and array.dtype != object:
            return self._array_column(kind, array, argument=argument)
        out = torch.empty(n, dtype=dtype)
        for row, value in enumerate(values):
            missing = value is None or (kind == "float" and isinstance(value, float) and math.isnan(value))
            out[row] = _NULL[kind] if missing else self.scalar(name, value, argument=f"{argument}[{row}]")
        return out

    @staticmethod
    def _array_column(kind: str, array: np.ndarray, *, argument: str) -> torch.Tensor:
        if array.ndim != 1:
            raise ValueError(f"{argument}: expected a 1-D column, got shape {array.shape}")
        dtype_kind = array.dtype.kind
        if kind == "float":
            if dtype_kind not in "iuf":
                raise TypeError(f"{argument}: expected numbers, got dtype {array.dtype}")
            column = torch.from_numpy(array.astype(np.float32))
            if bool(torch.isinf(column).any()):
                raise ValueError(f"{argument}: expected finite numbers or NaN for missing, got Inf")
            return column
        if kind == "bool":
            if dtype_kind != "b":
                raise TypeError(f"{argument}: expected booleans, got dtype {array.dtype}")
            return torch.from_numpy(array.astype(np.int8))
        if kind == "time" and dtype_kind == "M":
            return torch.from_numpy(array.astype("datetime64[s]").astype(np.int64))
        if kind == "time" and dtype_kind == "f":
            if not np.isfinite(array).all():
                raise ValueError(f"{argument}: expected finite seconds, got NaN or Inf")
            return torch.from_numpy(array.astype(np.int64))
        if dtype_kind not in "iu":
            raise TypeError(f"{argument}: expected integers, got dtype {array.dtype}")
        column = torch.from_numpy(array.astype(np.int64))
        if bool((column == INT_NULL).any()):
            raise ValueError(f"{argument}: {INT_NULL} is reserved for missing values")
        return column

    @staticmethod
    def _tags_column(values: Any, n: int, *, argument: str) -> torch.Tensor:
        rows = []
        for row, tags in enumerate(values):
            if tags is None:
                tags = ()
            if isinstance(tags, (str, bytes)) or not hasattr(tags, "__iter__"):
                raise TypeError(f"{argument}[{row}]: expected a list of ints, got {describe(tags)}")
            tags = list(tags.tolist() if hasattr(tags, "tolist") else tags)
            for tag in tags:
                if isinstance(tag, bool) or not isinstance(tag, numbers.Integral) or int(tag) == INT_NULL:
                    raise TypeError(f"{argument}[{row}]: expected int tags, got {describe(tag)}")
            rows.append(tags)
        width = max([len(tags) for tags in rows] + [1])
        out = torch.full((n, width), INT_NULL, dtype=torch.int64)
        for row, tags in enumerate(rows):
            if tags:
                out[row, :len(tags)] = torch.tensor(tags, dtype=torch.int64)
        return out

    # -- reading back -----------------------------------------------------------------------------
    def to_python(self, name: str, column: torch.Tensor) -> list:
        """Stored values back to Python values, None for null."""
        kind = self.kinds[name]
        values = column.cpu().tolist()
        if kind == "tags":
            return [[tag for tag in row if tag != INT_NULL] for row in values]
        if kind == "float":
            return [None if math.isnan(v) else v for v in values]
        if kind == "bool":
            return [None if v < 0 else bool(v) for v in values]
        return [None if v == INT_NULL else v for v in values]

    @staticmethod
    def not_null(kind: str, column: torch.Tensor) -> torch.Tensor:
        if kind == "float":
            return ~torch.isnan(column)
        if kind == "bool":
            return column >= 0
        return column != INT_NULL

    @staticmethod
    def as_float(kind: str, column: torch.Tensor) -> torch.Tensor:
        """Numeric value of a column for boosts, 0 where null."""
        present = Schema.not_null(kind, column)
        return torch.where(present, column.to(torch.float32), torch.zeros((), dtype=torch.float32, device=column.device))
