"""The grader interface: a distribution over the five grades per (query, job)."""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .cases import QueryCase
from .grades import check_distribution


@runtime_checkable
class Grader(Protocol):
    """Grades jobs for a query on the five-point policy (``docs/grading_policy.md``).

    ``grade`` returns an (n, 5) array of probabilities, columns Bad ... Excellent,
    one row per job id in the order given.
    """

    name: str

    def grade(self, case: QueryCase, job_ids: Sequence[int]) -> np.ndarray: ...


def grade_checked(grader: Grader, case: QueryCase, job_ids: Sequence[int]) -> np.ndarray:
    """Call a grader and check that it answered one probability row per job."""
    distribution = check_distribution(grader.grade(case, job_ids), name=f"{grader.name} grades")
    if distribution.shape[0] != len(job_ids):
        raise ValueError(f"{grader.name} grades: expected {len(job_ids)} rows, one per job, got {distribution.shape[0]}")
    return distribution
