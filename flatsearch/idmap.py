"""Vectorised id -> slot lookup: sorted ids beside their slots, on the index device.

A Python dict costs a Python call per id; sorting and ``searchsorted`` handle a
batch of a million ids in a few kernel calls on a GPU and in milliseconds on a CPU.
"""
from __future__ import annotations

import torch


class IdMap:
    def __init__(self, device: torch.device):
        self.sorted_ids = torch.empty(0, dtype=torch.int64, device=device)
        self.slots = torch.empty(0, dtype=torch.int64, device=device)

    def __len__(self) -> int:
        return int(self.sorted_ids.numel())

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Slot of each id, -1 where absent. ``ids`` on the map's device."""
        if len(self) == 0 or ids.numel() == 0:
            return torch.full_like(ids, -1)
        position = torch.searchsorted(self.sorted_ids, ids).clamp_(max=len(self) - 1)
        found = self.sorted_ids[position] == ids
        return torch.where(found, self.slots[position], torch.full_like(ids, -1))

    def insert(self, ids: torch.Tensor, slots: torch.Tensor) -> None:
        """Add ids that are not present (the caller checked)."""
        if ids.numel() == 0:
            return
        if ids.numel() > 1 and not bool((ids[1:] > ids[:-1]).all()):
            order = torch.argsort(ids)
            ids, slots = ids[order], slots[order]
        # Merge two sorted lists in linear time: each new id lands after the old ids smaller than it.
        new_positions = torch.searchsorted(self.sorted_ids, ids) + torch.arange(len(ids), device=ids.device)
        total = len(self) + len(ids)
        is_old = torch.ones(total, dtype=torch.bool, device=ids.device)
        is_old[new_positions] = False
        merged_ids = torch.empty(total, dtype=torch.int64, device=ids.device)
        merged_slots = torch.empty(total, dtype=torch.int64, device=ids.device)
        merged_ids[new_positions], merged_slots[new_positions] = ids, slots
        merged_ids[is_old], merged_slots[is_old] = self.sorted_ids, self.slots
        self.sorted_ids, self.slots = merged_ids, merged_slots

    def remove(self, ids: torch.Tensor) -> None:
        """Drop ids that are present (the caller checked)."""
        if ids.numel() == 0:
            return
        keep = torch.ones(len(self), dtype=torch.bool, device=self.sorted_ids.device)
        keep[torch.searchsorted(self.sorted_ids, ids)] = False
        self.sorted_ids = self.sorted_ids[keep]
        self.slots = self.slots[keep]

    def reassign(self, ids: torch.Tensor, slots: torch.Tensor) -> None:
        """Point present ids at new slots."""
        if ids.numel():
            self.slots[torch.searchsorted(self.sorted_ids, ids)] = slots
