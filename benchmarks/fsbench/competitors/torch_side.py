"""The bare baseline: ``torch.topk(queries @ X.T, k)`` on one float32 matrix."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fsbench.competitors.base import Adapter, FilterSpec, Rows

# The full (nq, n) score matrix is the point of this baseline; only when it
# would not fit in this many bytes are the queries split into chunks.
SCORE_MATRIX_BUDGET = 4 << 30


class TorchTopkAdapter(Adapter):
    """Score every row, mask filtered-out rows with -inf, ``topk``. Deletes compact the matrix.

    Example:
        >>> TorchTopkAdapter(device="cpu").label
        'torch-topk'
    """

    exact = True
    can_delete = True

    def __init__(self, *, device: str = "cpu") -> None:
        super().__init__(library="torch-topk")
        self.device = device
        self.matrix: torch.Tensor | None = None
        self.ids: torch.Tensor | None = None

    def build(self, rows: Rows) -> None:
        self.matrix = rows.vectors.to(self.device, torch.float32).contiguous().clone()
        self.ids = torch.as_tensor(rows.ids, dtype=torch.int64, device=self.device).clone()

    def prepare_filter(self, spec: FilterSpec) -> torch.Tensor:
        """The rows to mask out (the inverse of the filter), aligned to the matrix."""
        keep = torch.from_numpy(spec.keep_by_id)[self.ids.cpu()]
        return (~keep).to(self.device)

    def search(self, queries: torch.Tensor, k: int, setting: dict[str, Any], prepared_filter: Any = None) -> Any:
        n = self.matrix.shape[0]
        chunk = max(1, SCORE_MATRIX_BUDGET // max(4 * n, 1))
        values, positions = [], []
        for start in range(0, queries.shape[0], chunk):
            scores = queries[start:start + chunk] @ self.matrix.T
            if prepared_filter is not None:
                scores.masked_fill_(prepared_filter, -torch.inf)
            top = torch.topk(scores, min(k, n), dim=1)
            values.append(top.values)
            positions.append(top.indices)
        return torch.cat(values), torch.cat(positions)

    def result_ids(self, result: Any) -> np.ndarray:
        values, positions = result
        ids = torch.where(torch.isinf(values), torch.full_like(positions, -1), self.ids[positions])
        return ids.cpu().numpy()

    def delete(self, ids: np.ndarray) -> None:
        keep = ~torch.isin(self.ids, torch.as_tensor(ids, device=self.device))
        self.matrix, self.ids = self.matrix[keep], self.ids[keep]

    def insert(self, rows: Rows) -> None:
        self.matrix = torch.cat([self.matrix, rows.vectors.to(self.device, torch.float32)])
        self.ids = torch.cat([self.ids, torch.as_tensor(rows.ids, device=self.device)])

    def bytes_per_vector(self) -> float:
        return float(self.matrix.element_size() * self.matrix.shape[1] + self.ids.element_size())

    def close(self) -> None:
        self.matrix = self.ids = None
