"""Vectorised id -> slot lookup: sorted ids beside their slots, on the index device.

A Python dict costs a Python call per id; sorting and ``searchsorted`` handle a
batch of a million ids in a few kernel calls on a GPU and in milliseconds on a CPU.

A mutation costs what its batch costs, not what the map holds: removed ids are
marked (slot -1) where they are, and inserted ids go to a small sorted delta
beside the main arrays. Lookups search both. When the delta or the marked
entries grow past ``MERGE_FRACTION`` of the main arrays, both are folded into
new main arrays: one linear pass, so each id pays for it a constant number of
times.

On a CPU every step runs in numpy on views of the same memory. These are many
small passes (a search, a gather, a compare per run), and torch splits each one
across OpenMP threads: when another process keeps a core busy, every such
parallel region waits for a descheduled thread, which made a 100k-id delete
take several times its quiet cost. numpy runs them single-threaded, at the
same cost loaded or not. Probes are sorted before a search (random probes into
a million sorted ids miss the cache on every step; sorted ones walk it in order).
A delete looks its ids up and then removes those found: the positions found by
the last lookup are kept until the next change, so the remove needs no second search.

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

import numpy as np
import torch

from .sorting import searchsorted, stable_argsort
MERGE_FRACTION = 0.25  # delta or removed entries beyond this share of the main arrays trigger a merge
MERGE_MIN = 4096  # below this many, never merge (small maps merge rarely and cheaply anyway)
SORT_PROBES_MIN = 256  # below this many probes, searching in input order costs less than sorting them
NUMPY_ON_CPU = True  # False runs the torch steps of a CUDA map on the CPU (tests compare the two)


def _on_host(tensor: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and tensor.device.type == "cpu"


def _ascending(array: np.ndarray) -> bool:
    return array.size < 2 or bool((array[1:] >= array[:-1]).all())


def _host_positions(sorted_ids: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """``searchsorted`` (left) of ``probes`` in ``sorted_ids``, clamped to the last position."""
    if probes.size >= SORT_PROBES_MIN and not _ascending(probes):
        order = np.argsort(probes)
        positions = np.empty(probes.size, dtype=np.int64)
        positions[order] = np.searchsorted(sorted_ids, probes[order])
    else:
        positions = np.searchsorted(sorted_ids, probes).astype(np.int64, copy=False)
    return np.minimum(positions, sorted_ids.size - 1, out=positions)


def _host_find(sorted_ids: torch.Tensor, slots: torch.Tensor, probes: np.ndarray):
    """(slot of each probe or -1, its position in the run, whether the id is there) in one CPU run."""
    if sorted_ids.numel() == 0:
        return np.full(probes.size, -1, dtype=np.int64), None, None
    haystack = sorted_ids.numpy()
    position = _host_positions(haystack, probes)
    hit = haystack[position] == probes
    return np.where(hit, slots.numpy()[position], -1), position, hit


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
    if _on_host(ids):
        haystack, probes, run_slots = sorted_ids.numpy(), ids.numpy(), slots.numpy()
        position = _host_positions(haystack, probes)
        run_slots[position[haystack[position] == probes]] = -1
        return
    position = searchsorted(sorted_ids, ids).clamp_(max=sorted_ids.numel() - 1)
    hit = (sorted_ids[position] == ids) & (slots[position] >= 0)
    slots[position[hit]] = -1


def _merge(ids_a, slots_a, ids_b, slots_b):
    """Two sorted runs merged in linear time (each b lands after the a's smaller than it)."""
    if ids_b.numel() == 0:
        return ids_a, slots_a
    if ids_a.numel() == 0:
        return ids_b, slots_b
    if _on_host(ids_b):
        run_a, run_b = ids_a.numpy(), ids_b.numpy()
        positions = np.searchsorted(run_a, run_b) + np.arange(run_b.size)
        total = run_a.size + run_b.size
        is_a = np.ones(total, dtype=bool)
        is_a[positions] = False
        merged_ids, merged_slots = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
        merged_ids[positions], merged_slots[positions] = run_b, slots_b.numpy()
        merged_ids[is_a], merged_slots[is_a] = run_a, slots_a.numpy()
        return torch.from_numpy(merged_ids), torch.from_numpy(merged_slots)
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
        # CPU: (probes, their slots, positions and hits in the main run, in the delta) of the last
        # lookup, kept until the runs change (see remove).
        self._last_lookup: tuple | None = None

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
        ids = ids.contiguous()
        if _on_host(ids):
            probes = ids.numpy().copy()  # a copy: the caller may change its tensor afterwards
            found, main_at, main_hit = _host_find(self._ids, self._slots, probes)
            delta_at = delta_hit = None
            if self._delta_ids.numel():
                in_delta, delta_at, delta_hit = _host_find(self._delta_ids, self._delta_slots, probes)
                np.maximum(found, in_delta, out=found)  # absent is -1, slots are >= 0
            self._last_lookup = (probes, found, main_at, main_hit, delta_at, delta_hit)
            return torch.from_numpy(found.copy())
        found = _find(self._ids, self._slots, ids)
        if self._delta_ids.numel():
            found = torch.where(found >= 0, found, _find(self._delta_ids, self._delta_slots, ids))
        return found

    def present(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, slots) of those of ``ids`` that are present, in input order: a delete's lookup in
        one call (on a CPU in numpy, with no pass left to the caller).

        Example:
            >>> import torch
            >>> ids = IdMap(torch.device("cpu"))
            >>> ids.insert(torch.tensor([4, 8]), torch.tensor([0, 1]))
            >>> [t.tolist() for t in ids.present(torch.tensor([8, 5, 4]))]
            [[8, 4], [1, 0]]
        """
        slots = self.lookup(ids)
        if _on_host(slots):
            found = slots.numpy() >= 0
            return torch.from_numpy(ids.contiguous().numpy()[found]), torch.from_numpy(slots.numpy()[found])
        found = slots >= 0
        return ids[found], slots[found]

    def first_present(self, ids: torch.Tensor) -> int | None:
        """The first of ``ids`` that is present, or None (an add's check, in one call).

        Example:
            >>> import torch
            >>> ids = IdMap(torch.device("cpu"))
            >>> ids.insert(torch.tensor([4, 8]), torch.tensor([0, 1]))
            >>> ids.first_present(torch.tensor([5, 8, 4])), ids.first_present(torch.tensor([5]))
            (8, None)
        """
        slots = self.lookup(ids)
        if _on_host(slots):
            hits = np.flatnonzero(slots.numpy() >= 0)
            return int(ids[int(hits[0])]) if hits.size else None
        hits = (slots >= 0).nonzero().flatten()
        return int(ids[hits[0]]) if hits.numel() else None

    def insert(self, ids: torch.Tensor, slots: torch.Tensor) -> None:
        """Add ids that are not present (the caller checked).

        Nothing is changed until every new array is built, so a failure part-way leaves the map as it was.
        """
        if ids.numel() == 0:
            return
        ids, slots = ids.contiguous(), slots.contiguous()
        if _on_host(ids):
            if not _ascending(ids.numpy()):
                order = torch.from_numpy(np.argsort(ids.numpy()))  # ids are unique: any sort is stable
                ids, slots = ids[order], slots[order]
        elif ids.numel() > 1 and not bool((ids[1:] > ids[:-1]).all()):
            order = stable_argsort(ids)
            ids, slots = ids[order], slots[order]
        removed = self._removed
        delta_ids, delta_slots = self._delta_ids, self._delta_slots
        if self._ids.numel() == 0 and delta_ids.numel() == 0:
            main = (ids.clone(), slots.clone())
        else:
            main = None
            if removed and delta_ids.numel():
                # An id removed from the delta and added again must appear once.
                if _on_host(delta_ids):
                    kept = delta_slots.numpy() >= 0
                    dropped = int(kept.size - np.count_nonzero(kept))
                    if dropped:
                        delta_ids = torch.from_numpy(delta_ids.numpy()[kept])
                        delta_slots = torch.from_numpy(delta_slots.numpy()[kept])
                else:
                    kept = delta_slots >= 0
                    dropped = int(kept.numel() - kept.sum())
                    if dropped:
                        delta_ids, delta_slots = delta_ids[kept], delta_slots[kept]
                removed -= dropped
            delta_ids, delta_slots = _merge(delta_ids, delta_slots, ids, slots)
        self._last_lookup = None
        if main is not None:
            self._ids, self._slots = main
        else:
            self._delta_ids, self._delta_slots, self._removed = delta_ids, delta_slots, removed
        self._count += int(ids.numel())
        self._maybe_fold()

    def remove(self, ids: torch.Tensor) -> None:
        """Drop ids that are present (the caller checked)."""
        if ids.numel() == 0:
            return
        ids = ids.contiguous()
        last, self._last_lookup = self._last_lookup, None
        if not (_on_host(ids) and self._remove_looked_up(ids.numpy(), last)):
            _mark_removed(self._ids, self._slots, ids)
            _mark_removed(self._delta_ids, self._delta_slots, ids)
        self._count -= int(ids.numel())
        self._removed += int(ids.numel())
        self._maybe_fold()

    def _remove_looked_up(self, ids: np.ndarray, last: tuple | None) -> bool:
        """Mark ``ids`` removed at the positions the last lookup found, when ``ids`` are exactly the
        ids it found, in its order (a delete); False, changing nothing, when they are not."""
        if last is None:
            return False
        probes, found, main_at, main_hit, delta_at, delta_hit = last
        present = found >= 0
        if int(np.count_nonzero(present)) != ids.size or not np.array_equal(probes[present], ids):
            return False
        if main_at is not None:
            self._slots.numpy()[main_at[present & main_hit]] = -1
        if delta_at is not None:
            self._delta_slots.numpy()[delta_at[present & delta_hit]] = -1
        return True

    def _maybe_fold(self) -> None:
        limit = max(MERGE_MIN, MERGE_FRACTION * self._ids.numel())
        if self._delta_ids.numel() > limit or self._removed > limit:
            self._fold()

    def _fold(self) -> None:
        """Merge the delta into the main run and drop removed entries (linear in the map's size)."""
        if self._delta_ids.numel() == 0 and self._removed == 0:
            return
        ids, slots = _merge(self._ids, self._slots, self._delta_ids, self._delta_slots)
        if _on_host(ids):
            keep = slots.numpy() >= 0
            ids, slots = torch.from_numpy(ids.numpy()[keep]), torch.from_numpy(slots.numpy()[keep])
        else:
            present = slots >= 0
            ids, slots = ids[present], slots[present]
        self._ids, self._slots = ids, slots
        self._delta_ids, self._delta_slots = self._ids[:0], self._slots[:0]
        self._removed = 0
        self._last_lookup = None
