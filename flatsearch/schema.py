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


FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _in_int64(value: int, where: str) -> int:
    if not INT_NULL < value < 2**63:
        raise ValueError(f"{where}: {value} does not fit int64 (and {INT_NULL} marks missing values)")
    return value


class StoredColumns(dict):
    """Attribute columns already converted to storage form by :meth:`Schema.columns`
    (CPU tensors); passed between indexes so that they are read exactly once."""


def stored_column_problem(kind: str, column: Any, rows: int) -> str | None:
    """What is wrong with a column in storage form for ``rows`` rows, or None."""
    dtype = _STORAGE_DTYPE[kind]
    if not isinstance(column, torch.Tensor):
        return f"expected a {dtype} tensor, got {describe(column)}"
    shape_ok = (column.dim() == 2 and column.shape[0] == rows and column.shape[1] >= 1) if kind == "tags" else \
        tuple(column.shape) == (rows,)
    if column.dtype != dtype or not shape_ok:
        shape = f"({rows}, width)" if kind == "tags" else f"({rows},)"
        return f"expected {dtype} of shape {shape}, got {column.dtype} {tuple(column.shape)}"
    if kind == "bool" and column.numel() and not bool(((column >= -1) & (column <= 1)).all()):
        return "expected values -1 (null), 0 or 1"
    if kind == "float" and bool(torch.isinf(column).any()):
        return "holds Inf"
    return None


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
        if type(value) is int and kind in ("int", "tags") and INT_NULL < value < 2**63:
            return value  # the common case, without building the error text (a search checks dozens of values)
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
            return _in_int64(to_epoch_seconds(value, name=where), where)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where}: expected an int, got {describe(value)}")
        if int(value) == INT_NULL:
            raise ValueError(f"{where}: {INT_NULL} is reserved for missing values")
        return _in_int64(int(value), where)

    # -- columns --------------------------------------------------------------------------------
    def columns(self, columns: Mapping[str, Any] | None, n: int, *, argument: str) -> dict[str, torch.Tensor]:
        """Validate user columns of length n and convert them to CPU storage tensors."""
        if columns is None:
            return {}
        if not isinstance(columns, Mapping):
            raise TypeError(f"{argument}: expected a dict of attribute name -> column, got {describe(columns)}")
        if isinstance(columns, StoredColumns):  # converted by another index's checks; verified, not converted again
            for name, column in columns.items():
                problem = stored_column_problem(self.kind(name, argument=argument), column, n)
                if problem:
                    raise ValueError(f"{argument}[{name!r}]: {problem}")
            return dict(columns)
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
        if isinstance(values, Mapping):
            raise TypeError(f"{argument}: expected a sequence of {n} values (list, array, tensor or pandas Series), "
                            f"got a {type(values).__name__} (its keys would be read as values)")
        if hasattr(values, "to_numpy") and not isinstance(values, (np.ndarray, torch.Tensor)):
            values = values.to_numpy()  # a pandas Series: its values in order, whatever its index labels
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
            if missing:
                out[row] = _NULL[kind]
                continue
            value = self.scalar(name, value, argument=f"{argument}[{row}]")
            if kind == "float" and not abs(value) <= FLOAT32_MAX:
                raise ValueError(f"{argument}[{row}]: {value!r} does not fit float32 (largest finite value "
                                 f"{FLOAT32_MAX})")
            out[row] = value
        return out

    @staticmethod
    def _array_column(kind: str, array: np.ndarray, *, argument: str) -> torch.Tensor:
        if array.ndim != 1:
            raise ValueError(f"{argument}: expected a 1-D column, got shape {array.shape}")
        dtype_kind = array.dtype.kind
        if kind == "float":
            if dtype_kind not in "iuf":
                raise TypeError(f"{argument}: expected numbers, got dtype {array.dtype}")
            with np.errstate(over="ignore"):
                column = torch.from_numpy(array.astype(np.float32))
            if bool(torch.isinf(column).any()):
                row = int(torch.isinf(column).nonzero()[0])
                raise ValueError(f"{argument}[{row}]: expected finite numbers that fit float32 (or NaN for missing), "
                                 f"got Inf or a value beyond float32: {float(array[row])}")
            return column
        if kind == "bool":
            if dtype_kind != "b":
                raise TypeError(f"{argument}: expected booleans, got dtype {array.dtype}")
            return torch.from_numpy(array.astype(np.int8))
        if kind == "time" and dtype_kind == "M":
            return torch.from_numpy(array.astype("datetime64[s]").astype(np.int64))
        if kind == "time" and dtype_kind == "f":
            fits = np.isfinite(array) & (array > -(2.0**63)) & (array < 2.0**63)
            if not fits.all():
                row = int(np.flatnonzero(~fits)[0])
                raise ValueError(f"{argument}[{row}]: expected finite seconds that fit int64, got {array[row]!r}")
            return torch.from_numpy(array.astype(np.int64))
        if dtype_kind not in "iu":
            raise TypeError(f"{argument}: expected integers, got dtype {array.dtype}")
        if dtype_kind == "u" and array.dtype.itemsize == 8 and array.size and int(array.max()) > 2**63 - 1:
            row = int(np.flatnonzero(array > np.uint64(2**63 - 1))[0])
            raise ValueError(f"{argument}[{row}]: {int(array[row])} does not fit int64")
        values = array.astype(np.int64)
        if bool((values == INT_NULL).any()):  # numpy: a torch compare over 100k values waits for a busy core
            raise ValueError(f"{argument}: {INT_NULL} is reserved for missing values")
        return torch.from_numpy(values)

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
    def not_null(kind: str, column):
        """Where a column (a tensor, or a numpy array of the host copy) holds a value."""
        if kind == "float":
            return ~(np.isnan(column) if isinstance(column, np.ndarray) else torch.isnan(column))
        if kind == "bool":
            return column >= 0
        return column != INT_NULL

    @staticmethod
    def as_float(kind: str, column: torch.Tensor) -> torch.Tensor:
        """Numeric value of a column for boosts, 0 where null."""
        present = Schema.not_null(kind, column)
        return torch.where(present, column.to(torch.float32), torch.zeros((), dtype=torch.float32, device=column.device))
