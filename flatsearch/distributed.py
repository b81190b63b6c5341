"""A sharded index whose shards are Ray actors, on one machine or across a cluster.

Each shard is a :class:`flatsearch.sharded.ShardServer` running as a Ray actor
(on a GPU of its own when the cluster has GPUs); :class:`RayIndex` is a
:class:`flatsearch.sharded.ShardedIndex` whose calls go to those actors, so
routing, validation, exact merging and save/load are the same code.

Ray is imported when a RayIndex is created, never by ``import flatsearch``;
install it with ``pip install flatsearch[distributed]``. Every node must be able
to import flatsearch, and ``save`` / ``load`` paths must be on storage that every
node sees (a shared file system).
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ._validation import check_choice, check_positive_int, describe
from .backends import BACKENDS
from .index import Index
from .results import SearchResult
from .sharded import (ShardedIndex, ShardServer, _check_restored_rows, _folder_lock, _json_ready,
                      _restore_arguments)


class ShardUnavailableError(RuntimeError):
    """A shard's actor died or cannot be reached; its rows cannot be served.

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

    Returned instead of a :class:`fs.SearchResult` only by a RayIndex created with
    ``allow_partial=True`` when some shard could not answer; unpacks like one.
    """

    def __new__(cls, scores: torch.Tensor, ids: torch.Tensor, missing_shards: Sequence[int] = ()):
        result = super().__new__(cls, scores, ids)
        result.missing_shards = tuple(missing_shards)
        return result

    @property
    def partial(self) -> bool:
        return True


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("RayIndex needs Ray: pip install 'flatsearch[distributed]'") from None
    return ray


class RayShards:
    """Runs calls on shard actors and gathers them, naming any shard that died."""

    def __init__(self, ray: Any, actors: Sequence[Any]):
        self.ray = ray
        self.actors = list(actors)

    def call(self, calls: Mapping[int, tuple[str, tuple]], *, allow_missing: bool = False
             ) -> tuple[dict[int, Any], tuple[int, ...]]:
        """Run ``{shard: (method, args)}`` on the actors; return ``({shard: result}, missing shards)``.

        An argument object shared by several calls is put in the object store
        once. Every call finishes before an error is raised."""
        results, failures = self.call_each(calls)
        unavailable = {shard: error for shard, error in failures.items() if isinstance(error, ShardUnavailableError)}
        raised = [error for shard, error in failures.items() if shard not in unavailable]
        if raised:
            raise raised[0]
        if unavailable and not allow_missing:
            raise next(iter(unavailable.values()))
        return results, tuple(sorted(unavailable))

    def call_each(self, calls: Mapping[int, tuple[str, tuple]]) -> tuple[dict[int, Any], dict[int, BaseException]]:
        """Run ``{shard: (method, args)}`` on the actors; return ``({shard: result}, {shard: exception})``.

        A dead actor's exception is a :class:`ShardUnavailableError`; an exception
        raised inside an actor is returned as itself, noting the shard."""
        ray = self.ray
        uses = Counter(id(argument) for _, args in calls.values() for argument in args)
        stored: dict[int, Any] = {}

        def sendable(argument: Any) -> Any:
            if uses[id(argument)] < 2:
                return argument
            if id(argument) not in stored:
                stored[id(argument)] = ray.put(argument)
            return stored[id(argument)]

        references = {shard: getattr(self.actors[shard], method).remote(*map(sendable, args))
                      for shard, (method, args) in calls.items()}
        results, failures = {}, {}
        for shard, reference in references.items():
            try:
                results[shard] = ray.get(reference)
            except ray.exceptions.RayActorError as error:
                failures[shard] = ShardUnavailableError(shard, len(self.actors), self.actors[shard]._actor_id.hex(),
                                                        error)
            except ray.exceptions.RayTaskError as error:
                cause = getattr(error, "cause", None)
                if isinstance(cause, Exception):
                    cause.add_note(f"(raised by shard {shard} of {len(self.actors)})")
                    failures[shard] = cause
                else:
                    failures[shard] = error
        return results, failures

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


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


def _check_index_kwargs(dim: int, index_kwargs: Mapping[str, Any]) -> None:
    """Reject bad index arguments here: an actor whose constructor fails reports
    only a traceback text, not the exception."""
    _json_ready(index_kwargs)
    check_choice(index_kwargs.get("backend", "auto"), name="backend", choices=BACKENDS)
    Index(dim, device="cpu", **{name: value for name, value in index_kwargs.items() if name != "backend"})


def _actor_options(ray: Any, shards: int, device: str | None) -> tuple[dict, str]:
    """Ray placement of shard actors and the device each uses inside its actor."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if device is None:
        device = "cuda" if gpus else "cpu"
    options: dict[str, Any] = {"max_restarts": 0, "scheduling_strategy": "SPREAD"}
    if str(device).startswith("cuda"):
        if not gpus:
            raise ValueError(f"device: {device!r} was requested but the Ray cluster has no GPUs")
        # One GPU per shard when there are enough, else an equal share of one.
        options["num_gpus"] = 1 if gpus >= shards else 1 / -(-shards // gpus)
        device = "cuda"  # Ray sets CUDA_VISIBLE_DEVICES to the actor's own GPU
    return options, str(device)


class RayIndex(ShardedIndex):
    """The :class:`fs.Index` API over shards held by Ray actors.

    Args:
        dim: vector dimension.
        shards: number of shard actors.
        address: Ray cluster to connect to when Ray is not yet initialised in this
            process (None starts a local Ray instance, as ``ray.init()``).
        allow_partial: when a shard's actor has died, return searches over the
            other shards as :class:`PartialSearchResult` instead of raising
            :class:`ShardUnavailableError`. Mutations and ``get`` always raise.
        index_kwargs: as for :class:`fs.Index`; ``device`` defaults to "cuda"
            when the cluster has GPUs (``num_gpus=1`` per actor), else "cpu".

    Searches made at the same time from several threads are coalesced into one
    call per shard. Results come back to this process on the CPU. A dead actor is
    never restarted: a fresh one would be empty and silently drop its rows.

    Example:
        >>> import numpy as np, ray
        >>> from flatsearch.distributed import RayIndex
        >>> _ = ray.init(num_cpus=2, include_dashboard=False)  # doctest: +SKIP
        >>> index = RayIndex(4, shards=2)  # doctest: +SKIP
        >>> index.add([1, 2, 3], np.eye(4, dtype=np.float32)[:3])  # doctest: +SKIP
        >>> index.search(np.eye(4, dtype=np.float32)[1], k=2).ids.tolist()  # doctest: +SKIP
        [[2, 1]]
    """

    def __init__(self, dim: int, *, shards: int, address: str | None = None, allow_partial: bool = False,
                 **index_kwargs: Any):
        dim = check_positive_int(dim, name="dim")
        shards = check_positive_int(shards, name="shards")
        device = index_kwargs.pop("device", None)
        _check_index_kwargs(dim, index_kwargs)
        self._start(dim, shards, device, index_kwargs, [{"index_kwargs": index_kwargs}] * shards,
                    address=address, allow_partial=allow_partial)

    def _start(self, dim: int, shards: int, device: str | None, index_kwargs: Mapping[str, Any],
               per_shard: Sequence[Mapping[str, Any]], *, address: str | None, allow_partial: bool) -> None:
        if not isinstance(allow_partial, bool):
            raise TypeError(f"allow_partial: expected True or False, got {describe(allow_partial)}")
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=address)
        options, device = _actor_options(ray, shards, device)
        actor_class = ray.remote(ShardServer)
        actors = [actor_class.options(**options).remote(dim, device=device, portable=True, **arguments)
                  for arguments in per_shard]
        pool = RayShards(ray, actors)
        try:
            pool.call({shard: ("length", ()) for shard in range(shards)})
        except ShardUnavailableError as error:
            pool.close()
            if getattr(error.cause, "actor_init_failed", False):
                raise RuntimeError(f"shard {error.shard}: creating its index failed: {error.cause}") from None
            raise
        except BaseException:
            pool.close()
            raise
        self.allow_partial = allow_partial
        self._attach(dim, [device] * shards, index_kwargs, pool)
        self._coalescer = SearchCoalescer(lambda requests: self._search_requests(requests,
                                                                                 allow_partial=self.allow_partial))

    @property
    def actors(self) -> list:
        """The shard actors' handles, in shard order (e.g. to monitor them)."""
        return list(self._shards.actors)

    @property
    def result_device(self) -> torch.device:
        return torch.device("cpu")

    def close(self) -> None:
        """Stop the shard actors; their rows are lost unless saved."""
        self._shards.close()

    def _transport(self, values: Any) -> Any:
        return values.numpy() if isinstance(values, torch.Tensor) else values

    def search(self, queries: Any, k: int, *, filter: Any = None, boost: Mapping[str, float] | None = None
               ) -> SearchResult:
        """Exact top-k over all shards, as :meth:`fs.Index.search`; concurrent calls
        share one call per shard. With ``allow_partial=True`` and a dead shard, a
        :class:`PartialSearchResult` over the other shards."""
        return self._coalescer.submit(self._request(queries, k, filter, boost))

    def _finish_result(self, result: SearchResult, missing: tuple[int, ...]) -> SearchResult:
        return PartialSearchResult(result.scores, result.ids, missing) if missing else result

    @classmethod
    def load(cls, path: str | os.PathLike, *, shards: int | None = None, address: str | None = None,
             allow_partial: bool = False, device: str | None = None) -> "RayIndex":
        """Load a save of a ShardedIndex or RayIndex into actors: its layout, or
        re-sharded into ``shards`` actors. Every node must see ``path``."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a folder path, got {describe(path)}")
        with _folder_lock(Path(path), reading=True):  # the actors have read their files when _start returns
            manifest = cls.read_manifest(path)
            shards = len(manifest["shard_files"]) if shards is None else check_positive_int(shards, name="shards")
            index = cls.__new__(cls)
            index._start(manifest["dim"], shards, device, manifest["index_kwargs"],
                         _restore_arguments(path, manifest, shards), address=address,
                         allow_partial=allow_partial)
        _check_restored_rows(index, manifest)
        return index
