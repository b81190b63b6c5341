"""The whole loop in one call: data, teacher grades, student, bi-encoder, evaluation.

:func:`run_experiment` writes into ``output_dir``::

    queries.jsonl            every planned query with its split
    judgments.jsonl          teacher grades of the training queries' candidates
    test_judgments.jsonl     teacher grades of every job passing each test query's filters (Poor or better)
    student-<n>-layers/      the trained students (full and cut)
    biencoder/               the fine-tuned retrieval model
    report.json              configuration, timings, the evaluation table, agreement, latency, targets

and returns the report. Only training queries are ever trained on; the table is
computed on the test queries.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import platform
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..catalog import JobCatalog
from ..corpus import Corpus, load_bundled_corpus
from ..embedding import Encoder, default_model_path
from ..gazetteer import load_gazetteer
from ..members import SampleNetwork
from ..planner_rules import RulePlanner
from ..settings import default_cache_dir
from ..tools import PlannerTools
from .biencoder import BiEncoderTrainer, TrainingList, distributed_context, encode_texts
from .cases import QueryCase
from .config import RelevanceConfig
from .dataset import grade_candidates, judgment_rows, plan_queries, write_jsonl
from .grader import grade_checked
from .evaluate import OVERALL, agreement, evaluate, format_table, per_item_ms, qrels_dict, run_dict
from .grades import GRADE_VALUES, hard_grade
from .policy import PolicyGrader
from .querygen import QueryGenerator, resolvable_place_names
from .retrieval import JobIndex
from .student import StudentCrossEncoder
from .texts import job_side_text, query_side_text

SYSTEMS = ("base", "fine-tuned", "fine-tuned + student", "fine-tuned + half student")
UPPER_BOUND = "fine-tuned + teacher"  # the teacher itself reranking: what a perfect student would reach
RELEVANT = 3  # Good or better


@dataclass
class Workspace:
    """Everything built once from the corpus and shared by all stages."""

    catalog: JobCatalog
    members: SampleNetwork
    planner: RulePlanner
    tools: PlannerTools
    base_model: Any
    base_vectors: np.ndarray
    teacher: PolicyGrader
    now: dt.datetime

    def base_encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self.base_model, texts)


def sample_corpus(corpus: Corpus, size: int | None, *, seed: int) -> Corpus:
    """A seeded random sample of postings (in id order) that keeps the snapshot's reference time."""
    if size is None or size >= len(corpus):
        return corpus
    chosen = random.Random(seed).sample(sorted(corpus.postings, key=lambda p: p.id), size)
    return Corpus(tuple(sorted(chosen, key=lambda p: p.id)), f"{corpus.name}[sample of {size}, seed {seed}]", corpus.reference_time)


def build_workspace(config: RelevanceConfig, *, cache_dir: pathlib.Path, corpus: Corpus | None, progress: bool) -> Workspace:
    corpus = sample_corpus(corpus or load_bundled_corpus(), config.corpus_size, seed=config.seed)
    catalog = JobCatalog(corpus, load_gazetteer(cache_dir))
    network = SampleNetwork()
    tools = PlannerTools(catalog, network, network)
    encoder = Encoder(cache_dir=cache_dir, device=config.device)
    vectors = encoder.encode(catalog.texts(), progress=progress, description="encoding postings (base model)")
    now = catalog.default_now()

    def base_encode(texts: list[str]) -> np.ndarray:
        return encode_texts(encoder.model, texts)

    teacher = PolicyGrader(catalog, vectors, base_encode, network, now=now)
    return Workspace(catalog, network, RulePlanner(tools), tools, encoder.model, vectors, teacher, now)


def _pairs(workspace: Workspace, cases: dict[str, QueryCase], rows: list[dict]) -> list[tuple[str, str]]:
    members, catalog = workspace.members, workspace.catalog
    texts: dict[str, str] = {}
    pairs = []
    for row in rows:
        case = cases[row["query_id"]]
        if case.query_id not in texts:
            member = members.get(case.member_id) if case.member_id else None
            texts[case.query_id] = query_side_text(case.plan, member, catalog)
        pairs.append((texts[case.query_id], job_side_text(catalog.records[row["job_id"]], workspace.now)))
    return pairs


def _training_lists(workspace: Workspace, cases: list[QueryCase], graded: dict[str, dict[int, np.ndarray]]) -> list[TrainingList]:
    catalog, row_of = workspace.catalog, workspace.teacher.row_of
    queries = workspace.base_encode([c.plan.semantic_text or c.query for c in cases])
    lists = []
    for case, query_vector in zip(cases, queries):
        jobs = graded.get(case.query_id, {})
        if len(jobs) < 2:
            continue
        ids = sorted(jobs)
        distributions = np.stack([jobs[i] for i in ids])
        frozen = workspace.base_vectors[[row_of[i] for i in ids]] @ query_vector
        lists.append(TrainingList(case.plan.semantic_text or case.query, tuple(catalog.texts(ids)),
                                  tuple(float(g) for g in distributions @ GRADE_VALUES), tuple(int(g) for g in hard_grade(distributions)),
                                  tuple(float(s) for s in frozen)))
    return lists


def run_experiment(config: RelevanceConfig, *, output_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   corpus: Corpus | None = None, install_student_to: str | os.PathLike | None = None, progress: bool = True,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the loop with ``config`` and return the report (also written to ``output_dir/report.json``)."""
    from sentence_transformers import SentenceTransformer

    output = pathlib.Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    torch.manual_seed(config.seed)
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 2)
        clock = now
        log(f"[{now - started:7.1f} s] {stage} done in {timings[stage]:.1f} s")

    workspace = build_workspace(config, cache_dir=cache, corpus=corpus, progress=progress)
    catalog, members, teacher = workspace.catalog, workspace.members, workspace.teacher
    lap(f"setup ({len(catalog)} postings, base embeddings)")

    # -- synthetic queries, base retrieval, teacher grades ---------------------------------------------
    generator = QueryGenerator(catalog, resolvable_place_names(catalog, workspace.tools.place_by_name), members, members,
                               seed=config.seed, test_fraction=config.test_fraction)
    cases = plan_queries(generator.generate(config.queries), workspace.planner, now=workspace.now)
    by_id = {c.query_id: c for c in cases}
    train = [c for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    base_index = JobIndex(catalog, workspace.base_vectors)
    depth = max(config.candidates_k, config.retrieve_k)
    base_hits = dict(zip([c.query_id for c in cases], base_index.search(
        [c.plan for c in cases], base_index.query_vectors([c.plan for c in cases], workspace.base_encode, members), depth)))
    train_rows = grade_candidates(train, [base_hits[c.query_id][0][:config.candidates_k] for c in train], teacher, jobs=base_index,
                                  random_negatives=config.random_negatives, seed=config.seed, progress=progress)
    test_rows, kept_test = [], []
    for case in test:
        passing = teacher.jobs.passing(case.plan.filters)
        distribution = teacher.grade(case, passing)
        rows = [row for row in judgment_rows(case, passing, distribution, source="exhaustive", ranks=[None] * len(passing))
                if row["grade"] > 0]
        if any(row["grade"] >= RELEVANT for row in rows):
            kept_test.append(case)
            test_rows += rows
    write_jsonl(output / "queries.jsonl", [c.to_dict() for c in cases])
    write_jsonl(output / "test_judgments.jsonl", test_rows)
    log(f"queries: {len(train)} train, {len(test)} test ({len(test) - len(kept_test)} without any job graded Good or better "
        f"are left out of the table); {len(train_rows)} training judgments")
    lap("data")

    # -- bi-encoder, teacher in the loop -----------------------------------------------------------------
    model = SentenceTransformer(default_model_path(), device=config.device)
    trainer = BiEncoderTrainer(model, training=config.biencoder, total_steps=config.rounds * config.biencoder.steps,
                               context=distributed_context())
    graded: dict[str, dict[int, np.ndarray]] = {}
    for row in train_rows:
        graded.setdefault(row["query_id"], {})[row["job_id"]] = np.array(row["grades"])
    tuned_index = JobIndex(catalog, workspace.base_vectors)

    def tuned_encode(texts: list[str]) -> np.ndarray:
        return encode_texts(model, texts)

    history: list[dict[str, float]] = []
    for round_number in range(config.rounds):
        if round_number > 0:
            # The current model's own top-K become the next lists: re-embed, retrieve, grade what is new.
            tuned_index.replace_vectors(tuned_encode(catalog.texts()))
            hits = tuned_index.search([c.plan for c in train], tuned_index.query_vectors([c.plan for c in train], tuned_encode, members),
                                      config.round_k)
            new = 0
            for case, (ids, _) in zip(train, hits):
                fresh = [int(i) for i in ids if int(i) not in graded.get(case.query_id, {})]
                if fresh:
                    distributions = grade_checked(teacher, case, fresh)
                    for job_id, distribution in zip(fresh, distributions):
                        graded.setdefault(case.query_id, {})[job_id] = distribution
                    train_rows += judgment_rows(case, fresh, distributions, source=f"round {round_number + 1}",
                                                ranks=[list(map(int, ids)).index(j) for j in fresh])
                    new += len(fresh)
            log(f"round {round_number + 1}: {new} newly retrieved candidates graded by the teacher")
        losses = trainer.train(_training_lists(workspace, train, graded), progress=progress)
        history += losses
        log(f"round {round_number + 1}: loss {np.mean([x['total'] for x in losses[:5]]):.3f} -> {np.mean([x['total'] for x in losses[-5:]]):.3f}")
        lap(f"bi-encoder round {round_number + 1}")
    tuned_index.replace_vectors(tuned_encode(catalog.texts()))
    model.save(str(output / "biencoder"))
    lap("re-embedding the corpus (upsert) and saving")

    # -- students, on every graded training candidate (base retrieval, random, and each round's retrieval) -------------------
    write_jsonl(output / "judgments.jsonl", train_rows)
    pairs = _pairs(workspace, by_id, train_rows)
    targets = np.array([row["grades"] for row in train_rows])
    full = StudentCrossEncoder.from_base(num_layers=config.student_layers, max_length=config.max_length, device=config.device,
                                         seed=config.seed)
    students = {config.student_layers: full}
    losses = full.fit(pairs, targets, training=config.student, progress=progress)
    log(f"student with {full.num_layers} layers, {len(pairs)} pairs: epoch losses {', '.join(f'{x:.3f}' for x in losses)}")
    full.save(output / f"student-{full.num_layers}-layers")
    lap(f"student ({full.num_layers} layers)")
    # The cut student starts from the trained full one's first layers, so a short pass adapts it.
    cut = full.pruned(config.pruned_layers)
    losses = cut.fit(pairs, targets, training=config.pruned_student, progress=progress)
    log(f"student cut to {cut.num_layers} layers: epoch losses {', '.join(f'{x:.3f}' for x in losses)}")
    cut.save(output / f"student-{cut.num_layers}-layers")
    students[cut.num_layers] = cut
    lap(f"student ({cut.num_layers} layers)")
    if install_student_to is not None:
        full.save(install_student_to)
        log(f"installed the {full.num_layers}-layer student for the job search pipeline at {install_student_to}")

    # -- evaluation on the test queries ------------------------------------------------------------------
    plans = [c.plan for c in kept_test]
    tuned_hits = tuned_index.search(plans, tuned_index.query_vectors(plans, tuned_encode, members), config.retrieve_k)
    rankings: dict[str, dict[str, list[int]]] = {system: {} for system in (*SYSTEMS, UPPER_BOUND)}
    teacher_seen, student_seen = [], {layers: [] for layers in students}
    for case, (ids, _) in zip(kept_test, tuned_hits):
        ids = [int(i) for i in ids]
        rankings["base"][case.query_id] = [int(i) for i in base_hits[case.query_id][0][:config.retrieve_k]]
        rankings["fine-tuned"][case.query_id] = ids
        head, tail = ids[:config.rerank_k], ids[config.rerank_k:]
        if head:
            pair_rows = [{"query_id": case.query_id, "job_id": j} for j in head]
            head_pairs = _pairs(workspace, by_id, pair_rows)
            teacher_seen.append(teacher.grade(case, head))
            best = teacher_seen[-1] @ GRADE_VALUES
            rankings[UPPER_BOUND][case.query_id] = [head[i] for i in sorted(range(len(head)), key=lambda i: (-best[i], i))] + tail
        else:
            rankings[UPPER_BOUND][case.query_id] = tail
        for layers, system in zip(students, SYSTEMS[2:]):
            if not head:
                rankings[system][case.query_id] = tail
                continue
            distribution = students[layers].predict(head_pairs)
            student_seen[layers].append(distribution)
            scores = distribution @ GRADE_VALUES
            order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
            rankings[system][case.query_id] = [head[i] for i in order] + tail
    graded_test = {}
    for row in test_rows:
        graded_test.setdefault(row["query_id"], {})[row["job_id"]] = row["grade"]
    qrels = qrels_dict(graded_test)
    table = evaluate(qrels, {system: run_dict(rankings[system]) for system in (*SYSTEMS, UPPER_BOUND)},
                     {c.query_id: c.query_type for c in kept_test})
    counts = {OVERALL: len(kept_test)}
    for case in kept_test:
        counts[case.query_type] = counts.get(case.query_type, 0) + 1
    teacher_all = np.concatenate(teacher_seen) if teacher_seen else np.zeros((0, 5))
    agreements = {f"student ({layers} layers)": agreement(np.concatenate(seen) if seen else np.zeros((0, 5)), teacher_all)
                  for layers, seen in student_seen.items()}
    lap("evaluation")

    latency = measure_latency(workspace, kept_test, by_id, tuned_hits, students, tuned_index, tuned_encode, config)
    lap("latency")
    report = {
        "config": asdict(config), "machine": machine_description(), "postings": len(catalog),
        "queries": {"train": len(train), "test": len(test), "test_evaluated": len(kept_test)},
        "training_judgments": len(train_rows), "timings_s": timings, "total_s": round(time.perf_counter() - started, 1),
        "table": table, "counts": counts, "agreement": agreements, "latency_ms": latency,
        "targets": targets_met(table, latency, config), "biencoder_loss": history,
    }
    report["markdown"] = report_markdown(report)
    (output / "report.json").write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    return report


def measure_latency(workspace: Workspace, cases: list[QueryCase], by_id: dict[str, QueryCase], hits, students, index: JobIndex,
                    encode, config: RelevanceConfig) -> dict[str, float]:
    """Milliseconds per candidate for the teacher and each student, per query for encoding and retrieval."""
    sample = [(case, [int(i) for i in ids[:config.rerank_k]]) for case, (ids, _) in zip(cases, hits) if len(ids)][:config.latency_queries]
    if not sample:
        return {}
    candidates = sum(len(ids) for _, ids in sample)
    pairs = [_pairs(workspace, by_id, [{"query_id": case.query_id, "job_id": j} for j in ids]) for case, ids in sample]
    plans = [case.plan for case, _ in sample]
    vectors = index.query_vectors(plans, encode, workspace.members)
    out = {
        "query_encoding_per_query": per_item_ms(lambda: [encode([p.semantic_text]) for p in plans], len(plans)),
        "retrieval_per_query": per_item_ms(lambda: [index.search([p], v[None], config.retrieve_k) for p, v in zip(plans, vectors)],
                                           len(plans)),
        "teacher_per_candidate": per_item_ms(lambda: [workspace.teacher.grade(case, ids) for case, ids in sample], candidates),
    }
    for layers, student in students.items():
        out[f"student_{layers}_layers_per_candidate"] = per_item_ms(lambda: [student.predict(p) for p in pairs], candidates)
    return {name: round(value, 4) for name, value in out.items()}


def targets_met(table, latency, config: RelevanceConfig) -> dict[str, dict[str, float | bool]]:
    """The three targets of the loop, measured."""
    ndcg = {system: table[system][OVERALL]["ndcg@10"] for system in table}
    full, half = f"student_{config.student_layers}_layers_per_candidate", f"student_{config.pruned_layers}_layers_per_candidate"
    quality = ndcg["fine-tuned + half student"] / ndcg["fine-tuned + student"] if ndcg["fine-tuned + student"] else float("nan")
    speed = latency.get(half, float("nan")) / latency.get(full, float("nan")) if latency.get(full) else float("nan")
    return {
        "fine-tuned NDCG@10 >= base + 0.03": {"gain": ndcg["fine-tuned"] - ndcg["base"], "met": ndcg["fine-tuned"] - ndcg["base"] >= 0.03},
        "student adds >= 0.05 NDCG@10": {"gain": ndcg["fine-tuned + student"] - ndcg["fine-tuned"],
                                         "met": ndcg["fine-tuned + student"] - ndcg["fine-tuned"] >= 0.05},
        "half student keeps >= 95% NDCG@10 at <= 60% latency": {"quality_ratio": quality, "latency_ratio": speed,
                                                                "met": bool(quality >= 0.95 and speed <= 0.60)},
    }


def machine_description() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def report_markdown(report: dict[str, Any]) -> str:
    """The evaluation table, agreement, latency and targets as markdown."""
    lines = [format_table(report["table"], counts=report["counts"]), ""]
    for name, values in report["agreement"].items():
        lines.append(f"- {name} agrees with the teacher on {values['exact']:.1%} of test candidates "
                     f"(within one grade: {values['within_one']:.1%}, {values['pairs']} pairs)")
    for name, value in report["latency_ms"].items():
        lines.append(f"- latency, {name.replace('_', ' ')}: {value:.3f} ms")
    for name, values in report["targets"].items():
        measured = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if k != "met")
        lines.append(f"- target {name}: {measured} -> {'met' if values['met'] else 'missed'}")
    lines.append(f"- total wall time {report['total_s']:.0f} s on {report['machine']['cpus']} CPUs "
                 f"({report['postings']} postings, {report['queries']['train']} train / {report['queries']['test_evaluated']} test queries)")
    return "\n".join(lines)
