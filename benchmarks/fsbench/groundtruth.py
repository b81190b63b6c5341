"""Exact float32 top-k by blocked matmul, and tie-aware recall against it.

Ground truth is computed block by block over the rows (as faiss's
``contrib/exhaustive_search`` does), so it fits in memory at any size, with
an optional keep-mask for filtered and churned ground truth.

Real embeddings contain exact duplicates (the same posting text twice), so
the k-th best score can be shared by several rows and any of them is a
correct answer. :class:`Truth` therefore credits a returned row that is not
in the reference list when it is eligible (live, passes the filter) and its
exact score is within ``TIE_TOLERANCE`` of the k-th best score.

Example:
    >>> import torch
    >>> from fsbench.groundtruth import exact_topk, recall_at
    >>> base = torch.eye(4)
    >>> exact_topk(base, base[:2], 1).tolist()
    [[0], [1]]
    >>> recall_at(torch.tensor([[0, 5]]).numpy(), torch.tensor([[0, 1]]).numpy(), 2)
    0.5
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fsbench.competitors.base import Rows

TIE_TOLERANCE = 1e-5


def exact_search(base: torch.Tensor, queries: torch.Tensor, k: int, *, keep: torch.Tensor | None = None,
                 block_rows: int = 262_144) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and positions (nq, k) of the ``k`` largest inner products, best first, on the CPU.

    Rows missing for lack of passing rows are padded with score -inf and position -1.
    ``keep`` is an optional bool (n,) mask of rows that may be returned.
    """
    if base.ndim != 2 or queries.ndim != 2 or base.shape[1] != queries.shape[1]:
        raise ValueError(f"base, queries: expected (n, d) and (nq, d), "
                         f"got {tuple(base.shape)} and {tuple(queries.shape)}")
    if keep is not None and keep.shape != (base.shape[0],):
        raise ValueError(f"keep: expected shape ({base.shape[0]},), got {tuple(keep.shape)}")
    nq, device = queries.shape[0], base.device
    best_scores = torch.full((nq, k), -torch.inf, device=device)
    best_rows = torch.full((nq, k), -1, dtype=torch.int64, device=device)
    queries = queries.to(device=device, dtype=torch.float32)
    for start in range(0, base.shape[0], block_rows):
        block = base[start:start + block_rows].to(torch.float32)
        scores = queries @ block.T
        if keep is not None:
            scores.masked_fill_(~keep[start:start + block_rows].to(device).unsqueeze(0), -torch.inf)
        take = min(k, scores.shape[1])
        top_scores, top_rows = scores.topk(take, dim=1)
        merged_scores = torch.cat([best_scores, top_scores], dim=1)
        merged_rows = torch.cat([best_rows, top_rows + start], dim=1)
        best_scores, order = merged_scores.topk(k, dim=1)
        best_rows = merged_rows.gather(1, order)
    best_rows = torch.where(torch.isinf(best_scores), torch.full_like(best_rows, -1), best_rows)
    return best_scores.cpu(), best_rows.cpu()


def exact_topk(base: torch.Tensor, queries: torch.Tensor, k: int, *, keep: torch.Tensor | None = None,
               block_rows: int = 262_144) -> torch.Tensor:
    """Positions (nq, k) of the ``k`` largest inner products, best first; -1 pads short rows."""
    return exact_search(base, queries, k, keep=keep, block_rows=block_rows)[1]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int, *, tie_credit: np.ndarray | None = None) -> float:
    """Mean over queries of the share of ``truth[:k]`` found in ``found[:k]``.

    -1 entries are padding. A query whose truth is empty scores 1 when
    nothing was found, else 0. ``tie_credit`` (nq, k) bool marks found
    entries that count as correct although not in ``truth`` (exact ties).
    """
    found, truth = np.asarray(found)[:, :k], np.asarray(truth)[:, :k]
    if found.shape[0] != truth.shape[0]:
        raise ValueError(f"found, truth: expected the same number of queries, "
                         f"got {found.shape[0]} and {truth.shape[0]}")
    total = 0.0
    for row, (got, want) in enumerate(zip(found, truth)):
        want_set = set(want[want >= 0].tolist())
        if not want_set:
            total += 1.0 if not (got >= 0).any() else 0.0
            continue
        correct = set(got[got >= 0].tolist()) & want_set
        if tie_credit is not None:
            correct |= {g for g, tied in zip(got.tolist(), tie_credit[row, :k].tolist()) if tied and g >= 0}
        total += min(len(correct), len(want_set)) / len(want_set)
    return total / max(found.shape[0], 1)


@dataclass
class Truth:
    """Exact answers for one query set over one set of rows, and recall against them.

    Attributes:
        queries: (nq, dim) float32 queries.
        rows: the rows searched (ids, vectors).
        eligible_by_id: bool by id: the row is in ``rows`` and passes the filter.
        ids: (nq, k) exact top ids, -1 padded.
        scores: (nq, k) their float32 scores, -inf padded.
    """

    queries: torch.Tensor
    rows: Rows
    eligible_by_id: np.ndarray
    ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def compute(cls, rows: Rows, queries: torch.Tensor, k: int, *, keep_by_id: np.ndarray | None = None,
                id_space: int | None = None) -> "Truth":
        """Exact top-``k`` of ``queries`` over ``rows`` restricted to ``keep_by_id`` (when given)."""
        id_space = id_space or int(rows.ids.max()) + 1
        eligible = np.zeros(id_space, dtype=bool)
        eligible[rows.ids] = True
        if keep_by_id is not None:
            eligible &= keep_by_id[:id_space]
        keep = None if keep_by_id is None else torch.from_numpy(eligible[rows.ids]).to(rows.vectors.device)
        scores, positions = exact_search(rows.vectors, queries, k, keep=keep)
        positions = positions.numpy()
        ids = np.where(positions >= 0, rows.ids[np.maximum(positions, 0)], -1)
        return cls(queries, rows, eligible, ids, scores.numpy())

    def recall(self, found: np.ndarray, k: int) -> float:
        """Recall@``k`` of ``found`` (nq, >=k) ids, crediting exact ties at the k-th score."""
        if k > self.ids.shape[1]:
            raise ValueError(f"k: expected at most {self.ids.shape[1]} (the ground truth depth), got {k}")
        found = np.asarray(found)[:, :k]
        full = (self.ids[:, :k] >= 0).all(axis=1)
        kth = self.scores[:, k - 1]
        valid = (found >= 0) & (found < self.eligible_by_id.shape[0])
        eligible = np.zeros_like(valid)
        eligible[valid] = self.eligible_by_id[found[valid]]
        position_by_id = np.full(self.eligible_by_id.shape[0], -1, dtype=np.int64)
        position_by_id[self.rows.ids] = np.arange(len(self.rows.ids))
        positions = torch.from_numpy(np.where(eligible, position_by_id[np.where(valid, found, 0)], 0))
        vectors = self.rows.vectors[positions.to(self.rows.vectors.device)].to(torch.float32)
        exact = torch.einsum("qkd,qd->qk", vectors, self.queries.to(vectors.device, torch.float32)).cpu().numpy()
        tie_credit = eligible & full[:, None] & (exact >= kth[:, None] - TIE_TOLERANCE)
        return recall_at(found, self.ids, k, tie_credit=tie_credit)
