"""A teacher that asks a large language model, over any OpenAI-compatible chat endpoint.

Each (query, job) pair is one chat completion: the grading rubric (the compact
form of ``docs/grading_policy.md``) as the system message, the query, what the
planner understood of it, the member and the job as the user message, and a
one-token answer, a digit from 0 (Bad) to 4 (Excellent). Where the server returns
log-probabilities (``logprobs`` with ``top_logprobs``; vLLM, llama.cpp server and
OpenAI do), the grade distribution is read from them; otherwise the answered grade
gets probability 1.
"""
from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from ..catalog import JobCatalog
from ..members import MemberStore
from .cases import QueryCase
from .grades import GRADES, NUM_GRADES
from .texts import job_side_text

RUBRIC = """You grade how well a job posting answers a job seeker's query, on five grades:
4 Excellent: the job does the work asked for (same function, the title names the role), meets every requirement, \
fits the seeker's level, and nothing counts against it.
3 Good: the right function with a neighbouring title, or an excellent match with one mark against it \
(posting older than a month, a level one step away from the member's, hybrid when mostly remote was asked, a staffing agency).
2 Fair: a neighbouring function (e.g. data engineering for a data science query), or the right function with several marks against it.
1 Poor: unrelated work that shares some words or domain with the query, or the right work at a level far from the seeker's.
0 Bad: unrelated work, or the job breaks a requirement of the query (place, work mode, pay, recency, level, excluded company, \
staffing agencies excluded).
A preference ("ideally ...") met raises a grade by about half a step; a member's profile that fits the job raises it, one that does not lowers it.
Answer with a single digit from 0 to 4 and nothing else."""

_DIGIT = re.compile(r"[0-4]")


class GraderError(RuntimeError):
    """The grading endpoint failed or answered something that is not a grade."""


class LLMGrader:
    """Grades with an LLM behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Example (needs a running endpoint, so not run here):
        >>> grader = LLMGrader(base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct",
        ...                    catalog=catalog, members=members)  # doctest: +SKIP
        >>> grader.grade(case, [job_id])  # doctest: +SKIP
        array([[0.01, 0.02, 0.07, 0.6 , 0.3 ]])
    """

    name = "llm"

    def __init__(self, *, base_url: str, model: str, catalog: JobCatalog, members: MemberStore | None = None,
                 api_key: str = "not-needed", timeout_s: float = 30.0, max_retries: int = 2, concurrency: int = 4,
                 rubric: str = RUBRIC):
        import openai

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model: expected the served model's name, got {model!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency <= 0:
            raise ValueError(f"concurrency: expected a positive int, got {concurrency!r}")
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries)
        self._errors = (openai.OpenAIError,)
        self.model = model
        self.catalog = catalog
        self.members = members
        self.concurrency = concurrency
        self.rubric = rubric

    def prompt(self, case: QueryCase, job_id: int) -> str:
        """The user message for one pair."""
        plan = case.plan
        lines = [f"Query: {case.query}"]
        understood = [e.meaning for e in plan.explanations if e.filter is not None and not e.soft]
        preferred = [e.meaning for e in plan.explanations if e.soft]
        if understood:
            lines.append("Requirements: " + "; ".join(understood))
        if preferred:
            lines.append("Preferences: " + "; ".join(preferred))
        if case.member_id is not None and self.members is not None:
            lines.append(f"Member: {self.members.get(case.member_id).profile_text()}")
        record = self.catalog.records.get(int(job_id))
        if record is None:
            raise KeyError(f"job_ids: expected ids of the catalog's postings, got unknown id {job_id}")
        lines.append(f"Job: {job_side_text(record, self.catalog.default_now())}")
        lines.append("Grade (0-4):")
        return "\n".join(lines)

    def _ask(self, case: QueryCase, job_id: int) -> np.ndarray:
        try:
            response = self.client.chat.completions.create(
                model=self.model, temperature=0, max_tokens=1, logprobs=True, top_logprobs=5,
                messages=[{"role": "system", "content": self.rubric}, {"role": "user", "content": self.prompt(case, job_id)}])
        except self._errors as error:
            raise GraderError(f"grading endpoint failed for query {case.query_id!r}, job {job_id}: {type(error).__name__}: {error}") from error
        if not response.choices:
            raise GraderError(f"grading endpoint returned no choices for query {case.query_id!r}, job {job_id}")
        choice = response.choices[0]
        distribution = _from_logprobs(choice.logprobs)
        if distribution is not None:
            return distribution
        answer = _DIGIT.search(choice.message.content or "")
        if answer is None:
            raise GraderError(f"grading endpoint answered {choice.message.content!r} for query {case.query_id!r}, job {job_id}; "
                              "expected a digit from 0 to 4")
        return np.eye(NUM_GRADES)[int(answer.group(0))]

    def grade(self, case: QueryCase, job_ids: Sequence[int]) -> np.ndarray:
        """(n, 5) grade probabilities, one request per job, ``concurrency`` at a time."""
        if not isinstance(case, QueryCase):
            raise TypeError(f"case: expected a QueryCase, got {type(case).__name__}")
        ids = [int(j) for j in job_ids]
        if not ids:
            return np.zeros((0, NUM_GRADES))
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(ids))) as pool:
            return np.stack(list(pool.map(lambda job_id: self._ask(case, job_id), ids)))


def _from_logprobs(logprobs) -> np.ndarray | None:
    """Grade probabilities from the first answer token's top log-probabilities, or None when there are none."""
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    weights = np.zeros(NUM_GRADES)
    for candidate in content[0].top_logprobs or []:
        token = candidate.token.strip()
        grade = int(token) if token in ("0", "1", "2", "3", "4") else next(
            (g for g, name in enumerate(GRADES) if token and name.lower().startswith(token.lower()) and len(token) >= 3), None)
        if grade is not None:
            weights[grade] += math.exp(candidate.logprob)
    if weights.sum() <= 0:
        return None
    return weights / weights.sum()
