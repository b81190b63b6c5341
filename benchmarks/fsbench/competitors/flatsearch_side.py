"""flatsearch through its public API only: ``fs.Index``, ``fs.col``, ``index.search``."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fsbench.competitors.base import Adapter, FilterSpec, Rows

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, None: None}


class FlatsearchAdapter(Adapter):
    """``fs.Index(metric="ip")`` with one float attribute ``r``; filters are ``fs.col("r") < t``.

    Example:
        >>> adapter = FlatsearchAdapter(device="cpu", backend="torch")
        >>> adapter.label
        'flatsearch backend=torch'

    After ``build`` the label names the backend and dtype that actually ran.
    """

    exact = True
    can_delete = True

    def __init__(self, *, device: str = "cpu", backend: str = "auto", dtype: str | None = None) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {sorted(k for k in DTYPES if k)} or None, got {dtype!r}")
        setting = {"backend": backend} | ({"dtype": dtype} if dtype else {})
        super().__init__(library="flatsearch", build_setting=setting)
        self.device, self.backend, self.dtype = device, backend, DTYPES[dtype]
        self.index = None

    def build(self, rows: Rows) -> None:
        import flatsearch as fs

        self.index = fs.Index(rows.vectors.shape[1], metric="ip", dtype=self.dtype, device=self.device,
                              attributes={"r": "float"}, backend=self.backend)
        self.insert(rows)
        # Name what "auto" and the default dtype resolved to, so results say what ran.
        stats = self.index.stats()
        self.build_setting = {"backend": stats["backend"], "dtype": stats["dtype"]}

    def prepare_filter(self, spec: FilterSpec) -> Any:
        import flatsearch as fs

        return fs.col("r") < float(spec.threshold)

    def search(self, queries: torch.Tensor, k: int, setting: dict[str, Any], prepared_filter: Any = None) -> Any:
        return self.index.search(queries, k, filter=prepared_filter)

    def result_ids(self, result: Any) -> np.ndarray:
        return result.ids.detach().cpu().numpy().astype(np.int64)

    def delete(self, ids: np.ndarray) -> None:
        self.index.delete(ids)

    def insert(self, rows: Rows) -> None:
        self.index.add(rows.ids, rows.vectors, attributes={"r": rows.r})

    def bytes_per_vector(self) -> float:
        stats = self.index.stats()
        return float(stats["bytes"]) / max(int(stats["live"]), 1)

    def close(self) -> None:
        self.index = None
