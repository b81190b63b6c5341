"""The one top-k of flatsearch: best k per row by score, ties by the lower key, padding by validity.

Every place that picks or merges results uses :func:`best_k`: each chunk of the
torch scan (keys are the columns, ascending), the merge of chunk candidates
(keys are slots), the Index ordering ties by id, and :func:`flatsearch.merge_results`
across shards (keys are ids).

Which entries are real is told by ``valid``, never read from a score: a real
row may score ``-inf`` (a boost of ``-10`` on a value of ``3e38``) and must still
be returned ahead of padding.

Example:
    >>> import torch
    >>> from flatsearch.topk import best_k
    >>> scores = torch.tensor([[1.0, 3.0, 3.0, float("-inf"), 2.0]])
    >>> best_k(scores, 4, valid=torch.tensor([[True, True, True, True, False]]))[1].tolist()
    [[1, 2, 0, 3]]
    >>> best_k(scores, 2, keys=torch.tensor([[9, 8, 7, 6, 5]]))[1].tolist()
    [[7, 8]]
"""
from __future__ import annotations

import numpy as np
import torch


def best_k(scores: torch.Tensor, k: int, *, keys: torch.Tensor | None = None, valid: torch.Tensor | None = None,
           lower_is_better: bool = False, masked: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ``k`` entries of each row of ``scores`` (nq, n), best first, ties by the lower key.

    Args:
        scores: (nq, n) float scores.
        k: entries per row to return; rows with fewer valid entries are padded.
        keys: (nq, n) int64 tie-break keys (slots or ids), or None for the column
            index; with None, a ``torch.topk`` pass replaces the full sort.
        valid: (nq, n) or (n,) bool, False for entries that are padding or masked
            out; None when every entry is real.
        lower_is_better: order by ascending score (l2 distances).
        masked: the caller's promise that every entry that is not valid already
            scores the worst value (``-inf``; ``+inf`` when lower is better), as
            the scans' masked scores do: the masking pass is skipped.

    Returns:
        (scores, keys), each (nq, k): the chosen scores, and their keys (or
        columns); padding is key -1 with score ``-inf`` (``+inf`` when lower is better).
    """
    nq, n = scores.shape
    take = min(k, n)
    if scores.device.type == "cpu" and scores.dtype == torch.float32 and (keys is not None or n <= take + 1):
        return _sorted_host(scores, k, keys, valid, lower_is_better)
    if valid is not None and valid.dim() == 1:
        valid = valid.expand(nq, n)
    internal = -scores if lower_is_better else scores
    values = None
    if keys is None and n > take + 1:
        values, columns, chosen = _topk_by_column(internal, take, valid, masked)
    else:
        columns, chosen = _sorted(internal, take, keys, valid)
    out_scores = values if values is not None and not lower_is_better else scores.gather(1, columns)
    out_keys = columns if keys is None else keys.gather(1, columns)
    worst = float("inf") if lower_is_better else float("-inf")
    if chosen is not None:
        out_scores = torch.where(chosen, out_scores, torch.full_like(out_scores, worst))
        out_keys = torch.where(chosen, out_keys, torch.full_like(out_keys, -1))
    if take < k:
        out_scores = torch.cat([out_scores, out_scores.new_full((nq, k - take), worst)], dim=1)
        out_keys = torch.cat([out_keys, out_keys.new_full((nq, k - take), -1)], dim=1)
    return out_scores, out_keys


def _sorted_host(scores, k, keys, valid, lower_is_better):
    """The full-sort path of :func:`best_k` on a CPU, in numpy: one stable lexsort by (validity,
    score, key) instead of three stable argsorts and their gathers (about ten torch calls, which
    cost more than the work on the few hundred candidates a search merges)."""
    values = scores.numpy()
    nq, n = values.shape
    take = min(k, n)
    key_array = np.broadcast_to(np.arange(n), (nq, n)) if keys is None else keys.numpy()
    order_by = [key_array, values if lower_is_better else -values]  # lexsort: the last key sorts first
    invalid = None
    if valid is not None:
        invalid = ~np.broadcast_to(valid.numpy(), (nq, n))
        order_by.append(invalid)
    order = np.lexsort(order_by, axis=1)[:, :take]
    out_scores = np.take_along_axis(values, order, 1)
    out_keys = order.astype(np.int64, copy=False) if keys is None else np.take_along_axis(key_array, order, 1)
    worst = np.float32(float("inf") if lower_is_better else float("-inf"))
    if invalid is not None:
        chosen = ~np.take_along_axis(invalid, order, 1)
        out_scores = np.where(chosen, out_scores, worst)
        out_keys = np.where(chosen, out_keys, -1)
    if take < k:
        out_scores = np.concatenate([out_scores, np.full((nq, k - take), worst, dtype=np.float32)], axis=1)
        out_keys = np.concatenate([out_keys, np.full((nq, k - take), -1, dtype=np.int64)], axis=1)
    return torch.from_numpy(np.ascontiguousarray(out_scores)), torch.from_numpy(np.ascontiguousarray(out_keys))


def _sorted(internal, k, keys, valid):
    """Exact order by three stable sorts: key, then score (descending), then validity."""
    nq, n = internal.shape
    if keys is None:
        order = torch.arange(n, device=internal.device).expand(nq, n)
    else:
        order = torch.argsort(keys, dim=1, stable=True)
    by_score = torch.argsort(internal.gather(1, order), dim=1, descending=True, stable=True)
    order = order.gather(1, by_score)
    if valid is None:
        return order[:, :k], None
    by_validity = torch.argsort((~valid.gather(1, order)).to(torch.int8), dim=1, stable=True)
    order = order.gather(1, by_validity)[:, :k]
    return order, valid.gather(1, order)


def _topk_by_column(internal, k, valid, already_masked=False):
    """``torch.topk`` of k + 1; rows whose k-th place is tied are finished exactly in O(n).

    Returns (values, columns, chosen): ``values`` are ``internal`` at ``columns`` when no
    tie needed handling, else None (the caller gathers them)."""
    masked = internal if valid is None or already_masked else torch.where(valid, internal, internal.new_full((), float("-inf")))
    values, columns = torch.topk(masked, k + 1, dim=1)
    if values.device.type == "cpu":
        # The usual case, no equal values among the first k + 1, told by one numpy pass over the
        # (nq, k + 1) values instead of five small torch calls.
        head = values.numpy()
        if not (head[:, 1:] == head[:, :-1]).any():
            return values[:, :k], columns[:, :k], None
        return _ties_host(masked.numpy(), None if valid is None else valid.numpy(), head, columns.numpy(), k)
    # Equal k-th and (k+1)-th values (a finite tie, or -inf, where real and masked entries look alike)
    # mean the kept set depends on the tie rule. Elsewhere no kept entry is -inf, so all are real.
    straddle = (values[:, k] == values[:, k - 1]).nonzero().flatten()
    threshold = values[straddle, k - 1]
    values, columns = values[:, :k], columns[:, :k]
    if bool((values[:, 1:] == values[:, :-1]).any()):  # topk orders equal values arbitrarily
        by_column = torch.argsort(columns, dim=1)
        values, columns = values.gather(1, by_column), columns.gather(1, by_column)
        columns = columns.gather(1, torch.argsort(values, dim=1, descending=True, stable=True))
    chosen = None  # without a tie at the k-th place every kept entry is above -inf, so real
    if straddle.numel():
        fixed_columns, fixed_chosen = _tied_rows(internal[straddle], None if valid is None else valid[straddle],
                                                 threshold, k)
        columns = columns.clone()
        columns[straddle] = fixed_columns
        if chosen is None:
            chosen = torch.ones_like(columns, dtype=torch.bool)
        chosen[straddle] = fixed_chosen
    return None, columns, chosen


def _ties_host(internal: np.ndarray, valid: np.ndarray | None, head: np.ndarray, head_columns: np.ndarray, k: int):
    """The tie handling of :func:`_topk_by_column` on host arrays (``internal`` masked to -inf where not
    valid; ``head``, ``head_columns``: its top k + 1), in numpy: a row of a search with fewer passing rows
    than k + 1 ties at -inf, and the torch version's twenty small calls cost more than the search's product.
    Rows tied at the k-th place keep every valid entry above the k-th value, then the valid entries equal
    to it by column; every row is ordered by (value descending, column), NaN first as topk orders it."""
    rows, n = internal.shape
    columns = head_columns[:, :k].copy()
    values = head[:, :k]
    # topk orders equal values arbitrarily: rows with equal values among their k by value, then column
    # (lexsort: the last key sorts first), NaN first as topk puts it; the other rows keep topk's order.
    tied = np.flatnonzero((values[:, 1:] == values[:, :-1]).any(axis=1))
    if tied.size:
        tied_values, tied_columns = values[tied], columns[tied]
        order = np.lexsort((tied_columns, -tied_values, ~np.isnan(tied_values)), axis=1)
        columns[tied] = np.take_along_axis(tied_columns, order, 1)
    chosen = None
    straddle = np.flatnonzero(head[:, k] == head[:, k - 1])
    if straddle.size:
        chosen = np.ones((rows, k), dtype=bool)
        for row in straddle.tolist():
            threshold = head[row, k - 1]
            line = internal[row]
            above, equal = (line > threshold) | np.isnan(line), line == threshold  # NaN above, as topk has it
            if valid is not None:
                ok = valid[row] if valid.ndim == 2 else valid
                above &= ok
                equal &= ok
            picked = np.flatnonzero(above)
            picked = np.concatenate([picked, np.flatnonzero(equal)[:k - picked.size]])
            picked = picked[np.lexsort((picked, -line[picked], ~np.isnan(line[picked])))]
            columns[row, :picked.size] = picked
            columns[row, picked.size:] = 0  # padding: any column, marked by chosen
            chosen[row, picked.size:] = False
        chosen = torch.from_numpy(chosen)
    return None, torch.from_numpy(columns), chosen


def _tied_rows(internal, valid, threshold, k):
    """Exact best k of rows whose k-th value ``threshold`` is tied: every valid entry above it,
    then the valid entries equal to it by column, as many as fit; ordered by (score, column)."""
    rows, n = internal.shape
    valid = torch.ones_like(internal, dtype=torch.bool) if valid is None else valid
    above = ((internal > threshold[:, None]) | internal.isnan()) & valid  # NaN above, as topk has it
    equal = (internal == threshold[:, None]) & valid
    room = k - above.sum(dim=1, keepdim=True)
    chosen = above | (equal & (torch.cumsum(equal, dim=1) <= room))
    column = torch.arange(n, device=internal.device).expand(rows, n)
    # Chosen columns first, in column order (at most k of them), then the rest.
    _, columns = torch.topk(torch.where(chosen, column, column + n), k, dim=1, largest=False, sorted=True)
    kept = chosen.gather(1, columns)
    ranked = torch.where(kept, internal.gather(1, columns), torch.full_like(columns, 0, dtype=internal.dtype))
    # Stable by score among the kept (ties stay in column order); padding stays behind them.
    order = torch.argsort(ranked, dim=1, descending=True, stable=True)
    order = order.gather(1, torch.argsort((~kept.gather(1, order)).to(torch.int8), dim=1, stable=True))
    return columns.gather(1, order), kept.gather(1, order)
