"""Synthetic training data: planned queries, retrieved candidates, teacher grades, JSONL.

One judgment row per (query, job)::

    {"query_id", "query", "query_type", "member_id", "split", "job_id",
     "grades": [p_bad, p_poor, p_fair, p_good, p_excellent], "grade", "source", "rank"}

``source`` is "retrieved" (``rank`` = position in the retrieval) or "random" (a
job that passes the query's strict filters, drawn at random, so the student also
sees clear negatives).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import random
import tempfile
from typing import Any, Iterable, Sequence

import numpy as np

from ..corpus import json_lines
from .cases import QueryCase
from .grader import Grader, grade_checked
from .grades import GRADES, hard_grade
from .querygen import SyntheticQuery
from .retrieval import JobIndex


def plan_queries(queries: Sequence[SyntheticQuery], planner, *, now: dt.datetime) -> list[QueryCase]:
    """Plan each query; queries the planner does not read as a job search are dropped."""
    cases = []
    for number, query in enumerate(queries):
        plan = planner.plan(query.query, query.member_id, now=now)
        if plan.intent == "job_search":
            cases.append(QueryCase(f"q{number:05d}", query.query, query.query_type, query.member_id, plan, query.split))
    return cases


def judgment_rows(case: QueryCase, job_ids: Sequence[int], distribution: np.ndarray, *, source: str,
                  ranks: Sequence[int | None]) -> list[dict[str, Any]]:
    hard = hard_grade(distribution)
    return [{"query_id": case.query_id, "query": case.query, "query_type": case.query_type, "member_id": case.member_id,
             "split": case.split, "job_id": int(job_id), "grades": [round(float(p), 6) for p in row], "grade": int(g),
             "grade_label": GRADES[int(g)], "source": source, "rank": rank}
            for job_id, row, g, rank in zip(job_ids, distribution, hard, ranks)]


def grade_candidates(cases: Sequence[QueryCase], retrieved: Sequence[np.ndarray], grader: Grader, *, jobs: JobIndex,
                     random_negatives: int, seed: int, progress: bool = False) -> list[dict[str, Any]]:
    """Teacher grades for each case's retrieved jobs plus ``random_negatives`` random jobs passing its filters."""
    from tqdm.auto import tqdm

    if len(cases) != len(retrieved):
        raise ValueError(f"retrieved: expected one id list per case ({len(cases)}), got {len(retrieved)}")
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for case, ids in tqdm(list(zip(cases, retrieved)), desc="teacher grading", disable=not progress):
        ids = [int(i) for i in ids]
        taken = set(ids)
        pool = [int(i) for i in jobs.passing(case.plan.filters) if int(i) not in taken]
        extra = rng.sample(pool, min(random_negatives, len(pool)))
        if ids:
            rows += judgment_rows(case, ids, grade_checked(grader, case, ids), source="retrieved", ranks=range(len(ids)))
        if extra:
            rows += judgment_rows(case, extra, grade_checked(grader, case, extra), source="random", ranks=[None] * len(extra))
    return rows


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSON Lines, atomically (a temporary file renamed into place)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, sort_keys=True) + "\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_jsonl(path: str | os.PathLike, *, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read JSON Lines; every row must be an object holding the ``required`` fields."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"path: expected an existing JSONL file, got {str(path)!r}")
    rows = []
    for number, row in json_lines(path):
        missing = [key for key in required if key not in row]
        if missing:
            raise ValueError(f"{path.name} line {number}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return rows


JUDGMENT_FIELDS = ("query_id", "query", "query_type", "member_id", "split", "job_id", "grades", "grade")


def rows_by_query(rows: Iterable[dict[str, Any]], *, split: str | None = None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if split is None or row["split"] == split:
            grouped.setdefault(row["query_id"], []).append(row)
    return grouped

