"""The bi-encoder's composite loss, term by term.

Scores are cosine similarities between a query and the documents of its training
list (``scores``, shape (queries, list length), with ``mask`` marking real entries
of padded lists):

* ``in_batch_contrastive``: each query against its best document, with every other
  document in the batch as a negative (InfoNCE);
* ``listnet``: cross-entropy between the teacher's top-one distribution over a list
  (softmax of expected grades) and the model's (softmax of scores);
* ``kl_to_frozen``: KL divergence from the frozen starting model's top-one
  distribution, so the model does not forget what it knew (the lists come from
  its own retrieval, so that is where it must stay sound);
* ``grade_band_margin``: across the whole batch, a document graded higher must score
  at least ``margin`` per grade step above one graded lower, so a score means the
  same grade band for every query (calibration).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_MASKED = -1e4


def _masked(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return scores.masked_fill(~mask, _MASKED)


def in_batch_contrastive(queries: torch.Tensor, positives: torch.Tensor, documents: torch.Tensor, *, has_positive: torch.Tensor,
                         temperature: float, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE: query i should pick positives[i] out of ``positives`` plus every row of ``documents``.

    ``queries`` and ``positives`` are (B, dim), ``documents`` (M, dim) holds the other batch documents; queries
    without a positive (``has_positive`` False) are left out, and ``exclude`` (B, M) marks documents that must not
    count as negatives of a query (others it has graded Good or better).

    Example:
        >>> q = torch.eye(2); loss = in_batch_contrastive(q, q, torch.zeros(0, 2), has_positive=torch.tensor([True, True]), temperature=0.05)
        >>> float(loss) < 1e-6
        True
    """
    if not bool(has_positive.any()):
        return queries.sum() * 0.0
    candidates = torch.cat([positives, documents]) if len(documents) else positives
    logits = queries @ candidates.T / temperature
    if exclude is not None and exclude.numel():
        logits = torch.cat([logits[:, :len(positives)], logits[:, len(positives):].masked_fill(exclude, _MASKED)], dim=1)
    targets = torch.arange(len(queries), device=queries.device)
    return F.cross_entropy(logits[has_positive], targets[has_positive])


def listnet(scores: torch.Tensor, teacher_gains: torch.Tensor, mask: torch.Tensor, *, temperature: float,
            teacher_temperature: float) -> torch.Tensor:
    """ListNet top-one cross-entropy between teacher gains and model scores per list.

    Example:
        >>> s = torch.tensor([[0.9, 0.1]]); g = torch.tensor([[4.0, 0.0]]); m = torch.ones(1, 2, dtype=torch.bool)
        >>> float(listnet(s, g, m, temperature=0.05, teacher_temperature=0.5)) < float(listnet(-s, g, m, temperature=0.05, teacher_temperature=0.5))
        True
    """
    target = F.softmax(_masked(teacher_gains / teacher_temperature, mask), dim=-1)
    log_model = F.log_softmax(_masked(scores / temperature, mask), dim=-1)
    return -(target * log_model).masked_fill(~mask, 0.0).sum(dim=-1).mean()


def kl_to_frozen(scores: torch.Tensor, frozen_scores: torch.Tensor, mask: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """KL(frozen || model) between the two top-one distributions of each list."""
    frozen = F.softmax(_masked(frozen_scores / temperature, mask), dim=-1)
    log_model = F.log_softmax(_masked(scores / temperature, mask), dim=-1)
    log_frozen = F.log_softmax(_masked(frozen_scores / temperature, mask), dim=-1)
    return (frozen * (log_frozen - log_model)).masked_fill(~mask, 0.0).sum(dim=-1).mean()


def grade_band_margin(scores: torch.Tensor, grades: torch.Tensor, mask: torch.Tensor, *, margin: float) -> torch.Tensor:
    """Mean hinge ``relu(margin * (g_i - g_j) - (s_i - s_j))`` over all batch pairs with g_i > g_j.

    Example:
        >>> s = torch.tensor([[0.8, 0.2]]); g = torch.tensor([[4, 0]]); m = torch.ones(1, 2, dtype=torch.bool)
        >>> round(float(grade_band_margin(s, g, m, margin=0.1)), 4), round(float(grade_band_margin(s, g, m, margin=0.2)), 4)
        (0.0, 0.2)
    """
    flat_scores, flat_grades = scores[mask], grades[mask].to(scores.dtype)
    gap = flat_grades[:, None] - flat_grades[None, :]
    ordered = gap > 0
    if not bool(ordered.any()):
        return scores.sum() * 0.0
    hinge = F.relu(margin * gap - (flat_scores[:, None] - flat_scores[None, :]))
    return hinge[ordered].mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the four terms and their temperatures."""

    contrastive: float = 1.0
    listnet: float = 1.0
    kl_to_frozen: float = 0.5
    calibration: float = 1.0
    temperature: float = 0.05
    teacher_temperature: float = 0.5
    margin: float = 0.03

    def __post_init__(self):
        for name in ("contrastive", "listnet", "kl_to_frozen", "calibration", "margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a non-negative weight, got {getattr(self, name)!r}")
        for name in ("temperature", "teacher_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected a positive temperature, got {getattr(self, name)!r}")


def composite_loss(queries: torch.Tensor, documents: torch.Tensor, *, teacher_gains: torch.Tensor, grades: torch.Tensor,
                   frozen_scores: torch.Tensor, mask: torch.Tensor, weights: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted sum of the four terms for a batch of lists, and each term's value.

    ``queries`` (B, dim) and ``documents`` (B, L, dim) are normalised embeddings; the other tensors are (B, L).
    The positive of each list is its best-graded document when that is graded Good or better.
    """
    scores = torch.einsum("bd,bld->bl", queries, documents)
    best = _masked(teacher_gains, mask).argmax(dim=-1)
    rows = torch.arange(len(queries), device=queries.device)
    has_positive = grades[rows, best] >= 3
    positives = documents[rows, best]
    # Negatives: every real document of the batch except the positives themselves.
    others = mask.clone()
    others[rows, best] = False
    owner = rows[:, None].expand_as(mask)[others]
    exclude = (owner[None, :] == rows[:, None]) & (grades[others][None, :] >= 3)
    terms = {
        "contrastive": in_batch_contrastive(queries, positives, documents[others], has_positive=has_positive,
                                            temperature=weights.temperature, exclude=exclude),
        "listnet": listnet(scores, teacher_gains, mask, temperature=weights.temperature, teacher_temperature=weights.teacher_temperature),
        "kl_to_frozen": kl_to_frozen(scores, frozen_scores, mask, temperature=weights.temperature),
        "calibration": grade_band_margin(scores, grades, mask, margin=weights.margin),
    }
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: value.item() for name, value in terms.items()}
