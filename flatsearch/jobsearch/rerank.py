"""Ranking of retrieved candidates behind a small interface.

A reranker takes the query, its plan, the member (or None) and the candidates
and returns them best first with ``score`` set. The default,
:class:`ScoreReranker`, keeps the multi-objective score of
:mod:`flatsearch.jobsearch.scoring` that the index scan computed for each
candidate, so ranking equals retrieval and nothing is encoded or multiplied
again; a cross-encoder (:mod:`.student`) can replace it through the same interface
and read :func:`~flatsearch.jobsearch.text.posting_text` of each candidate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .catalog import JobRecord
from .members import Member
from .plan import QueryPlan


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
    """Order by the documented score the scan returned (``Candidate.retrieval_score``); ties break by id.

    Example:
        >>> from flatsearch.jobsearch.plan import QueryPlan
        >>> found = [Candidate(7, None, np.zeros(2), 0.0, False, 0.5), Candidate(3, None, np.zeros(2), 0.0, False, 0.9)]
        >>> [(c.id, c.score) for c in ScoreReranker().rerank("q", QueryPlan("q"), None, found)]
        [(3, 0.9), (7, 0.5)]
    """

    description = "the multi-objective score (similarity + engagement + preference, see scoring.py)"

    def rerank(self, query: str, plan: QueryPlan, member: Member | None, candidates: Sequence[Candidate]) -> list[Candidate]:
        ranked = sorted(candidates, key=lambda c: (-c.retrieval_score, c.id))
        return [replace(candidate, score=candidate.retrieval_score) for candidate in ranked]


def describe_reranker(reranker: Reranker) -> str:
    """What orders the results, for the output: a reranker's ``description`` or its class name."""
    return getattr(reranker, "description", type(reranker).__name__)
