"""Vector storage: arenas of contiguous rows cut into fixed-capacity blocks.

* An arena is one contiguous (capacity, dim) tensor. When every arena is full a
  new one is allocated (a quarter of all earlier ones together, or the batch), so
  growing never copies stored vectors and little is reserved ahead of use.
* A block is a contiguous slot range of one arena that belongs to one partition
  key (the ``partition_by`` value, or None). A partition's first block fits its
  first rows and each new one doubles, up to ``partition_size`` rows, so many
  small partitions waste little memory.
* A slot is a row's global position: arena start + row. Per-slot metadata (id,
  live bit, squared norm, attribute values) lives in flat tensors indexed by slot.
* Deleting clears the live bit; the slot is reused by the next insert into the
  same partition. A block left with no live row goes back to a pool that any
  partition takes from before new space is reserved; when deleted slots are many,
  other partitions' deleted slots are filled too, so memory follows live rows.

On a CPU, the bookkeeping of a write (free-slot search, id, live-bit and column
updates, per-block counts) and the row copy itself run in numpy, on views of the
same memory. Each is a pass over 100k values or fewer, and torch splits such a
pass across OpenMP threads: when another process keeps a core busy every
parallel region waits for a descheduled thread (a 100k-element bool scatter
went from under 0.1 ms to 20 ms), so a write of many small torch steps cost
several times its quiet time. numpy runs them single-threaded, at the same cost
loaded or not. On CUDA the same steps run in torch (:class:`_TorchOps`).
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import numpy as np
import torch

from .attribute_index import SortedColumn
from .schema import Schema

MIN_BLOCK_ROWS = 64
SPILL_FRACTION = 0.1  # see allocate(), step 3
# The int8 copy (coarse()) is built for scans once scans that could have used it have read this many
# times the live rows: quantising a row costs about as much as 30-50 float32 products of it, so a
# storage that is scanned only now and then never pays for a copy it would not use.
COARSE_BUILD_AFTER = 16
# Once it is due, the copy is built (and later writes are quantised) a bounded batch per scan: at most
# COARSE_STEP_FRACTION of the scan's rows, at least COARSE_STEP_MIN_ROWS, so that no search pays more than
# a few times a plain scan (a row quantised costs 30-50 float32 products of it: 1/32 of a scan's rows about
# one more plain scan). Scans before the copy is complete and current scan plainly.
COARSE_STEP_FRACTION = 1 / 32
COARSE_STEP_MIN_ROWS = 512
NO_KEY = torch.iinfo(torch.int64).min  # block key of an index without partition_by (its rows' key is None)
# CPU storages run their write bookkeeping in numpy (see the module docstring); False runs the
# torch steps a CUDA storage runs, on the CPU (tests compare the two).
NUMPY_ON_CPU = True


class _NumpyOps:
    """Array steps of allocate() and write() on a CPU: numpy, on views of the tensors' memory."""

    def __init__(self, device: torch.device):
        self.device = device

    @staticmethod
    def view(tensor: torch.Tensor) -> np.ndarray:
        return tensor.numpy()  # shares the tensor's memory (strided if it is): writes go through

    @staticmethod
    def wrap(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array))

    @staticmethod
    def new(values) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    nonzero = staticmethod(np.flatnonzero)
    cat = staticmethod(np.concatenate)
    minimum = staticmethod(np.minimum)
    isin = staticmethod(np.isin)

    @staticmethod
    def sort(values: np.ndarray) -> np.ndarray:
        return np.sort(values)

    @staticmethod
    def unique(values: np.ndarray, *, inverse: bool = False):
        return np.unique(values, return_inverse=inverse)

    @staticmethod
    def bincount(values: np.ndarray, minlength: int) -> np.ndarray:
        return np.bincount(values, minlength=minlength).astype(np.int64, copy=False)

    @staticmethod
    def stable_argsort(values: np.ndarray) -> np.ndarray:
        return np.argsort(values, kind="stable")

    @staticmethod
    def searchsorted(sorted_values: np.ndarray, probes: np.ndarray, *, right: bool) -> np.ndarray:
        return np.searchsorted(sorted_values, probes, side="right" if right else "left").astype(np.int64, copy=False)

    @staticmethod
    def arange(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.int64)

    @staticmethod
    def full(n: int, value: int) -> np.ndarray:
        return np.full(n, value, dtype=np.int64)

    @staticmethod
    def trues(n: int) -> np.ndarray:
        return np.ones(n, dtype=bool)

    @staticmethod
    def cumsum(values: np.ndarray) -> np.ndarray:
        return np.cumsum(values)

    @staticmethod
    def max_at(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``target[index[i]] = max(target[index[i]], values[i])`` for every i, in place."""
        np.maximum.at(target, index, values)
        return target


class _TorchOps:
    """The same steps in torch, on the index device (CUDA)."""

    def __init__(self, device: torch.device):
        self.device = device

    @staticmethod
    def view(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    @staticmethod
    def wrap(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def new(self, values) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.int64, device=self.device)

    @staticmethod
    def nonzero(mask: torch.Tensor) -> torch.Tensor:
        return mask.nonzero().flatten()

    cat = staticmethod(torch.cat)
    minimum = staticmethod(torch.minimum)
    isin = staticmethod(torch.isin)

    @staticmethod
    def sort(values: torch.Tensor) -> torch.Tensor:
        return torch.sort(values).values

    @staticmethod
    def unique(values: torch.Tensor, *, inverse: bool = False):
        return torch.unique(values, return_inverse=inverse)

    @staticmethod
    def bincount(values: torch.Tensor, minlength: int) -> torch.Tensor:
        return torch.bincount(values, minlength=minlength)

    @staticmethod
    def stable_argsort(values: torch.Tensor) -> torch.Tensor:
        return torch.argsort(values, stable=True)

    @staticmethod
    def searchsorted(sorted_values: torch.Tensor, probes: torch.Tensor, *, right: bool) -> torch.Tensor:
        return torch.searchsorted(sorted_values, probes, right=right)

    def arange(self, n: int) -> torch.Tensor:
        return torch.arange(n, device=self.device)

    def full(self, n: int, value: int) -> torch.Tensor:
        return torch.full((n,), value, dtype=torch.int64, device=self.device)

    def trues(self, n: int) -> torch.Tensor:
        return torch.ones(n, dtype=torch.bool, device=self.device)

    @staticmethod
    def cumsum(values: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(values, 0)

    @staticmethod
    def max_at(target: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return target.scatter_reduce_(0, index, values, reduce="amax")


def _integer_view(tensor: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor's memory, as same-width integers (numpy has no bfloat16;
    copying rows moves bits, whatever they mean)."""
    width = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]
    return tensor.view(width).numpy()


def _row_view(rows: np.ndarray) -> np.ndarray:
    """A C-contiguous (n, d) array as n opaque elements of one row each: a scatter through it
    copies each row with one memcpy instead of d element copies (25 against 32 ms for
    100k x 384 float32 rows into freed slots)."""
    return rows.view(np.dtype((np.void, rows.shape[1] * rows.itemsize))).reshape(rows.shape[0])


@dataclass
class CoarseArena:
    """An int8 copy of one float32 arena for bounding scores before the exact product (see
    :func:`flatsearch.torch_scan.torch_scan`): row ``i`` is approximately ``scale[i] * codes[i]``.

    Per row, float32: ``scale`` (the largest magnitude / 127, rounded; 1 for a zero row), and
    upper bounds (rounded up from float64) of ``norm`` (``|x|``) and ``residual``
    (``|x - scale * codes|``, with the stored float32 scale), so that for any query q and its own
    int8 rounding q^ = s_q * c_q, ``|q.x - s_q * scale * (c_q . codes)| <= |q - q^| norm + |q^| residual``.
    Rows never quantised hold whatever their memory held: they are never live, so a scan never reads
    their bound (and drops their exact integer products)."""

    codes: torch.Tensor  # (rows, dim) int8
    # (rows, 3) float32: scale, norm and residual side by side, so that a scan gathers a row's three
    # values from one place (one fancy index, not three over cold memory); ``scale``, ``norm`` and
    # ``residual`` are views of its columns.
    stats: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        return self.stats[:, 0]

    @property
    def norm(self) -> np.ndarray:
        return self.stats[:, 1]

    @property
    def residual(self) -> np.ndarray:
        return self.stats[:, 2]

    @classmethod
    def empty(cls, rows: int, dim: int) -> "CoarseArena":
        # Not cleared: a 131k x 384 copy took 32 ms to zero, paid by one search; each row's memory is
        # first touched when it is quantised (a batch at a time, see coarse_for_scan).
        return cls(torch.empty((rows, dim), dtype=torch.int8), np.empty((rows, 3), dtype=np.float32))

    CHUNK_ROWS = 8192  # rows quantised at a time: float64 temporaries of a few MB, not of the whole arena

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Quantise float32 ``vectors`` into ``rows`` (an index array of this arena).

        Example:
            >>> import numpy as np
            >>> arena = CoarseArena.empty(4, 3)
            >>> arena.write(np.array([2]), np.array([[0.5, -1.0, 0.0]], dtype=np.float32))
            >>> arena.codes[2].tolist(), bool(arena.scale[2] == np.float32(1 / 127))
            ([64, -127, 0], True)
            >>> row = arena.scale[2] * arena.codes[2].numpy()  # the int8 row times its scale: within residual
            >>> bool(np.linalg.norm(row - [0.5, -1.0, 0.0]) <= arena.residual[2])
            True
        """
        codes = self.codes.numpy()
        for start in range(0, len(rows), self.CHUNK_ROWS):
            at = rows[start:start + self.CHUNK_ROWS]
            codes[at], scale, norm, residual = quantize_rows(vectors[start:start + self.CHUNK_ROWS])
            self.stats[at] = np.stack([scale, norm, residual], axis=1)


class CoarseCopies(list):
    """A storage's int8 copies (one :class:`CoarseArena` per arena), with ``misses``: the scan's
    record of pre-scans that did not pay on this copy (see ``flatsearch.torch_scan.PRUNE_RETRY_MAX``)."""

    def __init__(self, arenas=()):
        super().__init__(arenas)
        self.misses: dict = {}


class _RowsAt:
    """``array[rows]`` read a slice of ``rows`` at a time (so a whole arena is never copied at once)."""

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, rows

    def __getitem__(self, part: slice) -> np.ndarray:
        return self.array[self.rows[part]]


def quantize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-row int8 rounding of finite float rows: codes, float32 scale, and float32 upper bounds of
    ``|x|`` and ``|x - scale * codes|`` (computed in float64, rounded up).

    Example:
        >>> import numpy as np
        >>> codes, scale, norm, residual = quantize_rows(np.array([[0.5, -1.0, 0.0]], dtype=np.float32))
        >>> codes.tolist(), bool(residual[0] < 0.01 * norm[0] and norm[0] >= 1.25 ** 0.5)
        ([[64, -127, 0]], True)
    """
    x = np.asarray(vectors, dtype=np.float64)
    scale = (np.abs(x).max(axis=1, initial=0.0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0  # a zero row, or one whose scale underflows: codes 0, the residual is the row
    wide = scale.astype(np.float64)[:, None]
    codes = np.clip(np.rint(x / wide), -127, 127).astype(np.int8)
    residual = np.sqrt(np.square(x - codes * wide).sum(axis=1))
    norm = np.sqrt(np.square(x).sum(axis=1))
    # float64 sums of squares are within dim * 2**-52 of the real ones; one part in 2**30 more covers it.
    up = 1 + 2.0 ** -30
    return codes, scale, rounded_up(norm * up), rounded_up(residual * up)


def rounded_up(values: np.ndarray) -> np.ndarray:
    """float64 values as float32 values at least as large (inf past float32's range); the pre-scan's bounds use it too.

    Example:
        >>> float(rounded_up(np.array([0.1]))[0]) >= 0.1
        True
    """
    with np.errstate(over="ignore"):
        near = values.astype(np.float32)
    return np.where(near.astype(np.float64) < values, np.nextafter(near, np.float32(np.inf)), near)


@dataclass
class Block:
    key: int | None
    start: int  # global slot of the first row
    capacity: int
    fill: int = 0  # rows ever used, live or deleted


def contiguous_range(slots) -> slice | None:
    """``slots`` (a tensor or numpy array) as a slice when they are consecutive and ascending, else None."""
    if len(slots) == 0:
        return None
    first, last = int(slots[0]), int(slots[-1])
    if last - first + 1 != len(slots) or not bool((slots[1:] > slots[:-1]).all()):
        return None
    return slice(first, last + 1)


class Storage:
    def __init__(self, *, dim: int, dtype: torch.dtype, device: torch.device, partition_size: int, schema: Schema,
                 keep_norms: bool):
        self.dim, self.dtype, self.device = dim, dtype, device
        self._host = device.type == "cpu" and NUMPY_ON_CPU
        self._ops = _NumpyOps(device) if self._host else _TorchOps(device)
        self.partition_size = partition_size
        self.schema = schema
        self.arenas: list[torch.Tensor] = []
        self.arena_starts: list[int] = []
        self.arena_used: list[int] = []
        self.blocks: list[Block] = []
        self.blocks_by_key: dict[int | None, list[int]] = {}
        self.capacity = 0
        self._arena_hint = 0
        self.version = 0  # bumped by every change of live rows or column values
        self.slot_ids = torch.empty(0, dtype=torch.int64, device=device)
        self.live = torch.empty(0, dtype=torch.bool, device=device)
        # Per slot: its block (-1 outside blocks) and whether it was ever handed out since the
        # block last changed partition (a handed-out slot that is not live is free for reuse).
        self.block_of_slot = torch.empty(0, dtype=torch.int64, device=device)
        self.handed_out = torch.empty(0, dtype=torch.bool, device=device)
        # Per block: partition key (NO_KEY for None) and live rows.
        self.block_keys = torch.empty(0, dtype=torch.int64)
        self.block_live = torch.empty(0, dtype=torch.int64, device=device)
        # Squared norms are only needed by the l2 metric; other metrics skip computing them on insert.
        self.keep_norms = keep_norms
        self.sq_norms = torch.empty(0, dtype=torch.float32, device=device)
        self.columns = {name: schema.null_column(name, 0).to(device) for name in schema.kinds}
        # Sorted (value, slot) entries per column, built on the first filter that reads the column,
        # then kept current by every write of that column (see set_column).
        self.attribute_indexes: dict[str, SortedColumn] = {}
        self._block_table: tuple | None = None
        self._busy: set[int] = set()  # blocks the running allocate() hands slots from
        self._pool: list[int] = []  # emptied blocks the running allocate() may move to another partition
        # int8 copies of the arenas (float32 on a CPU only), built by the first scan that asks for
        # them, then kept current by every write (see coarse()).
        self._coarse: list[CoarseArena] | None = None
        self._coarse_pending: list[np.ndarray] = []  # slots written since the copy was last brought up to date
        self._coarse_pending_rows = 0
        self._coarse_demand = 0  # rows scanned without the copy by scans that could have used it
        self._coarse_lock = threading.Lock()  # searches hold only the index's read lock
        self._coarse_cursor = (0, 0)  # (arena, row) the build has reached: the rows before it are quantised
        self._coarse_pending_unique = False  # _coarse_pending is one sorted array without repeats
        self._coarse_ready = False  # the copy is complete and every write since is quantised
        self._coarse_failures = 0  # failures to allocate the copy: each doubles the demand before the next try

    @property
    def supports_coarse(self) -> bool:
        """Whether :meth:`coarse` is available: float32 rows on a CPU.

        Example:
            >>> import flatsearch as fs
            >>> fs.Index(4)._storage.supports_coarse, fs.Index(4, dtype="float16")._storage.supports_coarse
            (True, False)
        """
        return self.device.type == "cpu" and self.dtype == torch.float32

    def coarse(self) -> list[CoarseArena]:
        """The int8 copy of every arena (see :class:`CoarseArena`), built (or completed) now from the live rows.

        Writes only note the slots they store (a write stays as fast without the copy); this call
        quantises the live rows among them, so the copy it returns matches the arenas at the
        current storage version. Deletes leave it as it is (a row that is not live is never scored
        from it). Scans use :meth:`coarse_for_scan`, which never waits and does a bounded part of this.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(3)
            >>> index.add([7, 8], torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.0, 1.0]]))
            >>> copies = index._storage.coarse()  # one CoarseArena per arena
            >>> len(copies), copies[0].codes[:2].tolist()
            (1, [[64, -127, 0], [127, 0, 64]])
            >>> fs.Index(3, dtype="float16")._storage.coarse()
            Traceback (most recent call last):
            ...
            ValueError: coarse: an int8 copy is kept for float32 rows on a CPU, not torch.float16 on cpu
        """
        if not self.supports_coarse:
            raise ValueError(f"coarse: an int8 copy is kept for float32 rows on a CPU, not {self.dtype} on {self.device}")
        with self._coarse_lock:
            while not self._coarse_step(None):
                pass
            return self._coarse

    def coarse_for_scan(self, rows: int) -> list[CoarseArena] | None:
        """The int8 copy for a scan of ``rows`` rows that could use it, or None (then the scan runs plainly).

        None while scans that could use it have read fewer than ``COARSE_BUILD_AFTER`` times the
        live rows (this one counted), while another search is working on the copy (never waited
        for), and while it is incomplete or behind the writes: each call then quantises a bounded
        batch of rows (see ``COARSE_STEP_FRACTION``). A failure to allocate it (MemoryError) drops
        the copy and waits for twice as much demand before the next try.

        Example:
            >>> import numpy as np, flatsearch as fs
            >>> index = fs.Index(8)
            >>> index.add(np.arange(1000), np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32))
            >>> storage = index._storage
            >>> answered = [storage.coarse_for_scan(1000) is not None for _ in range(20)]
            >>> answered.index(True)  # 16 scans of the 1,000 rows counted, then quantised 512 rows a scan
            16
        """
        if self._coarse_ready:
            return self._coarse
        if not self._coarse_lock.acquire(blocking=False):
            return None
        try:
            if self._coarse is None:
                self._coarse_demand += rows
                after = COARSE_BUILD_AFTER if not self._coarse_failures else \
                    max(COARSE_BUILD_AFTER, 1) << self._coarse_failures
                if self._coarse_demand < after * max(int(self.block_live.sum()), 1):
                    return None
            try:
                done = self._coarse_step(max(COARSE_STEP_MIN_ROWS, int(rows * COARSE_STEP_FRACTION)))
            except (MemoryError, RuntimeError) as error:
                if isinstance(error, RuntimeError) and "alloc" not in str(error).lower():
                    raise
                self._coarse_drop()
                self._coarse_failures += 1
                return None
            return self._coarse if done else None
        finally:
            self._coarse_lock.release()

    def _coarse_step(self, budget: int | None) -> bool:
        """Quantise up to ``budget`` rows (None: all) toward a complete, current copy; whether it is one now.
        Called with ``_coarse_lock`` held, under the index's read lock (no write runs meanwhile)."""
        if self._coarse is None:
            self._coarse = CoarseCopies(CoarseArena.empty(arena.shape[0], self.dim) for arena in self.arenas)
            self._coarse_cursor = (0, 0)
            self._coarse_pending, self._coarse_pending_rows, self._coarse_pending_unique = [], 0, False
        self._coarse_arenas()
        live = self.live.numpy()
        left = float("inf") if budget is None else budget
        # The build: arenas in order, a range of rows at a time (rows past the cursor need no pending note).
        arena_id, row = self._coarse_cursor
        while arena_id < len(self.arenas) and left > 0:
            arena, start = self.arenas[arena_id], self.arena_starts[arena_id]
            stop = arena.shape[0] if budget is None else min(arena.shape[0], row + max(int(left), 1))
            rows = row + np.flatnonzero(live[start + row:start + stop])
            if len(rows):
                self._coarse[arena_id].write(rows, _RowsAt(arena.numpy(), rows))
            left -= max(len(rows), 1) if stop > row else 1
            row = stop
            if row >= arena.shape[0]:
                arena_id, row = arena_id + 1, 0
            self._coarse_cursor = (arena_id, row)
        if arena_id < len(self.arenas):
            return False
        # Rows written since they were quantised, a batch at a time.
        if self._coarse_pending:
            pending = self._coarse_pending
            slots = pending[0] if self._coarse_pending_unique else np.unique(np.concatenate(pending))
            slots = slots[live[slots]]
            batch, rest = (slots, slots[:0]) if left >= len(slots) else (slots[:int(left)], slots[int(left):])
            starts = np.asarray(self.arena_starts, dtype=np.int64)
            arena_of = np.searchsorted(starts, batch, side="right") - 1
            for arena_id in np.unique(arena_of).tolist():
                rows = batch[arena_of == arena_id] - starts[arena_id]
                self._coarse[arena_id].write(rows, _RowsAt(self.arenas[arena_id].numpy(), rows))
            self._coarse_pending = [rest] if len(rest) else []
            self._coarse_pending_rows, self._coarse_pending_unique = len(rest), bool(len(rest))
            if len(rest):
                return False
        self._coarse_ready = True
        return True

    def _coarse_drop(self) -> None:
        """Forget the int8 copy (rebuilt once scans have read enough rows again)."""
        self._coarse, self._coarse_pending, self._coarse_pending_rows = None, [], 0
        self._coarse_ready, self._coarse_cursor, self._coarse_demand = False, (0, 0), 0
        self._coarse_pending_unique = False

    def _coarse_arenas(self) -> None:
        """Give arenas reserved since the copy was begun their (empty) int8 copies."""
        for arena in self.arenas[len(self._coarse):]:
            self._coarse.append(CoarseArena.empty(arena.shape[0], self.dim))

    def attribute_index(self, name: str) -> SortedColumn:
        """The sorted entries of column ``name`` (built once, then maintained under writes)."""
        index = self.attribute_indexes.get(name)
        if index is None:
            index = self.attribute_indexes[name] = SortedColumn.build(self.columns[name], self.schema.kinds[name])
        return index

    # -- allocation -----------------------------------------------------------------------------
    def allocate(self, keys: torch.Tensor | None, n: int) -> torch.Tensor:
        """Reserve n slots (grouped by partition key) and return them, in input order.

        Reuses deleted slots of the same partition first, then the free tail of its
        last block, then blocks emptied by deletes (whatever partition they held),
        then, when free slots are over ``SPILL_FRACTION`` of the slots in blocks,
        free slots of other partitions, and only then new blocks. Free slots are
        found and handed out with a few vectorised passes; Python work is per
        partition that needs new space, never per row.
        """
        xp = self._ops
        # A new arena should hold the whole batch: one arena keeps scan ranges long.
        if keys is not None:
            # Each partition's new rows fit one block rounded up to MIN_BLOCK_ROWS (see _new_block).
            counts = np.unique(keys.cpu().numpy(), return_counts=True)[1].clip(min=MIN_BLOCK_ROWS)
            self._arena_hint = int((-(-counts // MIN_BLOCK_ROWS) * MIN_BLOCK_ROWS).sum())
        elif n <= self.partition_size:
            self._arena_hint = max(MIN_BLOCK_ROWS, 1 << (n - 1).bit_length())
        else:
            self._arena_hint = -(-n // self.partition_size) * self.partition_size
        device = self.device
        if keys is None:  # one partition: the lowest free slots, then fresh ones; no sorting
            free = xp.nonzero(~xp.view(self.live) & xp.view(self.handed_out))[:n]
            self._busy, self._pool = set(), []
            slots = free if len(free) == n else xp.cat([free, xp.view(self._fresh_slots(None, n - len(free)).to(device))])
            xp.view(self.handed_out)[slots] = True  # after _fresh_slots: a new arena replaces the metadata
            return xp.wrap(slots)
        row_keys = xp.view(keys.to(device))
        unique, inverse = xp.unique(row_keys, inverse=True)
        counts = xp.bincount(inverse, len(unique))
        order = xp.stable_argsort(inverse)  # rows grouped by key, input order inside a group
        group = inverse[order]
        group_offsets = xp.cumsum(counts) - counts
        rank = xp.arange(n) - group_offsets[group]
        slots = xp.full(n, -1)
        block_of_slot = xp.view(self.block_of_slot)
        # 1. Deleted slots of the same partition, lowest first.
        free = xp.nonzero(~xp.view(self.live) & xp.view(self.handed_out))
        spare = free[:0]
        if len(free):
            free_keys = xp.view(self.block_keys.to(device))[block_of_slot[free]]
            by_key = xp.stable_argsort(free_keys)
            free, free_keys = free[by_key], free_keys[by_key]
            first = xp.searchsorted(free_keys, unique, right=False)
            available = xp.searchsorted(free_keys, unique, right=True) - first
            reused = rank < available[group]
            picked = first[group[reused]] + rank[reused]
            slots[order[reused]] = free[picked]
            unused = xp.trues(len(free))
            unused[picked] = False
            spare = free[unused]
            taken = xp.minimum(counts, available)
        else:
            taken = counts * 0
        missing = counts - taken
        short = xp.nonzero(missing)
        if len(short) == 0:
            xp.view(self.handed_out)[slots] = True
            return xp.wrap(slots)
        # Blocks this call hands slots from are not empty any more, though no row is written yet.
        self._busy = set(xp.unique(block_of_slot[slots[slots >= 0]]).tolist())
        self._pool = self._empty_blocks()
        keys_short, needs = unique[short].tolist(), missing[short].tolist()
        # 2. The tail of each partition's last block, then blocks emptied by deletes.
        pieces = [[self._fresh_slots(key, need, new_blocks=False)] for key, need in zip(keys_short, needs)]
        needs = [need - len(got[0]) for need, got in zip(needs, pieces)]
        # 3. When free slots of other partitions (deleted, or never used at the end of a block)
        # are over SPILL_FRACTION of the slots in blocks, fill them rather than grow: memory stays
        # near live rows, and only block skipping for a scan of that partition is lost (filters
        # stay exact: they test every row).
        if sum(needs):
            # Deleted slots left over, and never-used tails of other partitions' blocks (step 2
            # moves emptied blocks in place: block_of_slot is the same array, handed_out changed).
            in_block = block_of_slot >= 0
            tails = xp.nonzero(in_block & ~xp.view(self.handed_out))
            spare = xp.cat([spare, tails])
            # Not from blocks handed out in step 2: an emptied block moved to another partition there
            # gave its slots to that partition, deleted ones included.
            spare = spare[~xp.isin(block_of_slot[spare], xp.new(sorted(self._busy)))]
            spare = xp.sort(spare)
            in_blocks = int(in_block.sum())
            if len(spare) <= SPILL_FRACTION * in_blocks:
                spare = spare[:0]
            spilled = spare[:sum(needs)]
            start_at = 0
            for position, need in enumerate(needs):
                got = spilled[start_at:start_at + need]
                start_at += len(got)
                pieces[position].append(xp.wrap(got).cpu())
                needs[position] -= len(got)
            self._extend_fills(xp.wrap(spilled))
        # 4. New blocks.
        for position, (key, need) in enumerate(zip(keys_short, needs)):
            if need:
                pieces[position].append(self._fresh_slots(key, need, new_blocks=True))
        fresh_rows = order[rank >= taken[group]]  # grouped by key, in input order
        slots[fresh_rows] = xp.view(torch.cat([torch.cat(piece) for piece in pieces]).to(device))
        xp.view(self.handed_out)[slots] = True  # a new arena in step 4 replaced the metadata
        return xp.wrap(slots)

    def _fresh_slots(self, key: int | None, n: int, *, new_blocks: bool = True) -> torch.Tensor:
        """Up to n never-used slots for partition ``key``: its last block's tail, then emptied
        blocks, then (if ``new_blocks``) new blocks."""
        # Host (numpy) ranges: a torch arange or cat of 100k values is a parallel region (see the module docstring).
        taken: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        block_ids = self.blocks_by_key.get(key, [])
        block = self.blocks[block_ids[-1]] if block_ids else None
        while n:
            if block is None or block.fill == block.capacity:
                block = self._reuse_empty_block(key, n)
                if block is None:
                    if not new_blocks:
                        break
                    block = self._new_block(key, n)
            count = min(n, block.capacity - block.fill)
            self._busy.add(self._block_index(block))
            taken.append(np.arange(block.start + block.fill, block.start + block.fill + count, dtype=np.int64))
            block.fill += count
            n -= count
        return torch.from_numpy(np.concatenate(taken))

    def _extend_fills(self, slots: torch.Tensor) -> None:
        """Blocks' used ranges grow to cover ``slots`` taken from their never-used tails."""
        if slots.numel() == 0:
            return
        xp = self._ops
        at = xp.view(slots)
        blocks = xp.view(self.block_of_slot)[at]
        ends = xp.max_at(xp.full(len(self.blocks), 0), blocks, at + 1)
        touched = xp.unique(blocks)
        for block_id, end in zip(touched.tolist(), ends[touched].tolist()):  # per block, not per row
            block = self.blocks[block_id]
            block.fill = max(block.fill, end - block.start)

    def _empty_blocks(self) -> list[int]:
        """Blocks whose rows were all deleted, not handed out by the running allocate()."""
        fills = torch.tensor([b.fill for b in self.blocks], dtype=torch.int64)
        empty = ((self.block_live.cpu() == 0) & (fills > 0)).nonzero().flatten().tolist()
        return [block_id for block_id in empty if block_id not in self._busy]

    def _reuse_empty_block(self, key: int | None, rows_needed: int) -> Block | None:
        """A block whose rows were all deleted, moved to partition ``key`` (None if there is none).

        This keeps memory proportional to live rows when partition values come and go: without
        it, every new key would take new blocks while blocks of vanished keys sat empty.
        """
        if not self._pool:
            return None
        wanted = min(self.partition_size, max(MIN_BLOCK_ROWS, rows_needed))
        capacities = [self.blocks[i].capacity for i in self._pool]
        fitting = [c for c in capacities if c >= wanted]  # the smallest block that fits, else the largest
        chosen_capacity = min(fitting) if fitting else max(capacities)
        choice = self._pool.pop(capacities.index(chosen_capacity))
        block = self.blocks[choice]
        self.blocks_by_key[block.key].remove(choice)
        if not self.blocks_by_key[block.key]:
            del self.blocks_by_key[block.key]
        self.blocks_by_key.setdefault(key, []).append(choice)
        block.key, block.fill = key, 0
        self.block_keys[choice] = NO_KEY if key is None else key
        self._ops.view(self.handed_out)[block.start:block.start + block.capacity] = False
        self.version += 1
        return block

    def _block_index(self, block: Block) -> int:
        return int(self.block_of_slot[block.start])

    def _new_block(self, key: int | None, rows_needed: int) -> Block:
        previous = self.blocks_by_key.get(key, [])
        last_capacity = self.blocks[previous[-1]].capacity if previous else 0
        # A partition's first block holds its first rows (rounded up to MIN_BLOCK_ROWS); later ones double.
        wanted = max(-(-rows_needed // MIN_BLOCK_ROWS) * MIN_BLOCK_ROWS, 2 * last_capacity)
        capacity = min(self.partition_size, wanted)
        start = self._reserve(capacity)
        block = Block(key=key, start=start, capacity=capacity)
        self.blocks.append(block)
        self.blocks_by_key.setdefault(key, []).append(len(self.blocks) - 1)
        self._ops.view(self.block_of_slot)[start:start + capacity] = len(self.blocks) - 1
        self.block_keys = torch.cat([self.block_keys, torch.tensor([NO_KEY if key is None else key])])
        self.block_live = torch.cat([self.block_live, torch.zeros(1, dtype=torch.int64, device=self.device)])
        return block

    def _reserve(self, rows: int) -> int:
        for arena_id, arena in enumerate(self.arenas):
            if arena.shape[0] - self.arena_used[arena_id] >= rows:
                start = self.arena_starts[arena_id] + self.arena_used[arena_id]
                self.arena_used[arena_id] += rows
                return start
        # A quarter of the capacity so far (or the batch, if larger): few arenas, and at most
        # a quarter of the memory reserved ahead of the rows that will fill it.
        arena_rows = max(rows, -(-(self.capacity // 4) // 32) * 32, -(-self._arena_hint // 32) * 32)
        self.arenas.append(torch.empty((arena_rows, self.dim), dtype=self.dtype, device=self.device))
        self.arena_starts.append(self.capacity)
        self.arena_used.append(rows)
        self._grow_metadata(self.capacity + arena_rows)
        return self.arena_starts[-1]

    def _grow_metadata(self, capacity: int) -> None:
        extra = capacity - self.capacity
        self.slot_ids = self._grown(self.slot_ids, extra, -1)
        self.block_of_slot = self._grown(self.block_of_slot, extra, -1)
        self.handed_out = self._grown(self.handed_out, extra, False)
        self.live = self._grown(self.live, extra, False)
        if self.keep_norms:
            self.sq_norms = self._grown(self.sq_norms, extra, 0.0)
        for name, column in self.columns.items():
            self.columns[name] = self._grown(column, extra, self._null_value(name))
        self.capacity = capacity

    def _grown(self, tensor: torch.Tensor, extra: int, fill) -> torch.Tensor:
        """``tensor`` with ``extra`` more rows set to ``fill`` (a new tensor: readers of the old one keep it)."""
        grown = torch.empty((tensor.shape[0] + extra,) + tuple(tensor.shape[1:]), dtype=tensor.dtype, device=self.device)
        if self._host:  # single-threaded copies (see the module docstring)
            view = grown.numpy()
            view[:tensor.shape[0]] = tensor.numpy()
            view[tensor.shape[0]:] = fill
        else:
            grown[:tensor.shape[0]] = tensor
            grown[tensor.shape[0]:] = fill
        return grown

    def _null_value(self, name: str):
        return self.schema.null_column(name, 1).flatten()[0].item()

    def _null(self, name: str, n: int, trailing: tuple) -> torch.Tensor:
        null = self.schema.null_column(name, n).to(self.device)
        return null.expand((n,) + tuple(trailing)).contiguous() if trailing else null

    # -- writes ---------------------------------------------------------------------------------
    def write(self, slots: torch.Tensor, ids: torch.Tensor, vectors: torch.Tensor, columns: dict[str, torch.Tensor]) -> None:
        """Store rows at reserved slots and mark them live. ``vectors`` already in storage dtype."""
        if len(slots) == 0:
            return
        xp = self._ops
        slots = slots.contiguous()
        at = xp.view(slots)
        where = contiguous_range(at)  # appends fill consecutive slots: slices instead of index lists
        place = at if where is None else where
        self._write_vectors(at, vectors)
        if self._coarse is not None:  # quantised by later scans (see coarse_for_scan); past the capacity, rebuilt
            self._coarse_ready = self._coarse_pending_unique = False
            self._coarse_pending.append(slots.numpy().copy())
            self._coarse_pending_rows += len(slots)
            if len(self._coarse_pending) >= 1024:  # many small writes: one array, not a thousand objects
                self._coarse_pending = [np.concatenate(self._coarse_pending)]
            if self._coarse_pending_rows > self.capacity:
                self._coarse_drop()
        if self.keep_norms:
            self.sq_norms[slots if where is None else where] = vectors.float().pow(2).sum(dim=1)
        xp.view(self.slot_ids)[place] = xp.view(ids.contiguous())
        for name in self.columns:
            self.set_column(name, slots, columns.get(name), place=place)
        xp.view(self.live)[place] = True
        block_live = xp.view(self.block_live)
        block_live += xp.bincount(xp.view(self.block_of_slot)[place], len(self.blocks))
        self.version += 1

    def _write_vectors(self, slots, vectors: torch.Tensor) -> None:
        """Copy ``vectors`` (storage dtype) into the arenas at ``slots`` (numpy on a CPU, else torch)."""
        starts = self._ops.new(self.arena_starts)
        arena_of = self._ops.searchsorted(starts, slots, right=True) - 1
        if len(self.arenas) == 1 or int(arena_of[0]) == int(arena_of[-1]) and bool((arena_of == arena_of[0]).all()):
            present, split = [int(arena_of[0])], False
        else:
            present, split = self._ops.unique(arena_of).tolist(), True
        on_host = self._host
        source_all = _integer_view(vectors.contiguous()) if on_host else vectors
        for arena_id in present:
            rows = self._ops.nonzero(arena_of == arena_id) if split else None
            row_range = slice(0, len(slots)) if rows is None else contiguous_range(rows)
            source = source_all[row_range] if row_range is not None else source_all[rows]
            targets = (slots if rows is None else slots[rows]) - self.arena_starts[arena_id]
            target = contiguous_range(targets)
            target = targets if target is None else target
            arena = self.arenas[arena_id]
            if on_host and not isinstance(target, slice) and arena.is_contiguous() and source.flags.c_contiguous \
                    and source.shape[1]:
                _row_view(_integer_view(arena))[target] = _row_view(source)
            elif on_host:
                _integer_view(arena)[target] = source
            elif isinstance(target, slice):
                arena[target].copy_(source)
            else:
                arena.index_copy_(0, target, source)

    def set_column(self, name: str, slots: torch.Tensor, values: torch.Tensor | None, *, place=None) -> None:
        """Write column ``name`` at ``slots`` (``values`` None: null), keeping its attribute index current.

        ``place`` is where to write: ``slots`` as a slice or a numpy array (from write()), or None for ``slots``.
        """
        column = self.columns[name]
        if values is not None:
            values = values.to(self.device)
            if column.dim() == 2 and values.shape[1] != column.shape[1]:
                width = max(values.shape[1], column.shape[1])
                column = self._widen(name, column, width)
                values = self._widen(name, values, width)
        self.columns[name] = column
        index = self.attribute_indexes.get(name)
        if self._host:
            target = column.numpy()
            where = slots.numpy() if place is None else place
            new = self._null_value(name) if values is None else values.contiguous().numpy()
            if index is not None:
                index.write(slots, torch.from_numpy(np.array(target[where], copy=True)),
                            None if values is None else values)
            target[where] = new
        else:
            where = slots if place is None or isinstance(place, np.ndarray) else place
            if values is None:
                values = self._null(name, len(slots), column.shape[1:])
            if index is not None:
                index.write(slots, column[where], values)
            column[where] = values
        self.version += 1  # cached per-version reads (boost magnitudes) must see the new values

    def _widen(self, name: str, column: torch.Tensor, width: int) -> torch.Tensor:
        if column.shape[1] == width:
            return column
        pad = self._null(name, column.shape[0], (width - column.shape[1],))
        return torch.cat([column, pad], dim=1)

    def clear(self, slots: torch.Tensor) -> None:
        """Delete the rows at ``slots`` (live ones, no repeats)."""
        xp = self._ops
        at = xp.view(slots.contiguous())
        block_live = xp.view(self.block_live)
        block_live -= xp.bincount(xp.view(self.block_of_slot)[at], len(self.blocks))
        xp.view(self.live)[at] = False
        xp.view(self.slot_ids)[at] = -1
        self.version += 1

    # -- reads ----------------------------------------------------------------------------------
    def arena_index(self, slots: torch.Tensor) -> torch.Tensor:
        starts = torch.tensor(self.arena_starts, dtype=torch.int64, device=slots.device)
        return torch.searchsorted(starts, slots, right=True) - 1

    def gather_vectors(self, slots: torch.Tensor) -> torch.Tensor:
        """Stored vectors at ``slots`` (a new (n, dim) tensor in the storage dtype)."""
        out = torch.empty((len(slots), self.dim), dtype=self.dtype, device=self.device)
        if self._host:  # numpy row gathers: single-threaded (see the module docstring)
            at = slots.contiguous().numpy()
            target = _integer_view(out)
            arena_of = np.searchsorted(np.asarray(self.arena_starts, dtype=np.int64), at, side="right") - 1
            if len(self.arenas) == 1 or (arena_of.size and bool((arena_of == arena_of[0]).all())):
                arena_id = int(arena_of[0]) if arena_of.size else 0
                if self.arenas:
                    np.take(_integer_view(self.arenas[arena_id]), at - self.arena_starts[arena_id], axis=0, out=target)
                return out
            for arena_id in np.unique(arena_of).tolist():
                rows = np.flatnonzero(arena_of == arena_id)
                target[rows] = _integer_view(self.arenas[arena_id])[at[rows] - self.arena_starts[arena_id]]
            return out
        arena_of = self.arena_index(slots)
        for arena_id in torch.unique(arena_of).tolist():
            rows = (arena_of == arena_id).nonzero().flatten()
            out[rows] = self.arenas[arena_id][slots[rows] - self.arena_starts[arena_id]]
        return out

    def block_table(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Used blocks sorted by start, on the device: starts, stops (start + fill), and whether each
        start opens an arena (ranges never merge across arenas). Rebuilt once per storage version."""
        if self._block_table is None or self._block_table[0] != self.version:
            ranges = self.block_ranges().to(self.device)
            opens = torch.isin(ranges[:, 0], torch.tensor(self.arena_starts, dtype=torch.int64, device=self.device))
            self._block_table = (self.version, ranges[:, 0].contiguous(), ranges[:, 1].contiguous(), opens)
        return self._block_table[1:]

    def block_ranges(self) -> torch.Tensor:
        """(n_blocks, 2) [start, start + fill) of every block, sorted by start."""
        ranges = sorted((b.start, b.start + b.fill) for b in self.blocks if b.fill)
        return torch.tensor(ranges, dtype=torch.int64).reshape(-1, 2)

    def nbytes(self) -> int:
        metadata = [self.slot_ids, self.live, self.sq_norms, *self.columns.values()]
        coarse = sum(c.codes.numel() + c.stats.nbytes for c in self._coarse or ())
        coarse += sum(sys.getsizeof(pending) for pending in self._coarse_pending)  # their headers too
        return coarse + sum(t.numel() * t.element_size() for t in [*self.arenas, *metadata])
