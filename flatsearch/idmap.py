"""Vectorised id -> slot lookup: sorted ids beside their slots, on the index device.

A Python dict costs a Python call per id; sorting and ``searchsorted`` handle a
batch of a million ids in a few kernel calls on a GPU and in milliseconds on a CPU.

A mutation costs what its batch costs, not what the map holds: removed ids are
marked (slot -1) where they are, and inserted ids go to a small sorted delta
beside the main arrays. Lookups search both. When the delta or the marked
entries grow past ``MERGE_FRACTION`` of the main arrays, both are folded into
new main arrays: one linear pass, so each id pays for it a constant number of
times.

Example:
    >>> import torch
    >>> ids = IdMap(torch.device("cpu"))
    >>> ids.insert(torch.tensor([7, 3]), torch.tensor([0, 1]))
    >>> ids.remove(torch.tensor([7]))
    >>> ids.insert(torch.tensor([7]), torch.tensor([5]))
    >>> ids.lookup(torch.tensor([3, 7, 9])).tolist(), len(ids), ids.sorted_ids().tolist()
    ([1, 5, -1], 2, [3, 7])
"""
from __future__ import annotations

import torch

from .sorting import searchsorted, stable_argsort
MERGE_FRACTION = 0.25  # delta or removed entries beyond this share of the main arrays trigger a merge
MERGE_MIN = 4096  # below this many, never merge (small maps merge rarely and cheaply anyway)


def _find(sorted_ids: torch.Tensor, slots: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Slot of each id in one sorted run (-1 where absent or removed)."""
    if sorted_ids.numel() == 0:
        return torch.full_like(ids, -1)
    position = searchsorted(sorted_ids, ids).clamp_(max=sorted_ids.numel() - 1)
    found = sorted_ids[position] == ids
    return torch.where(found, slots[position], torch.full_like(ids, -1))


def _mark_removed(sorted_ids: torch.Tensor, slots: torch.Tensor, ids: torch.Tensor) -> None:
    """Set the slot of each id present in one run to -1 (ids absent from it are skipped)."""
    if sorted_ids.numel() == 0:
        return
    position = searchsorted(sorted_ids, ids).clamp_(max=sorted_ids.numel() - 1)
    hit = (sorted_ids[position] == ids) & (slots[position] >= 0)
    slots[position[hit]] = -1


def _merge(ids_a, slots_a, ids_b, slots_b):
    """Two sorted runs merged in linear time (each b lands after the a's smaller than it)."""
    if ids_b.numel() == 0:
        return ids_a, slots_a
    positions = searchsorted(ids_a, ids_b) + torch.arange(len(ids_b), device=ids_b.device)
    total = len(ids_a) + len(ids_b)
    is_a = torch.ones(total, dtype=torch.bool, device=ids_b.device)
    is_a[positions] = False
    merged_ids = torch.empty(total, dtype=torch.int64, device=ids_b.device)
    merged_slots = torch.empty(total, dtype=torch.int64, device=ids_b.device)
    merged_ids[positions], merged_slots[positions] = ids_b, slots_b
    merged_ids[is_a], merged_slots[is_a] = ids_a, slots_a
    return merged_ids, merged_slots


class IdMap:
    def __init__(self, device: torch.device):
        empty = torch.empty(0, dtype=torch.int64, device=device)
        self._ids, self._slots = empty, empty.clone()  # main run (removed entries have slot -1)
        self._delta_ids, self._delta_slots = empty.clone(), empty.clone()
        self._count = 0  # ids present
        self._removed = 0  # entries of either run marked removed

    def __len__(self) -> int:
        return self._count

    def sorted_ids(self) -> torch.Tensor:
        """Every present id, ascending (a new tensor; the map is not changed, so readers may share it)."""
        ids, slots = _merge(self._ids, self._slots, self._delta_ids, self._delta_slots)
        return ids[slots >= 0]

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Slot of each id, -1 where absent. ``ids`` on the map's device."""
        if self._count == 0 or ids.numel() == 0:
            return torch.full_like(ids, -1)
        found = _find(self._ids, self._slots, ids)
        if self._delta_ids.numel():
            found = torch.where(found >= 0, found, _find(self._delta_ids, self._delta_slots, ids))
        return found

    def insert(self, ids: torch.Tensor, slots: torch.Tensor) -> None:
        """Add ids that are not present (the caller checked)."""
        if ids.numel() == 0:
            return
        if ids.numel() > 1 and not bool((ids[1:] > ids[:-1]).all()):
            order = stable_argsort(ids)
            ids, slots = ids[order], slots[order]
        if self._ids.numel() == 0 and self._delta_ids.numel() == 0:
            self._ids, self._slots = ids.clone(), slots.clone()
        else:
            kept = self._delta_slots >= 0  # an id removed from the delta and added again must appear once
            if not bool(kept.all()):
                self._removed -= int((~kept).sum())
                self._delta_ids, self._delta_slots = self._delta_ids[kept], self._delta_slots[kept]
            self._delta_ids, self._delta_slots = _merge(self._delta_ids, self._delta_slots, ids, slots)
        self._count += int(ids.numel())
        self._maybe_fold()

    def remove(self, ids: torch.Tensor) -> None:
        """Drop ids that are present (the caller checked)."""
        if ids.numel() == 0:
            return
        _mark_removed(self._ids, self._slots, ids)
        _mark_removed(self._delta_ids, self._delta_slots, ids)
        self._count -= int(ids.numel())
        self._removed += int(ids.numel())
        self._maybe_fold()

    def _maybe_fold(self) -> None:
        limit = max(MERGE_MIN, MERGE_FRACTION * self._ids.numel())
        if self._delta_ids.numel() > limit or self._removed > limit:
            self._fold()

    def _fold(self) -> None:
        """Merge the delta into the main run and drop removed entries (linear in the map's size)."""
        if self._delta_ids.numel() == 0 and self._removed == 0:
            return
        ids, slots = _merge(self._ids, self._slots, self._delta_ids, self._delta_slots)
        present = slots >= 0
        self._ids, self._slots = ids[present], slots[present]
        self._delta_ids, self._delta_slots = self._ids[:0], self._slots[:0]
        self._removed = 0
