"""Offline evaluation against teacher grades, with ranx.

Qrels are the teacher's most likely grades (Poor = 1 ... Excellent = 4; Bad is
not relevant). NDCG@10 uses the grades as gains; Recall@100 counts jobs graded
Good or better (ranx's ``recall@100-l3``). Runs are ranked lists; the scores given
to ranx are derived from the rank, so ties cannot reorder a list.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np

from .grades import hard_grade

METRICS = ("ndcg@10", "recall@100-l3")
METRIC_LABELS = {"ndcg@10": "NDCG@10", "recall@100-l3": "Recall@100"}
OVERALL = "overall"


def qrels_dict(graded: Mapping[str, Mapping[int, int]]) -> dict[str, dict[str, int]]:
    """{query id: {job id: grade}} with ranx's string keys, Bad (0) left out."""
    return {qid: {str(job): int(g) for job, g in grades.items() if g > 0} for qid, grades in graded.items()}


def run_dict(rankings: Mapping[str, Sequence[int]]) -> dict[str, dict[str, float]]:
    """{query id: {job id: score}} from ranked id lists; score = list length - position."""
    out = {}
    for qid, ids in rankings.items():
        ids = [int(i) for i in ids]
        # ranx needs at least one entry per query; an id no job has stands for "nothing retrieved".
        out[qid] = {str(job): float(len(ids) - position) for position, job in enumerate(ids)} or {"-1": 0.0}
    return out


def evaluate(qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Mapping[str, Mapping[str, float]]],
             query_types: Mapping[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    """{system: {query type or "overall": {metric: mean}}} over the queries of ``qrels``.

    Example:
        >>> qrels = {"q1": {"7": 4, "8": 1}}
        >>> runs = {"good": {"q1": {"7": 2.0, "8": 1.0}}, "bad": {"q1": {"8": 2.0, "7": 1.0}}}
        >>> table = evaluate(qrels, runs, {"q1": "role"})
        >>> table["good"]["overall"]["ndcg@10"] > table["bad"]["overall"]["ndcg@10"]
        True
    """
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    if not qrels:
        raise ValueError("qrels: expected at least one judged query, got none")
    types = sorted({query_types[qid] for qid in qrels})
    groups = {OVERALL: sorted(qrels), **{t: sorted(q for q in qrels if query_types[q] == t) for t in types}}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for system, run in runs.items():
        missing = [qid for qid in qrels if qid not in run]
        if missing:
            raise KeyError(f"runs[{system!r}]: expected a ranking for every judged query, missing {missing[0]!r}")
        table[system] = {}
        for group, qids in groups.items():
            scores = ranx_evaluate(Qrels({q: dict(qrels[q]) for q in qids}), Run({q: dict(run[q]) for q in qids}),
                                   list(METRICS), make_comparable=True)
            table[system][group] = {metric: float(scores[metric]) for metric in METRICS}
    return table


def agreement(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """How often the student's most likely grade equals the teacher's, or is within one grade of it.

    Example:
        >>> result = agreement(np.eye(5)[[0, 1, 4]], np.eye(5)[[0, 2, 2]])
        >>> round(result["exact"], 3), round(result["within_one"], 3), result["pairs"]
        (0.333, 0.667, 3)
    """
    s, t = hard_grade(student), hard_grade(teacher)
    if len(s) != len(t):
        raise ValueError(f"student: expected {len(t)} rows like the teacher, got {len(s)}")
    if not len(s):
        return {"exact": float("nan"), "within_one": float("nan"), "pairs": 0}
    return {"exact": float(np.mean(s == t)), "within_one": float(np.mean(np.abs(s - t) <= 1)), "pairs": int(len(s))}


def per_item_ms(work: Callable[[], object], items: int, *, repeats: int = 3) -> float:
    """Median wall time of ``work`` over ``repeats`` runs, in milliseconds per item."""
    if items <= 0:
        raise ValueError(f"items: expected a positive count, got {items}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000 / items


def format_table(table: Mapping[str, Mapping[str, Mapping[str, float]]], *, counts: Mapping[str, int] | None = None) -> str:
    """A markdown table: one row per query type (overall last), NDCG@10 and Recall@100 per system."""
    systems = list(table)
    groups = [g for g in next(iter(table.values())) if g != OVERALL] + [OVERALL]
    header = ["query type", "queries"] + [f"{METRIC_LABELS[m]} {s}" for s in systems for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        cells = [group, str(counts.get(group, "")) if counts else ""]
        cells += [f"{table[s][group][m]:.3f}" for s in systems for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
