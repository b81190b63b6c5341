"""The multi-objective score, defined once; retrieval and the default reranker both use it.

For a query vector q, an optional member profile vector p and a job with
normalised embedding d::

    score = cos(q, d)                                  semantic similarity
          + PROFILE_WEIGHT    * cos(p, d)              value: how well the member's profile fits the job
          + ENGAGEMENT_WEIGHT * engagement(job, now)   engagement prior
          + PREFERENCE_WEIGHT * [job meets a soft preference]  e.g. "ideally where I know people"

``engagement`` is a proxy because no click logs ship with the data: recency,
``exp(-(now - posted_at) / RECENCY_SCALE)``. The index stores it in its own
"engagement" column relative to an anchor time, ``exp(-(anchor - posted_at) / RECENCY_SCALE)``,
so a query at time ``now`` multiplies the boost weight by ``exp(-(now - anchor) / RECENCY_SCALE)``
and the scan computes the prior exactly. Real click-through estimates can replace the
column through ``index.set_attributes(ids, {"engagement": ctr})``.

The profile term is linear in d, so it is folded into the query vector
(``q + PROFILE_WEIGHT * p``) and the scan computes it exactly too. The preference term
is exact as well: the pipeline scans once with and once without the preference filter
and merges (see :mod:`flatsearch.jobsearch.pipeline`).
"""
from __future__ import annotations

import math

import numpy as np

PROFILE_WEIGHT = 0.3
ENGAGEMENT_WEIGHT = 0.1
PREFERENCE_WEIGHT = 0.15
RECENCY_SCALE_S = 14 * 86400  # an e-fold of the prior every two weeks


def stored_engagement(posted_at_s: float, anchor_s: float) -> float:
    """The value kept in the "engagement" column: the recency prior at the anchor time.

    Example:
        >>> stored_engagement(0, 0), round(stored_engagement(0, RECENCY_SCALE_S), 4)
        (1.0, 0.3679)
    """
    return math.exp((posted_at_s - anchor_s) / RECENCY_SCALE_S)


def engagement_boost(now_s: float, anchor_s: float, *, weight: float = ENGAGEMENT_WEIGHT) -> float:
    """Boost weight for the "engagement" column so that weight * column = weight * prior(now)."""
    return weight * math.exp(-(now_s - anchor_s) / RECENCY_SCALE_S)


def fold_profile(query: np.ndarray, profile: np.ndarray | None, *, weight: float = PROFILE_WEIGHT) -> np.ndarray:
    """q + weight * p: the value term as part of the query vector."""
    if profile is None or weight == 0:
        return np.asarray(query, dtype=np.float32)
    return (np.asarray(query, dtype=np.float32) + np.float32(weight) * np.asarray(profile, dtype=np.float32)).astype(np.float32)


def score(similarity: np.ndarray, profile_similarity: np.ndarray, engagement: np.ndarray, preferred: np.ndarray, *,
          profile_weight: float, engagement_weight: float, preference_weight: float) -> np.ndarray:
    """The formula above, on arrays of per-job terms (engagement already at query time)."""
    return (similarity + profile_weight * profile_similarity + engagement_weight * engagement
            + preference_weight * preferred.astype(np.float32)).astype(np.float32)
