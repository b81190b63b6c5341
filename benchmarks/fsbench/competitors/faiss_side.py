"""faiss anchors: ``IndexFlatIP``, ``IndexHNSWFlat``, ``IndexIVFFlat`` and ``IndexIVFPQ``.

Filters go through ``IDSelectorBitmap`` inside the index's own
``SearchParameters`` (HNSW's and IVF's filtered search), so each index
applies the filter the way faiss intends. Flat and HNSW sit in an
``IndexIDMap`` so that ids survive churn; IVF stores ids itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fsbench.competitors.base import Adapter, FilterSpec, Rows


def _faiss():
    import faiss

    return faiss


class FaissAdapter(Adapter):
    """Shared plumbing; subclasses make the index and its search parameters."""

    def __init__(self, *, library: str, build_setting: dict[str, Any] | None = None,
                 search_settings: list[dict[str, Any]] | None = None) -> None:
        super().__init__(library=library, build_setting=build_setting, search_settings=search_settings)
        self.index = None

    def _make_index(self, dim: int) -> Any:
        raise NotImplementedError

    def _params(self, setting: dict[str, Any], selector: Any) -> Any:
        raise NotImplementedError

    def _training_rows(self, vectors: np.ndarray) -> np.ndarray:
        return vectors

    def build(self, rows: Rows) -> None:
        vectors = rows.numpy_vectors()
        self.index = self._make_index(vectors.shape[1])
        if not self.index.is_trained:
            self.index.train(self._training_rows(vectors))
        self.index.add_with_ids(vectors, np.ascontiguousarray(rows.ids, dtype=np.int64))

    def prepare_queries(self, queries: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(queries.detach().to("cpu", torch.float32).numpy())

    def prepare_filter(self, spec: FilterSpec) -> Any:
        faiss = _faiss()
        bitmap = np.packbits(spec.keep_by_id.astype(bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(spec.keep_by_id.shape[0], faiss.swig_ptr(bitmap))
        # The selector points into ``bitmap``; keep both alive together.
        return selector, bitmap

    def search(self, queries: np.ndarray, k: int, setting: dict[str, Any], prepared_filter: Any = None) -> Any:
        selector = prepared_filter[0] if prepared_filter is not None else None
        return self.index.search(queries, k, params=self._params(setting, selector))

    def result_ids(self, result: Any) -> np.ndarray:
        return np.asarray(result[1], dtype=np.int64)

    def delete(self, ids: np.ndarray) -> None:
        self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def insert(self, rows: Rows) -> None:
        self.index.add_with_ids(rows.numpy_vectors(), np.ascontiguousarray(rows.ids, dtype=np.int64))

    def bytes_per_vector(self) -> float:
        return float(_faiss().serialize_index(self.index).nbytes) / max(self.index.ntotal, 1)

    def close(self) -> None:
        self.index = None


class FaissFlatAdapter(FaissAdapter):
    """``IndexIDMap(IndexFlatIP)``: exact; deletes compact the storage.

    Example:
        >>> FaissFlatAdapter().label
        'faiss-flat'
    """

    exact = True

    def __init__(self) -> None:
        super().__init__(library="faiss-flat")

    def _make_index(self, dim: int) -> Any:
        faiss = _faiss()
        return faiss.IndexIDMap(faiss.IndexFlatIP(dim))

    def _params(self, setting: dict[str, Any], selector: Any) -> Any:
        return _faiss().SearchParameters(sel=selector) if selector is not None else None


class FaissHNSWAdapter(FaissAdapter):
    """``IndexIDMap(IndexHNSWFlat)``; faiss HNSW cannot remove ids, so churn is a rebuild.

    Example:
        >>> FaissHNSWAdapter(m=32, ef_construction=64, ef_search=[16, 64]).label
        'faiss-hnsw M=32,efC=64'
    """

    can_delete = False

    def __init__(self, *, m: int = 32, ef_construction: int = 64, ef_search: list[int]) -> None:
        super().__init__(library="faiss-hnsw", build_setting={"M": m, "efC": ef_construction},
                         search_settings=[{"ef": ef} for ef in ef_search])
        self.m, self.ef_construction = m, ef_construction

    def _make_index(self, dim: int) -> Any:
        faiss = _faiss()
        graph = faiss.IndexHNSWFlat(dim, self.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        return faiss.IndexIDMap(graph)

    def _params(self, setting: dict[str, Any], selector: Any) -> Any:
        return _faiss().SearchParametersHNSW(efSearch=setting["ef"], sel=selector)


class FaissIVFAdapter(FaissAdapter):
    """``IndexIVFFlat`` (``pq_m=None``) or ``IndexIVFPQ`` (``pq_m`` sub-quantizers of 8 bits).

    Example:
        >>> FaissIVFAdapter(nlist=256, pq_m=48, nprobe=[4, 16]).label
        'faiss-ivfpq nlist=256,m=48'
    """

    def __init__(self, *, nlist: int, nprobe: list[int], pq_m: int | None = None,
                 train_rows: int | None = None) -> None:
        library = "faiss-ivfflat" if pq_m is None else "faiss-ivfpq"
        setting = {"nlist": nlist} | ({"m": pq_m} if pq_m is not None else {})
        super().__init__(library=library, build_setting=setting,
                         search_settings=[{"nprobe": p} for p in nprobe if p <= nlist])
        self.nlist, self.pq_m, self.train_rows = nlist, pq_m, train_rows

    def _training_rows(self, vectors: np.ndarray) -> np.ndarray:
        # Rows arrive in random order, so a prefix is a uniform sample.
        return vectors if self.train_rows is None else vectors[:self.train_rows]

    def _make_index(self, dim: int) -> Any:
        faiss = _faiss()
        quantizer = faiss.IndexFlatIP(dim)
        if self.pq_m is None:
            index = faiss.IndexIVFFlat(quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            if dim % self.pq_m:
                raise ValueError(f"pq_m: expected a divisor of dim={dim}, got {self.pq_m}")
            index = faiss.IndexIVFPQ(quantizer, dim, self.nlist, self.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        return index

    def _params(self, setting: dict[str, Any], selector: Any) -> Any:
        return _faiss().SearchParametersIVF(nprobe=setting["nprobe"], sel=selector)
