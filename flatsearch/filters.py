"""Filter expressions over attribute columns, their JSON form, and their evaluation.

Build expressions with :func:`col` and combine them with ``&``, ``|`` and ``~``;
or read the JSON form that a tool-calling LLM emits with
:meth:`Filter.from_dict`. ``expr.to_dict()`` gives that form back.

JSON form: ``{"and": [f, ...]}``, ``{"or": [f, ...]}``, ``{"not": f}``, or
``{name: {op: value, ...}}`` with op one of ``eq ne lt lte gt gte in``
(several ops or several names in one dict are combined with "and";
``{name: value}`` is short for ``{name: {"eq": value}}``).

A "tags" column matches a comparison when any of its elements matches; for
tags, ``!=`` means "no element equals". Nulls never match (see
:mod:`flatsearch.schema`).

Example:
    >>> import flatsearch as fs
    >>> expr = fs.col("geo").isin([5391959, 5809844]) & (fs.col("salary") >= 150000) & ~fs.col("company").isin([7])
    >>> expr.to_dict()
    {'and': [{'geo': {'in': [5391959, 5809844]}}, {'salary': {'gte': 150000}}, {'not': {'company': {'in': [7]}}}]}
    >>> fs.Filter.from_dict(expr.to_dict()).to_dict() == expr.to_dict()
    True
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ._validation import describe
from .schema import INT_NULL, Schema

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")


class Filter:
    """Base class of filter expressions."""

    def __and__(self, other: "Filter") -> "Filter":
        return And((self, _as_filter(other, "&")))

    def __or__(self, other: "Filter") -> "Filter":
        return Or((self, _as_filter(other, "|")))

    def __invert__(self) -> "Filter":
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a filter expression has no truth value: combine filters with &, | and ~, not and/or/not")

    def to_dict(self) -> dict:
        raise NotImplementedError

    def key(self) -> str:
        """Canonical JSON text; equal for equal expressions."""
        return json.dumps(self.to_dict(), sort_keys=True, default=_json_default)

    def structure(self) -> tuple:
        """A hashable key, equal for expressions of the same structure and values (``True``, ``1`` and ``1.0``
        differ; floats by their repr), cheaper than :meth:`key`. Kept on the expression after the first
        call: expressions are immutable (``in`` values are tuples once checked, see :func:`normalised`).

        Example:
            >>> import flatsearch as fs
            >>> ((fs.col("a") == 1) & (fs.col("b") > 2.5)).structure() == ((fs.col("a") == 1) & (fs.col("b") > 2.5)).structure()
            True
            >>> (fs.col("a") == 1).structure() == (fs.col("a") == True).structure()
            False
        """
        cached = self.__dict__.get("_structure")
        if cached is None:
            cached = self._structure()
            object.__setattr__(self, "_structure", cached)
        return cached

    def _structure(self) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Filter.from_dict({self.to_dict()!r})"

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Filter":
        """Parse the JSON form (see the module docstring).

        Example:
            >>> import flatsearch as fs
            >>> fs.Filter.from_dict({"remote": True, "salary": {"gte": 1e5, "lt": 2e5}}).to_dict()
            {'and': [{'remote': {'eq': True}}, {'salary': {'gte': 100000.0}}, {'salary': {'lt': 200000.0}}]}
        """
        return _parse(data, "filter")

    def evaluate(self, schema: Schema, columns: Mapping[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, eq=False, repr=False)
class Comparison(Filter):
    name: str
    op: str
    value: Any

    def to_dict(self) -> dict:
        value = list(self.value) if self.op == "in" else self.value
        return {self.name: {self.op: value}}

    def _structure(self) -> tuple:
        values = tuple(self.value) if self.op == "in" else (self.value,)
        return (self.name, self.op, tuple((type(v).__name__, repr(v)) for v in values))

    def evaluate(self, schema: Schema, columns: Mapping[str, torch.Tensor]) -> torch.Tensor:
        kind = schema.kind(self.name, argument="filter")
        column = columns[self.name]
        if kind == "bool" and self.op in ("lt", "lte", "gt", "gte"):
            raise TypeError(f"filter: attribute {self.name!r} is bool; it supports eq, ne and in, not {self.op}")
        if column.device.type == "cpu":
            # numpy on a CPU: one single-threaded pass per step, several times faster than a torch call
            # on the job search's 17k rows (and the same comparisons: a Python float is compared in the
            # column's float32, as torch does).
            with np.errstate(over="ignore"):  # a bound past float32's range compares as infinity, as in torch
                return torch.from_numpy(self._hits(schema, kind, column.numpy(), _HOST_OPS))
        return self._hits(schema, kind, column, _TORCH_OPS)

    def _hits(self, schema: Schema, kind: str, column, ops):
        """The comparison's bool per row of ``column`` (a tensor, or a numpy array with ``_HOST_OPS``)."""
        if self.op == "in":
            values = [schema.scalar(self.name, v, argument=f"filter ({self.name} in)") for v in self.value]
            hits = ops.isin(column, values)
        else:
            value = schema.scalar(self.name, self.value, argument=f"filter ({self.name} {self.op})")
            op = "eq" if (kind == "tags" and self.op == "ne") else self.op
            hits = ops.compare[op](column, value)
            values = (value,)
        if not _null_fails(kind, self.op, values):
            hits = hits & Schema.not_null(kind, column)
        if kind == "tags":
            hits = ops.any_per_row(hits)
            if self.op == "ne":
                hits = ~hits & ops.any_per_row(Schema.not_null(kind, column))
        return hits


def _null_fails(kind: str, op: str, values) -> bool:
    """Whether a null entry fails ``column op value`` already (then the filter needs no null test).

    Null is NaN for float (false in every comparison but ``!=``), a negative number for bool
    (compared only with 0 and 1) and the smallest int64 otherwise (never greater than a value,
    equal only to itself)."""
    if op in ("ne", "lt", "lte"):
        return kind == "float" and op != "ne"
    if kind == "float":
        return not any(isinstance(v, float) and math.isnan(v) for v in values)
    if kind == "bool":
        return all(v >= 0 for v in values)
    return all(v != INT_NULL for v in values)


class _TorchOps:
    """The array steps of :meth:`Comparison.evaluate` on tensors (any device)."""

    compare = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "lte": torch.le, "gt": torch.gt, "gte": torch.ge}

    @staticmethod
    def isin(column: torch.Tensor, values: list) -> torch.Tensor:
        return torch.isin(column, torch.tensor(values, dtype=column.dtype, device=column.device))

    @staticmethod
    def any_per_row(hits: torch.Tensor) -> torch.Tensor:
        return hits.any(dim=1)


class _HostOps:
    """The same steps on numpy arrays (a CPU column's memory)."""

    compare = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "lte": np.less_equal, "gt": np.greater,
               "gte": np.greater_equal}

    @staticmethod
    def isin(column: np.ndarray, values: list) -> np.ndarray:
        return np.isin(column, np.asarray(values, dtype=column.dtype))

    @staticmethod
    def any_per_row(hits: np.ndarray) -> np.ndarray:
        return hits.any(axis=1)


_TORCH_OPS, _HOST_OPS = _TorchOps(), _HostOps()


@dataclass(frozen=True, eq=False, repr=False)
class _Combination(Filter):
    """Children joined by one boolean operator; nested joins of the same kind flatten."""

    children: tuple[Filter, ...]
    KEYWORD = ""

    def __post_init__(self):
        # Flatten joins of the same kind as they are built, so a chain of a
        # thousand & is one And of a thousand children, not a thousand levels.
        if any(type(child) is type(self) for child in self.children):
            flat = tuple(grandchild for child in self.children
                         for grandchild in (child.children if type(child) is type(self) else (child,)))
            object.__setattr__(self, "children", flat)

    @staticmethod
    def combine(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {self.KEYWORD: [child.to_dict() for child in _flatten(self, type(self))]}

    def _structure(self) -> tuple:
        return (self.KEYWORD, tuple(child.structure() for child in _flatten(self, type(self))))

    def evaluate(self, schema, columns):
        result = None
        for child in _flatten(self, type(self)):
            hits = child.evaluate(schema, columns)
            result = hits if result is None else combine_masks(self.combine, result, hits)
        return result


class And(_Combination):
    KEYWORD = "and"
    combine = staticmethod(torch.logical_and)


class Or(_Combination):
    KEYWORD = "or"
    combine = staticmethod(torch.logical_or)


@dataclass(frozen=True, eq=False, repr=False)
class Not(Filter):
    child: Filter

    def to_dict(self) -> dict:
        return {"not": self.child.to_dict()}

    def _structure(self) -> tuple:
        return ("not", self.child.structure())

    def evaluate(self, schema, columns):
        return invert_mask(self.child.evaluate(schema, columns))


def combine_masks(combine, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``combine(left, right)`` (torch.logical_and or torch.logical_or) of two bool masks; on a CPU in
    numpy (a torch call costs more than the pass itself at the job search's sizes)."""
    if left.device.type == "cpu" and right.device.type == "cpu":
        host = np.logical_and if combine is torch.logical_and else np.logical_or
        return torch.from_numpy(host(left.numpy(), right.numpy()))
    return combine(left, right)


def invert_mask(hits: torch.Tensor) -> torch.Tensor:
    """``~hits`` of a bool mask; on a CPU in numpy, as :func:`combine_masks`."""
    return torch.from_numpy(~hits.numpy()) if hits.device.type == "cpu" else ~hits


class Column:
    """A reference to an attribute, made by :func:`col`; comparing it builds a :class:`Filter`."""

    __hash__ = None  # == builds a filter, so columns cannot be dict keys

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise TypeError(f"col: expected a non-empty attribute name, got {describe(name)}")
        self.name = name

    def __eq__(self, value):  # type: ignore[override]
        return Comparison(self.name, "eq", _check_value(value, self.name))

    def __ne__(self, value):  # type: ignore[override]
        return Comparison(self.name, "ne", _check_value(value, self.name))

    def __lt__(self, value):
        return Comparison(self.name, "lt", _check_value(value, self.name))

    def __le__(self, value):
        return Comparison(self.name, "lte", _check_value(value, self.name))

    def __gt__(self, value):
        return Comparison(self.name, "gt", _check_value(value, self.name))

    def __ge__(self, value):
        return Comparison(self.name, "gte", _check_value(value, self.name))

    def isin(self, values: Sequence[Any]) -> Filter:
        """Match rows whose value (for tags: any element) is one of ``values``."""
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
            raise TypeError(f"isin({self.name!r}): expected a list of values, got {describe(values)}")
        values = values.tolist() if hasattr(values, "tolist") else list(values)
        return Comparison(self.name, "in", tuple(_check_value(v, self.name) for v in values))

    def __repr__(self) -> str:
        return f"col({self.name!r})"


def col(name: str) -> Column:
    """Refer to an attribute in a filter expression.

    Example:
        >>> import flatsearch as fs
        >>> (fs.col("remote") == True).to_dict()
        {'remote': {'eq': True}}
    """
    return Column(name)


def _check_value(value: Any, name: str) -> Any:
    if type(value) in _PLAIN_SCALARS:  # the common case, without the ABC checks below
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (numbers.Real, _dt.datetime, np.datetime64)):
        return value
    raise TypeError(f"filter value for {name!r}: expected a number, bool or datetime, got {describe(value)}")


_PLAIN_SCALARS = (int, float, bool)


def _as_filter(value: Any, operator: str) -> Filter:
    if not isinstance(value, Filter):
        raise TypeError(f"filter {operator}: expected a filter expression on both sides, got {describe(value)}")
    return value


def _flatten(node: Filter, kind: type) -> list[Filter]:
    """Children of a join, with joins of the same kind opened (without recursion)."""
    out, pending = [], list(reversed(node.children))
    while pending:
        child = pending.pop()
        if isinstance(child, kind):
            pending.extend(reversed(child.children))
        else:
            out.append(child)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def _parse(data: Any, path: str, memo: dict | None = None) -> Filter:
    if isinstance(data, Filter):
        return data
    if memo is not None:
        # The same dict parsed earlier in this call (per-query filters share their common
        # clauses as objects): it parsed without error then, so it gives the same tree now.
        seen = memo.get(id(data))
        if seen is not None and seen[0] is data:
            return seen[1]
    if not isinstance(data, Mapping) or not data:
        raise TypeError(f"{path}: expected a non-empty dict, got {describe(data)}")
    parts: list[Filter] = []
    for key, value in data.items():
        if key in ("and", "or"):
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
                raise TypeError(f"{path}.{key}: expected a non-empty list of filters, got {describe(value)}")
            children = tuple(_parse(child, f"{path}.{key}[{i}]", memo) for i, child in enumerate(value))
            parts.append(children[0] if len(children) == 1 else (And if key == "and" else Or)(children))
        elif key == "not":
            parts.append(Not(_parse(value, f"{path}.not", memo)))
        elif isinstance(key, str):
            parts.extend(_parse_column(key, value, f"{path}.{key}"))
        else:
            raise TypeError(f"{path}: expected string keys, got {describe(key)}")
    parsed = parts[0] if len(parts) == 1 else And(tuple(parts))
    if memo is not None:
        memo[id(data)] = (data, parsed)  # the dict is kept beside its tree so that its id is not reused
    return parsed


def _parse_column(name: str, spec: Any, path: str) -> list[Filter]:
    if not isinstance(spec, Mapping):
        return [col(name) == spec]
    if not spec:
        raise ValueError(f"{path}: expected at least one of {', '.join(OPERATORS)}, got an empty dict")
    parts = []
    for op, value in spec.items():
        if op not in OPERATORS:
            raise ValueError(f"{path}: unknown operator {op!r}; expected one of {', '.join(OPERATORS)}")
        if op == "in":
            parts.append(col(name).isin(value))
        else:
            parts.append(Comparison(name, op, _check_value(value, name)))
    return parts


def validate(expr: Filter, schema: Schema, *, argument: str = "filter", limits: Any = None) -> None:
    """Check names, value types, nesting depth and list sizes against the schema without touching any column."""
    normalised(expr, schema, argument=argument, limits=limits)


def coerce(value: Any, *, argument: str = "filter", limits: Any = None, memo: dict | None = None) -> Filter:
    """Accept a Filter or its dict form (nested at most ``limits.max_filter_depth`` deep).

    ``memo`` (a dict shared by calls over one request's filters) lets dicts seen
    before, such as clauses that per-query filters share, be parsed once."""
    if isinstance(value, Filter):
        return value
    if isinstance(value, Mapping):
        _check_dict_depth(value, argument, _limits(limits).max_filter_depth)
        return _parse(value, argument, memo)
    raise TypeError(f"{argument}: expected a filter expression (fs.col(...)) or its dict form, got {describe(value)}")


def checked(value: Any, schema: Schema, *, argument: str = "filter", limits: Any = None,
            memo: dict | None = None) -> Filter:
    """One filter (an expression or its dict form, not a per-query list), coerced,
    validated against ``schema`` and normalised (see :func:`normalised`).

    ``memo``, a dict shared by the calls checking one request's filters against the
    same schema and limits, lets parts seen before (the clauses per-query filters
    share) be parsed and normalised once; errors are the same as without it.

    Example:
        >>> from flatsearch.schema import Schema
        >>> schema, memo, city = Schema({"city": "int", "remote": "bool"}), {}, {"city": 3}
        >>> first = checked(city, schema, memo=memo)
        >>> second = checked({"and": [city, {"remote": True}]}, schema, memo=memo)
        >>> second.children[0] is first, second.to_dict()
        (True, {'and': [{'city': {'eq': 3}}, {'remote': {'eq': True}}]})
    """
    if isinstance(value, (list, tuple)):
        raise TypeError(f"{argument}: expected one filter expression or its dict form, got a {type(value).__name__}")
    expr = coerce(value, argument=argument, limits=limits, memo=memo)
    return normalised(expr, schema, argument=argument, limits=limits, memo=memo)


_KEY_SCALARS = (str, int, bool, type(None))
_KEY_DEPTH = 64  # nesting of dicts and lists a cache key follows (a job-search plan is 4 deep)


def canonical_key(data: Any, depth: int = 0):
    """A hashable key equal for equal JSON-form filters (dict key order aside), or None when ``data``
    holds anything but dicts, lists, tuples, str, int, float, bool and None, or nests dicts and lists
    more than ``_KEY_DEPTH`` deep (then it is not cached).

    Types are part of the key (``True``, ``1`` and ``1.0`` differ; floats by their repr, so ``-0.0`` and
    ``0.0`` differ too).

    Example:
        >>> canonical_key({"a": 1, "b": [2, 3]}) == canonical_key({"b": [2, 3], "a": 1}), canonical_key({"a": object()})
        (True, None)
    """
    kind = type(data)
    if depth > _KEY_DEPTH:
        return None
    if kind is dict:
        items = []
        for name, value in data.items():
            if type(name) is not str:
                return None
            value_key = canonical_key(value, depth + 1)
            if value_key is None:
                return None
            items.append((name, value_key))
        items.sort(key=lambda item: item[0])
        return ("dict", tuple(items))
    if kind is list or kind is tuple:
        if all(type(value) in _KEY_SCALARS for value in data):  # an isin list: one pass, no call per value
            return ("list", tuple((type(value), value) for value in data))
        parts = tuple(canonical_key(value, depth + 1) for value in data)
        return None if None in parts else ("list", parts)
    if kind is float:
        return (float, repr(data))
    if kind in _KEY_SCALARS:
        return (kind, data)
    return None


def _limits(limits: Any) -> Any:
    if limits is None:
        from .checks import LIMITS
        return LIMITS
    return limits


def _check_dict_depth(data: Any, argument: str, limit: int) -> None:
    """Reject the JSON form nested deeper than ``limit`` before parsing it (iteratively)."""
    pending = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, Mapping):
            continue
        children = []
        for key, value in node.items():
            if key in ("and", "or") and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
                children.extend(value)
            elif key == "not":
                children.append(value)
        if children and depth > limit:
            raise ValueError(f"{argument}: expected and / or / not nested at most {limit} deep "
                             f"(fs.set_limits(max_filter_depth=...)), got a deeper filter")
        pending.extend((child, depth + 1) for child in children)


def _depth(expr: Filter) -> int:
    deepest, pending = 0, [(expr, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, (And, Or)):
            pending.extend((child, depth + 1) for child in _flatten(node, type(node)))
        elif isinstance(node, Not):
            pending.append((node.child, depth + 1))
        deepest = max(deepest, depth)
    return deepest


def normalised(expr: Filter, schema: Schema, *, argument: str = "filter", limits: Any = None,
               memo: dict | None = None) -> Filter:
    """``expr`` checked against ``schema``, with every comparison put in the stored form
    of its column, compared numerically.

    On "int", "time" and "tags" columns a bound that is a float or outside int64
    becomes the equivalent integer bound (``c < 5.5`` is ``c <= 5``; ``c < 2**63``
    matches every non-null value; ``c == 5.5`` matches nothing); on "float"
    columns infinite bounds compare as such. Raises for unknown attributes, wrong
    value types, nesting deeper than ``limits.max_filter_depth`` and ``isin``
    lists longer than ``limits.max_isin_values``.

    Example:
        >>> import flatsearch as fs
        >>> from flatsearch.schema import Schema
        >>> normalised((fs.col("c") < 5.5) & (fs.col("c") != 2**64), Schema({"c": "int"})).to_dict()
        {'and': [{'c': {'lte': 5}}, {'c': {'gte': -9223372036854775807}}]}
    """
    limits = _limits(limits)
    if not isinstance(expr, Filter):
        raise TypeError(f"{argument}: expected a filter expression, got {describe(expr)}")
    if _depth(expr) > limits.max_filter_depth:
        raise ValueError(f"{argument}: expected and / or / not nested at most {limits.max_filter_depth} deep "
                         f"(fs.set_limits(max_filter_depth=...)), got {_depth(expr)}")
    return _normalise_node(expr, schema, argument, limits, memo)


def _normalise_node(expr: Filter, schema: Schema, argument: str, limits: Any, memo: dict | None = None) -> Filter:
    # Recursion depth is bounded by max_filter_depth (checked above).
    if isinstance(expr, Comparison):
        if memo is None:
            return _normalise_comparison(expr, schema, argument, limits)
        # A comparison normalised earlier in this call passed every check then: the same result.
        seen = memo.get(id(expr))
        if seen is not None and seen[0] is expr:
            return seen[1]
        result = _normalise_comparison(expr, schema, argument, limits)
        memo[id(expr)] = (expr, result)
        return result
    if isinstance(expr, (And, Or)):
        return type(expr)(tuple(_normalise_node(child, schema, argument, limits, memo)
                                for child in _flatten(expr, type(expr))))
    if isinstance(expr, Not):
        return Not(_normalise_node(expr.child, schema, argument, limits, memo))
    raise TypeError(f"{argument}: expected a filter expression, got {describe(expr)}")


_INT_LOW, _INT_HIGH = -(2**63) + 1, 2**63 - 1  # the smallest int64 is the null marker
_FLOAT_BEYOND = 3.5e38  # past float32's largest value: compares like infinity with every stored float


def _normalise_comparison(expr: Comparison, schema: Schema, argument: str, limits: Any) -> Filter:
    name, op, value = expr.name, expr.op, expr.value
    kind = schema.kind(name, argument=argument)
    if kind == "bool" and op in ("lt", "lte", "gt", "gte"):
        raise TypeError(f"{argument}: attribute {name!r} is bool; it supports eq, ne and in, not {op}")
    where = f"{argument} ({name} {op})"
    values = value if op == "in" else (value,)
    if op == "in" and len(values) > limits.max_isin_values:
        raise ValueError(f"{where}: expected at most {limits.max_isin_values} values "
                         f"(fs.set_limits(max_isin_values=...)), got {len(values)}")
    numeric = [type(v) is int or type(v) is float or (isinstance(v, numbers.Real) and not isinstance(v, bool))
               for v in values]
    if kind in ("int", "time", "tags") and all(numeric):
        for v in values:
            if isinstance(v, float) and math.isnan(v):
                raise TypeError(f"{where}: expected a number, got nan")
        if op == "in":
            kept = tuple(int(v) for v in values if _is_int64(v))
            if kind == "time":  # int and tags accept every int64 but the null marker, which _is_int64 leaves out
                for v in kept:
                    schema.scalar(name, v, argument=where)
            return Comparison(name, "in", kept)
        return _integer_bound(name, op, value)
    if kind == "float" and all(numeric):
        values = tuple(v if isinstance(v, float) and math.isnan(v) else
                       math.copysign(_FLOAT_BEYOND, v) if not -_FLOAT_BEYOND < v < _FLOAT_BEYOND else v
                       for v in values)
        if op != "in":
            values = values[0]
        expr = Comparison(name, op, values)
    for v in (expr.value if op == "in" else (expr.value,)):
        schema.scalar(name, v, argument=where)
    if op == "in" and type(expr.value) is not tuple:  # a checked expression holds no mutable value
        expr = Comparison(name, op, tuple(expr.value))
    return expr


def _is_int64(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and _INT_LOW <= value <= _INT_HIGH
    return _INT_LOW <= int(value) <= _INT_HIGH


def _integer_bound(name: str, op: str, value: Any) -> Comparison:
    """The comparison on stored integers equivalent to comparing with the number ``value``."""
    if isinstance(value, numbers.Integral) and _is_int64(value):
        return Comparison(name, op, int(value))
    everything, nothing = Comparison(name, "gte", _INT_LOW), Comparison(name, "lt", _INT_LOW)
    if op in ("eq", "ne"):
        if _is_int64(value):
            return Comparison(name, op, int(value))
        return nothing if op == "eq" else everything
    if isinstance(value, float) and math.isinf(value):
        below = value > 0  # every stored value is below +inf and above -inf
        return everything if below == (op in ("lt", "lte")) else nothing
    if op in ("lt", "lte"):  # c <= highest
        highest = (math.ceil(value) - 1) if op == "lt" else math.floor(value)
        return everything if highest >= _INT_HIGH else nothing if highest < _INT_LOW else \
            Comparison(name, "lte", int(highest))
    lowest = (math.floor(value) + 1) if op == "gt" else math.ceil(value)  # c >= lowest
    return everything if lowest <= _INT_LOW else nothing if lowest > _INT_HIGH else Comparison(name, "gte", int(lowest))
