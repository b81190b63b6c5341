"""One logical index split into shards, each an :class:`fs.Index` on its own device.

Rows are owned by the shard that a stable hash of their id picks
(:func:`shard_of`), so an upsert or a delete touches only the owning shards and
the layout does not depend on the order rows arrived in. A search runs on every
shard at once (one thread per shard) and the per-shard top-k lists are merged
exactly with :func:`fs.merge_results`: every row of the global top-k is in its
own shard's top-k, and both levels break ties by the lower id.

The work done on a shard lives in :class:`ShardServer`. :class:`ShardedIndex`
reaches its servers through a transport (:class:`ShardTransport`): threads in
this process (:class:`LocalShards`) or Ray actors
(:class:`flatsearch.distributed.RayShards`). Validation, routing, all-or-nothing
writes, merging, locking and persistence are written once, in ShardedIndex.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import re
import shutil
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import torch
from filelock import FileLock

from ._validation import check_ids, check_positive_int, describe
from .checks import Checks
from .index import Index, Rows, _check_dtype
from .persistence import load_index, save_index
from .results import SearchResult, merge_results
from .rwlock import ReadWriteLock
from .schema import INT_NULL, Schema, StoredColumns

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".flatsearch.lock"
MANIFEST_FORMAT = "flatsearch.sharded"
MANIFEST_VERSION = 1
ROUTING = "splitmix64"

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def splitmix64(ids: Any) -> np.ndarray:
    """The splitmix64 output function of each int64 id, as uint64.

    A fixed bijective mix: neighbouring ids land far apart, and the value never
    depends on the process, the platform or ``PYTHONHASHSEED`` (unlike ``hash()``).

    Example:
        >>> import numpy as np
        >>> from flatsearch.sharded import splitmix64
        >>> hex(int(splitmix64(np.array([0]))[0]))
        '0xe220a8397b1dcdaf'
    """
    mixed = np.ascontiguousarray(ids, dtype=np.int64).view(np.uint64) + _GOLDEN_GAMMA
    mixed = (mixed ^ (mixed >> np.uint64(30))) * _MIX_1
    mixed = (mixed ^ (mixed >> np.uint64(27))) * _MIX_2
    return mixed ^ (mixed >> np.uint64(31))


def shard_of(ids: Any, shards: int) -> np.ndarray:
    """Which of ``shards`` shards owns each id: int64 values in ``[0, shards)``.

    Example:
        >>> from flatsearch.sharded import shard_of
        >>> shard_of([0, 1, 2, 3, 4], 4).tolist()
        [3, 1, 2, 1, 2]
    """
    shards = check_positive_int(shards, name="shards")
    ids = check_ids(ids, allow_negative=True).numpy()
    return (splitmix64(ids) % np.uint64(shards)).astype(np.int64)


def empty_result(nq: int, k: int, *, metric: str, device: Any) -> SearchResult:
    """Results with no rows found: ids -1, scores -inf (+inf for l2)."""
    worst = float("inf") if metric == "l2" else float("-inf")
    return SearchResult(torch.full((nq, k), worst, device=device),
                        torch.full((nq, k), -1, dtype=torch.int64, device=device))


# -- shard side --------------------------------------------------------------------------------


class SearchRequest:
    """One search as shards see it: validated (nq, dim) float32 queries, k,
    filter (None, one expression, or a list with one per query) and boost."""

    __slots__ = ("queries", "k", "filter", "boost")

    def __init__(self, queries: Any, k: int, filter: Any, boost: Mapping[str, float] | None):
        self.queries, self.k, self.filter, self.boost = queries, k, filter, boost

    def __reduce__(self):
        return (SearchRequest, (self.queries, self.k, self.filter, self.boost))

    @property
    def nq(self) -> int:
        return int(self.queries.shape[0])

    def boost_key(self) -> str:
        return json.dumps(None if self.boost is None else sorted(self.boost.items()))

    def per_query_filters(self) -> list:
        return list(self.filter) if isinstance(self.filter, list) else [self.filter] * self.nq


def _combined_filter(group: Sequence[SearchRequest]) -> Any:
    """One filter argument for the concatenated queries of ``group``."""
    if len(group) == 1:
        return group[0].filter
    filters = [expr for request in group for expr in request.per_query_filters()]
    keys = {None if expr is None else expr.key() for expr in filters}
    return filters[0] if len(keys) == 1 else filters


def _groups_with_same_boost(requests: Sequence[SearchRequest]) -> list[list[SearchRequest]]:
    groups: list[list[SearchRequest]] = []
    for request in requests:
        if groups and groups[-1][0].boost_key() == request.boost_key():
            groups[-1].append(request)
        else:
            groups.append([request])
    return groups


class ShardServer:
    """One shard: an :class:`fs.Index` and the calls the sharded clients make on it.

    Arguments arrive validated and routed by the client. ``portable=True`` (Ray
    actors) returns CPU tensors, so results can leave the process; otherwise they
    stay on the shard's device.

    Construction: an empty index (``index_kwargs``), a saved shard file
    (``saved_shard``), or the rows of several saved files that hash to shard
    ``shard_no`` of ``shards`` (``reshard_from``, used to change the shard count).
    """

    def __init__(self, dim: int, *, device: str, index_kwargs: Mapping[str, Any] | None = None,
                 portable: bool = False, saved_shard: str | None = None, reshard_from: Sequence[str] = (),
                 shard_no: int = 0, shards: int = 1, manifest_dim: int | None = None):
        self.portable = portable
        if saved_shard is not None:
            self.index = Index.load(saved_shard, device=device)
            _check_shard_file(self.index, saved_shard, shard_no=shard_no, shards=shards, manifest_dim=manifest_dim or dim)
        elif reshard_from:
            self.index = _load_rows_of_shard(reshard_from, shard_no=shard_no, shards=shards, device=device,
                                             manifest_dim=manifest_dim or dim)
        else:
            self.index = Index(dim, device=device, **(index_kwargs or {}))

    @staticmethod
    def _writable(values: Any) -> Any:
        # Arrays that Ray hands an actor are read-only views of its object store,
        # which torch.from_numpy warns about; one copy makes them ordinary arrays.
        if isinstance(values, np.ndarray) and not values.flags.writeable:
            return values.copy()
        if isinstance(values, dict):
            return type(values)({name: ShardServer._writable(column) for name, column in values.items()})
        return values

    def _out(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.cpu() if self.portable else tensor

    # -- reads ----------------------------------------------------------------------------------
    def contains(self, ids: np.ndarray) -> np.ndarray:
        return self.index.contains(np.asarray(ids, dtype=np.int64)).numpy()

    def length(self) -> int:
        return len(self.index)

    def ids(self, filter: Any) -> np.ndarray:
        return self.index.ids(filter=filter).numpy()

    def stats(self) -> dict:
        return self.index.stats()

    def get(self, ids: np.ndarray) -> Rows:
        rows = self.index.get(self._writable(ids))
        return Rows(self._out(rows.vectors), rows.attributes)

    def search_many(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Answer several searches in one call; neighbours with the same boost run
        as one batch, at the largest k of the batch (a top-k list's first j entries
        are its top-j, ties included, since ties are broken by id)."""
        results: list[SearchResult] = []
        for group in _groups_with_same_boost(requests):
            queries = torch.cat([torch.as_tensor(self._writable(request.queries)) for request in group])
            k = max(request.k for request in group)
            if len(self.index):
                batch = self.index.search(queries, k, filter=_combined_filter(group), boost=group[0].boost)
            else:
                # A shard that never held a row has nothing to scan (and Index.search
                # fails on an index that was never filled).
                batch = empty_result(len(queries), k, metric=self.index.metric, device=self.index.device)
            start = 0
            for request in group:
                rows = slice(start, start + request.nq)
                results.append(SearchResult(self._out(batch.scores[rows, :request.k]),
                                            self._out(batch.ids[rows, :request.k])))
                start += request.nq
        return results

    # -- writes ---------------------------------------------------------------------------------
    MUTATIONS = ("add", "upsert", "delete", "set_attributes")

    def apply(self, method: str, token: str, ids: Any, *rest: Any) -> Any:
        """Run one mutation (``add``, ``upsert``, ``delete`` or ``set_attributes``)
        and keep the rows it may change as they were, so that :meth:`undo` with
        the same ``token`` can put them back. The record lasts until the next
        mutation replaces it."""
        if method not in self.MUTATIONS:
            raise ValueError(f"method: expected one of {', '.join(self.MUTATIONS)}, got {method!r}")
        ids = self._writable(ids)
        self._undo = (token, ids, self._rows_of(ids))
        return getattr(self.index, method)(ids, *map(self._writable, rest))

    def undo(self, token: str) -> bool:
        """Put back the rows that the mutation ``token`` changed; False when this
        shard holds no record of that mutation (it never applied it)."""
        record = getattr(self, "_undo", None)
        if record is None or record[0] != token:
            return False
        _, ids, (old_ids, vectors, columns) = record
        index = self.index
        with index._lock.write():
            ids = torch.as_tensor(ids, dtype=torch.int64)
            slots = index._ids.lookup(ids.to(index.device))
            found = slots >= 0
            index._remove(ids[found.cpu()], slots[found])
            index._insert(old_ids, vectors, columns)
        self._undo = None
        return True

    def _rows_of(self, ids: Any) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The stored rows of those ``ids`` that are present: ids, vectors and columns as stored."""
        index = self.index
        ids = torch.as_tensor(ids, dtype=torch.int64)
        with index._lock.read():
            slots = index._ids.lookup(ids.to(index.device))
            found = slots >= 0
            slots = slots[found]
            return (ids[found.cpu()].clone(), index._storage.gather_vectors(slots).clone(),
                    {name: column[slots].cpu() for name, column in index._storage.columns.items()})

    def compact(self) -> None:
        self.index.compact()

    def save(self, path: str) -> int:
        self.index.save(path)
        return len(self.index)


def _load_rows_of_shard(paths: Sequence[str], *, shard_no: int, shards: int, device: str, manifest_dim: int
                        ) -> Index:
    """An Index of the rows in saved files ``paths`` that hash to ``shard_no``.

    The rows are written as one index file and loaded through :meth:`Index.load`,
    so stored vectors come back bit for bit (adding them again would re-normalise
    cosine vectors and could move their last bits)."""
    config, parts = None, []
    for saved_no, path in enumerate(paths):
        config, ids, vectors, columns = load_index(path)
        if config["dim"] != manifest_dim:
            raise ValueError(f"path: {path!r} holds vectors of dim {config['dim']}, the manifest says dim {manifest_dim}")
        _check_routing(ids.numpy(), path, shard_no=saved_no, shards=len(paths))
        mine = torch.from_numpy((splitmix64(ids.numpy()) % np.uint64(shards)).astype(np.int64) == shard_no)
        parts.append((ids[mine], vectors[mine], {name: column[mine] for name, column in columns.items()}))
    ids = torch.cat([part[0] for part in parts])
    vectors = torch.cat([part[1] for part in parts])
    columns = {name: _cat_columns([part[2][name] for part in parts]) for name in parts[0][2]}
    with tempfile.TemporaryDirectory(prefix="flatsearch-reshard-") as folder:
        path = os.path.join(folder, f"shard-{shard_no}.fsx")
        save_index(path, config, ids, vectors, columns)
        return Index.load(path, device=device)


def _cat_columns(columns: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate stored columns; "tags" columns of different widths are padded with nulls."""
    if columns[0].dim() == 1:
        return torch.cat(columns)
    width = max(column.shape[1] for column in columns)
    return torch.cat([torch.nn.functional.pad(column, (0, width - column.shape[1]), value=INT_NULL)
                      for column in columns])


# -- client side -------------------------------------------------------------------------------


class ShardWriteError(RuntimeError):
    """A mutation failed on some shard; the shards that had applied their part undid it.

    Attributes:
        failed: ``{shard: exception}`` of the shards whose part failed.
        rolled_back: shards that had applied their part and undid it.
        not_rolled_back: ``{shard: exception}`` of shards that applied their part
            but could not undo it (empty when the index is as before the call).
        consistent: True when every shard that answered is as before the call.
    """

    def __init__(self, method: str, shards: int, failed: Mapping[int, BaseException], *,
                 rolled_back: Sequence[int], not_rolled_back: Mapping[int, BaseException]):
        self.failed, self.rolled_back = dict(failed), list(rolled_back)
        self.not_rolled_back = dict(not_rolled_back)
        self.consistent = not self.not_rolled_back
        shard, cause = next(iter(self.failed.items()))
        undone = (f"shards {self.rolled_back} had applied their part and rolled it back" if self.rolled_back else
                  "no other shard had applied its part")
        state = (f"{undone}, so every shard that answers holds what it held before the call" if self.consistent else
                 f"shards {sorted(self.not_rolled_back)} applied their part and could not roll it back "
                 f"({next(iter(self.not_rolled_back.values()))}); shards {self.rolled_back} rolled back")
        first_line = str(cause).splitlines()[0] if str(cause) else ""
        super().__init__(f"{method} failed on shard(s) {sorted(self.failed)} of {shards} "
                         f"({type(cause).__name__}: {first_line}); {state}")



class ShardUnavailableError(RuntimeError):
    """A shard's process (a Ray actor) died or cannot be reached; its rows cannot be served.

    Attributes:
        shard: number of the shard (0-based).
    """

    def __init__(self, shard: int, shards: int, actor_id: str, cause: BaseException):
        self.shard, self.cause = shard, cause
        super().__init__(
            f"shard {shard} of {shards} (Ray actor {actor_id}) is unavailable, so its rows cannot be served: "
            f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''} -- the other shards are "
            f"intact; restore from the last save (RayIndex.load), or pass allow_partial=True to RayIndex to get "
            f"searches over the remaining shards flagged as PartialSearchResult")


class PartialSearchResult(SearchResult):
    """Search results that miss the rows of unavailable shards (``missing_shards``).

    Returned instead of a :class:`fs.SearchResult` only by an index created with
    ``allow_partial=True`` when some shard could not answer; unpacks like one.
    """

    def __new__(cls, scores: torch.Tensor, ids: torch.Tensor, missing_shards: Sequence[int] = ()):
        result = super().__new__(cls, scores, ids)
        result.missing_shards = tuple(missing_shards)
        return result

    @property
    def partial(self) -> bool:
        return True


class ShardTransport(Protocol):
    """How :class:`ShardedIndex` reaches its shards: one :class:`ShardServer` per
    shard, in this process (:class:`LocalShards`) or in Ray actors
    (:class:`flatsearch.distributed.RayShards`).

    A transport only runs calls; routing, validation, all-or-nothing writes,
    merging, locking and persistence live in ShardedIndex, once.
    """

    #: one device name per shard (what the shard's Index runs on)
    devices: list[str]
    #: where results arrive in this process
    result_device: torch.device
    #: whether concurrent searches should share one call per shard (worth it when a call is a round trip)
    coalesce_searches: bool

    def to_wire(self, values: torch.Tensor) -> Any:
        """A tensor in the form it is sent to a shard."""

    def call_each(self, calls: Mapping[int, tuple[str, tuple]]) -> tuple[dict[int, Any], dict[int, BaseException]]:
        """Run ``{shard: (method, args)}`` on the shard servers, all at once, and
        wait for every one; return ``({shard: result}, {shard: exception})``. A
        shard that cannot be reached fails with :class:`ShardUnavailableError`."""

    def close(self) -> None:
        """Stop the shards."""


class LocalShards:
    """Shard servers in this process, called from one thread per shard.

    Example:
        >>> from flatsearch.sharded import LocalShards, ShardedIndex
        >>> shards = LocalShards.start(2, ["cpu", "cpu"], [{"index_kwargs": {"metric": "l2"}}] * 2)
        >>> ShardedIndex(2, transport=shards, metric="l2").shards
        2
    """

    coalesce_searches = False

    def __init__(self, servers: Sequence[ShardServer], devices: Sequence[str]):
        self.servers = list(servers)
        self.devices = [str(device) for device in devices]
        self._pool = ThreadPoolExecutor(max_workers=len(self.servers), thread_name_prefix="flatsearch-shard")

    @classmethod
    def start(cls, dim: int, devices: Sequence[str], arguments: Sequence[Mapping[str, Any]], *,
              server_class: type[ShardServer] = ShardServer) -> "LocalShards":
        """One ``server_class(dim, device=devices[i], **arguments[i])`` per shard."""
        if len(arguments) != len(devices):
            raise ValueError(f"arguments: expected one mapping per device ({len(devices)}), got {len(arguments)}")
        return cls([server_class(dim, device=device, **shard_arguments)
                    for device, shard_arguments in zip(devices, arguments)], devices)

    @property
    def result_device(self) -> torch.device:
        return torch.device(self.devices[0])

    def to_wire(self, values: torch.Tensor) -> Any:
        return values

    def call_each(self, calls: Mapping[int, tuple[str, tuple]]) -> tuple[dict[int, Any], dict[int, BaseException]]:
        if len(calls) <= 1:
            futures = {}
            for shard, (method, args) in calls.items():
                future: Future = Future()
                try:
                    future.set_result(getattr(self.servers[shard], method)(*args))
                except Exception as error:
                    future.set_exception(error)
                futures[shard] = future
        else:
            futures = {shard: self._pool.submit(getattr(self.servers[shard], method), *args)
                       for shard, (method, args) in calls.items()}
        results, failures = {}, {}
        for shard, future in futures.items():
            if future.exception() is not None:
                failures[shard] = future.exception()
            else:
                results[shard] = future.result()
        return results, failures

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class SearchCoalescer:
    """Combines searches that arrive while others are in flight into one call per shard.

    The first caller runs its batch at once; callers that arrive meanwhile queue,
    and when the running batch returns, one of them sends the whole queue. A lone
    search therefore waits for nothing, and under load each shard sees one call
    per round trip instead of one per search.
    """

    def __init__(self, run_batch: Callable[[list], list]):
        self._run_batch = run_batch
        self._lock = threading.Lock()
        self._queue: list[tuple[Any, Future]] = []
        self._sending = False

    def submit(self, request: Any) -> Any:
        future: Future = Future()
        with self._lock:
            self._queue.append((request, future))
            sends_now = not self._sending
            self._sending = True
        if sends_now:
            self._send_until_empty()
        return future.result()

    def _send_until_empty(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._sending = False
                    return
            try:
                self._answer(batch)
            except BaseException as error:  # never leave a waiting caller hanging
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise

    def _answer(self, batch: list[tuple[Any, Future]]) -> None:
        try:
            results = self._run_batch([request for request, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            # One bad request must not fail the others: answer each alone.
            for request, future in batch:
                try:
                    future.set_result(self._run_batch([request])[0])
                except Exception as single_error:
                    future.set_exception(single_error)
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)


def _shard_devices(shards: Any, devices: Any, device: Any) -> list[str]:
    """One device name per shard from the ``shards`` / ``devices`` / ``device`` arguments."""
    if devices is not None:
        if device is not None:
            raise ValueError(f"device: expected None when devices is given (one shard per listed device), got {device!r}")
        if isinstance(devices, (str, torch.device)) or not isinstance(devices, Sequence) or not devices:
            raise TypeError(f"devices: expected a non-empty list of devices, got {describe(devices)}")
        if shards is not None and check_positive_int(shards, name="shards") != len(devices):
            raise ValueError(f"shards: expected {len(devices)} (one per listed device) or None, got {shards}")
        return [str(name) for name in devices]
    if shards is None:
        if device is None and torch.cuda.is_available():
            return [f"cuda:{gpu}" for gpu in range(torch.cuda.device_count())]
        shards = 1
    return [str(device or "cpu")] * check_positive_int(shards, name="shards")


def _json_ready(index_kwargs: Mapping[str, Any]) -> dict:
    """index_kwargs in JSON form for the manifest (dtypes by name)."""
    converted = {name: str(value).removeprefix("torch.") if isinstance(value, torch.dtype) else value
                 for name, value in index_kwargs.items()}
    try:
        json.dumps(converted)
    except TypeError as error:
        raise TypeError(f"index_kwargs: expected JSON-serialisable values, got {error}") from None
    return converted


def _take(values: Any, positions: np.ndarray) -> Any:
    """Rows ``positions`` of a user column or matrix, keeping its container type."""
    if isinstance(values, np.ndarray):
        return values[positions]
    if isinstance(values, torch.Tensor):
        return values[torch.from_numpy(positions).to(values.device)]
    return [values[position] for position in positions.tolist()]


class ShardedIndex:
    """The :class:`fs.Index` API over several shards, one per device.

    Args:
        dim: vector dimension.
        shards: number of shards, all on ``device`` (default "cpu").
        devices: one shard per listed device, e.g. ``["cuda:0", "cuda:1"]``.
            With neither ``shards`` nor ``devices``: one shard per visible GPU,
            or one CPU shard.
        transport: shards already started (a :class:`ShardTransport`, e.g.
            :class:`LocalShards` or :class:`flatsearch.distributed.RayShards`),
            instead of ``shards`` / ``devices`` / ``device``; their shard
            servers must have been built with the same ``index_kwargs``.
        allow_partial: when a shard is unavailable (a dead Ray actor), return
            searches over the other shards as :class:`PartialSearchResult`
            instead of raising :class:`ShardUnavailableError`. Mutations and
            ``get`` always raise. Shards in this process never become unavailable.
        index_kwargs: as for :class:`fs.Index` (metric, dtype, partition_size,
            attributes, partition_by, backend, device).

    Ids are routed by :func:`shard_of`. Results are on the first shard's device.
    A mutation is validated completely (ids already present on any shard
    included) before any shard changes, so a rejected call leaves the index as it
    was; a search sees each mutation either wholly applied or not at all. A
    mutation that fails on a shard anyway (out of memory, a dead Ray actor) is
    undone on the shards that had applied their part, and raises
    :class:`ShardWriteError` saying which shards failed and what state the others
    are in. ``len``, ``stats`` and every read take the same lock as searches.

    Example:
        >>> import numpy as np, flatsearch as fs
        >>> from flatsearch.sharded import ShardedIndex
        >>> index = ShardedIndex(4, shards=3, attributes={"remote": "bool"})
        >>> vectors = np.eye(4, dtype=np.float32)
        >>> index.add([10, 11, 12, 13], vectors, {"remote": [True, False, True, False]})
        >>> index.search(vectors[2] + vectors[0] / 2, k=2).ids.tolist()
        [[12, 10]]
        >>> index.search(vectors[2], k=1, filter=fs.col("remote") == False).ids.tolist()
        [[11]]
        >>> len(index), 13 in index, index.delete([13, 99])
        (4, True, 1)
    """

    def __init__(self, dim: int, *, shards: int | None = None, devices: Sequence[str] | None = None,
                 transport: ShardTransport | None = None, allow_partial: bool = False, **index_kwargs: Any):
        dim = check_positive_int(dim, name="dim")
        if not isinstance(allow_partial, bool):
            raise TypeError(f"allow_partial: expected True or False, got {describe(allow_partial)}")
        if transport is None:
            devices = _shard_devices(shards, devices, index_kwargs.pop("device", None))
            _json_ready(index_kwargs)
            transport = LocalShards.start(dim, devices, [{"index_kwargs": index_kwargs}] * len(devices))
        else:
            placement = {"shards": shards, "devices": devices, "device": index_kwargs.get("device")}
            given = {name: value for name, value in placement.items() if value is not None}
            if given:
                raise ValueError(f"transport: the transport places the shards, so shards, devices and device must "
                                 f"be None, got {given}")
            _json_ready(index_kwargs)
        self.dim = dim
        self.devices = list(transport.devices)
        self.index_kwargs = dict(index_kwargs)
        self.allow_partial = allow_partial
        self.metric = self.index_kwargs.get("metric", "ip")
        self._schema = Schema.from_user(self.index_kwargs.get("attributes"))
        dtype = self.index_kwargs.get("dtype")
        self._checks = Checks(dim=dim, metric=self.metric, schema=self._schema,
                              dtypes=[_check_dtype(dtype, torch.device(device)) for device in self.devices])
        self._shards = transport
        self._lock = ReadWriteLock()
        # Where a call is a round trip (Ray), concurrent searches share one call per shard.
        self._coalescer = (SearchCoalescer(lambda requests: self._search_requests(requests))
                           if transport.coalesce_searches else None)

    @property
    def shards(self) -> int:
        """Number of shards."""
        return len(self.devices)

    @property
    def result_device(self) -> torch.device:
        """Where search results and :meth:`get` vectors are returned."""
        return self._shards.result_device

    def close(self) -> None:
        """Release the shards (threads, or Ray actors with their rows); the index is unusable afterwards."""
        self._shards.close()

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, shards={self.shards}, rows={len(self)})"

    # -- routing --------------------------------------------------------------------------------
    def _positions_by_shard(self, ids: np.ndarray) -> dict[int, np.ndarray]:
        """Positions in ``ids`` of each shard's ids, for shards that own any."""
        owners = (splitmix64(ids) % np.uint64(self.shards)).astype(np.int64)
        order = np.argsort(owners, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(owners, minlength=self.shards))])
        return {shard: order[bounds[shard]:bounds[shard + 1]]
                for shard in range(self.shards) if bounds[shard + 1] > bounds[shard]}

    def _call(self, calls: Mapping[int, tuple[str, tuple]], *, allow_missing: bool = False
              ) -> tuple[dict[int, Any], tuple[int, ...]]:
        """Run ``{shard: (method, args)}``; return ``({shard: result}, unavailable shards)``.

        Every call finishes before an error is raised, so none is left running. An
        error raised by a shard is raised as itself; an unavailable shard raises
        :class:`ShardUnavailableError` unless ``allow_missing``."""
        results, failures = self._shards.call_each(calls)
        unavailable = {shard: error for shard, error in failures.items() if isinstance(error, ShardUnavailableError)}
        raised = [error for shard, error in failures.items() if shard not in unavailable]
        if raised:
            raise raised[0]
        if unavailable and not allow_missing:
            raise next(iter(unavailable.values()))
        return results, tuple(sorted(unavailable))

    def _call_all(self, method: str, *args: Any) -> list:
        results, _ = self._call({shard: (method, args) for shard in range(self.shards)})
        return [results[shard] for shard in range(self.shards)]

    def _present(self, ids: np.ndarray, positions: Mapping[int, np.ndarray]) -> np.ndarray:
        found, _ = self._call({shard: ("contains", (ids[where],)) for shard, where in positions.items()})
        present = np.zeros(ids.shape[0], dtype=bool)
        for shard, where in positions.items():
            present[where] = found[shard]
        return present

    def _send_rows(self, method: str, ids: np.ndarray, vectors: torch.Tensor | None, columns: Any) -> dict[int, Any]:
        """Send each shard its slice of ids, vectors and the user's attribute columns, all or nothing."""
        calls = {}
        for shard, where in self._positions_by_shard(ids).items():
            part = () if columns is None and vectors is None else (
                None if columns is None else StoredColumns({name: _take(values, where)
                                                            for name, values in columns.items()}),)
            rows = (ids[where],) if vectors is None else (ids[where], self._shards.to_wire(vectors[torch.from_numpy(where)]))
            calls[shard] = rows + part
        return self._apply_everywhere(method, calls)

    def _apply_everywhere(self, method: str, arguments: Mapping[int, tuple]) -> dict[int, Any]:
        """Run one mutation on several shards, all or nothing: when any shard fails,
        the shards that applied their part undo it, and :class:`ShardWriteError`
        says which shards failed and whether every other shard is as before."""
        token = uuid.uuid4().hex
        results, failures = self._shards.call_each(
            {shard: ("apply", (method, token) + args) for shard, args in arguments.items()})
        if not failures:
            return results
        undone, undo_failures = self._shards.call_each({shard: ("undo", (token,)) for shard in results})
        raise ShardWriteError(method, self.shards, failures, rolled_back=sorted(undone),
                              not_rolled_back=undo_failures) from next(iter(failures.values()))

    # -- mutations ------------------------------------------------------------------------------
    def _check_rows(self, ids: Any, vectors: Any, attributes: Any) -> tuple[np.ndarray, torch.Tensor, dict]:
        """The checks of :meth:`fs.Index.add` for every shard's storage dtype; the
        vectors (float32, as given) and converted columns are what the shards get."""
        ids, vectors, _, columns = self._checks.rows(ids, vectors, attributes)
        return ids.numpy(), vectors.cpu(), columns

    def add(self, ids: Any, vectors: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """Insert new rows; an id already present on any shard rejects the whole batch.

        Same arguments and checks as :meth:`fs.Index.add`."""
        ids, vectors, columns = self._check_rows(ids, vectors, attributes)
        with self._lock.write():
            present = self._present(ids, self._positions_by_shard(ids))
            if present.any():
                raise ValueError(f"ids: expected ids not already in the index, got {int(ids[present][0])} "
                                 f"which is present (use upsert to replace rows)")
            self._send_rows("add", ids, vectors, columns)

    def upsert(self, ids: Any, vectors: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """Insert rows or replace present ones, as :meth:`fs.Index.upsert`; each id
        touches only its owning shard."""
        ids, vectors, columns = self._check_rows(ids, vectors, attributes)
        with self._lock.write():
            self._send_rows("upsert", ids, vectors, columns)

    def delete(self, ids: Any) -> int:
        """Remove rows; unknown ids are skipped. Returns how many were removed."""
        ids = self._checks.delete_ids(ids).numpy()
        with self._lock.write():
            removed = self._send_rows("delete", ids, None, None)
        return int(sum(removed.values()))

    def set_attributes(self, ids: Any, columns: Mapping[str, Any]) -> None:
        """Change attribute values in place, as :meth:`fs.Index.set_attributes`."""
        ids, columns = self._checks.attribute_update(ids, columns)
        ids = ids.numpy()
        with self._lock.write():
            present = self._present(ids, self._positions_by_shard(ids))
            if not present.all():
                raise KeyError(f"ids: {int(ids[~present][0])} is not in the index")
            self._send_rows("set_attributes", ids, None, columns)

    def compact(self) -> None:
        """Compact every shard (see :meth:`fs.Index.compact`)."""
        with self._lock.write():
            self._call_all("compact")

    # -- reads ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock.read():
            return int(sum(self._call_all("length")))

    def __contains__(self, id_: Any) -> bool:
        if isinstance(id_, bool) or not isinstance(id_, numbers.Integral):
            return False
        return bool(self.contains([int(id_)])[0])

    def contains(self, ids: Any) -> torch.Tensor:
        """Whether each id is in the index, as a bool tensor (CPU), as :meth:`fs.Index.contains`.

        Example:
            >>> import numpy as np
            >>> from flatsearch.sharded import ShardedIndex
            >>> index = ShardedIndex(2, shards=2)
            >>> index.add([1, 2], np.eye(2))
            >>> index.contains([2, 3]).tolist()
            [True, False]
        """
        ids = check_ids(ids, allow_negative=True).numpy()
        with self._lock.read():
            return torch.from_numpy(self._present(ids, self._positions_by_shard(ids)))

    def ids(self, *, filter: Any = None) -> torch.Tensor:
        """Ids of the live rows of every shard, ascending (CPU int64 tensor); with ``filter``, only those passing it (as :meth:`fs.Index.ids`).

        Example:
            >>> import numpy as np, flatsearch as fs
            >>> from flatsearch.sharded import ShardedIndex
            >>> index = ShardedIndex(2, shards=2, attributes={"pay": "float"})
            >>> index.add([5, 1, 3], np.eye(3, 2), attributes={"pay": [10.0, 20.0, 30.0]})
            >>> index.ids().tolist(), index.ids(filter=fs.col("pay") >= 20).tolist()
            ([1, 3, 5], [1, 3])
        """
        if filter is not None:
            filter = self._checks.filter(filter)
        with self._lock.read():
            parts = self._call_all("ids", filter)
        return torch.from_numpy(np.sort(np.concatenate([np.asarray(part, dtype=np.int64) for part in parts])))

    def get(self, ids: Any) -> Rows:
        """Stored vectors and attribute values of the ids, in the order given (as :meth:`fs.Index.get`)."""
        ids = check_ids(ids, allow_negative=True).numpy()
        positions = self._positions_by_shard(ids)
        with self._lock.read():
            present = self._present(ids, positions)
            if not present.all():
                raise KeyError(f"ids: {int(ids[~present][0])} is not in the index")
            parts, _ = self._call({shard: ("get", (ids[where],)) for shard, where in positions.items()})
        dtype = next(iter(parts.values())).vectors.dtype if parts else torch.float32
        vectors = torch.empty((len(ids), self.dim), dtype=dtype, device=self.result_device)
        attributes: dict[str, list] = {name: [None] * len(ids) for name in self._schema.kinds}
        for shard, where in positions.items():
            vectors[torch.from_numpy(where).to(self.result_device)] = parts[shard].vectors.to(self.result_device)
            for name, values in parts[shard].attributes.items():
                for position, value in zip(where.tolist(), values):
                    attributes[name][position] = value
        return Rows(vectors, attributes)

    def stats(self) -> dict:
        """Every shard's :meth:`fs.Index.stats` (``per_shard``), with counts summed
        and ``shards`` added; a text field shared by all shards is kept as is."""
        with self._lock.read():
            per_shard = self._call_all("stats")
        combined: dict[str, Any] = {"shards": self.shards}
        for name, value in per_shard[0].items():
            values = [stats[name] for stats in per_shard]
            if isinstance(value, numbers.Number):
                combined[name] = sum(values)
            elif all(other == value for other in values):
                combined[name] = value
        combined["per_shard"] = per_shard
        return combined

    def search(self, queries: Any, k: int, *, filter: Any = None, boost: Mapping[str, float] | None = None
               ) -> SearchResult:
        """Exact top-k over all shards with the arguments and result of :meth:`fs.Index.search`.

        Over Ray actors, concurrent calls share one call per shard; with
        ``allow_partial=True`` and an unavailable shard, the result is a
        :class:`PartialSearchResult` over the other shards."""
        request = self._request(queries, k, filter, boost)
        if self._coalescer is not None:
            return self._coalescer.submit(request)
        return self._search_requests([request])[0]

    def _request(self, queries: Any, k: int, filter: Any, boost: Any) -> SearchRequest:
        """Validate a search here, so bad input fails before reaching any shard."""
        queries = self._checks.queries(queries)[0].cpu()
        k = self._checks.k(k)
        filter = self._checks.filters(filter, len(queries))
        boost = self._checks.boost(boost) or None
        return SearchRequest(self._shards.to_wire(queries), k, filter, boost)

    def _search_requests(self, requests: Sequence[SearchRequest]) -> list[SearchResult]:
        """Answer requests with one call per shard and merge each request's answers."""
        batch = list(requests)  # one object for every shard, so Ray stores it once
        with self._lock.read():
            answers, missing = self._call({shard: ("search_many", (batch,)) for shard in range(self.shards)},
                                          allow_missing=self.allow_partial)
        merged = []
        for position, request in enumerate(requests):
            per_shard = [answers[shard][position] for shard in sorted(answers)]
            if per_shard:
                result = merge_results([SearchResult(r.scores.to(self.result_device), r.ids.to(self.result_device))
                                        for r in per_shard], request.k, metric=self.metric)
            else:
                result = empty_result(request.nq, request.k, metric=self.metric, device=self.result_device)
            merged.append(PartialSearchResult(result.scores, result.ids, missing) if missing else result)
        return merged

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Save every shard and a JSON manifest into the folder ``path``.

        Shards are written into a new generation folder first; then the manifest,
        which names that folder, replaces the previous one by an atomic rename. A
        save interrupted at any point leaves the previous save loadable. Saves to
        one folder (from any thread or process) run one at a time, holding the
        lock file ``.flatsearch.lock`` there; a successful save then removes the
        previous generation and whatever interrupted saves left behind.

        Example:
            >>> import tempfile, numpy as np
            >>> from flatsearch.sharded import ShardedIndex
            >>> index = ShardedIndex(2, shards=2)
            >>> index.add(np.arange(6), np.random.default_rng(0).normal(size=(6, 2)))
            >>> folder = tempfile.mkdtemp()
            >>> index.save(folder)
            >>> ShardedIndex.load(folder).shards, ShardedIndex.load(folder, shards=3).shards
            (2, 3)
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a folder path, got {describe(path)}")
        root = Path(path).absolute()  # shard servers may run in processes with another working folder
        if root.exists() and not root.is_dir():
            raise ValueError(f"path: expected a folder (or a new path) for a sharded index, got the file {str(root)!r}")
        manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "routing": ROUTING, "dim": self.dim,
                    "devices": self.devices, "index_kwargs": _json_ready(self.index_kwargs)}
        root.mkdir(parents=True, exist_ok=True)
        with _folder_lock(root):  # saves to one folder run one at a time
            generation = f"generation-{uuid.uuid4().hex}"
            shard_files = [f"{generation}/shard-{shard:04d}.fsx" for shard in range(self.shards)]
            (root / generation).mkdir()
            try:
                with self._lock.read():
                    rows = self._call_all_with_args("save", [(str(root / name),) for name in shard_files])
                manifest.update(shard_files=shard_files, rows=rows)
                temporary = root / f".{MANIFEST_NAME}.{generation}.tmp"
                with open(temporary, "w") as handle:
                    json.dump(manifest, handle, indent=1)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, root / MANIFEST_NAME)
            except BaseException:
                shutil.rmtree(root / generation, ignore_errors=True)
                raise
            _remove_unreferenced(root, generation)

    def _call_all_with_args(self, method: str, args: Sequence[tuple]) -> list:
        results, _ = self._call({shard: (method, args[shard]) for shard in range(self.shards)})
        return [results[shard] for shard in range(self.shards)]

    @staticmethod
    def read_manifest(path: str | os.PathLike) -> dict:
        """The manifest of a saved sharded index, checked for format and version."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a folder path, got {describe(path)}")
        manifest_path = Path(path) / MANIFEST_NAME
        if not manifest_path.is_file():
            raise FileNotFoundError(f"path: expected a saved sharded index (a folder with {MANIFEST_NAME}), got {str(path)!r}")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"path: {str(manifest_path)!r} is not a sharded index manifest ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"path: expected a {MANIFEST_FORMAT!r} manifest in {str(manifest_path)!r}, "
                             f"got {describe(manifest)}")
        if manifest.get("version") != MANIFEST_VERSION or manifest.get("routing") != ROUTING:
            raise ValueError(f"path: expected manifest version {MANIFEST_VERSION} with {ROUTING} routing, got "
                             f"version {manifest.get('version')!r} with {manifest.get('routing')!r}")
        _check_manifest(manifest, Path(path), f"path: {str(manifest_path)!r}")
        missing = [name for name in manifest["shard_files"] if not (Path(path) / name).is_file()]
        if missing:
            raise FileNotFoundError(f"path: the manifest lists shard files that are missing: {missing}")
        return manifest

    @classmethod
    def load(cls, path: str | os.PathLike, *, shards: int | None = None, devices: Sequence[str] | None = None
             ) -> "ShardedIndex":
        """Load a saved sharded index in its saved layout, or re-sharded into
        ``shards`` shards (on the first saved device) or one per listed device.

        Re-sharding moves each row to the shard its id hashes to under the new count.
        """
        def start(manifest: Mapping[str, Any]) -> LocalShards:
            placed = manifest["devices"] if shards is None and devices is None else devices
            chosen = _shard_devices(shards, placed, None if placed is not None else manifest["devices"][0])
            return LocalShards.start(manifest["dim"], chosen, _restore_arguments(path, manifest, len(chosen)))

        return load_saved(path, start, lambda manifest, transport: ShardedIndex(
            manifest["dim"], transport=transport, **manifest["index_kwargs"]))


def load_saved(path: str | os.PathLike, start: Callable[[Mapping[str, Any]], ShardTransport],
               build: Callable[[Mapping[str, Any], ShardTransport], ShardedIndex]) -> ShardedIndex:
    """Load a save through any transport: ``start(manifest)`` starts shard servers
    from the files (with :func:`_restore_arguments`) while the folder's lock is
    held, ``build(manifest, transport)`` makes the index over them, and the row
    counts are checked against the manifest."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a folder path, got {describe(path)}")
    with _folder_lock(Path(path), reading=True):  # the shards have read their files when start returns
        manifest = ShardedIndex.read_manifest(path)
        transport = start(manifest)
    try:
        index = build(manifest, transport)
        _check_restored_rows(index, manifest)
    except BaseException:
        transport.close()
        raise
    return index


@contextlib.contextmanager
def _folder_lock(root: Path, *, reading: bool = False):
    """Hold the lock file of a saved folder (``.flatsearch.lock``): saves, and loads
    that can create the lock file, run one at a time, so a load never reads a
    generation that a concurrent save is deleting. A load from a folder it cannot
    write to (read-only storage) runs without the lock."""
    lock = None
    if not reading or (root / MANIFEST_NAME).is_file():
        try:
            lock = FileLock(str(root / LOCK_NAME))
            lock.acquire()
        except OSError:
            if not reading:
                raise
            lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _remove_unreferenced(root: Path, generation: str) -> None:
    """Delete what no manifest names any more: the previous save's generation, and
    generation folders and manifest temporaries that interrupted saves left behind.

    Runs while holding the folder's lock, right after the manifest naming
    ``generation`` was put in place, so no other save is writing into the folder."""
    for entry in root.iterdir():
        if entry.name.startswith("generation-") and entry.name != generation and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f".{MANIFEST_NAME}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


MANIFEST_KEYS = ("format", "version", "routing", "dim", "devices", "index_kwargs", "shard_files", "rows")
INDEX_KWARGS_KEYS = ("metric", "dtype", "partition_size", "attributes", "partition_by", "backend")
_SHARD_FILE = re.compile(r"generation-[0-9a-f]{1,64}/shard-[0-9]{4,}\.fsx")


def _check_manifest(manifest: Mapping[str, Any], root: Path, where: str) -> None:
    """Keys from an allow-list, values of the right types, shard files inside ``root``."""
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    missing = sorted(set(MANIFEST_KEYS) - set(manifest))
    if unknown or missing:
        raise ValueError(f"{where} is damaged: unexpected keys {unknown} or missing keys {missing}")
    kwargs = manifest["index_kwargs"]
    if not isinstance(kwargs, dict) or set(kwargs) - set(INDEX_KWARGS_KEYS):
        raise ValueError(f"{where} is damaged: index_kwargs keys must come from {', '.join(INDEX_KWARGS_KEYS)}, "
                         f"got {describe(kwargs)}")
    dim = manifest["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"{where} is damaged: expected a positive int dim, got {describe(dim)}")
    files = manifest["shard_files"]
    if not isinstance(files, list) or not files or not all(isinstance(name, str) for name in files):
        raise ValueError(f"{where} is damaged: expected shard_files to be a non-empty list of names, "
                         f"got {describe(files)}")
    inside = root.resolve()
    for name in files:
        resolved = (root / name).resolve()
        if not _SHARD_FILE.fullmatch(name) or resolved.parent.parent != inside:
            raise ValueError(f"{where} is damaged: shard file {name!r} is not a generation-*/shard-*.fsx file "
                             f"inside the saved folder {str(inside)!r}")
    if len(set(files)) != len(files):
        raise ValueError(f"{where} is damaged: a shard file is listed twice in {files}")
    devices, rows = manifest["devices"], manifest["rows"]
    if not isinstance(devices, list) or len(devices) != len(files) or not all(isinstance(d, str) for d in devices):
        raise ValueError(f"{where} is damaged: expected one device per shard file ({len(files)}), got "
                         f"{describe(devices)}")
    if (not isinstance(rows, list) or len(rows) != len(files)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in rows)):
        raise ValueError(f"{where} is damaged: expected one row count per shard file ({len(files)}), got "
                         f"{describe(rows)}")


def _check_shard_file(index: Index, path: str, *, shard_no: int, shards: int, manifest_dim: int) -> None:
    """A saved shard must match its manifest and hold only ids that route to it."""
    if index.dim != manifest_dim:
        raise ValueError(f"path: {path!r} holds vectors of dim {index.dim}, the manifest says dim {manifest_dim}")
    _check_routing(index.ids().numpy(), path, shard_no=shard_no, shards=shards)


def _check_routing(ids: np.ndarray, path: str, *, shard_no: int, shards: int) -> None:
    owners = (splitmix64(ids) % np.uint64(shards)).astype(np.int64)
    wrong = owners != shard_no
    if wrong.any():
        raise ValueError(f"path: {path!r} is listed as shard {shard_no} of {shards} but holds ids that belong to "
                         f"shard {int(owners[wrong][0])} (id {int(ids[wrong][0])}): were shard files swapped?")


def _restore_arguments(path: Any, manifest: Mapping[str, Any], shards: int) -> list[dict]:
    """ShardServer arguments that rebuild each of ``shards`` shards from a save."""
    files = [str(Path(path).absolute() / name) for name in manifest["shard_files"]]
    if shards == len(files):
        return [{"saved_shard": name, "shard_no": shard, "shards": shards, "manifest_dim": manifest["dim"]}
                for shard, name in enumerate(files)]
    return [{"reshard_from": files, "shard_no": shard, "shards": shards, "manifest_dim": manifest["dim"]}
            for shard in range(shards)]


def _check_restored_rows(index: ShardedIndex, manifest: Mapping[str, Any]) -> None:
    expected = sum(manifest["rows"])
    if len(index) != expected:
        raise ValueError(f"path: the manifest lists {expected} rows but the shard files hold {len(index)}")
