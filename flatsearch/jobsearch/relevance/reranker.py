"""The distilled student as the job search pipeline's reranker.

:class:`StudentReranker` implements :class:`flatsearch.jobsearch.rerank.Reranker`:
it reads each (query, job) pair as the student was trained to
(:mod:`.texts`), scores it with the expected grade, and orders the candidates by
that score (ties keep the retrieval order). :func:`load_student_reranker` returns
None when no trained student is saved, so the pipeline can fall back to its
default ranking and say which one it uses.
"""
from __future__ import annotations

import logging
import os
import pathlib
from dataclasses import replace
from typing import Sequence

from ..catalog import JobCatalog
from ..members import Member
from ..plan import QueryPlan
from ..rerank import Candidate
from ..settings import default_cache_dir
from .student import StudentCrossEncoder
from .texts import job_side_text, query_side_text

logger = logging.getLogger(__name__)


def default_student_path(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where ``examples/train_and_eval.py`` saves the student for the pipeline: ``<cache>/relevance/student``."""
    return pathlib.Path(cache_dir) / "relevance" / "student" if cache_dir is not None else default_cache_dir() / "relevance" / "student"


class StudentReranker:
    """Ranks candidates by the student's expected grade (0 = Bad ... 4 = Excellent).

    Example:
        >>> reranker = load_student_reranker(default_student_path(), catalog=search.catalog)  # doctest: +SKIP
        >>> reranker.description  # doctest: +SKIP
        'student cross-encoder (6 layers) from /root/.cache/flatsearch/relevance/student, top 30'
    """

    def __init__(self, student: StudentCrossEncoder, *, catalog: JobCatalog, top_k: int = 30, source: str = "memory",
                 batch_size: int = 64):
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"top_k: expected a positive int, got {top_k!r}")
        self.student = student
        self.catalog = catalog
        self.top_k = top_k
        self.batch_size = batch_size
        self.description = f"student cross-encoder ({student.num_layers} layers) from {source}, top {top_k}"

    def rerank(self, query: str, plan: QueryPlan, member: Member | None, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The first ``top_k`` candidates (in retrieval order) ordered by expected grade, then the rest as they came.

        Scores are expected grades (0 ... 4); candidates beyond ``top_k`` keep their score below every reranked one.
        """
        if not candidates:
            return []
        head, tail = list(candidates[:self.top_k]), list(candidates[self.top_k:])
        now = self.catalog.default_now()
        query_text = query_side_text(plan, member, self.catalog)
        scores = self.student.score([(query_text, job_side_text(c.record, now)) for c in head], batch_size=self.batch_size)
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
        floor = float(min(scores)) if len(scores) else 0.0
        return ([replace(head[i], score=float(scores[i])) for i in order]
                + [replace(c, score=floor - 1.0 - n / max(1, len(tail))) for n, c in enumerate(tail)])


def load_student_reranker(path: str | os.PathLike | None = None, *, catalog: JobCatalog, top_k: int = 30,
                          device: str = "cpu") -> StudentReranker | None:
    """The saved student as a reranker, or None (with a log line) when ``path`` holds no trained student."""
    path = pathlib.Path(path) if path is not None else default_student_path()
    if not (path / "config.json").is_file():
        logger.info("no trained student at %s; the default ranking is used", path)
        return None
    student = StudentCrossEncoder.load(path, device=device)
    logger.info("ranking with the student cross-encoder from %s (%d layers)", path, student.num_layers)
    return StudentReranker(student, catalog=catalog, top_k=top_k, source=str(path))
