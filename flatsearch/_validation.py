"""Input checks shared by every public entry point.

Each check raises TypeError (wrong kind of object or dtype), ValueError (wrong
shape or value) or KeyError (unknown name), and names the argument, what was
expected and what was given.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch


def describe(value: Any) -> str:
    """Short description of a value for error messages."""
    if isinstance(value, torch.Tensor):
        return f"torch.Tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    if isinstance(value, np.ndarray):
        return f"numpy.ndarray(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_tensor(value: Any, *, name: str) -> torch.Tensor:
    """Turn a numpy array, torch tensor or (nested) list into a CPU-or-device tensor without copying where possible."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta" or value.layout != torch.strided:
            raise TypeError(f"{name}: expected a tensor holding data (dense, on a CPU or CUDA device), got "
                            f"{describe(value)} on {value.device} with layout {value.layout}")
        return value.detach()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"{name}: expected a numeric array, got {describe(value)}")
        if not value.dtype.isnative:  # big-endian data: torch reads only the machine's byte order
            value = value.astype(value.dtype.newbyteorder("="))
        if value.dtype == np.uint64 and value.size and int(value.max()) > 2**63 - 1:
            raise ValueError(f"{name}: expected values that fit int64, got {int(value.max())}")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except ValueError as error:
            raise ValueError(f"{name}: expected a rectangular array, got a ragged sequence ({error})") from None
        if array.dtype == object or array.dtype.kind in "USV":
            raise TypeError(f"{name}: expected numbers, got {describe(value)}")
        return as_tensor(array, name=name)
    raise TypeError(f"{name}: expected a numpy array, torch tensor or list, got {type(value).__name__}")


def check_ids(ids: Any, *, name: str = "ids", allow_negative: bool = False) -> torch.Tensor:
    """Validate a 1-D batch of int64 ids and return it as a CPU int64 tensor."""
    if isinstance(ids, numbers.Integral) and not isinstance(ids, bool):
        ids = [int(ids)]
    if isinstance(ids, (list, tuple)) and len(ids) == 0:
        return torch.empty(0, dtype=torch.int64)
    tensor = as_tensor(ids, name=name)
    if tensor.dim() != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of ids, got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex():
        raise TypeError(f"{name}: expected integer ids (int64), got dtype {tensor.dtype}")
    tensor = tensor.to(device="cpu", dtype=torch.int64)
    if not allow_negative and tensor.numel() and int(tensor.contiguous().numpy().min()) < 0:  # numpy: no parallel region
        bad = int(tensor[tensor < 0][0])
        raise ValueError(f"{name}: expected non-negative ids, got {bad}")
    return tensor


def check_unique(ids: torch.Tensor, *, name: str = "ids") -> None:
    values = ids.contiguous().numpy()  # numpy is single-threaded: no OpenMP waits on a busy machine
    if values.size < 2 or bool((values[1:] > values[:-1]).all()):  # ascending batches need no sort
        return
    ordered = np.sort(values)
    repeated = ordered[1:] == ordered[:-1]
    if bool(repeated.any()):
        raise ValueError(f"{name}: expected unique ids, got {int(ordered[1:][repeated][0])} more than once")


def _matrix(value: Any, *, name: str, dim: int, rows: int | None, allow_vector: bool) -> torch.Tensor:
    """``value`` as a float32 (rows, dim) tensor on its device: the type and shape checks of :func:`check_matrix`."""
    tensor = as_tensor(value, name=name)
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"{name}: expected real numbers, got dtype {tensor.dtype}")
    if allow_vector and tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    expected = "(n, dim) or (dim,)" if allow_vector else "(n, dim)"
    if tensor.dim() != 2:
        raise ValueError(f"{name}: expected shape {expected} with dim={dim}, got shape {tuple(tensor.shape)}")
    if tensor.shape[1] != dim:
        raise ValueError(f"{name}: expected dim={dim} columns, got {tensor.shape[1]}")
    if rows is not None and tensor.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows (one per id), got {tensor.shape[0]}")
    return tensor.to(torch.float32)


def largest_squared_norm(matrix: torch.Tensor) -> float:
    """The largest squared row norm of a float32 matrix (0.0 when empty), in one pass.

    NaN or Inf anywhere makes it NaN or Inf, so a finite result also says every value
    is finite. On a CPU this is numpy's einsum: single-threaded, so it costs the same
    when another process keeps a core busy (a two-thread torch reduction then waits
    for the descheduled thread), and at 100k x 384 it is faster than torch's.

    Example:
        >>> import torch
        >>> largest_squared_norm(torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
        25.0
    """
    if matrix.numel() == 0:
        return 0.0
    if matrix.device.type == "cpu" and matrix.dtype == torch.float32:
        values = matrix.resolve_neg().numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.einsum("ij,ij->i", values, values).max())
    return float(matrix.float().square().sum(dim=1).max())


# Up to this many values, check_vectors bounds the largest squared row norm by the sum of every squared
# value (one dot product, a few microseconds, where a per-row reduction costs several numpy passes).
_SUM_BOUND_VALUES = 1 << 13  # below the 10,000 values from which a BLAS dot product may take threads


def _small_host_matrix(value: Any, *, dim: int, rows: int | None, allow_vector: bool) -> bool:
    """Whether ``value`` is a small C-contiguous native float32 numpy matrix of the expected shape
    (or vector, where allowed), which :func:`check_vectors` checks without torch."""
    if type(value) is not np.ndarray or value.dtype != np.float32 or not value.flags.c_contiguous \
            or not value.dtype.isnative or not 0 < value.size <= _SUM_BOUND_VALUES:
        return False
    if value.ndim == 1:
        return allow_vector and value.shape[0] == dim and rows in (None, 1)
    return value.ndim == 2 and value.shape[1] == dim and rows in (None, value.shape[0])


def _squared_norm_bound(matrix: torch.Tensor) -> float:
    """At least the largest squared row norm, NaN or Inf when any value is: for a small CPU float32
    matrix (a search's queries) the sum of all squared values, else :func:`largest_squared_norm`."""
    if 0 < matrix.numel() <= _SUM_BOUND_VALUES and matrix.device.type == "cpu" and matrix.dtype == torch.float32:
        return _sum_of_squares(matrix.resolve_neg().numpy().ravel())
    return largest_squared_norm(matrix)


def _sum_of_squares(flat: np.ndarray) -> float:
    """One dot product: at least the largest squared row norm of the values, NaN or Inf when any value is."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(flat, flat))


def _check_finite(tensor: torch.Tensor, *, name: str) -> None:
    # min and max propagate NaN and Inf, so one pass without a mask tells whether all are finite.
    if tensor.numel() and not all(torch.isfinite(bound) for bound in torch.aminmax(tensor)):
        row = int((~torch.isfinite(tensor)).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name}: expected finite values, got NaN or Inf in row {row}")


def check_matrix(value: Any, *, name: str, dim: int, rows: int | None = None, allow_vector: bool = False) -> torch.Tensor:
    """Validate a (rows, dim) real matrix of finite values; return float32 on its original device.

    Example:
        >>> check_matrix([[1.0, float("nan")]], name="vectors", dim=2)
        Traceback (most recent call last):
        ...
        ValueError: vectors: expected finite values, got NaN or Inf in row 0
    """
    return check_vectors(value, name=name, dim=dim, rows=rows, allow_vector=allow_vector)[0]


def check_vectors(value: Any, *, name: str, dim: int, rows: int | None = None, allow_vector: bool = False,
                  dtypes: tuple[torch.dtype, ...] = ()) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`check_matrix` and, in the same pass, :func:`to_storage_dtype` for every dtype in ``dtypes``.

    Returns the float32 matrix and, when one pass over it proves that it fits every
    dtype in ``dtypes`` (every squared norm well inside :data:`SQUARED_NORM_LIMIT`
    and, for float16, every value inside its range), the matrix cast to the first of
    them. Otherwise (no ``dtypes``, rows near a limit, or bad rows) the second value
    is None and the caller runs :func:`to_storage_dtype`, which names the bad row
    exactly as before. Non-finite values raise here, with :func:`check_matrix`'s message.

    Example:
        >>> import torch
        >>> matrix, stored = check_vectors([[1.0, 2.0]], name="vectors", dim=2, dtypes=(torch.float16,))
        >>> stored
        tensor([[1., 2.]], dtype=torch.float16)
        >>> check_vectors([[1.0, 7e4]], name="vectors", dim=2, dtypes=(torch.float16,))[1] is None
        True
    """
    if _small_host_matrix(value, dim=dim, rows=rows, allow_vector=allow_vector):
        # A search's few queries as a float32 numpy array: checked on the array itself, then wrapped once
        # (each torch call on a cold cache costs more than the whole numpy check).
        bound = _sum_of_squares(value.reshape(-1))
        tensor = torch.from_numpy(value.reshape(-1, dim))
    else:
        tensor = _matrix(value, name=name, dim=dim, rows=rows, allow_vector=allow_vector)
        bound = _squared_norm_bound(tensor)
    if not math.isfinite(bound):
        _check_finite(tensor, name=name)  # raises for NaN or Inf; finite values whose squares overflow pass
        return tensor, None
    if not dtypes or any(not bound <= _FAST_SQUARED_NORM.get(dtype, -1.0) for dtype in dtypes):
        return tensor, None
    return tensor, tensor if dtypes[0] == torch.float32 else tensor.to(dtypes[0])


def check_positive_int(value: Any, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a positive int, got {describe(value)}")
    if int(value) <= 0:
        raise ValueError(f"{name}: expected a positive int, got {int(value)}")
    return int(value)


def check_choice(value: Any, *, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {describe(value)}")
    return value


FLOAT32_MAX = float(torch.finfo(torch.float32).max)
# Squared norms up to a quarter of float32's range keep every score finite: for
# two such vectors |q.x| <= |q||x| and |q - x|^2 <= 2|q|^2 + 2|x|^2 stay below it.
SQUARED_NORM_LIMIT = FLOAT32_MAX / 4
_NORM_FAST_LIMIT = 0.99 * SQUARED_NORM_LIMIT ** 0.5  # margin for rounding between the norm and the squared sum
# check_vectors' one-pass test, on float32 squared norms computed before the cast: a 2% margin covers
# the summation's rounding and the cast's (bfloat16 rounds each value by at most 2**-9, float16 by 2**-11);
# for float16 a row norm under 99% of its largest value bounds every value of the row.
_FAST_SQUARED_NORM = {
    torch.float32: _NORM_FAST_LIMIT ** 2,
    torch.bfloat16: _NORM_FAST_LIMIT ** 2,
    torch.float16: min(_NORM_FAST_LIMIT ** 2, (0.99 * float(torch.finfo(torch.float16).max)) ** 2),
}


def to_storage_dtype(matrix: torch.Tensor, dtype: torch.dtype, *, name: str) -> torch.Tensor:
    """``matrix`` (float32, finite) cast to the storage ``dtype``, checked after the cast.

    A value that overflows the dtype (float16 holds at most 65504) and a row whose
    squared norm would overflow float32 scores are ValueErrors naming the row and column.

    Example:
        >>> import torch
        >>> to_storage_dtype(torch.tensor([[1.0, 7e4]]), torch.float16, name="vectors")
        Traceback (most recent call last):
        ...
        ValueError: vectors: row 0, column 1: 70000.0 does not fit torch.float16 (largest finite value 65504.0)
    """
    stored = matrix.to(dtype)
    check_storable(stored, name=name, original=matrix)
    return stored


def check_storable(stored: torch.Tensor, *, name: str, original: torch.Tensor | None = None) -> None:
    """Check vectors as stored: every value finite and every squared norm within
    :data:`SQUARED_NORM_LIMIT`, so that no score computed from them overflows."""
    if stored.numel() == 0:
        return
    # One fused pass for the common case: a norm that is finite and well inside the limit means every
    # value is finite and the row fits (a NaN or Inf makes the norm NaN or Inf). Rows near the limit,
    # and bad rows, take the exact checks below, which also name the row.
    if stored.device.type == "cpu" and stored.dtype == torch.float32:
        if largest_squared_norm(stored) <= _NORM_FAST_LIMIT ** 2:  # single-threaded numpy pass
            return
    elif bool((torch.linalg.vector_norm(stored, dim=1, dtype=torch.float32) <= _NORM_FAST_LIMIT).all()):
        return
    if stored.dtype != torch.float32 and not bool(torch.isfinite(stored).all()):
        row, column = (int(i) for i in (~torch.isfinite(stored)).nonzero()[0])
        value = (original if original is not None else stored)[row, column].item()
        raise ValueError(f"{name}: row {row}, column {column}: {value!r} does not fit {stored.dtype} "
                         f"(largest finite value {torch.finfo(stored.dtype).max})")
    if not bool(torch.isfinite(stored).all()):
        row, column = (int(i) for i in (~torch.isfinite(stored)).nonzero()[0])
        raise ValueError(f"{name}: row {row}, column {column}: expected a finite value, got {stored[row, column].item()}")
    squared = stored.float().pow(2).sum(dim=1)
    too_large = ~(squared <= SQUARED_NORM_LIMIT)
    if bool(too_large.any()):
        row = int(too_large.nonzero()[0])
        column = int(stored[row].float().abs().argmax())
        raise ValueError(f"{name}: row {row} (largest value {stored[row, column].item():.4g} in column {column}) has "
                         f"a squared norm of {squared[row].item():.4g}, above {SQUARED_NORM_LIMIT:.4g}: its scores "
                         f"would overflow float32; scale the vectors down")
