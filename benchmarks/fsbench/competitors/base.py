"""The shape every library adapter has, and the data they all receive.

An adapter is built once per build-time configuration (e.g. HNSW's M) and
then searched under each of its search-time settings (e.g. efSearch), so a
sweep never rebuilds. Everything a search needs that a user would prepare
ahead of time (queries in the library's array type, a faiss bitmap from a
boolean column) is made by ``prepare_*`` outside the timed region; the
timed call is the library's own search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Rows:
    """Rows handed to an index: ids, unit vectors and the float attribute ``r``.

    Attributes:
        ids: (n,) int64, unique, non-negative.
        vectors: (n, dim) float32 torch tensor (on the benchmark device).
        r: (n,) float32 in [0, 1), the attribute that filters select on.
    """

    ids: np.ndarray
    vectors: torch.Tensor
    r: np.ndarray

    def __post_init__(self) -> None:
        n = self.ids.shape[0]
        if self.vectors.shape[0] != n or self.r.shape[0] != n:
            raise ValueError(f"ids, vectors, r: expected the same length, got {n}, "
                             f"{self.vectors.shape[0]}, {self.r.shape[0]}")

    def numpy_vectors(self) -> np.ndarray:
        """Vectors as a contiguous float32 host array (what faiss and hnswlib take)."""
        return np.ascontiguousarray(self.vectors.detach().to("cpu", torch.float32).numpy())


@dataclass(frozen=True)
class FilterSpec:
    """A filter ``r < threshold``, with its answer per id for libraries that take a bitmap.

    Attributes:
        threshold: rows with ``r < threshold`` pass.
        keep_by_id: bool array indexed by id, True where the row passes.
    """

    threshold: float
    keep_by_id: np.ndarray


class Adapter:
    """Base class: one library under one build configuration.

    Subclasses call ``__init__`` with their library name, build configuration
    and search-time sweep, and implement the methods below. ``exact`` marks
    exhaustive methods; ``can_delete`` is False where churn means a rebuild;
    ``no_filter_reason`` says why a library's filtered search is left out.
    """

    exact = False
    can_delete = True
    # Where the library computes; timers wait for this device's queued work.
    device = "cpu"
    no_filter_reason: str | None = None

    def __init__(self, *, library: str, build_setting: dict[str, Any] | None = None,
                 search_settings: list[dict[str, Any]] | None = None) -> None:
        self.library = library
        self.build_setting = dict(build_setting or {})
        self.search_settings = [dict(s) for s in (search_settings or [{}])]
        # Facts a reader of the results should know (e.g. a fallback taken); kept with the records.
        self.notes: set[str] = set()

    def build(self, rows: Rows) -> None:
        """Create the index from scratch holding exactly ``rows`` (timed as build)."""
        raise NotImplementedError

    def prepare_queries(self, queries: torch.Tensor) -> Any:
        """Queries in the library's own array type (untimed)."""
        return queries

    def prepare_filter(self, spec: FilterSpec) -> Any:
        """The library's filter object for ``spec`` (untimed)."""
        raise NotImplementedError

    def search(self, queries: Any, k: int, setting: dict[str, Any], prepared_filter: Any = None) -> Any:
        """The library's own search call; returns its native result (timed)."""
        raise NotImplementedError

    def result_ids(self, result: Any) -> np.ndarray:
        """(nq, k) int64 ids from a native result, -1 where there is none."""
        raise NotImplementedError

    def delete(self, ids: np.ndarray) -> None:
        """Remove ``ids`` in place (only when ``can_delete``)."""
        raise NotImplementedError

    def insert(self, rows: Rows) -> None:
        """Add ``rows`` in place (only when ``can_delete``)."""
        raise NotImplementedError

    def bytes_per_vector(self) -> float:
        """Index memory divided by live rows."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop the index so its memory can be reused."""

    @property
    def label(self) -> str:
        """Library and build configuration, e.g. ``faiss-hnsw M=32,efC=64``."""
        return f"{self.library} {format_setting(self.build_setting)}".strip()


def format_setting(setting: dict[str, Any]) -> str:
    """``{"M": 32, "ef": 64}`` -> ``"M=32,ef=64"``."""
    return ",".join(f"{key}={value}" for key, value in setting.items())
