"""Filter planning: the live slots passing a filter, at a cost that follows how many pass.

Each comparison first counts its matching entries in the column's
:class:`~flatsearch.attribute_index.SortedColumn` (two ``searchsorted`` calls,
no row touched). A filter whose estimate is at most ``POSTINGS_MAX_FRACTION``
of the slots is answered from postings:

* a comparison: its slice of the sorted entries;
* ``a & b & ...``: the postings of the most selective child, then the other
  children evaluated on just those rows (their column values gathered);
* ``a | b | ...``: the union of the children's postings.

Anything looser (and every ``~``) is a vectorised scan of the columns, one
comparison per clause over every slot; ``tags`` comparisons there also read
the postings (a scatter), so a wide tags column is never scanned.

Either way the result is a :class:`Selection`: sorted passing live slots, or a
bool mask over all slots when many pass.

Per-query filters (:func:`select_per_query`) are planned together: the clauses
every filter ANDs (the job search's plan filters, and the same with a
preference added) are selected once, and each filter's other clauses are
evaluated only at the rows those pass, so a search of two queries costs about
one plan. On a CPU the host-side steps (sorting and deduplicating postings,
keeping live slots, ``isin``) run in numpy: single-threaded, and a few
microseconds where a torch call costs tens.

The crossover was measured with ``benchmarks/plan_crossover.py`` (1M slots, one
thread, 2-core Xeon, minimum of 15 runs, load average 5.5 from other work): one
int range comparison took 0.08 / 0.52 / 1.09 / 2.16 ms from postings at 0.1% /
1% / 5% / 10% passing against a flat 1.2 ms column scan; ANDed with a loose
float range, 0.14 / 0.67 / 1.46 / 3.12 ms against 2.7 ms. Postings win below
about 5% (one clause) to 8% (an AND), so the default is 5%.

Example:
    >>> import torch, flatsearch as fs
    >>> index = fs.Index(2, attributes={"city": "int"})
    >>> index.add(list(range(1000)), torch.ones(1000, 2), {"city": [i % 100 for i in range(1000)]})
    >>> selection = select(fs.col("city") == 3, index.schema, index._storage)  # 1% pass: postings
    >>> selection.slots[:4].tolist(), selection.count
    ([3, 103, 203, 303], 10)
    >>> select(fs.col("city") < 50, index.schema, index._storage).mask.sum().item()  # 50%: a column scan
    500
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch

from .filters import And, Comparison, Filter, Not, Or, combine_masks, invert_mask
from .schema import Schema

POSTINGS_MAX_FRACTION = 0.05
# Plans a PlanCache keeps (least recently used first out), and the bytes their tensors may hold in all;
# a plan larger than a quarter of that is not kept.
PLAN_CACHE_ENTRIES = 256
PLAN_CACHE_BYTES = 64 << 20


@dataclass(frozen=True)
class Selection:
    """Live slots passing a filter: ``slots`` (sorted int64) or ``mask`` (bool over all slots); one is set."""

    slots: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    @property
    def count(self) -> int:
        if self.slots is not None:
            return int(self.slots.numel())
        return int(np.count_nonzero(self.mask.numpy())) if self.mask.device.type == "cpu" else int(self.mask.sum())

    def as_mask(self, capacity: int) -> torch.Tensor:
        if self.mask is not None:
            return self.mask
        return _mask_of(self.slots, capacity)

    def as_slots(self) -> torch.Tensor:
        if self.slots is not None:
            return self.slots
        return torch.from_numpy(np.flatnonzero(self.mask.numpy())) if self.mask.device.type == "cpu" \
            else self.mask.nonzero().flatten()


def _mask_of(slots: torch.Tensor, capacity: int) -> torch.Tensor:
    """A bool mask over ``capacity`` slots, set at ``slots`` (numpy on a CPU)."""
    if slots.device.type == "cpu":
        mask = np.zeros(capacity, dtype=bool)
        mask[slots.numpy()] = True
        return torch.from_numpy(mask)
    mask = torch.zeros(capacity, dtype=torch.bool, device=slots.device)
    mask[slots] = True
    return mask


class _Gathered(Mapping):
    """Columns read at a few slots, gathered on first use."""

    def __init__(self, columns: Mapping[str, torch.Tensor], slots: torch.Tensor):
        self._columns, self._slots, self._cache = columns, slots, {}

    def __getitem__(self, name):
        if name not in self._cache:
            self._cache[name] = self._columns[name].index_select(0, self._slots)
        return self._cache[name]

    def __iter__(self):
        return iter(self._columns)

    def __len__(self):
        return len(self._columns)


class _Planner:
    def __init__(self, schema: Schema, storage, max_fraction: float):
        self.schema, self.storage = schema, storage
        self.capacity = storage.capacity
        self.limit = max_fraction * self.capacity
        self._bounds: dict[int, tuple] = {}
        self._estimates: dict[int, tuple] = {}

    # -- estimates ------------------------------------------------------------------------------
    def bounds(self, expr: Comparison):
        if id(expr) not in self._bounds:
            values = [self.schema.scalar(expr.name, v, argument="filter") for v in expr.value] if expr.op == "in" \
                else self.schema.scalar(expr.name, expr.value, argument="filter")
            # The expression is kept beside its bounds so that its id cannot be reused by another one.
            self._bounds[id(expr)] = (expr, self.storage.attribute_index(expr.name).bounds(expr.op, values))
        return self._bounds[id(expr)][1]

    def estimate(self, expr: Filter) -> int:
        """Upper bound on the slots passing ``expr`` (exact for one scalar comparison)."""
        key = id(expr)
        if key in self._estimates:
            return self._estimates[key][1]
        if isinstance(expr, Comparison):
            if self._row_level(expr):
                value = self.capacity
            else:
                lo, hi = self.bounds(expr)
                if lo.device.type == "cpu":  # a few ranges: numpy, without three torch dispatches
                    value = int(np.maximum(hi.numpy() - lo.numpy(), 0).sum())
                else:
                    value = int((hi - lo).clamp(min=0).sum())
        elif isinstance(expr, And):
            value = min(self.estimate(child) for child in _children(expr))
        elif isinstance(expr, Or):
            value = min(self.capacity, sum(self.estimate(child) for child in _children(expr)))
        else:
            value = self.capacity
        self._estimates[key] = (expr, value)
        return value

    def _row_level(self, expr: Comparison) -> bool:
        # tags "!=" means "no element equals": a property of the whole row, not of entries.
        return self.schema.kinds[expr.name] == "tags" and expr.op == "ne"

    # -- postings -------------------------------------------------------------------------------
    def postings(self, expr: Filter) -> torch.Tensor:
        """Sorted unique slots (live or not) passing ``expr``; meant for expressions with a small estimate."""
        if isinstance(expr, Not) or (isinstance(expr, Comparison) and self._row_level(expr)):
            return self.scan(expr).nonzero().flatten()  # no postings answer "not": scan
        if isinstance(expr, Comparison):
            slots = self.storage.attribute_index(expr.name).slots_between(*self.bounds(expr))
            return _unique(slots)  # sorted; tags rows with a repeated tag appear once
        if isinstance(expr, And):
            children = sorted(_children(expr), key=self.estimate)
            slots = self.postings(children[0])
            rest = children[1:]
            if rest and slots.numel():
                others = rest[0] if len(rest) == 1 else And(tuple(rest))
                slots = slots[self.evaluate_at(others, slots)]
            return slots
        if isinstance(expr, Or):
            return _unique(torch.cat([self.postings(child) for child in _children(expr)]))
        raise TypeError(f"filter: expected a filter expression, got {type(expr).__name__}")

    def evaluate_at(self, expr: Filter, slots: torch.Tensor) -> torch.Tensor:
        """``expr`` at the given slots only (bool, one per slot)."""
        return expr.evaluate(self.schema, _Gathered(self.storage.columns, slots))

    # -- scan -----------------------------------------------------------------------------------
    def scan(self, expr: Filter) -> torch.Tensor:
        """``expr`` over every slot (bool mask), one vectorised pass per clause."""
        if isinstance(expr, Comparison):
            if self.schema.kinds[expr.name] == "tags":
                return self._tags_mask(expr)
            if self.limit > 0 and not self._row_level(expr) and self.estimate(expr) <= self.limit:
                # A selective clause inside a loose filter (``~company.isin([...])``): its postings
                # set the bits, instead of a comparison over every row.
                return _mask_of(self.storage.attribute_index(expr.name).slots_between(*self.bounds(expr)),
                                self.capacity)
            return expr.evaluate(self.schema, self.storage.columns)
        if isinstance(expr, (And, Or)):
            combine = torch.logical_and if isinstance(expr, And) else torch.logical_or
            result = None
            for child in _children(expr):
                hits = self.scan(child)
                result = hits if result is None else combine_masks(combine, result, hits)
            return result
        if isinstance(expr, Not):
            return invert_mask(self.scan(expr.child))
        raise TypeError(f"filter: expected a filter expression, got {type(expr).__name__}")

    def _tags_mask(self, expr: Comparison) -> torch.Tensor:
        index = self.storage.attribute_index(expr.name)
        mask = torch.zeros(self.capacity, dtype=torch.bool, device=self.storage.live.device)
        if self._row_level(expr):
            equal = Comparison(expr.name, "eq", expr.value)
            mask[index.slots_between(*self.bounds(equal))] = True
            has_tags = torch.zeros_like(mask)
            has_tags[index.current_slots()] = True
            return has_tags & ~mask
        mask[index.slots_between(*self.bounds(expr))] = True
        return mask


def _unique(slots: torch.Tensor) -> torch.Tensor:
    """Sorted unique slots; on a CPU through numpy (one single-threaded sort, no torch dispatch)."""
    if slots.device.type == "cpu":
        ordered = np.sort(slots.numpy())
        if len(ordered) > 1:
            first = np.empty(len(ordered), dtype=bool)
            first[0] = True
            np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
            if not first.all():
                ordered = ordered[first]
        return torch.from_numpy(ordered)
    return torch.unique(slots)


def _live_only(slots: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    if slots.device.type == "cpu":
        array = slots.numpy()
        return torch.from_numpy(array[live.numpy()[array]])
    return slots[live.index_select(0, slots)]


def _children(expr: Filter) -> list[Filter]:
    out = []
    for child in expr.children:
        out.extend(_children(child) if type(child) is type(expr) else [child])
    return out


def select(expr: Filter, schema: Schema, storage, *, max_fraction: float | None = None) -> Selection:
    """Live slots passing ``expr`` (validated against ``schema``), by postings or by a column scan.

    ``max_fraction`` overrides :data:`POSTINGS_MAX_FRACTION`: 0 always scans, 1 always plans
    from postings (a ``~`` inside is still answered by a scan).
    """
    planner = _Planner(schema, storage, POSTINGS_MAX_FRACTION if max_fraction is None else max_fraction)
    live = storage.live
    if planner.limit > 0 and planner.estimate(expr) <= planner.limit:
        return Selection(slots=_live_only(planner.postings(expr), live))
    return Selection(mask=combine_masks(torch.logical_and, planner.scan(expr), live))


@dataclass(frozen=True)
class PerQuery:
    """Per-query filters planned together: ``slots``, sorted live slots holding every row any
    query's filter passes, and ``keep``, bool (nq, len(slots)): each query's own filter there;
    or, when the candidates are too many to gather, ``mask``, bool (nq, capacity), and the
    other two None."""

    slots: torch.Tensor | None
    keep: torch.Tensor | None
    mask: torch.Tensor | None = None


def _clause_key(clause: Filter):
    """A key equal for equal clauses (cheaper than the JSON key for a comparison; repr keeps True and 1 apart)."""
    if isinstance(clause, Comparison):
        return (clause.name, clause.op, repr(tuple(clause.value) if clause.op == "in" else clause.value))
    return clause.key()


def _conjuncts(expr: Filter) -> list[tuple[object, Filter]]:
    """The clauses ``expr`` ANDs (itself when it is no And), each with a key, without repeats."""
    seen: dict[object, Filter] = {}
    for clause in (_children(expr) if isinstance(expr, And) else [expr]):
        seen.setdefault(_clause_key(clause), clause)
    return list(seen.items())


def _all_of(clauses: list[Filter]) -> Filter:
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def select_per_query(filters: Sequence[Filter | None], schema: Schema, storage, *, max_candidates: float,
                     max_fraction: float | None = None, selections: dict | None = None) -> PerQuery | None:
    """Live slots passing per-query filters, as candidates shared by all queries and each query's bits there.

    The clauses that every filter ANDs (the job search sends its plan's filters, and
    the same ANDed with a preference) are planned once, by :func:`select`; each
    filter's other clauses are evaluated only at the rows those pass. With no
    clause in common, each distinct filter is planned on its own and the
    candidates are the union of their postings. When the common clauses pass more
    than ``max_candidates`` slots, the result is one mask per query instead. Returns
    None when a query is unfiltered, when a filter needs a column scan with no shared
    clause, or when the union would be more than ``max_candidates`` slots: the caller
    then builds a mask over every slot (``selections``, if given, receives the
    :class:`Selection` of each filter planned here, by key, for it to reuse).

    Example:
        >>> import torch, flatsearch as fs
        >>> index = fs.Index(2, attributes={"city": "int", "remote": "bool"})
        >>> index.add(list(range(6)), torch.ones(6, 2), {"city": [1, 1, 2, 1, 2, 1], "remote": [True, False, True, True, False, False]})
        >>> plan = (fs.col("city") == 1, (fs.col("city") == 1) & (fs.col("remote") == True))
        >>> found = select_per_query(plan, index.schema, index._storage, max_candidates=6)
        >>> found.slots.tolist(), found.keep.tolist()
        ([0, 1, 3, 5], [[True, True, True, True], [True, False, True, False]])
    """
    if not filters or any(expr is None for expr in filters):
        return None
    conjuncts = [_conjuncts(expr) for expr in filters]
    common = set.intersection(*(set(key for key, _ in clauses) for clauses in conjuncts))
    rows: dict[int, torch.Tensor] = {}
    if common:
        shared = [clause for key, clause in conjuncts[0] if key in common]
        selection = select(_all_of(shared), schema, storage, max_fraction=max_fraction)
        if selection.count > max_candidates:
            # Loose common clauses: masks over every slot, each the common mask ANDed with the
            # query's other clauses (the common clauses are not evaluated again).
            by_rest_mask: dict[tuple, torch.Tensor] = {}
            masks = []
            for clauses in conjuncts:
                rest = tuple(key for key, _ in clauses if key not in common)
                if rest not in by_rest_mask:
                    common_mask = selection.as_mask(storage.capacity)
                    by_rest_mask[rest] = common_mask if not rest else combine_masks(torch.logical_and, common_mask, select(
                        _all_of([clause for key, clause in clauses if key not in common]), schema, storage,
                        max_fraction=max_fraction).as_mask(storage.capacity))
                masks.append(by_rest_mask[rest])
            return PerQuery(slots=None, keep=None, mask=torch.stack(masks))
        slots = selection.as_slots()
        by_rest: dict[tuple, torch.Tensor] = {}
        gathered = _Gathered(storage.columns, slots)
        for position, clauses in enumerate(conjuncts):
            rest = tuple(key for key, _ in clauses if key not in common)
            if rest not in by_rest:
                if rest:
                    by_rest[rest] = _all_of([clause for key, clause in clauses if key not in common]).evaluate(
                        schema, gathered)
                else:
                    by_rest[rest] = torch.ones(slots.numel(), dtype=torch.bool, device=slots.device)
            rows[position] = by_rest[rest]
    else:
        found = {} if selections is None else selections
        keys = [expr.key() for expr in filters]
        for key, expr in zip(keys, filters):
            if key not in found:
                found[key] = select(expr, schema, storage, max_fraction=max_fraction)
            if found[key].slots is None:
                return None
        slots = _unique(torch.cat([found[key].slots for key in dict.fromkeys(keys)]))
        if slots.numel() > max_candidates:
            return None
        by_key: dict[str, torch.Tensor] = {}
        for position, key in enumerate(keys):
            if key not in by_key:
                row = torch.zeros(slots.numel(), dtype=torch.bool, device=slots.device)
                row[torch.searchsorted(slots, found[key].slots)] = True  # both sorted: its slots' places
                by_key[key] = row
            rows[position] = by_key[key]
    return PerQuery(slots=slots, keep=torch.stack([rows[position] for position in range(len(filters))]))


class PlanCache:
    """Plans of one storage by key (what a search derives from its filters and boost: passing slots,
    block ranges, per-query bits, bias), valid for one storage version.

    Every write to a storage (add, upsert, delete, set_attributes) bumps its version, and a compact
    or a load makes a new storage, so a plan is only ever read back at the version it was made at:
    :meth:`get` of another version or storage finds nothing, and the next :meth:`put` drops the old
    plans. A warm search service sees the same few filters again and again, and planning them was
    most of a job-search scan's fixed cost. Thread-safe (searches run side by side under a read
    lock); plans are never changed once put, so they are shared as they are.

    Example:
        >>> import torch, flatsearch as fs
        >>> index = fs.Index(2, attributes={"city": "int"})
        >>> index.add([1, 2], torch.eye(2), {"city": [5, 6]})
        >>> cache = PlanCache()
        >>> cache.put(index._storage, "city == 5", {"slots": torch.tensor([0])})
        >>> cache.get(index._storage, "city == 5")
        {'slots': tensor([0])}
        >>> index.delete([2])
        1
        >>> cache.get(index._storage, "city == 5") is None  # a write: every plan is stale
        True
    """

    def __init__(self, *, max_entries: int | None = None, max_bytes: int | None = None):
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name}: expected a non-negative int or None, got {value!r}")
        self.max_entries = PLAN_CACHE_ENTRIES if max_entries is None else max_entries
        self.max_bytes = PLAN_CACHE_BYTES if max_bytes is None else max_bytes
        self._lock = threading.Lock()
        self._storage, self._version = None, -1
        self._plans: OrderedDict[Hashable, tuple[dict, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, storage, key: Hashable) -> dict | None:
        """The plan put under ``key`` at the storage's current version, or None."""
        with self._lock:
            entry = None
            if self._storage is storage and self._version == storage.version:
                entry = self._plans.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._plans.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, storage, key: Hashable, plan: dict, *, extra_bytes: int = 0) -> None:
        """Keep ``plan`` (a dict whose tensor values are counted, plus ``extra_bytes``) for this version."""
        size = extra_bytes + sum(value.numel() * value.element_size() for value in plan.values()
                                 if isinstance(value, torch.Tensor))
        with self._lock:
            if self._storage is not storage or self._version != storage.version:
                self._plans.clear()
                self._bytes = 0
                self._storage, self._version = storage, storage.version
            if size > self.max_bytes // 4 or self.max_entries < 1:
                return
            old = self._plans.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._plans[key] = (plan, size)
            self._bytes += size
            while len(self._plans) > self.max_entries or self._bytes > self.max_bytes:
                self._bytes -= self._plans.popitem(last=False)[1][1]

    def clear(self) -> None:
        """Drop every plan (the next search of each filter plans it anew)."""
        with self._lock:
            self._plans.clear()
            self._bytes = 0
            self._storage, self._version = None, -1
