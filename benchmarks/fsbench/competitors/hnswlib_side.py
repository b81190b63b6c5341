"""hnswlib (optional): deletes mark rows, inserts reuse their slots.

hnswlib filters through a Python callable invoked for every visited node; with
the GIL that took minutes per selectivity on 20k rows here, so hnswlib is
measured unfiltered and under churn only (faiss HNSW carries the filtered
graph-search numbers).
"""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

from fsbench.competitors.base import Adapter, Rows


def hnswlib_available() -> bool:
    """True when hnswlib is installed (it is an optional benchmark dependency)."""
    return importlib.util.find_spec("hnswlib") is not None


class HnswlibAdapter(Adapter):
    """``hnswlib.Index(space="ip")`` with room for the churn inserts.

    Example:
        >>> HnswlibAdapter(m=32, ef_construction=64, ef_search=[64], threads=1).label
        'hnswlib M=32,efC=64'
    """

    no_filter_reason = ("hnswlib filters through a Python callable per visited node; "
                        "filtered search left out for run time")

    def __init__(self, *, m: int = 32, ef_construction: int = 64, ef_search: list[int], threads: int,
                 spare_rows: float = 0.25, seed: int = 0) -> None:
        super().__init__(library="hnswlib", build_setting={"M": m, "efC": ef_construction},
                         search_settings=[{"ef": ef} for ef in ef_search])
        self.m, self.ef_construction, self.threads = m, ef_construction, threads
        self.spare_rows, self.seed = spare_rows, seed
        self.index = None

    def build(self, rows: Rows) -> None:
        import hnswlib

        vectors = rows.numpy_vectors()
        self.index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        self.index.init_index(max_elements=int(len(rows.ids) * (1 + self.spare_rows)) + 1,
                              ef_construction=self.ef_construction, M=self.m, random_seed=self.seed,
                              allow_replace_deleted=True)
        self.index.add_items(vectors, rows.ids, num_threads=self.threads)

    def prepare_queries(self, queries: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(queries.detach().to("cpu", torch.float32).numpy())

    def search(self, queries: np.ndarray, k: int, setting: dict[str, Any], prepared_filter: Any = None) -> Any:
        if prepared_filter is not None:
            raise ValueError("prepared_filter: hnswlib is measured without filters (see the module docstring)")
        self.index.set_ef(max(setting["ef"], k))
        labels, _ = self.index.knn_query(queries, k=k, num_threads=self.threads)
        return labels.astype(np.int64)

    def result_ids(self, result: Any) -> np.ndarray:
        return result

    def delete(self, ids: np.ndarray) -> None:
        for row_id in ids.tolist():
            self.index.mark_deleted(row_id)

    def insert(self, rows: Rows) -> None:
        self.index.add_items(rows.numpy_vectors(), rows.ids, num_threads=self.threads, replace_deleted=True)

    def bytes_per_vector(self) -> float:
        return float(self.index.index_file_size()) / max(self.index.get_current_count(), 1)

    def close(self) -> None:
        self.index = None
