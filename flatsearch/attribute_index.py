"""Sorted (value, slot) entries of one attribute column: the index a filter plan reads.

Every non-null value of a column is one entry; a ``tags`` row contributes one
entry per tag. Entries are kept sorted by value, so every comparison a filter
can make on one column (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``)
is one or a few contiguous position ranges found with ``searchsorted``: the
count of matching entries is known before any slot is touched, and the
matching slots are a slice. For ``int``, ``bool`` and ``tags`` columns equal
values are adjacent, so a range is the posting list of a value; for ``float``
and ``time`` columns it is the sorted order that answers ranges.

Entries cover every slot that holds a value, live or deleted; the plan
intersects with the live bits afterwards, so deletes cost the index nothing.
A write (insert, upsert, set_attributes) costs what its batch costs: its
entries go to a small sorted delta beside the main run, and the entries the
written slots held before are left in place but marked stale by a per-slot
write generation (an entry is current when its generation is its slot's).
Lookups search both runs and drop stale entries from what they return, so
counts are upper bounds and slots are exact. When the delta or the stale
entries pass ``DELTA_FRACTION`` of the main run, both runs are folded into
one: a linear merge, so each entry pays for it a constant number of times.

On a CPU a write runs in numpy on views of the same memory: it is a handful of
passes over the batch, and torch would split each across OpenMP threads, which
wait for one another when another process keeps a core busy (see
:mod:`flatsearch.storage`); numpy runs them single-threaded.

Example:
    >>> import torch
    >>> from flatsearch.attribute_index import SortedColumn
    >>> index = SortedColumn.build(torch.tensor([5, 3, 5, -2**63, 7]), "int")
    >>> index.slots_between(*index.bounds("eq", 5)).tolist()
    [0, 2]
    >>> index.write(torch.tensor([1]), torch.tensor([3]), torch.tensor([5]))
    >>> sorted(index.slots_between(*index.bounds("eq", 5)).tolist())
    [0, 1, 2]
"""
from __future__ import annotations

import numpy as np
import torch

from .sorting import searchsorted, stable_argsort
from .schema import INT_NULL, Schema


def _entries(column: torch.Tensor, kind: str, slots: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, slots) of the non-null values of ``column`` (rows are ``slots``, or 0..n), unsorted."""
    present = Schema.not_null(kind, column)
    positions = present.nonzero()
    rows = positions[:, 0]
    values = column[present]
    owners = rows if slots is None else slots[rows]
    return values, owners



def _host_entries(column: np.ndarray, kind: str, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_entries`` of a numpy column whose rows are ``slots`` (row-major order, as torch gives)."""
    present = Schema.not_null(kind, column)
    rows = np.flatnonzero(present) if column.ndim == 1 else np.nonzero(present)[0]
    return column[present], slots[rows]


NUMPY_ON_CPU = True  # False runs the torch steps of a CUDA index on the CPU (tests compare the two)


def _on_host(tensor: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and tensor.device.type == "cpu"


DELTA_FRACTION = 0.25  # delta or stale entries beyond this share of the main run trigger a fold
DELTA_MIN = 4096  # below this many, never fold
# On a CPU, up to this many position ranges are read as slices (one small host copy of the bounds)
# rather than by a vectorised gather, which costs several passes over the result.
FEW_RANGES = 16


def _merge(run_a: tuple, run_b: tuple) -> tuple:
    """Two runs of (values, slots, generations), each sorted by value, merged in linear time."""
    values_b = run_b[0]
    if values_b.numel() == 0:
        return run_a
    if run_a[0].numel() == 0:
        return run_b
    if _on_host(values_b):
        host_a, host_b = [t.numpy() for t in run_a], [t.numpy() for t in run_b]
        positions = np.searchsorted(host_a[0], host_b[0], side="right") + np.arange(host_b[0].size)
        total = host_a[0].size + host_b[0].size
        is_a = np.ones(total, dtype=bool)
        is_a[positions] = False
        merged = []
        for a, b in zip(host_a, host_b):
            out = np.empty(total, dtype=a.dtype)
            out[positions] = b
            out[is_a] = a
            merged.append(torch.from_numpy(out))
        return tuple(merged)
    # Each b entry lands after the a entries not larger than it.
    positions = searchsorted(run_a[0], values_b, right=True) + torch.arange(len(values_b), device=values_b.device)
    total = len(run_a[0]) + len(values_b)
    is_a = torch.ones(total, dtype=torch.bool, device=values_b.device)
    is_a[positions] = False
    merged = []
    for a, b in zip(run_a, run_b):
        out = torch.empty(total, dtype=a.dtype, device=a.device)
        out[positions] = b
        out[is_a] = a
        merged.append(out)
    return tuple(merged)


class SortedColumn:
    """Sorted entries of one column: a main run and a delta run, each ``(values, slots, generations)``
    sorted by value, and the current write generation of every slot."""

    def __init__(self, kind: str, values: torch.Tensor, slots: torch.Tensor, capacity: int):
        self.kind = kind
        device = values.device
        self._main = (values, slots, torch.zeros(len(values), dtype=torch.int64, device=device))
        self._delta = tuple(t[:0] for t in self._main)
        self._slot_generation = torch.zeros(capacity, dtype=torch.int64, device=device)
        self._generation = 0
        self._stale = 0  # entries (in either run) whose slot was written since

    @classmethod
    def build(cls, column: torch.Tensor, kind: str) -> "SortedColumn":
        values, slots = _entries(column, kind)
        order = stable_argsort(values)
        return cls(kind, values[order], slots[order], column.shape[0])

    def __len__(self) -> int:
        """Current entries (one per non-null value; a tags row has one per tag)."""
        return int(self._main[0].numel() + self._delta[0].numel()) - self._stale

    def write(self, slots: torch.Tensor, old: torch.Tensor, new: torch.Tensor | None) -> None:
        """Slots ``slots`` (unique) change from column values ``old`` to ``new`` (rows in the same
        order; None: all null)."""
        if slots.numel() == 0:
            return
        if _on_host(self._main[1]):
            self._write_host(slots.cpu().contiguous().numpy(), old.cpu().contiguous().numpy(),
                             None if new is None else new.cpu().contiguous().numpy())
            return
        if new is None:
            new = torch.full_like(old, float("nan") if self.kind == "float" else -1 if self.kind == "bool" else INT_NULL)
        slots = slots.to(self._main[1].device)
        needed = int(slots.max()) + 1
        if needed > self._slot_generation.numel():
            grown = torch.zeros(max(needed, 2 * self._slot_generation.numel()), dtype=torch.int64,
                                device=self._slot_generation.device)
            grown[:self._slot_generation.numel()] = self._slot_generation
            self._slot_generation = grown
        # The current entries of the written slots are exactly their old non-null values: all go stale.
        self._stale += int(Schema.not_null(self.kind, old).sum())
        self._generation += 1
        self._slot_generation[slots] = self._generation
        values, owners = _entries(new.to(self._main[0].device), self.kind, slots)
        if values.numel():
            order = stable_argsort(values)
            batch = (values[order].to(self._main[0].dtype), owners[order],
                     torch.full((len(values),), self._generation, dtype=torch.int64, device=values.device))
            self._delta = _merge(self._delta, batch)
        limit = max(DELTA_MIN, DELTA_FRACTION * self._main[0].numel())
        if self._delta[0].numel() > limit or self._stale > limit:
            self._fold()

    def _write_host(self, slots: np.ndarray, old: np.ndarray, new: np.ndarray | None) -> None:
        """``write`` in numpy (a CPU index)."""
        needed = int(slots.max()) + 1
        if needed > self._slot_generation.numel():
            grown = np.zeros(max(needed, 2 * self._slot_generation.numel()), dtype=np.int64)
            grown[:self._slot_generation.numel()] = self._slot_generation.numpy()
            self._slot_generation = torch.from_numpy(grown)
        # The current entries of the written slots are exactly their old non-null values: all go stale.
        self._stale += int(np.count_nonzero(Schema.not_null(self.kind, old)))
        self._generation += 1
        self._slot_generation.numpy()[slots] = self._generation
        if new is not None:
            values, owners = _host_entries(new, self.kind, slots)
            if values.size:
                # Equal values need no order among themselves (lookups return slots unsorted), and
                # numpy's default sort is several times faster than its stable one on int64.
                order = np.argsort(values)
                batch = (torch.from_numpy(values[order].astype(self._main[0].numpy().dtype, copy=False)),
                         torch.from_numpy(owners[order]),
                         torch.from_numpy(np.full(values.size, self._generation, dtype=np.int64)))
                self._delta = _merge(self._delta, batch)
        limit = max(DELTA_MIN, DELTA_FRACTION * self._main[0].numel())
        if self._delta[0].numel() > limit or self._stale > limit:
            self._fold()

    def _fold(self) -> None:
        """One sorted run of current entries (linear in the entries held)."""
        values, slots, generations = _merge(self._main, self._delta)
        if self._stale and _on_host(values):
            current = generations.numpy() == self._slot_generation.numpy()[slots.numpy()]
            values, slots, generations = (torch.from_numpy(t.numpy()[current]) for t in (values, slots, generations))
        elif self._stale:
            current = generations == self._slot_generation[slots]
            values, slots, generations = values[current], slots[current], generations[current]
        self._main = (values, slots, generations)
        self._delta = tuple(t[:0] for t in self._main)
        self._stale = 0

    def current_slots(self) -> torch.Tensor:
        """Slots holding at least one entry (unsorted; a tags row may repeat)."""
        slots = torch.cat([self._main[1], self._delta[1]])
        generations = torch.cat([self._main[2], self._delta[2]])
        return self._current(slots, generations)

    def _current(self, slots: torch.Tensor, generations: torch.Tensor) -> torch.Tensor:
        if self._stale == 0:
            return slots
        return slots[generations == self._slot_generation[slots]]

    # -- queries ----------------------------------------------------------------------------------
    def bounds(self, op: str, value) -> tuple[torch.Tensor, torch.Tensor]:
        """Position ranges ``[lo, hi)`` (two int64 tensors) of the entries matching ``column op value``.

        Positions index the main run followed by the delta run. ``value`` is a
        stored-representation scalar, or a list of them for ``in``. ``ne`` is the two
        ranges around ``eq`` (for tags the caller handles ``ne``: it is a row-level test).
        ``(hi - lo).sum()`` counts matching entries, stale ones included (an upper bound).
        """
        if op not in ("eq", "ne", "lt", "lte", "gt", "gte", "in"):
            raise ValueError(f"op: expected one of eq, ne, lt, lte, gt, gte, in, got {op!r}")
        values = self._main[0]
        if values.device.type == "cpu" and values.dtype != torch.bfloat16:
            return self._host_bounds(op, value)
        if op == "in":
            probe = torch.unique(torch.tensor(list(value), dtype=values.dtype, device=values.device))
        else:
            probe = torch.tensor([value], dtype=values.dtype, device=values.device)
        lo, hi = _run_bounds(values, op, probe)
        if self._delta[0].numel():
            delta_lo, delta_hi = _run_bounds(self._delta[0], op, probe)
            offset = values.numel()
            lo, hi = torch.cat([lo, delta_lo + offset]), torch.cat([hi, delta_hi + offset])
        return lo, hi

    def _host_bounds(self, op: str, value) -> tuple[torch.Tensor, torch.Tensor]:
        """``bounds`` of runs on the CPU, in numpy: a search reads a few of these, and each torch
        call (tensor, unique, two searchsorted, cat) costs more than the numpy work."""
        values = self._main[0].numpy()
        with np.errstate(over="ignore"):  # a bound past float32's range compares as infinity, as in torch
            probe = np.asarray(list(value) if op == "in" else [value], dtype=values.dtype)
        if op == "in":
            probe = np.unique(probe)
        lo, hi = _host_run_bounds(values, op, probe)
        delta = self._delta[0]
        if delta.numel():
            delta_lo, delta_hi = _host_run_bounds(delta.numpy(), op, probe)
            lo, hi = np.concatenate([lo, delta_lo + values.size]), np.concatenate([hi, delta_hi + values.size])
        return torch.from_numpy(lo), torch.from_numpy(hi)

    def slots_between(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Slots of the current entries in the position ranges (unsorted; a tags row may repeat)."""
        main_slots = self._main[1]
        if lo.device.type == "cpu":  # a few ranges: numpy, without a torch dispatch per step
            host_counts = np.maximum(hi.numpy() - lo.numpy(), 0)
            total = int(host_counts.sum())
            counts = torch.from_numpy(host_counts)
        else:
            counts = (hi - lo).clamp(min=0)
            total = int(counts.sum())
        if total == 0:
            return main_slots.new_empty(0)
        if counts.numel() == 1 and self._delta[0].numel() == 0:
            first = int(lo.numpy()[0] if lo.device.type == "cpu" else lo[0])
            return self._current(main_slots[first:first + total], self._main[2][first:first + total])
        if main_slots.device.type == "cpu" and counts.numel() <= FEW_RANGES:
            return self._current(*self._sliced(lo.tolist(), hi.tolist()))
        # Positions lo_i .. hi_i - 1 for every range, without a Python loop over ranges.
        starts = torch.cumsum(counts, 0) - counts
        offsets = torch.repeat_interleave(lo - starts, counts)
        positions = torch.arange(total, device=lo.device) + offsets
        main_size = main_slots.numel()
        if self._delta[0].numel() == 0:
            return self._current(main_slots[positions], self._main[2][positions])
        in_main = positions < main_size
        slots = torch.cat([main_slots[positions[in_main]], self._delta[1][positions[~in_main] - main_size]])
        generations = torch.cat([self._main[2][positions[in_main]], self._delta[2][positions[~in_main] - main_size]])
        return self._current(slots, generations)

    def _sliced(self, lo: list[int], hi: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(slots, generations) of a few position ranges, as slices of the two runs (one copy)."""
        main_size = self._main[0].numel()
        slots, generations = [], []
        for start, stop in zip(lo, hi):
            if stop <= start:
                continue
            run, offset = (self._main, 0) if start < main_size else (self._delta, main_size)
            slots.append(run[1][start - offset:stop - offset])
            generations.append(run[2][start - offset:stop - offset])
        return torch.cat(slots), torch.cat(generations)


def _run_bounds(values: torch.Tensor, op: str, probe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``bounds`` within one sorted run."""
    left = searchsorted(values, probe, right=False)
    right = searchsorted(values, probe, right=True)
    return _op_ranges(op, left, right, values.numel(), torch.zeros_like, torch.full_like, torch.cat)


def _host_run_bounds(values: np.ndarray, op: str, probe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_run_bounds`` in numpy (int64 positions)."""
    left = values.searchsorted(probe, side="left").astype(np.int64, copy=False)
    right = values.searchsorted(probe, side="right").astype(np.int64, copy=False)
    return _op_ranges(op, left, right, values.size, np.zeros_like, np.full_like, np.concatenate)


def _op_ranges(op: str, left, right, size: int, zeros_like, full_like, cat):
    """Position ranges ``[lo, hi)`` of ``op`` from the left and right insertion points of the
    probes in a sorted run of ``size`` values (torch or numpy: the array functions are given)."""
    if op in ("eq", "in"):
        return left, right
    zero, end = zeros_like(left), full_like(left, size)
    if op == "ne":
        return cat([zero, right]), cat([left, end])
    if op == "lt":
        return zero, left
    if op == "lte":
        return zero, right
    if op == "gt":
        return right, end
    return left, end  # gte
