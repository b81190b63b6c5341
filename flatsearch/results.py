"""Search results and their merge across shards."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from ._validation import check_choice, check_positive_int, describe
from .topk import best_k


class SearchResult(NamedTuple):
    """Best-first results of a search: ``scores`` (nq, k) float32 and ``ids`` (nq, k) int64.

    Missing results (fewer than k rows passed) are id -1 with score -inf, or +inf
    for the l2 metric, where lower is better.
    """

    scores: torch.Tensor
    ids: torch.Tensor


def merge_results(results: Sequence[SearchResult], k: int, *, metric: str = "ip") -> SearchResult:
    """Merge results of the same queries from several shards into the best k.

    Ties are broken by the lower id, as within one index; padding (-1) sorts last.

    Example:
        >>> import torch, flatsearch as fs
        >>> a = fs.SearchResult(torch.tensor([[0.9, 0.1]]), torch.tensor([[4, 2]]))
        >>> b = fs.SearchResult(torch.tensor([[0.5, float("-inf")]]), torch.tensor([[7, -1]]))
        >>> fs.merge_results([a, b], 3).ids.tolist()
        [[4, 7, 2]]
    """
    k = check_positive_int(k, name="k")
    check_choice(metric, name="metric", choices=("ip", "cosine", "l2"))
    if isinstance(results, (SearchResult, torch.Tensor)) or not isinstance(results, Sequence) or not results:
        raise TypeError(f"results: expected a non-empty list of SearchResult, got {describe(results)}")
    for position, result in enumerate(results):
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"results[{position}]: expected a SearchResult, got {describe(result)}")
        if result[0].shape != result[1].shape or result[0].shape[0] != results[0][0].shape[0]:
            raise ValueError(f"results[{position}]: expected scores and ids of shape (nq={results[0][0].shape[0]}, k), "
                             f"got {tuple(result[0].shape)} and {tuple(result[1].shape)}")
    device = results[0][0].device
    scores = torch.cat([r[0].to(device=device, dtype=torch.float32) for r in results], dim=1)
    ids = torch.cat([r[1].to(device=device, dtype=torch.int64) for r in results], dim=1)
    return SearchResult(*best_k(scores, k, keys=ids, valid=ids >= 0, lower_is_better=metric == "l2"))
