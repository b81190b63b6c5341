"""The contract between the Index and its scan backends.

A backend receives a :class:`ScanRequest` and returns the best ``k`` slots per
query by the *internal* score (higher is better in every metric)::

    internal = score_scale * (query . vector) + bias[slot]      where mask bit is set

Slots are positions in the index's global slot space; arena ``a`` holds slots
``arena_starts[a] .. arena_starts[a] + arenas[a].shape[0]``. Only the slot
ranges listed in ``ranges`` may hold live rows that pass the filter, so a
backend never needs to read vectors outside them.

Both backends break ties between equal internal scores by the lower slot; the
Index then re-orders ties by id and resolves ties that straddle the k-th place
exactly (see :func:`flatsearch.index.Index.search`), so users always see ties
broken by the lower id.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import torch


class Deferred:
    """A :class:`ScanRequest` value computed on first read: ``make()`` returns it.

    The torch backend gathers the passing rows of a selective filter and never reads
    its packed words, so the Index hands them over as Deferred and only a backend that
    reads them (Triton) pays for building them. ``dim``: the number of dimensions the
    value will have, for :attr:`ScanRequest.per_query_mask` (None: read the value).

    Example:
        >>> import torch
        >>> request = ScanRequest(queries=torch.ones(1, 2), k=1, arenas=(torch.eye(2),), arena_starts=(0,),
        ...     ranges=Deferred(lambda: torch.tensor([[0, 2]])), mask_words=Deferred(lambda: torch.tensor([3]), dim=1),
        ...     bias=None, score_scale=1.0)
        >>> request.is_computed("ranges"), request.per_query_mask, request.ranges.tolist(), request.is_computed("ranges")
        (False, False, [[0, 2]], True)
    """

    __slots__ = ("_make", "dim", "_value")

    def __init__(self, make: Callable[[], torch.Tensor], dim: int | None = None):
        self._make, self.dim, self._value = make, dim, None

    def value(self) -> torch.Tensor:
        """The value, built by the first call (requests made by :meth:`ScanRequest.replace` share it)."""
        if self._value is None:
            self._value = self._make()
        return self._value


@dataclass(frozen=True)
class ScanRequest:
    """Everything a scan backend needs, already validated and on the index device.

    Attributes:
        queries: (nq, dim) float32, already normalised for cosine. Backends
            round them to the storage dtype before multiplying, so that every
            backend multiplies the same numbers.
        k: how many results per query to return (already includes the extra
            one the Index asks for to detect ties at the k-th place).
        arenas: vector storage tensors, each (capacity_a, dim) in the storage
            dtype, contiguous.
        arena_starts: global slot of row 0 of each arena; multiples of 32.
        ranges: (n_ranges, 2) int64 on the CPU, rows ``[start, stop)`` of global
            slots to scan, sorted, non-overlapping, each inside one arena,
            ``start`` a multiple of 32. Blocks with no passing row are left out.
        mask_words: packed keep-bits, int32 holding the uint32 bit pattern: bit
            ``i % 32`` (least significant first) of word ``i // 32`` is 1 when
            slot ``i`` is live and passes the filter. Shape (n_words,) for one
            mask shared by every query, or (nq, n_words) for per-query masks.
        bias: (capacity,) float32 added to every score of that slot (boost
            term, and ``-|x|^2`` for l2), or None for no bias.
        score_scale: multiplies the dot product (1 for ip/cosine, 2 for l2).
        keep: optionally the same mask unpacked, bool (capacity,) or
            (nq, capacity), when the caller already has it; backends that
            work on bools may use it instead of unpacking ``mask_words``.
        passing_slots: optionally the set bits of a shared ``mask_words`` as
            sorted int64 slots on the index device, when the filter plan
            produced them; the torch backend then gathers just these rows
            without reading the mask.
        candidate_slots: optionally sorted int64 slots on the index device that
            hold every set bit of ``mask_words`` (a superset is allowed), when the
            filter plan produced them for per-query filters; the torch backend
            then gathers just these rows and reads each query's bits there.
        candidate_keep: optionally each query's mask bits at ``candidate_slots``,
            bool (nq, len(candidate_slots)), when the plan computed them there;
            the torch backend then reads no words.
        slot_bias: optionally ``bias`` at ``candidate_slots`` (or at ``passing_slots``
            when there are no candidate slots), when the Index computed it there; the
            torch backend then reads it instead of gathering ``bias`` again.
        dense: True when every slot in ``ranges`` is live and passes (an
            unfiltered search over blocks without holes); a backend may then
            skip reading the mask.
        coarse: optionally a function of a row count returning an int8 copy of each
            arena (:class:`flatsearch.storage.CoarseArena`, float32 CPU storage only),
            current with the arenas, or None when there is none yet for a scan of that
            many rows; the torch backend may bound scores with it and multiply only the
            rows that can reach the top k.

        memo: optionally a dict a backend may keep values derived from ``passing_slots``,
            ``candidate_slots``, ``candidate_keep`` and ``slot_bias`` in (the Index hands the
            same dict, and the same tensors, to every search of one cached plan); a value is
            only read back for the very tensors it was derived from.

    ``ranges`` and ``mask_words`` may be given as :class:`Deferred`: they are then built
    on first read (and kept), with the meaning above.
    """

    queries: torch.Tensor
    k: int
    arenas: tuple[torch.Tensor, ...]
    arena_starts: tuple[int, ...]
    ranges: torch.Tensor
    mask_words: torch.Tensor
    bias: torch.Tensor | None
    score_scale: float
    keep: torch.Tensor | None = None
    passing_slots: torch.Tensor | None = None
    candidate_slots: torch.Tensor | None = None
    candidate_keep: torch.Tensor | None = None
    dense: bool = False
    slot_bias: torch.Tensor | None = None
    coarse: Callable[[int], list | None] | None = None
    memo: dict | None = None

    def __post_init__(self):
        deferred = {name: value for name in _DEFERRABLE if type(value := self.__dict__[name]) is Deferred}
        if deferred:  # read through __getattr__ until first computed
            for name in deferred:
                del self.__dict__[name]
            self.__dict__["_deferred"] = deferred

    def __getattr__(self, name: str):
        deferred = self.__dict__.get("_deferred")
        if deferred is None or name not in deferred:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = deferred.pop(name).value()
        self.__dict__[name] = value
        return value

    def replace(self, **changes) -> "ScanRequest":
        """A copy with ``changes``, like ``dataclasses.replace``, without building unread Deferred values."""
        pending = self.__dict__.get("_deferred", {})
        values = {field.name: pending.get(field.name) or self.__dict__[field.name] for field in fields(self)}
        values.update(changes)
        return ScanRequest(**values)

    def for_queries(self, rows) -> "ScanRequest":
        """The same request for some of its queries: ``rows`` (a 1-D sequence or tensor of query positions,
        in the order wanted) picks the queries and their rows of every per-query field (``mask_words`` and
        ``keep`` when 2-D, ``candidate_keep``); shared fields are kept as they are. Unread :class:`Deferred`
        words stay unread (only a backend that reads them slices them). The sub-request carries no
        ``memo``: what a backend kept there describes the whole request's queries. Positions given on the
        host are checked (ValueError naming ``rows``); a tensor on a GPU is taken as it is, without a read-back.

        Example:
            >>> import torch
            >>> request = ScanRequest(queries=torch.eye(3), k=1, arenas=(torch.eye(3),), arena_starts=(0,),
            ...     ranges=torch.tensor([[0, 3]]), mask_words=torch.tensor([[1], [2], [4]]), bias=None,
            ...     score_scale=1.0, memo={})
            >>> part = request.for_queries([2, 0])
            >>> part.queries[:, 0].tolist(), part.mask_words.tolist(), part.memo is None
            ([0.0, 1.0], [[4], [1]], True)
        """
        nq = self.queries.shape[0]
        # Positions already on a GPU are the caller's own (a rescan's), not checked: that would read them back.
        # Any others are checked on the host, before they move to the queries' device.
        on_host = not (isinstance(rows, torch.Tensor) and rows.device.type != "cpu")
        try:
            picked = torch.as_tensor(rows)
        except (TypeError, ValueError, RuntimeError):
            if _integers(rows):  # Python integers outside int64
                raise ValueError(f"rows: expected query positions in [0, {nq}), got {list(rows)}") from None
            raise TypeError(f"rows: expected a 1-D sequence or tensor of query positions, got {type(rows).__name__}") from None
        if picked.dim() != 1 or (picked.numel() and (picked.dtype.is_floating_point or picked.dtype.is_complex
                                                     or picked.dtype == torch.bool)):
            raise TypeError(f"rows: expected a 1-D sequence of integer query positions, got shape "
                            f"{tuple(picked.shape)} of {picked.dtype}")
        given, picked = picked, picked.long()  # a uint64 position of 2**63 or more turns negative: out of range
        if on_host and picked.numel() and not bool(((picked >= 0) & (picked < nq)).all()):
            raise ValueError(f"rows: expected query positions in [0, {nq}), got {given.tolist()}")
        picked = picked.to(self.queries.device)

        def per_query(tensor):
            return tensor if tensor is None or tensor.dim() == 1 else tensor.index_select(0, picked.to(tensor.device))
        changes = dict(queries=self.queries.index_select(0, picked), keep=per_query(self.keep),
                       candidate_keep=per_query(self.candidate_keep), memo=None)
        if self.per_query_mask:
            if self.is_computed("mask_words"):
                changes["mask_words"] = per_query(self.mask_words)
            else:
                changes["mask_words"] = Deferred(lambda: per_query(self.mask_words), dim=2)
        return self.replace(**changes)

    def is_computed(self, name: str) -> bool:
        """Whether ``name`` holds its value (False while a :class:`Deferred` one is unread)."""
        return name not in self.__dict__.get("_deferred", ())

    @property
    def per_query_mask(self) -> bool:
        pending = self.__dict__.get("_deferred", {}).get("mask_words")
        if pending is not None and pending.dim is not None:
            return pending.dim == 2
        return self.mask_words.dim() == 2


_DEFERRABLE = ("ranges", "mask_words")


def _integers(values) -> bool:
    """Whether ``values`` is a sequence of Python integers (not bools)."""
    try:
        return len(values) > 0 and all(isinstance(value, int) and not isinstance(value, bool) for value in values)
    except TypeError:
        return False


@dataclass(frozen=True)
class ScanResult:
    """Best ``k`` per query, best first: internal scores (float32, ``-inf`` for
    padding) and global slots (int64, ``-1`` for padding); ties by lower slot.
    Padding is marked by the slot: a real row may score ``-inf`` too."""

    scores: torch.Tensor
    slots: torch.Tensor
