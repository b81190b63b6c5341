"""A sharded index whose shards are Ray actors, on one machine or across a cluster.

Each shard is a :class:`flatsearch.sharded.ShardServer` running as a Ray actor
(on a GPU of its own when the cluster has GPUs). :class:`RayShards` is the
transport that calls those actors; :class:`RayIndex` is a
:class:`flatsearch.sharded.ShardedIndex` over it, so routing, validation,
all-or-nothing writes, exact merging and save/load are the same code.

Ray is imported when a RayIndex is created, never by ``import flatsearch``;
install it with ``pip install flatsearch[distributed]``. Every node must be able
to import flatsearch, and ``save`` / ``load`` paths must be on storage that every
node sees (a shared file system).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Mapping, Sequence

import torch

from ._validation import check_choice, check_positive_int, describe
from .backends import BACKENDS
from .index import Index
from .sharded import (PartialSearchResult, SearchCoalescer, ShardedIndex, ShardServer, ShardUnavailableError,
                      _json_ready, _restore_arguments, load_saved)

__all__ = ["RayIndex", "RayShards", "ShardUnavailableError", "PartialSearchResult", "SearchCoalescer"]


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("RayIndex needs Ray: pip install 'flatsearch[distributed]'") from None
    return ray


class RayShards:
    """The transport of a :class:`RayIndex`: one Ray actor per shard, each running
    a :class:`flatsearch.sharded.ShardServer`; results come back on the CPU.

    Example:
        >>> import ray  # doctest: +SKIP
        >>> from flatsearch.distributed import RayShards
        >>> from flatsearch.sharded import ShardedIndex
        >>> _ = ray.init(num_cpus=2, include_dashboard=False)  # doctest: +SKIP
        >>> shards = RayShards.start(4, [{"index_kwargs": {}}] * 2)  # doctest: +SKIP
        >>> ShardedIndex(4, transport=shards).shards  # doctest: +SKIP
        2
    """

    coalesce_searches = True
    result_device = torch.device("cpu")

    def __init__(self, ray: Any, actors: Sequence[Any], device: str):
        self.ray = ray
        self.actors = list(actors)
        self.devices = [device] * len(self.actors)

    @classmethod
    def start(cls, dim: int, arguments: Sequence[Mapping[str, Any]], *, device: str | None = None,
              address: str | None = None, server_class: type[ShardServer] = ShardServer) -> "RayShards":
        """One actor ``server_class(dim, device=..., portable=True, **arguments[i])``
        per shard, placed by :func:`_actor_options`; connects to ``address`` (or
        starts a local Ray) when Ray is not initialised. Returns once every actor
        has built its index; an actor whose constructor failed raises here."""
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=address)
        options, device = _actor_options(ray, len(arguments), device)
        actor_class = ray.remote(server_class)
        actors = [actor_class.options(**options).remote(dim, device=device, portable=True, **shard_arguments)
                  for shard_arguments in arguments]
        transport = cls(ray, actors, device)
        try:
            _, failures = transport.call_each({shard: ("length", ()) for shard in range(len(actors))})
        except BaseException:
            transport.close()
            raise
        if failures:
            transport.close()
            error = next(iter(failures.values()))
            if isinstance(error, ShardUnavailableError) and getattr(error.cause, "actor_init_failed", False):
                raise RuntimeError(f"shard {error.shard}: creating its index failed: {error.cause}") from None
            raise error
        return transport

    def to_wire(self, values: torch.Tensor) -> Any:
        return values.numpy() if isinstance(values, torch.Tensor) else values

    def call_each(self, calls: Mapping[int, tuple[str, tuple]]) -> tuple[dict[int, Any], dict[int, BaseException]]:
        """Run ``{shard: (method, args)}`` on the actors; return ``({shard: result}, {shard: exception})``.

        An argument object shared by several calls is put in the object store
        once. A dead actor's exception is a :class:`ShardUnavailableError`; an
        exception raised inside an actor is returned as itself, noting the shard."""
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
    """The :class:`fs.Index` API over shards held by Ray actors: a
    :class:`flatsearch.sharded.ShardedIndex` over a :class:`RayShards` transport.

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

    def __init__(self, dim: int, *, shards: int | None = None, address: str | None = None,
                 allow_partial: bool = False, transport: RayShards | None = None, **index_kwargs: Any):
        if transport is None:
            dim = check_positive_int(dim, name="dim")
            shards = check_positive_int(shards, name="shards")
            device = index_kwargs.pop("device", None)
            _check_index_kwargs(dim, index_kwargs)
            if not isinstance(allow_partial, bool):  # before any actor starts
                raise TypeError(f"allow_partial: expected True or False, got {describe(allow_partial)}")
            transport = RayShards.start(dim, [{"index_kwargs": index_kwargs}] * shards, device=device,
                                        address=address)
        elif shards is not None or address is not None:
            raise ValueError(f"transport: the transport places the shards, so shards and address must be None, "
                             f"got shards={shards!r}, address={address!r}")
        try:
            super().__init__(dim, transport=transport, allow_partial=allow_partial, **index_kwargs)
        except BaseException:
            transport.close()
            raise

    @property
    def actors(self) -> list:
        """The shard actors' handles, in shard order (e.g. to monitor them)."""
        return list(self._shards.actors)

    @classmethod
    def load(cls, path: str | os.PathLike, *, shards: int | None = None, address: str | None = None,
             allow_partial: bool = False, device: str | None = None) -> "RayIndex":
        """Load a save of a ShardedIndex or RayIndex into actors: its layout, or
        re-sharded into ``shards`` actors. Every node must see ``path``."""
        if shards is not None:
            shards = check_positive_int(shards, name="shards")

        def start(manifest: Mapping[str, Any]) -> RayShards:
            count = len(manifest["shard_files"]) if shards is None else shards
            return RayShards.start(manifest["dim"], _restore_arguments(path, manifest, count), device=device,
                                   address=address)

        return load_saved(path, start, lambda manifest, transport: cls(
            manifest["dim"], transport=transport, allow_partial=allow_partial, **manifest["index_kwargs"]))
