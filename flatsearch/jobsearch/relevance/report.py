"""The experiment's report: latency per stage, the three targets, the machine, and markdown."""
from __future__ import annotations

import os
import platform
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .cases import QueryCase
from .evaluate import OVERALL, format_table, per_item_ms
from .retrieval import JobIndex
from .student import StudentCrossEncoder
from .workspace import Workspace

SYSTEMS = ("base", "fine-tuned", "fine-tuned + student", "fine-tuned + half student")
FULL_STUDENT, HALF_STUDENT = SYSTEMS[2], SYSTEMS[3]
UPPER_BOUND = "fine-tuned + teacher"  # the teacher itself reranking: what a perfect student would reach
GRADE_ALONE = "fine-tuned + student grade alone"  # the full student without the retrieval score, when the config adds it


def measure_latency(workspace: Workspace, cases: Sequence[QueryCase], hits: Sequence[tuple[np.ndarray, np.ndarray]],
                    students: Mapping[int, StudentCrossEncoder], index: JobIndex, encode, *, rerank_k: int, retrieve_k: int,
                    queries: int) -> dict[str, float]:
    """Milliseconds per candidate for the teacher and each student, per query for encoding and retrieval."""
    sample = [(case, [int(i) for i in ids[:rerank_k]]) for case, (ids, _) in zip(cases, hits) if len(ids)][:queries]
    if not sample:
        return {}
    by_id = {case.query_id: case for case, _ in sample}
    candidates = sum(len(ids) for _, ids in sample)
    pairs = [workspace.reranker_pairs(by_id, [{"query_id": case.query_id, "job_id": j} for j in ids]) for case, ids in sample]
    plans = [case.plan for case, _ in sample]
    vectors = index.query_vectors(plans, encode, workspace.members)
    out = {
        "query_encoding_per_query": per_item_ms(lambda: [encode([p.semantic_text]) for p in plans], len(plans)),
        "retrieval_per_query": per_item_ms(lambda: [index.search([p], v[None], retrieve_k) for p, v in zip(plans, vectors)],
                                           len(plans)),
        "teacher_per_candidate": per_item_ms(lambda: [workspace.teacher.grade(case, ids) for case, ids in sample], candidates),
    }
    for layers, student in students.items():
        out[f"student_{layers}_layers_per_candidate"] = per_item_ms(lambda: [student.predict(p) for p in pairs], candidates)
    return {name: round(value, 4) for name, value in out.items()}


def targets_met(table: Mapping[str, Mapping[str, Mapping[str, float]]], latency: Mapping[str, float], *, student_layers: int,
                pruned_layers: int) -> dict[str, dict[str, float | bool]]:
    """The three targets of the loop, measured on one split's table."""
    ndcg = {system: table[system][OVERALL]["ndcg@10"] for system in table}
    full, half = f"student_{student_layers}_layers_per_candidate", f"student_{pruned_layers}_layers_per_candidate"
    quality = ndcg[HALF_STUDENT] / ndcg[FULL_STUDENT] if ndcg[FULL_STUDENT] else float("nan")
    speed = latency.get(half, float("nan")) / latency[full] if latency.get(full) else float("nan")
    return {
        "fine-tuned NDCG@10 >= base + 0.03": {"gain": ndcg["fine-tuned"] - ndcg["base"], "met": ndcg["fine-tuned"] - ndcg["base"] >= 0.03},
        "student adds >= 0.05 NDCG@10": {"gain": ndcg[FULL_STUDENT] - ndcg["fine-tuned"],
                                         "met": ndcg[FULL_STUDENT] - ndcg["fine-tuned"] >= 0.05},
        "half student keeps >= 95% NDCG@10 at <= 60% latency": {"quality_ratio": quality, "latency_ratio": speed,
                                                                "met": bool(quality >= 0.95 and speed <= 0.60)},
    }


def machine_description() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def report_markdown(report: Mapping[str, Any]) -> str:
    """Each evaluated split's table and agreement, then latency and the targets (on the main split), as markdown."""
    lines = []
    for split, result in report["splits"].items():
        lines += [f"{split} queries ({result['counts'][OVERALL]} evaluated):", "", format_table(result["table"], counts=result["counts"]), ""]
        for name, values in result["agreement"].items():
            lines.append(f"- {name} agrees with the teacher on {values['exact']:.1%} of {split} candidates "
                         f"(within one grade: {values['within_one']:.1%}, {values['pairs']} pairs)")
        lines.append("")
    for name, value in report["latency_ms"].items():
        lines.append(f"- latency, {name.replace('_', ' ')}: {value:.3f} ms")
    for name, values in report["targets"].items():
        measured = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "met")
        lines.append(f"- target ({report['evaluated_on']} queries) {name}: {measured} -> {'met' if values['met'] else 'missed'}")
    queries = report["queries"]
    lines.append(f"- total wall time {report['total_s']:.0f} s on {report['machine']['cpus']} CPUs ({report['postings']} postings, "
                 + ", ".join(f"{queries[s]} {s}" for s in ("train", "validation", "test")) + " queries)")
    return "\n".join(lines)
