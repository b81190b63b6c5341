"""The written grading policy (``docs/grading_policy.md``) applied by rules.

For a query plan and a job, the policy first checks every strict clause of the
plan: a job that breaks one is Bad. Otherwise it scores the core match in [0, 1]
from three signals, scales it to grade points (0 = Bad ... 4 = Excellent), adds the
adjustments, and turns the points into a distribution over the grades:

* function match: same function 1, neighbouring function 0.5, unrelated 0
  (:mod:`.functions`);
* title coverage: share of the query's role words in the job's title and department
  (two words cover a role fully);
* semantic similarity of the query's semantic text and the posting text under the
  base sentence model, mapped from [0.2, 0.7] to [0, 1].

Adjustments: seniority far from the member's level (or an intern / director /
executive job for a query that named no level), an old posting, a hybrid job for
a "mostly remote" query, a staffing agency, a soft preference met (e.g. a company
where the member's former colleagues work) and the member's profile fit. A job
with a mark against it is never Excellent: its points stop at ``GOOD_CEILING``.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Sequence

import numpy as np

from ..catalog import JobCatalog
from ..locations import WORK_MODE_CODES
from ..members import MemberStore
from ..seniority import LEVEL_CODES, seniority_of
from .cases import QueryCase
from .functions import function_match, job_function, role_words, title_coverage, title_function
from .grades import NUM_GRADES, grade_distribution
from .retrieval import JobIndex

# Weights of the core match when the query names a function; without one, coverage and similarity share it.
FUNCTION_WEIGHT, COVERAGE_WEIGHT, SIMILARITY_WEIGHT = 0.40, 0.35, 0.25
SIMILARITY_FLOOR, SIMILARITY_CEILING = 0.2, 0.7
COVERAGE_WORDS = 2
SENIORITY_STEP_PENALTY, SENIORITY_FAR_PENALTY, UNASKED_EXTREME_PENALTY = 0.3, 0.8, 0.5
AGE_PENALTIES = ((90, 0.6), (30, 0.3))  # (older than days, penalty), oldest first
HYBRID_FOR_REMOTE_PENALTY = 0.4
STAFFING_PENALTY = 0.3
PREFERENCE_BONUS = 0.6
PROFILE_SPAN = 0.8
PROFILE_FLOOR, PROFILE_CEILING = 0.2, 0.6
SPREAD = 0.5
# Excellent needs no mark against the job: with one (worth more than MARK_FLOOR points) the grade points stop below Excellent.
GOOD_CEILING, MARK_FLOOR = 3.4, 0.1
_EXTREME_LEVELS = frozenset(LEVEL_CODES[level] for level in ("intern", "director", "executive"))


def _ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _clauses_on(filter_dict: dict | None, column: str) -> list[dict]:
    """Every {column: spec} clause inside a filter dict, at any depth."""
    found: list[dict] = []
    if isinstance(filter_dict, dict):
        for key, value in filter_dict.items():
            if key == column:
                found.append(value)
            elif key in ("and", "or"):
                for item in value:
                    found.extend(_clauses_on(item, column))
            elif key == "not":
                found.extend(_clauses_on(value, column))
    return found


class PolicyGrader:
    """The grading policy as rules over the plan, the member and the job's attributes.

    Args:
        catalog: postings with derived attributes.
        vectors: base sentence-model embeddings of ``catalog.texts()``, one row per posting in catalog order.
        encode: the same base model for query and profile texts (list of str -> normalised (n, dim) array).
        members: the member store, for personalised queries.
        now: the time ages are measured from (default: the catalog's reference time).

    Example:
        >>> grader = PolicyGrader(catalog, vectors, encoder.encode, SampleNetwork())  # doctest: +SKIP
        >>> grader.grade(case, [job_id]).round(2)  # doctest: +SKIP
        array([[0.  , 0.  , 0.02, 0.4 , 0.58]])
    """

    name = "policy"

    def __init__(self, catalog: JobCatalog, vectors: np.ndarray, encode: Callable[[list[str]], np.ndarray],
                 members: MemberStore | None, *, now: dt.datetime | None = None):
        self.catalog = catalog
        self.jobs = JobIndex(catalog, vectors)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.row_of = {job_id: row for row, job_id in enumerate(catalog.ids)}
        self.encode = encode
        self.members = members
        self.now = now or catalog.default_now()
        self.functions = {job_id: title_function(r.posting.title, r.posting.department)
                          for job_id, r in catalog.records.items()}
        self._text_vectors: dict[str, np.ndarray] = {}

    def _vector(self, text: str) -> np.ndarray:
        if text not in self._text_vectors:
            self._text_vectors[text] = np.asarray(self.encode([text])[0], dtype=np.float32)
        return self._text_vectors[text]

    def _rows(self, job_ids: Sequence[int]) -> np.ndarray:
        unknown = [j for j in job_ids if int(j) not in self.row_of]
        if unknown:
            raise KeyError(f"job_ids: expected ids of the catalog's postings, got unknown id {unknown[0]}")
        return np.array([self.row_of[int(j)] for j in job_ids], dtype=np.int64)

    def factors(self, case: QueryCase, job_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Every term of the policy per job, plus the resulting grade points: the grade's explanation."""
        if not isinstance(case, QueryCase):
            raise TypeError(f"case: expected a QueryCase, got {type(case).__name__}")
        rows = self._rows(job_ids)
        ids = np.asarray([int(j) for j in job_ids], dtype=np.int64)
        records = [self.catalog.records[int(j)] for j in ids]
        plan = case.plan
        member = self.members.get(case.member_id) if case.member_id is not None and self.members is not None else None
        semantic = plan.semantic_text or plan.query

        passes = np.isin(ids, self.jobs.passing(plan.filters, ids)) if plan.filters else np.ones(len(ids), dtype=bool)
        query_function = job_function(semantic)
        match = [function_match(query_function, self.functions[int(j)]) for j in ids]
        words = role_words(semantic)
        coverage = [title_coverage(words, f"{r.posting.title} {r.posting.department}") for r in records]
        similarity = self.vectors[rows] @ self._vector(semantic) if len(rows) else np.zeros(0, dtype=np.float32)

        function_term = np.array([np.nan if m is None else m for m in match], dtype=np.float64)
        coverage_term = np.array([np.nan if c is None else min(1.0, c * len(words) / min(len(words), COVERAGE_WORDS))
                                  for c in coverage], dtype=np.float64)
        similarity_term = _ramp(similarity.astype(np.float64), SIMILARITY_FLOOR, SIMILARITY_CEILING)
        weights = np.stack([np.full(len(ids), FUNCTION_WEIGHT), np.full(len(ids), COVERAGE_WEIGHT), np.full(len(ids), SIMILARITY_WEIGHT)])
        terms = np.stack([function_term, coverage_term, similarity_term])
        present = ~np.isnan(terms)
        weights = np.where(present, weights, 0.0)
        core = (np.nan_to_num(terms) * weights).sum(axis=0) / weights.sum(axis=0)

        seniority = np.zeros(len(ids))
        levels = np.array([LEVEL_CODES[r.seniority] for r in records], dtype=np.int64)
        if not _clauses_on(plan.filters, "seniority"):
            if member is not None:
                distance = np.abs(levels - LEVEL_CODES[seniority_of(member.title)])
                seniority = -np.where(distance >= 2, SENIORITY_FAR_PENALTY, np.where(distance == 1, SENIORITY_STEP_PENALTY, 0.0))
            else:
                seniority = -UNASKED_EXTREME_PENALTY * np.isin(levels, list(_EXTREME_LEVELS))

        age_days = np.array([(self.now - r.posting.posted_at).total_seconds() / 86400 for r in records])
        age = np.zeros(len(ids))
        for days, penalty in AGE_PENALTIES:
            age = np.where((age == 0) & (age_days > days), -penalty, age)

        work_mode = np.zeros(len(ids))
        for spec in _clauses_on(plan.filters, "work_mode"):
            modes = set(spec.get("in", [])) if isinstance(spec, dict) else set()
            if WORK_MODE_CODES["remote"] in modes and WORK_MODE_CODES["hybrid"] in modes:
                work_mode = -HYBRID_FOR_REMOTE_PENALTY * np.array([r.work_mode == "hybrid" for r in records], dtype=np.float64)

        staffing = np.zeros(len(ids))
        if not _clauses_on(plan.filters, "is_staffing"):
            staffing = -STAFFING_PENALTY * np.array([r.is_staffing for r in records], dtype=np.float64)

        preference = np.zeros(len(ids))
        for clause in plan.preferences:
            preference += PREFERENCE_BONUS * np.isin(ids, self.jobs.passing(clause, ids))

        profile = np.zeros(len(ids))
        if member is not None and len(rows):
            fit = self.vectors[rows] @ self._vector(member.profile_text())
            profile = PROFILE_SPAN * (_ramp(fit.astype(np.float64), PROFILE_FLOOR, PROFILE_CEILING) - 0.5)

        against = seniority + age + work_mode + staffing + np.minimum(profile, 0.0)
        points = (NUM_GRADES - 1) * core + seniority + age + work_mode + staffing + preference + profile
        points = np.where(against < -MARK_FLOOR, np.minimum(points, GOOD_CEILING), points)
        points = np.where(passes, np.clip(points, 0.0, NUM_GRADES - 1), 0.0)
        return {"passes_filters": passes, "function": function_term, "coverage": coverage_term, "similarity": similarity,
                "core": core, "seniority": seniority, "age": age, "work_mode": work_mode, "staffing": staffing,
                "preference": preference, "profile": profile, "points": points}

    def grade(self, case: QueryCase, job_ids: Sequence[int]) -> np.ndarray:
        """(n, 5) grade probabilities, Bad ... Excellent, one row per job id."""
        return grade_distribution(self.factors(case, job_ids)["points"], spread=SPREAD)
