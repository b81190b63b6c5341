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
Writes (insert, upsert, set_attributes) replace the entries of the written
slots: a linear merge, O(entries + written log written), with no sort of the
whole column.

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

import torch

from .schema import Schema


def _entries(column: torch.Tensor, kind: str, slots: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, slots) of the non-null values of ``column`` (rows are ``slots``, or 0..n), unsorted."""
    present = Schema.not_null(kind, column)
    positions = present.nonzero()
    rows = positions[:, 0]
    values = column[present]
    owners = rows if slots is None else slots[rows]
    return values, owners


class SortedColumn:
    """Sorted entries of one column: ``values`` ascending, ``slots`` beside them."""

    def __init__(self, kind: str, values: torch.Tensor, slots: torch.Tensor):
        self.kind = kind
        self.values = values
        self.slots = slots

    @classmethod
    def build(cls, column: torch.Tensor, kind: str) -> "SortedColumn":
        values, slots = _entries(column, kind)
        order = torch.argsort(values, stable=True)
        return cls(kind, values[order], slots[order])

    def __len__(self) -> int:
        return int(self.values.numel())

    def write(self, slots: torch.Tensor, old: torch.Tensor, new: torch.Tensor) -> None:
        """Slots ``slots`` change from column values ``old`` to ``new`` (rows in the same order)."""
        if slots.numel() == 0:
            return
        if bool(Schema.not_null(self.kind, old).any()):  # appends into fresh slots skip this pass
            capacity = int(max(int(slots.max()), int(self.slots.max()) if len(self) else 0)) + 1
            written = torch.zeros(capacity, dtype=torch.bool, device=slots.device)
            written[slots] = True
            keep = ~written[self.slots]
            self.values, self.slots = self.values[keep], self.slots[keep]
        values, owners = _entries(new.to(self.values.device), self.kind, slots)
        if values.numel() == 0:
            return
        order = torch.argsort(values, stable=True)
        values, owners = values[order].to(self.values.dtype), owners[order]
        # Linear merge of two sorted lists: each new entry lands after the old entries not larger than it.
        positions = torch.searchsorted(self.values, values, right=True) + torch.arange(len(values), device=values.device)
        total = len(self) + len(values)
        is_old = torch.ones(total, dtype=torch.bool, device=values.device)
        is_old[positions] = False
        merged_values = torch.empty(total, dtype=self.values.dtype, device=values.device)
        merged_slots = torch.empty(total, dtype=torch.int64, device=values.device)
        merged_values[positions], merged_slots[positions] = values, owners
        merged_values[is_old], merged_slots[is_old] = self.values, self.slots
        self.values, self.slots = merged_values, merged_slots

    # -- queries ----------------------------------------------------------------------------------
    def bounds(self, op: str, value) -> tuple[torch.Tensor, torch.Tensor]:
        """Position ranges ``[lo, hi)`` (two int64 tensors) of the entries matching ``column op value``.

        ``value`` is a stored-representation scalar, or a list of them for ``in``.
        ``ne`` is the two ranges around ``eq`` (for tags the caller handles ``ne``: it is a row-level test).
        """
        n = len(self)
        device = self.values.device
        if op == "in":
            wanted = torch.unique(torch.tensor(list(value), dtype=self.values.dtype, device=device))
            return (torch.searchsorted(self.values, wanted, right=False),
                    torch.searchsorted(self.values, wanted, right=True))
        probe = torch.tensor([value], dtype=self.values.dtype, device=device)
        left = torch.searchsorted(self.values, probe, right=False)
        right = torch.searchsorted(self.values, probe, right=True)
        zero, end = torch.zeros_like(left), torch.full_like(left, n)
        if op == "eq":
            return left, right
        if op == "ne":
            return torch.cat([zero, right]), torch.cat([left, end])
        if op == "lt":
            return zero, left
        if op == "lte":
            return zero, right
        if op == "gt":
            return right, end
        if op == "gte":
            return left, end
        raise ValueError(f"op: expected one of eq, ne, lt, lte, gt, gte, in, got {op!r}")

    def slots_between(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Slots of the entries in the position ranges (unsorted; a tags row may repeat)."""
        counts = (hi - lo).clamp(min=0)
        total = int(counts.sum())
        if total == 0:
            return self.slots.new_empty(0)
        if counts.numel() == 1:
            return self.slots[int(lo[0]):int(lo[0]) + total]
        # Positions lo_i .. hi_i - 1 for every range, without a Python loop over ranges.
        starts = torch.cumsum(counts, 0) - counts
        offsets = torch.repeat_interleave(lo - starts, counts)
        return self.slots[torch.arange(total, device=lo.device) + offsets]
