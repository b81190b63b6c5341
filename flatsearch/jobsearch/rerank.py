"""Ranking of retrieved candidates behind a small interface.

A reranker takes the query, its plan, the member (or None) and the candidates
and returns them best first with ``score`` set. The default,
:class:`ScoreReranker`, recomputes the multi-objective score of
:mod:`flatsearch.jobsearch.scoring` from the stored vectors and columns, so
ranking equals retrieval; a cross-encoder can replace it through the same
interface and read :func:`~flatsearch.jobsearch.text.posting_text` of each candidate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .catalog import JobRecord
from .members import Member
from .plan import QueryPlan
from .scoring import PREFERENCE_WEIGHT, score


@dataclass(frozen=True)
class Candidate:
    """One retrieved job: its record, stored vector and engagement column, whether it meets the
    plan's soft preferences, the score the index scan gave it and the final score."""

    id: int
    record: JobRecord
    vector: np.ndarray
    engagement: float
    preferred: bool
    retrieval_score: float
    score: float = float("nan")


@runtime_checkable
class Reranker(Protocol):
    def rerank(self, query: str, plan: QueryPlan, member: Member | None, candidates: Sequence[Candidate]) -> list[Candidate]: ...


class ScoreReranker:
    """Recompute the documented score from vectors; ties break by id for a stable order.

    ``encode`` maps a text to its normalised query vector (e.g. ``Encoder.encode_query``).
    """

    description = "the multi-objective score (similarity + engagement + preference, see scoring.py)"

    def __init__(self, encode):
        self.encode = encode

    def rerank(self, query: str, plan: QueryPlan, member: Member | None, candidates: Sequence[Candidate]) -> list[Candidate]:
        if not candidates:
            return []
        documents = np.stack([c.vector for c in candidates]).astype(np.float32)
        similarity = documents @ self.encode(plan.semantic_text)
        fit = documents @ self.encode(member.profile_text()) if member is not None and plan.profile_weight else np.zeros(len(candidates), np.float32)
        scores = score(similarity, fit, np.array([c.engagement for c in candidates], dtype=np.float32),
                       np.array([c.preferred for c in candidates]), profile_weight=plan.profile_weight,
                       engagement_weight=plan.boost.get("engagement", 0.0), preference_weight=PREFERENCE_WEIGHT if plan.preferences else 0.0)
        ranked = sorted(zip(scores.tolist(), candidates), key=lambda pair: (-pair[0], pair[1].id))
        return [replace(candidate, score=value) for value, candidate in ranked]


def describe_reranker(reranker: Reranker) -> str:
    """What orders the results, for the output: a reranker's ``description`` or its class name."""
    return getattr(reranker, "description", type(reranker).__name__)
