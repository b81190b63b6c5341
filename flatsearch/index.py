"""The exact-search Index: storage, mutations, filters, boosts and search."""
from __future__ import annotations

import numbers
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch

from . import filter_plan
from ._validation import check_choice, check_ids, check_positive_int, check_storable, describe
from .backends import BACKENDS, chosen_backend, scan_function
from .bitmask import pack_bits, pack_rows, pack_slots, word_popcount
from .checks import Checks, check_boost_terms
from .exact_l2 import candidate_margin, exact_l2_results, negated_sq_norms
from .idmap import IdMap
from .results import SearchResult
from .rwlock import ReadWriteLock
from .scan import Deferred, ScanRequest
from .sorting import searchsorted
from .schema import INT_NULL, Schema
from .storage import Storage
from .topk import best_k
from . import torch_scan as torch_scan_module
from .torch_scan import one_thread, rounded_queries, torch_scan

METRICS = ("ip", "cosine", "l2")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def default_dtype(device: torch.device) -> torch.dtype:
    """Storage dtype used when none is given.

    On a CPU, float32: half-precision rows must be widened before every
    multiplication there, which made search slower than float32 storage in our
    measurements. On CUDA, float16: the scan reads every stored byte, so half
    the bytes is close to half the time, and the kernel accumulates in float32.
    """
    return torch.float16 if device.type == "cuda" else torch.float32


class Rows(NamedTuple):
    """Stored rows returned by :meth:`Index.get`: vectors (n, dim) and attribute values (None = missing)."""

    vectors: torch.Tensor
    attributes: dict[str, list]


def _boost_key(weights: Mapping[str, float]) -> tuple:
    """A boost as a cache key: each column with its weight's exact bits (0.1 and 0.1000000001 differ)."""
    return tuple((name, float(weight).hex()) for name, weight in weights.items())


class Index:
    """Exact vector search over a mutable, partitioned store.

    Args:
        dim: vector dimension.
        metric: "ip" (inner product, higher is better), "cosine" (vectors and
            queries are L2-normalised on the way in, higher is better) or "l2"
            (squared distance, lower is better).
        dtype: storage dtype (torch.float32 / float16 / bfloat16 or their names);
            None picks :func:`default_dtype` for the device.
        device: "cpu", "cuda", "cuda:1", ...
        partition_size: rows per storage block (a multiple of 32).
        attributes: dict of attribute name -> kind ("int", "float", "bool", "time", "tags").
        partition_by: an "int" attribute; rows with the same value share blocks,
            so a filter on it skips other blocks without reading their vectors.
        backend: "auto" (Triton on CUDA, torch on CPU), "torch" or "triton".

    Scores: ``similarity + sum(weight * attribute)`` over the ``boost`` dict, and
    top-k is taken on that final score. For "l2" the returned score is the
    squared distance minus the boost term, so a positive weight favours larger
    values in every metric. Ties are broken by the lower id.

    Example:
        >>> import torch, flatsearch as fs
        >>> index = fs.Index(4, attributes={"city": "int", "pay": "float"})
        >>> index.add([10, 11, 12], torch.eye(4)[:3], attributes={"city": [1, 2, 1], "pay": [50.0, 90.0, None]})
        >>> index.search(torch.tensor([1.0, 0.0, 1.0, 0.0]), 2, filter=fs.col("city") == 1).ids.tolist()
        [[10, 12]]
        >>> index.delete([10])
        1
        >>> index.search(torch.tensor([1.0, 0.0, 1.0, 0.0]), 2, filter=fs.col("city") == 1).ids.tolist()
        [[12, -1]]
    """

    def __init__(self, dim: int, *, metric: str = "ip", dtype: Any = None, device: Any = "cpu",
                 partition_size: int = 65536, attributes: Mapping[str, str] | None = None,
                 partition_by: str | None = None, backend: str = "auto"):
        self.dim = check_positive_int(dim, name="dim")
        self.metric = check_choice(metric, name="metric", choices=METRICS)
        self.device = _check_device(device)
        self.dtype = _check_dtype(dtype, self.device)
        partition_size = check_positive_int(partition_size, name="partition_size")
        if partition_size % 32:
            raise ValueError(f"partition_size: expected a multiple of 32, got {partition_size}")
        self.partition_size = partition_size
        self.schema = Schema.from_user(attributes)
        if partition_by is not None and self.schema.kind(partition_by, argument="partition_by") != "int":
            raise ValueError(f"partition_by: expected an 'int' attribute, got {partition_by!r} of kind "
                             f"{self.schema.kinds[partition_by]!r}")
        self.partition_by = partition_by
        self.backend = check_choice(backend, name="backend", choices=BACKENDS)
        self._checks = Checks(dim=self.dim, metric=self.metric, dtypes=(self.dtype,), schema=self.schema)
        scan_function(self.backend, self.device)  # fail now, not at the first search
        self._lock = ReadWriteLock()
        self._reset()

    def _reset(self) -> None:
        self._use(*self._empty_state())

    def _empty_state(self) -> tuple[Storage, IdMap]:
        return (Storage(dim=self.dim, dtype=self.dtype, device=self.device, partition_size=self.partition_size,
                        schema=self.schema, keep_norms=self.metric == "l2"), IdMap(self.device))

    def _use(self, storage: Storage, ids: IdMap) -> None:
        """Make ``storage`` and ``ids`` the index's rows (and drop what was cached from the old ones)."""
        self._storage, self._ids = storage, ids
        self._live_cache: tuple | None = None
        self._blocks_cache: tuple | None = None  # (storage version, ranges of every used block)
        self._magnitudes: dict[str, tuple[int, float]] = {}  # boosted column -> (storage version, max |value|)
        self._boosts_checked: tuple[int, set] = (-1, set())  # (storage version, boosts that passed the check)
        # Filter and boost plans of searches, valid for one storage version (see filter_plan.PlanCache).
        self._plans = filter_plan.PlanCache()

    # -- configuration ------------------------------------------------------------------------------
    def config(self) -> dict:
        """Constructor arguments that rebuild an empty index like this one."""
        return {"dim": self.dim, "metric": self.metric, "dtype": str(self.dtype).replace("torch.", ""),
                "device": str(self.device), "partition_size": self.partition_size,
                "attributes": dict(self.schema.kinds), "partition_by": self.partition_by, "backend": self.backend}

    def __repr__(self) -> str:
        return (f"Index(dim={self.dim}, metric={self.metric!r}, dtype={self.dtype}, device={str(self.device)!r}, "
                f"rows={len(self)})")

    # -- mutations ----------------------------------------------------------------------------------
    def add(self, ids: Any, vectors: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """Insert new rows. ids must be unique non-negative ints not already in the index.

        Attribute columns not given are stored as missing (null).

        Example:
            >>> import numpy as np, flatsearch as fs
            >>> index = fs.Index(3)
            >>> index.add(np.array([1, 2]), np.eye(3, dtype=np.float32)[:2])
            >>> len(index), 2 in index
            (2, True)
        """
        ids, vectors, columns = self._check_rows(ids, vectors, attributes)
        with self._lock.write():
            present = self._ids.first_present(ids.to(self.device))
            if present is not None:
                raise ValueError(f"ids: expected ids not already in the index, got {present} "
                                 f"which is present (use upsert to replace rows)")
            self._insert(ids, vectors, columns)

    def upsert(self, ids: Any, vectors: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """Insert rows, or replace the vectors of ids already present.

        For ids already present, attribute columns not given keep their current
        values (so re-embedding a corpus needs only ids and vectors); for new ids
        they are stored as missing.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2, attributes={"pay": "float"})
            >>> index.add([1], torch.tensor([[1.0, 0.0]]), attributes={"pay": [10.0]})
            >>> index.upsert([1, 2], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
            >>> index.get([1]).attributes
            {'pay': [10.0]}
        """
        ids, vectors, columns = self._check_rows(ids, vectors, attributes)
        with self._lock.write():
            slots = self._ids.lookup(ids.to(self.device))
            present = (slots >= 0).cpu()
            if bool(present.any()):
                kept = [name for name in self.schema.kinds if name not in columns]
                for name in kept:
                    columns[name] = self._merge_old_values(name, slots, present)
                self._remove(ids[present], slots[present.to(self.device)])
            self._insert(ids, vectors, columns)

    def _merge_old_values(self, name: str, slots: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        stored = self._storage.columns[name]
        merged = self.schema.null_column(name, len(slots))
        if stored.dim() == 2:
            merged = merged.expand(len(slots), stored.shape[1]).clone()
        merged[present] = stored[slots[present.to(self.device)]].cpu()
        return merged

    def delete(self, ids: Any) -> int:
        """Remove rows; unknown ids are skipped. Returns how many rows were removed.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2)
            >>> index.add([1, 2], torch.eye(2))
            >>> index.delete([2, 99])
            1
        """
        ids = self._checks.delete_ids(ids)
        with self._lock.write():
            found, slots = self._ids.present(ids.to(self.device))
            self._remove(found, slots)
            return len(found)

    def set_attributes(self, ids: Any, columns: Mapping[str, Any]) -> None:
        """Change attribute values of rows in place (e.g. a new engagement prior).

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2, attributes={"prior": "float"})
            >>> index.add([1, 2], torch.eye(2))
            >>> index.set_attributes([2], {"prior": [0.5]})
            >>> index.get([1, 2]).attributes
            {'prior': [None, 0.5]}
        """
        ids, values = self._checks.attribute_update(ids, columns)
        with self._lock.write():
            slots = self._require(ids)
            if self.partition_by in values:
                # A new partition value moves the row to that partition's blocks.
                vectors = self._storage.gather_vectors(slots)
                merged = {name: self._merge_old_values(name, slots, torch.ones(len(ids), dtype=torch.bool))
                          for name in self.schema.kinds if name not in values}
                merged.update(values)
                self._remove(ids, slots)
                self._insert(ids, vectors, merged)
                return
            for name, column in values.items():
                self._storage.set_column(name, slots, column)

    def compact(self) -> None:
        """Repack live rows densely, dropping deleted slots and emptied blocks.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2)
            >>> index.add(list(range(100)), torch.randn(100, 2))
            >>> _ = index.delete(list(range(50)))
            >>> index.compact()
            >>> index.stats()["deleted"]
            0
        """
        with self._lock.write():
            ids, vectors, columns = self._export()
            for name, column in columns.items():
                if column.dim() == 2:  # tags: as wide as the widest live row, not the widest ever stored
                    width = int(Schema.not_null("tags", column).sum(dim=1).max()) if len(column) else 1
                    columns[name] = column[:, :max(width, 1)].contiguous()
            # Built aside and swapped in at the end: a failure part-way leaves the index as it was.
            storage, id_map = self._empty_state()
            self._insert(ids, vectors, columns, storage=storage, id_map=id_map)
            self._use(storage, id_map)

    # -- reads --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id_: Any) -> bool:
        if isinstance(id_, bool) or not isinstance(id_, numbers.Integral):
            return False
        with self._lock.read():
            return bool(self._ids.lookup(torch.tensor([int(id_)], device=self.device))[0] >= 0)

    def contains(self, ids: Any) -> torch.Tensor:
        """Membership of a batch of ids as a bool tensor (CPU), without a Python call per id.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2)
            >>> index.add([1, 2], torch.eye(2))
            >>> index.contains([2, 3, -1]).tolist()
            [True, False, False]
        """
        ids = check_ids(ids, allow_negative=True)
        with self._lock.read():
            return (self._ids.lookup(ids.to(self.device)) >= 0).cpu()

    def ids(self, *, filter: Any = None) -> torch.Tensor:
        """Ids of the live rows, ascending (CPU int64); with ``filter``, only the rows passing it.

        ``filter`` is one expression or its dict form, with the semantics of :meth:`search`
        (nulls never match); ``len(index.ids(filter=f))`` counts the rows a search with ``f`` can return.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2, attributes={"pay": "float"})
            >>> index.add([9, 4, 7], torch.eye(3, 2), attributes={"pay": [50.0, 90.0, float("nan")]})
            >>> index.ids().tolist(), index.ids(filter=fs.col("pay") > 60).tolist()
            ([4, 7, 9], [4])
        """
        if filter is not None:
            filter = self._checks.filter(filter)
        with self._lock.read():
            if filter is None:
                return self._ids.sorted_ids().cpu()
            passing = filter_plan.select(filter, self.schema, self._storage).as_slots()
            return torch.sort(self._storage.slot_ids[passing]).values.cpu()

    def get(self, ids: Any) -> Rows:
        """Stored vectors (in the storage dtype) and attribute values of the given ids.

        Raises KeyError for an id that is not in the index.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2, attributes={"tags": "tags"})
            >>> index.add([5], torch.tensor([[3.0, 4.0]]), attributes={"tags": [[1, 2]]})
            >>> index.get([5])
            Rows(vectors=tensor([[3., 4.]]), attributes={'tags': [[1, 2]]})
        """
        ids = check_ids(ids, allow_negative=True)
        with self._lock.read():
            slots = self._require(ids)
            vectors = self._storage.gather_vectors(slots)
            # index_select, not column[slots]: advanced indexing of a wide column (tags, 52 x 24k) goes through
            # torch's parallel path and, with the other core busy, waits 6-10 ms for it at the 95th percentile.
            attributes = {name: self.schema.to_python(name, torch.index_select(self._storage.columns[name], 0, slots))
                          for name in self.schema.kinds}
        return Rows(vectors, attributes)

    def stats(self) -> dict:
        """Row counts and memory: rows (slots used), live, deleted, partitions, blocks, bytes."""
        with self._lock.read():
            rows = sum(block.fill for block in self._storage.blocks)
            return {"rows": rows, "live": len(self), "deleted": rows - len(self),
                    "partitions": len({block.key for block in self._storage.blocks}),
                    "blocks": len(self._storage.blocks), "capacity": self._storage.capacity,
                    "bytes": self._storage.nbytes(), "dtype": str(self.dtype).replace("torch.", ""),
                    "device": str(self.device), "backend": chosen_backend(self.backend, self.device)}

    def search(self, queries: Any, k: int, *, filter: Any = None, boost: Mapping[str, float] | None = None
               ) -> SearchResult:
        """Exact top-k rows for each query, best first.

        Args:
            queries: (nq, dim) or (dim,) numpy array or tensor.
            k: results per query; fewer passing rows are padded with id -1 and
                score -inf (+inf for l2).
            filter: a filter expression (``fs.col(...)``), its dict form, or a
                list of nq of them (None for no filter) for per-query filters.
            boost: dict attribute -> weight added as ``weight * value`` to the score.

        Example:
            >>> import torch, flatsearch as fs
            >>> index = fs.Index(2, attributes={"pay": "float"})
            >>> index.add([1, 2], torch.tensor([[1.0, 0.0], [0.9, 0.0]]), attributes={"pay": [0.0, 1.0]})
            >>> index.search(torch.tensor([1.0, 0.0]), 1).ids.tolist()
            [[1]]
            >>> index.search(torch.tensor([1.0, 0.0]), 1, boost={"pay": 0.5}).ids.tolist()
            [[2]]
        """
        with one_thread(self.device):  # bookkeeping on this thread; large products take the caller's threads
            return self._search(queries, k, filter, boost)

    def _search(self, queries: Any, k: Any, filter: Any, boost: Any) -> SearchResult:
        queries = self._checks.queries(queries)[1]
        if queries.device != self.device:
            queries = queries.to(self.device)
        k = self._checks.k(k)
        filters = self._checks.filters(filter, queries.shape[0])
        weights = self._checks.boost(boost)
        if weights:
            self._check_boost_terms(weights)
        if queries.shape[0] == 0:
            return _empty_result(0, k, self.metric, self.device)
        scan = scan_function(self.backend, self.device)
        with self._lock.read():
            if self._storage.capacity == 0:
                return _empty_result(queries.shape[0], k, self.metric, self.device)
            found = min(k, max(len(self._ids), 1))  # never scan for more rows than the index holds
            candidates = found + (candidate_margin(found) if self.metric == "l2" else 1)
            request = self._scan_request(queries, candidates, filters, weights)
            scanned = scan(request)
            if self.metric == "l2":  # exact distances: the expanded form cancels far from the origin
                return _padded(exact_l2_results(self, request, scanned.scores, scanned.slots, found, weights), k,
                               self.metric)
            return _padded(self._finish(request, scanned, found, has_boost=bool(weights)), k, self.metric)

    # -- search internals ---------------------------------------------------------------------------
    def _check_boost_terms(self, weights: Mapping[str, float]) -> None:
        """Boost terms must keep scores finite: each weight times the largest stored magnitude of its column.

        The magnitudes are read once per storage version (every write bumps it), not per search, and
        a boost that passed is not checked again at that version."""
        key = _boost_key(weights)
        with self._lock.read():
            storage = self._storage
            version, passed = self._boosts_checked
            if version == storage.version and key in passed:
                return
            magnitudes = {}
            for name in weights:
                cached = self._magnitudes.get(name)
                if cached is None or cached[0] != storage.version:
                    values = Schema.as_float(self.schema.kinds[name], storage.columns[name])[storage.live]
                    cached = (storage.version, float(values.abs().max()) if values.numel() else 0.0)
                    self._magnitudes[name] = cached
                magnitudes[name] = cached[1]
            check_boost_terms(weights, magnitudes)
            if version != storage.version:
                passed = set()
                self._boosts_checked = (storage.version, passed)
            if len(passed) < 64:
                passed.add(key)

    def _keep_mask(self, filters: list, selections: dict | None = None) -> torch.Tensor:
        """Per-query filters: one live-and-passing bool row per query (rows shared by equal filters)."""
        storage = self._storage
        evaluated: dict[str, torch.Tensor] = {}
        selections = {} if selections is None else selections
        rows = []
        for expr in filters:
            key = "" if expr is None else expr.key()
            if key not in evaluated:
                if expr is None:
                    evaluated[key] = storage.live
                else:
                    selection = selections.get(key) or filter_plan.select(expr, self.schema, storage)
                    evaluated[key] = selection.as_mask(storage.capacity)
            rows.append(evaluated[key])
        if len(evaluated) == 1:
            return rows[0]
        return torch.stack(rows)

    def _scan_request(self, queries: torch.Tensor, k: int, filters: Any, weights: dict[str, float]) -> ScanRequest:
        storage = self._storage
        common = dict(queries=queries, k=k, arenas=tuple(storage.arenas), arena_starts=tuple(storage.arena_starts),
                      score_scale=2.0 if self.metric == "l2" else 1.0,
                      coarse=storage.coarse_for_scan if storage.supports_coarse else None)
        return ScanRequest(**common, **self._plan(filters, weights))

    def _plan(self, filters: Any, weights: dict[str, float]) -> dict:
        """The request fields that follow from the filters and the boost (ranges, words, bias, passing slots
        or per-query bits), kept per storage version in ``self._plans`` (any write makes them stale)."""
        if filters is None:
            shape = None
        elif isinstance(filters, list):
            shape = ("each", tuple(None if expr is None else expr.structure() for expr in filters))
        else:
            shape = ("one", filters.structure())
        # The planners' thresholds are part of the key: a plan made under others has another form.
        key = (shape, _boost_key(weights),
               filter_plan.POSTINGS_MAX_FRACTION, torch_scan_module.GATHER_MAX_FRACTION)
        storage = self._storage
        plan = self._plans.get(storage, key)
        if plan is None:
            plan = self._new_plan(filters, weights)
            # Words not built yet, and what the scan keeps in the memo (padded copies of the slots,
            # bias and bits): counted ahead.
            rows = 1 if filters is None or not isinstance(filters, list) else len(filters)
            words = rows * (storage.capacity // 8 + 4) if isinstance(plan["mask_words"], Deferred) else 0
            extra = words + sum(
                value.numel() * value.element_size() for name, value in plan.items()
                if name in ("passing_slots", "candidate_slots", "candidate_keep", "slot_bias") and value is not None)
            plan["memo"] = {}
            self._plans.put(storage, key, plan, extra_bytes=extra)
        return plan

    def _new_plan(self, filters: Any, weights: dict[str, float]) -> dict:
        storage = self._storage
        if filters is None:
            ranges, words, dense = self._live_plan()
            return dict(ranges=ranges, mask_words=words, bias=self._bias(weights, None), keep=storage.live,
                        dense=dense)
        if not isinstance(filters, list):
            selection = filter_plan.select(filters, self.schema, storage)
            # Words, block hits and the torch gather all start from the passing slots; a
            # selective plan never builds a bool per slot (keep is None then).
            passing_slots = selection.as_slots()
            bias, slot_bias = self._bias_and_at(weights, passing_slots)
            # The torch backend gathers the passing slots and never reads the words: they are built
            # only for a backend that reads them.
            capacity = storage.capacity
            return dict(ranges=self._ranges_with_hits(None, passing_slots),
                        mask_words=Deferred(lambda: pack_slots(passing_slots, capacity), dim=1),
                        bias=bias, keep=selection.mask, passing_slots=passing_slots, slot_bias=slot_bias)
        selections: dict = {}
        planned = filter_plan.select_per_query(filters, self.schema, storage, selections=selections,
                                               max_candidates=torch_scan_module.GATHER_MAX_FRACTION * len(self._ids))
        if planned is not None and planned.mask is not None:
            keep = planned.mask
            return dict(ranges=self._ranges_with_hits(pack_bits(keep.any(dim=0))),
                        mask_words=pack_bits(keep), bias=self._bias(weights, None), keep=keep)
        if planned is not None:
            # Candidates shared by every query (the rows their common clauses pass, or the union of
            # their postings) and each query's bits there: words, block hits and the bias follow them.
            slots, bits = planned.slots, planned.keep
            bias, slot_bias = self._bias_and_at(weights, slots)
            capacity = storage.capacity
            return dict(ranges=self._ranges_with_hits(None, slots),
                        mask_words=Deferred(lambda: pack_rows(slots, bits, capacity), dim=2), bias=bias,
                        candidate_slots=slots, candidate_keep=bits, slot_bias=slot_bias)
        keep = self._keep_mask(filters, selections)
        words = pack_bits(keep)
        ranges = self._ranges_with_hits(words if keep.dim() == 1 else pack_bits(keep.any(dim=0)))
        return dict(ranges=ranges, mask_words=words, bias=self._bias(weights, None), keep=keep)

    def _bias(self, weights: dict[str, float], passing_slots: torch.Tensor | None) -> torch.Tensor | None:
        """Per-slot bias (boost terms, and ``-|x|^2`` for l2), or None.

        With a selective filter's passing slots it is computed at those slots only (every other
        slot is masked out, so its bias is never read): the cost follows the rows that pass."""
        return self._bias_and_at(weights, passing_slots)[0]

    def _bias_and_at(self, weights: dict[str, float], passing_slots: torch.Tensor | None
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``_bias`` and, when it was computed at ``passing_slots`` only, its values there
        (the scan reads those instead of gathering them back from the full row)."""
        storage = self._storage
        if not weights and self.metric != "l2":
            return None, None
        at = passing_slots if passing_slots is not None and passing_slots.numel() < storage.capacity // 4 else None
        def read(column):
            return column if at is None else column.index_select(0, at)
        bias = None
        for name, weight in weights.items():
            term = weight * Schema.as_float(self.schema.kinds[name], read(storage.columns[name]))
            bias = term if bias is None else bias.add_(term)
        if self.metric == "l2":
            if bias is None:
                # Unfiltered l2 reuses -|x|^2 kept until the vectors change (exact_l2.negated_sq_norms).
                bias = negated_sq_norms(storage) if at is None else -read(storage.sq_norms)
            else:
                bias = bias.sub_(read(storage.sq_norms))
        if at is None:
            return bias, None
        bias = bias.float()
        full = torch.zeros(storage.capacity, dtype=torch.float32, device=storage.device)
        return full.index_copy_(0, at, bias), bias

    def _live_plan(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Scan ranges, packed live bits and whether every slot in the ranges is live, for unfiltered
        searches; kept until the next mutation."""
        version = self._storage.version
        if self._live_cache is None or self._live_cache[0] != version:
            words = pack_bits(self._storage.live)
            ranges = self._ranges_with_hits(words)
            dense = int((ranges[:, 1] - ranges[:, 0]).sum()) == len(self._ids)
            self._live_cache = (version, ranges, words, dense)
        return self._live_cache[1:]

    def _ranges_with_hits(self, words: torch.Tensor | None, slots: torch.Tensor | None = None) -> torch.Tensor:
        """Block ranges holding at least one set bit of ``words``, adjacent ones of an arena merged.

        Per-block counts are computed on the index device, from the passing ``slots`` when
        the plan gave them (a searchsorted per slot), else from a prefix sum of word
        popcounts (block starts are multiples of 32); only the kept ranges reach the host.
        On a CPU the block table is small host bookkeeping, done in numpy.
        """
        starts, stops, opens_arena = self._storage.block_table()
        if starts.numel() == 0:
            return torch.empty((0, 2), dtype=torch.int64)
        if starts.device.type == "cpu":
            starts, stops, opens_arena = starts.numpy(), stops.numpy(), opens_arena.numpy()
            if slots is not None:
                # Most filters hit every block: then the ranges are those of all blocks, kept per version.
                hit = np.zeros(len(starts), dtype=bool)
                hit[np.searchsorted(starts, slots.numpy(), side="right") - 1] = True
                if hit.all():
                    return self._all_blocks(starts, stops, opens_arena)
                return torch.from_numpy(_merged_ranges(starts[hit], stops[hit], opens_arena[hit]))
            return torch.from_numpy(_kept_ranges_numpy(starts, stops, opens_arena, words.numpy()))
        if slots is not None:
            hits = torch.bincount(searchsorted(starts, slots, right=True) - 1, minlength=starts.numel())
        else:
            prefix = torch.zeros(words.shape[-1] + 1, dtype=torch.int64, device=words.device)
            torch.cumsum(word_popcount(words), 0, out=prefix[1:])
            hits = prefix[(stops + 31) // 32] - prefix[starts // 32]
        keep = hits > 0
        starts, stops, opens_arena = starts[keep], stops[keep], opens_arena[keep]
        first = torch.ones_like(keep[:starts.numel()])
        first[1:] = (starts[1:] != stops[:-1]) | opens_arena[1:]
        last = torch.ones_like(first)
        last[:-1] = first[1:]
        return torch.stack([starts[first], stops[last]], dim=1).cpu()

    def _all_blocks(self, starts: np.ndarray, stops: np.ndarray, opens_arena: np.ndarray) -> torch.Tensor:
        """Ranges of every used block (host arrays of the block table), kept until the next mutation."""
        version = self._storage.version
        if self._blocks_cache is None or self._blocks_cache[0] != version:
            self._blocks_cache = (version, torch.from_numpy(_merged_ranges(starts, stops, opens_arena)))
        return self._blocks_cache[1]

    def _finish(self, request: ScanRequest, result, k: int, *, has_boost: bool) -> SearchResult:
        if result.scores.device.type == "cpu":
            scores, ids, tied = _finish_numpy(result.scores, result.slots, self._storage.slot_ids, k)
        else:
            scores, slots = result.scores[:, :k + 1], result.slots[:, :k + 1]
            valid = slots >= 0  # padding is told by the slot, never by the score (a real row may score -inf)
            # A tie across the k-th place means the kept set depends on the tie rule:
            # resolve those queries exactly by id; the rest only need reordering.
            tied = (valid[:, k] & valid[:, k - 1] & (scores[:, k] == scores[:, k - 1])).nonzero().flatten().tolist()
            scores, slots, valid = scores[:, :k], slots[:, :k], valid[:, :k]
            ids = torch.where(valid, self._storage.slot_ids[slots.clamp(min=0)], torch.full_like(slots, -1))
            if bool((valid[:, 1:] & (scores[:, 1:] == scores[:, :-1])).any()):  # scans order ties by slot, users by id
                scores, ids = best_k(scores, k, keys=ids, valid=valid)
        for query in tied:
            exact = self._resolve_tie(request, query, k)
            scores[query], ids[query] = exact.scores[0], exact.ids[0]
        if self.metric == "l2":
            query_norms = rounded_queries(request).pow(2).sum(dim=1, keepdim=True)
            distances = query_norms - scores
            if not has_boost:
                distances = distances.clamp(min=0)
            scores = torch.where(ids < 0, torch.full_like(distances, float("inf")), distances)
        return SearchResult(scores, ids)

    def _resolve_tie(self, request: ScanRequest, query: int, k: int) -> SearchResult:
        """Exact top-k of one query whose k-th place is tied: widen its candidate list until
        it holds every row scoring as high as the k-th, then order ties by id."""
        single = request.for_queries([query])
        wanted = 2 * k + 1
        while True:
            found = torch_scan(single.replace(k=wanted))
            scores, slots = found.scores[0], found.slots[0]
            if slots[-1] < 0 or not scores[-1] == scores[k - 1]:  # the last candidate is padding or below the k-th
                break
            wanted *= 4
        valid = slots >= 0
        return SearchResult(*best_k(scores[valid].unsqueeze(0), k, keys=self._storage.slot_ids[slots[valid]].unsqueeze(0)))

    # -- storage internals --------------------------------------------------------------------------
    def _check_rows(self, ids: Any, vectors: Any, attributes: Any):
        ids, _, stored, columns = self._checks.rows(ids, vectors, attributes)
        return ids, stored.to(self.device), columns

    def _insert(self, ids: torch.Tensor, vectors: torch.Tensor, columns: dict[str, torch.Tensor], *,
                storage: Storage | None = None, id_map: IdMap | None = None) -> None:
        """Store new rows in the index's storage and id map (or in the given ones)."""
        storage = self._storage if storage is None else storage
        id_map = self._ids if id_map is None else id_map
        if len(ids) == 0:
            return
        keys = None
        if self.partition_by is not None:
            keys = columns.get(self.partition_by)
            keys = torch.full((len(ids),), INT_NULL, dtype=torch.int64) if keys is None else keys
        slots = storage.allocate(keys, len(ids))
        device_ids = ids.to(self.device)
        storage.write(slots, device_ids, vectors.to(self.device, self.dtype), columns)
        id_map.insert(device_ids, slots)

    def _remove(self, ids: torch.Tensor, slots: torch.Tensor) -> None:
        self._storage.clear(slots)
        self._ids.remove(ids.to(self.device))

    def _require(self, ids: torch.Tensor) -> torch.Tensor:
        slots = self._ids.lookup(ids.to(self.device))
        missing = (slots < 0).cpu()
        if bool(missing.any()):
            raise KeyError(f"ids: {int(ids[missing][0])} is not in the index")
        return slots

    def _export(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Live rows in slot order: ids (CPU), vectors (device, storage dtype), columns (CPU)."""
        slots = self._storage.live.nonzero().flatten()
        ids = self._storage.slot_ids[slots].cpu()
        vectors = self._storage.gather_vectors(slots)
        columns = {name: column[slots].cpu() for name, column in self._storage.columns.items()}
        return ids, vectors, columns

    # -- persistence and devices --------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Write the index to one safetensors file (atomically: a temporary file, then a rename).

        Example:
            >>> import os, tempfile, torch, flatsearch as fs
            >>> index = fs.Index(2)
            >>> index.add([7], torch.tensor([[1.0, 2.0]]))
            >>> path = os.path.join(tempfile.mkdtemp(), "jobs.fsx")
            >>> index.save(path)
            >>> fs.Index.load(path).get([7]).vectors.tolist()
            [[1.0, 2.0]]
        """
        from .persistence import save_index
        with self._lock.read():
            ids, vectors, columns = self._export()
        save_index(path, self.config(), ids, vectors, columns)

    @classmethod
    def load(cls, path: Any, device: Any = None) -> "Index":
        """Read an index written by :meth:`save`, on its saved device or ``device``.

        The file is verified before anything is built from it (see
        :mod:`flatsearch.persistence`); a damaged or crafted file raises a
        ValueError naming the path and what is wrong."""
        from .persistence import load_index
        return cls._from_saved(load_index(path), device, where=f"path: {str(path)!r}")

    @classmethod
    def _from_saved(cls, loaded: tuple, device: Any, *, where: str) -> "Index":
        config, ids, vectors, columns = loaded
        config = dict(config)
        if device is not None:
            config["device"] = device
        try:
            index = cls(**config)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{where}: its configuration cannot build an index ({error})") from None
        try:
            check_storable(vectors, name="vectors")
        except ValueError as error:
            raise ValueError(f"{where} is damaged: {error}") from None
        index._insert(ids, vectors.to(index.device), columns)
        return index

    def __reduce__(self):
        """Pickles through the bytes of a saved file (and so is verified on unpickling), like FAISS and hnswlib."""
        from .persistence import index_bytes
        with self._lock.read():
            ids, vectors, columns = self._export()
        return (_index_from_bytes, (index_bytes(self.config(), ids, vectors, columns),))

    def to(self, device: Any) -> "Index":
        """A copy of this index on another device (the original is unchanged), like ``Tensor.to``."""
        device = _check_device(device)
        config = self.config()
        config["device"] = device
        copy = Index(**config)
        with self._lock.read():
            ids, vectors, columns = self._export()
        copy._insert(ids, vectors.to(device), columns)
        return copy


def _kept_ranges_numpy(starts: np.ndarray, stops: np.ndarray, opens_arena: np.ndarray, words: np.ndarray) -> np.ndarray:
    """``Index._ranges_with_hits`` of packed words on host arrays: blocks with a set bit, adjacent ones
    of an arena merged."""
    prefix = np.zeros(words.shape[-1] + 1, dtype=np.int64)
    np.cumsum(np.bitwise_count(words.view(np.uint32)), out=prefix[1:])
    hits = prefix[(stops + 31) // 32] - prefix[starts // 32]
    keep = hits > 0
    return _merged_ranges(starts[keep], stops[keep], opens_arena[keep])


def _merged_ranges(starts: np.ndarray, stops: np.ndarray, opens_arena: np.ndarray) -> np.ndarray:
    """Block ranges (sorted by start) with adjacent blocks of one arena merged."""
    first = np.ones(len(starts), dtype=bool)
    first[1:] = (starts[1:] != stops[:-1]) | opens_arena[1:]
    last = np.ones(len(starts), dtype=bool)
    last[:-1] = first[1:]
    return np.stack([starts[first], stops[last]], axis=1).astype(np.int64, copy=False)


def _finish_numpy(scores: torch.Tensor, slots: torch.Tensor, slot_ids: torch.Tensor, k: int):
    """The CPU half of ``Index._finish``: (scores, ids) of the first k columns, ties ordered by id,
    and the queries whose k-th place is tied (resolved exactly by the caller)."""
    values, places = scores.numpy(), slots.numpy()
    valid = places[:, :k + 1] >= 0  # padding is told by the slot, never by the score (a real row may score -inf)
    tied = []
    if values.shape[1] > k:
        # A tie across the k-th place means the kept set depends on the tie rule:
        # resolve those queries exactly by id; the rest only need reordering.
        tied = np.flatnonzero(valid[:, k] & valid[:, k - 1] & (values[:, k] == values[:, k - 1])).tolist()
    values, places, valid = values[:, :k], places[:, :k], valid[:, :k]
    ids = np.where(valid, slot_ids.numpy()[np.maximum(places, 0)], -1)
    out_scores, out_ids = torch.from_numpy(np.array(values)), torch.from_numpy(ids)
    if (valid[:, 1:] & (values[:, 1:] == values[:, :-1])).any():  # scans order ties by slot, users by id
        out_scores, out_ids = best_k(out_scores, k, keys=out_ids, valid=torch.from_numpy(valid))
    return out_scores, out_ids, tied


def _index_from_bytes(data: bytes) -> Index:
    from .persistence import load_index_bytes
    return Index._from_saved(load_index_bytes(data, where="pickled index"), None, where="pickled index")


def _padded(result: SearchResult, k: int, metric: str) -> SearchResult:
    """``result`` widened to k columns of padding (id -1, score -inf; +inf for l2)."""
    missing = k - result.ids.shape[1]
    if missing <= 0:
        return result
    empty = _empty_result(result.ids.shape[0], missing, metric, result.ids.device)
    return SearchResult(torch.cat([result.scores, empty.scores], dim=1), torch.cat([result.ids, empty.ids], dim=1))


def _empty_result(nq: int, k: int, metric: str, device: torch.device) -> SearchResult:
    worst = float("inf") if metric == "l2" else float("-inf")
    return SearchResult(torch.full((nq, k), worst, device=device), torch.full((nq, k), -1, dtype=torch.int64, device=device))


def _check_device(device: Any) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected a torch device such as 'cpu' or 'cuda:0', got {describe(device)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device} was requested but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device}")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _check_dtype(dtype: Any, device: torch.device) -> torch.dtype:
    if dtype is None:
        return default_dtype(device)
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype in _DTYPES.values():
        return dtype
    raise ValueError(f"dtype: expected one of float32, float16, bfloat16 or None, got {describe(dtype)}")
