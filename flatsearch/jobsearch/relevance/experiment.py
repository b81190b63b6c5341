"""The whole loop: data, teacher grades, bi-encoder, students, evaluation.

:func:`run_experiment` writes into ``output_dir``::

    queries.jsonl                every planned query with its split (train, validation or test)
    judgments.jsonl              teacher grades of the training queries' candidates
    <split>_judgments.jsonl      teacher grades of every job passing each evaluated query's filters (Poor or better)
    student-<n>-layers/          the trained students (full and cut)
    biencoder/                   the fine-tuned retrieval model
    report.json                  configuration, timings, the tables, agreement, latency, targets

and returns the report. Only training queries are ever trained on. Settings are
chosen on the validation queries (``evaluate_on=("validation",)`` computes
nothing on the test queries); the test queries are for the final table.
"""
from __future__ import annotations

import json
import os
import pathlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..corpus import Corpus
from ..embedding import default_model_path
from ..settings import default_cache_dir
from .biencoder import BiEncoderTrainer, TrainingList, distributed_context, encode_texts
from .cases import QueryCase
from .config import RelevanceConfig
from .dataset import grade_candidates, judgment_rows, plan_queries, write_jsonl
from .evaluate import OVERALL, agreement, evaluate, qrels_dict, run_dict
from .grader import grade_checked
from .grades import GRADE_VALUES, hard_grade
from .querygen import QueryGenerator, resolvable_place_names
from .reranker import rerank_scores, save_student_reranker
from .report import GRADE_ALONE, SYSTEMS, UPPER_BOUND, machine_description, measure_latency, report_markdown, targets_met
from .retrieval import JobIndex
from .student import StudentCrossEncoder
from .workspace import Workspace, build_workspace

RELEVANT = 3  # Good or better
EVALUATION_SPLITS = ("validation", "test")


@dataclass
class JudgedQueries:
    """Evaluation queries with every job passing their filters graded; queries with no Good job are left out."""

    cases: list[QueryCase]
    rows: list[dict]
    left_out: int

    def grades(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for row in self.rows:
            out.setdefault(row["query_id"], {})[row["job_id"]] = row["grade"]
        return out


@dataclass
class ExperimentData:
    """Planned queries by split, the base model's retrieval, and the teacher's grades."""

    cases: list[QueryCase]
    base_hits: dict[str, tuple[np.ndarray, np.ndarray]]
    training_rows: list[dict]
    judged: dict[str, JudgedQueries] = field(default_factory=dict)

    def __post_init__(self):
        self.by_id = {c.query_id: c for c in self.cases}

    def split(self, name: str) -> list[QueryCase]:
        return [c for c in self.cases if c.split == name]

    def graded_training(self) -> dict[str, dict[int, np.ndarray]]:
        graded: dict[str, dict[int, np.ndarray]] = {}
        for row in self.training_rows:
            graded.setdefault(row["query_id"], {})[row["job_id"]] = np.array(row["grades"])
        return graded


@dataclass
class TunedRetrieval:
    """The fine-tuned bi-encoder and the index re-embedded with it."""

    model: Any
    index: JobIndex
    history: list[dict[str, float]]

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self.model, texts)

    def search(self, workspace: Workspace, cases: Sequence[QueryCase], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        plans = [c.plan for c in cases]
        return self.index.search(plans, self.index.query_vectors(plans, self.encode, workspace.members), k)


def judge_exhaustively(workspace: Workspace, cases: Sequence[QueryCase]) -> JudgedQueries:
    """Grade every job passing each query's strict filters, so recall and NDCG are measured against all of them."""
    teacher = workspace.teacher
    rows, kept = [], []
    for case in cases:
        passing = teacher.jobs.passing(case.plan.filters)
        graded = [row for row in judgment_rows(case, passing, teacher.grade(case, passing), source="exhaustive",
                                               ranks=[None] * len(passing)) if row["grade"] > 0]
        if any(row["grade"] >= RELEVANT for row in graded):
            kept.append(case)
            rows += graded
    return JudgedQueries(kept, rows, len(cases) - len(kept))


def make_data(workspace: Workspace, config: RelevanceConfig, *, evaluate_on: Sequence[str], progress: bool) -> ExperimentData:
    """Generate and plan the queries, retrieve with the base model, grade training candidates and evaluation queries."""
    generator = QueryGenerator(workspace.catalog, resolvable_place_names(workspace.catalog, workspace.tools.place_by_name),
                               workspace.members, workspace.members, seed=config.seed, test_fraction=config.test_fraction,
                               validation_fraction=config.validation_fraction)
    cases = plan_queries(generator.generate(config.queries), workspace.planner, now=workspace.now)
    base_index = JobIndex(workspace.catalog, workspace.base_vectors)
    plans = [c.plan for c in cases]
    hits = base_index.search(plans, base_index.query_vectors(plans, workspace.base_encode, workspace.members),
                             max(config.candidates_k, config.retrieve_k))
    base_hits = {c.query_id: hit for c, hit in zip(cases, hits)}
    train = [c for c in cases if c.split == "train"]
    rows = grade_candidates(train, [base_hits[c.query_id][0][:config.candidates_k] for c in train], workspace.teacher,
                            jobs=base_index, random_negatives=config.random_negatives, seed=config.seed, progress=progress)
    data = ExperimentData(cases, base_hits, rows)
    for split in evaluate_on:
        data.judged[split] = judge_exhaustively(workspace, data.split(split))
    return data


def training_lists(workspace: Workspace, cases: Sequence[QueryCase], graded: dict[str, dict[int, np.ndarray]]) -> list[TrainingList]:
    """One list per training query: its graded jobs' texts, expected and hard grades, and the frozen model's scores."""
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


def grade_new_candidates(workspace: Workspace, data: ExperimentData, tuned: TunedRetrieval, *, k: int, source: str) -> int:
    """Teacher in the loop: grade the current model's top-k jobs not yet graded; they join the training rows."""
    train = data.split("train")
    graded = data.graded_training()
    new = 0
    for case, (ids, _) in zip(train, tuned.search(workspace, train, k)):
        ranked = [int(i) for i in ids]
        fresh = [j for j in ranked if j not in graded.get(case.query_id, {})]
        if fresh:
            data.training_rows += judgment_rows(case, fresh, grade_checked(workspace.teacher, case, fresh), source=source,
                                                ranks=[ranked.index(j) for j in fresh])
            new += len(fresh)
    return new


def train_biencoder(workspace: Workspace, config: RelevanceConfig, data: ExperimentData, *, progress: bool,
                    log: Callable[[str], None], lap: Callable[[str], None]) -> TunedRetrieval:
    """Fine-tune the retrieval model for ``config.rounds`` rounds, then re-embed the corpus into the index with upsert."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(default_model_path(), device=config.device)
    trainer = BiEncoderTrainer(model, training=config.biencoder, total_steps=config.rounds * config.biencoder.steps,
                               context=distributed_context())
    tuned = TunedRetrieval(model, JobIndex(workspace.catalog, workspace.base_vectors), [])
    for round_number in range(1, config.rounds + 1):
        if round_number > 1:
            tuned.index.replace_vectors(tuned.encode(workspace.catalog.texts()))
            new = grade_new_candidates(workspace, data, tuned, k=config.round_k, source=f"round {round_number}")
            log(f"round {round_number}: {new} newly retrieved candidates graded by the teacher")
        losses = trainer.train(training_lists(workspace, data.split("train"), data.graded_training()), progress=progress)
        tuned.history += losses
        log(f"round {round_number}: loss {np.mean([x['total'] for x in losses[:5]]):.3f} -> "
            f"{np.mean([x['total'] for x in losses[-5:]]):.3f}")
        lap(f"bi-encoder round {round_number}")
    tuned.index.replace_vectors(tuned.encode(workspace.catalog.texts()))
    return tuned


def train_students(workspace: Workspace, config: RelevanceConfig, data: ExperimentData, *, output: pathlib.Path, progress: bool,
                   log: Callable[[str], None], lap: Callable[[str], None]) -> dict[int, StudentCrossEncoder]:
    """Distil the teacher into the full student, then cut it to ``pruned_layers`` and adapt the cut one briefly."""
    rows = data.training_rows
    pairs = workspace.reranker_pairs(data.by_id, rows)
    targets = np.array([row["grades"] for row in rows])
    full = StudentCrossEncoder.from_base(num_layers=config.student_layers, max_length=config.max_length, device=config.device,
                                         seed=config.seed)
    losses = full.fit(pairs, targets, training=config.student, progress=progress)
    log(f"student with {full.num_layers} layers, {len(pairs)} pairs: epoch losses {', '.join(f'{x:.3f}' for x in losses)}")
    full.save(output / f"student-{full.num_layers}-layers")
    lap(f"student ({full.num_layers} layers)")
    # The cut student starts from the trained full one's first layers, so a short pass adapts it.
    cut = full.pruned(config.pruned_layers)
    losses = cut.fit(pairs, targets, training=config.pruned_student, progress=progress)
    log(f"student cut to {cut.num_layers} layers: epoch losses {', '.join(f'{x:.3f}' for x in losses)}")
    cut.save(output / f"student-{cut.num_layers}-layers")
    lap(f"student ({cut.num_layers} layers)")
    return {full.num_layers: full, cut.num_layers: cut}


def _reordered(head: list[int], scores: np.ndarray, tail: list[int]) -> list[int]:
    """``head`` by descending score (ties keep retrieval order), then ``tail`` untouched."""
    return [head[i] for i in sorted(range(len(head)), key=lambda i: (-scores[i], i))] + tail


def evaluate_split(workspace: Workspace, config: RelevanceConfig, data: ExperimentData, judged: JudgedQueries,
                   tuned: TunedRetrieval, students: dict[int, StudentCrossEncoder]) -> dict[str, Any]:
    """Table, query counts and student-teacher agreement on one split's judged queries."""
    cases = judged.cases
    hits = tuned.search(workspace, cases, config.retrieve_k)
    systems = (*SYSTEMS, UPPER_BOUND) + ((GRADE_ALONE,) if config.retrieval_weight else ())
    rankings: dict[str, dict[str, list[int]]] = {system: {} for system in systems}
    teacher_seen: list[np.ndarray] = []
    student_seen: dict[int, list[np.ndarray]] = {layers: [] for layers in students}
    for case, (ids, retrieval) in zip(cases, hits):
        ids = [int(i) for i in ids]
        rankings["base"][case.query_id] = [int(i) for i in data.base_hits[case.query_id][0][:config.retrieve_k]]
        rankings["fine-tuned"][case.query_id] = ids
        head, tail = ids[:config.rerank_k], ids[config.rerank_k:]
        pairs = workspace.reranker_pairs(data.by_id, [{"query_id": case.query_id, "job_id": j} for j in head])
        teacher = workspace.teacher.grade(case, head) if head else np.zeros((0, len(GRADE_VALUES)))
        teacher_seen.append(teacher)
        rankings[UPPER_BOUND][case.query_id] = _reordered(head, teacher @ GRADE_VALUES, tail)
        for (layers, student), system in zip(students.items(), SYSTEMS[2:]):
            distribution = student.predict(pairs) if head else np.zeros((0, len(GRADE_VALUES)))
            student_seen[layers].append(distribution)
            grades = distribution @ GRADE_VALUES
            rankings[system][case.query_id] = _reordered(head, rerank_scores(grades, retrieval[:len(head)], config.retrieval_weight), tail)
            if system == SYSTEMS[2] and GRADE_ALONE in rankings:
                rankings[GRADE_ALONE][case.query_id] = _reordered(head, grades, tail)
    table = evaluate(qrels_dict(judged.grades()), {system: run_dict(ranked) for system, ranked in rankings.items()},
                     {c.query_id: c.query_type for c in cases})
    counts = {OVERALL: len(cases)}
    for case in cases:
        counts[case.query_type] = counts.get(case.query_type, 0) + 1
    teacher_all = np.concatenate(teacher_seen) if teacher_seen else np.zeros((0, len(GRADE_VALUES)))
    agreements = {f"student ({layers} layers)": agreement(np.concatenate(seen) if seen else np.zeros((0, len(GRADE_VALUES))),
                                                          teacher_all)
                  for layers, seen in student_seen.items()}
    return {"table": table, "counts": counts, "agreement": agreements, "left_out": judged.left_out, "hits": hits}


def run_experiment(config: RelevanceConfig, *, output_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   corpus: Corpus | None = None, evaluate_on: Sequence[str] = EVALUATION_SPLITS,
                   install_student_to: str | os.PathLike | None = None, progress: bool = True,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the loop with ``config`` and return the report (also written to ``output_dir/report.json``).

    ``evaluate_on`` names the splits to evaluate; the targets and latency use the last
    one. Choose settings with ``evaluate_on=("validation",)`` and keep the test
    queries for the final run.

    Example:
        >>> from flatsearch.jobsearch.relevance.config import get_config
        >>> report = run_experiment(get_config("tiny"), output_dir="/tmp/relevance-tiny",
        ...                         evaluate_on=("validation",), progress=False)  # doctest: +SKIP
        >>> report["evaluated_on"]  # doctest: +SKIP
        'validation'
    """
    if isinstance(evaluate_on, str) or not evaluate_on or any(split not in EVALUATION_SPLITS for split in evaluate_on):
        raise ValueError(f"evaluate_on: expected a non-empty sequence of {EVALUATION_SPLITS}, got {evaluate_on!r}")
    if "validation" in evaluate_on and config.validation_fraction == 0:
        raise ValueError("evaluate_on: 'validation' needs a config with validation_fraction > 0")
    evaluate_on = [split for split in EVALUATION_SPLITS if split in evaluate_on]
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

    workspace = build_workspace(corpus_size=config.corpus_size, seed=config.seed, device=config.device, cache_dir=cache,
                                corpus=corpus, progress=progress)
    lap(f"setup ({len(workspace.catalog)} postings, base embeddings)")

    data = make_data(workspace, config, evaluate_on=evaluate_on, progress=progress)
    write_jsonl(output / "queries.jsonl", [c.to_dict() for c in data.cases])
    for split, judged in data.judged.items():
        write_jsonl(output / f"{split}_judgments.jsonl", judged.rows)
    counts = {split: len(data.split(split)) for split in ("train", "validation", "test")}
    log(f"queries: {counts['train']} train, {counts['validation']} validation, {counts['test']} test; "
        + "; ".join(f"{judged.left_out} {split} queries without any job graded Good or better are left out"
                    for split, judged in data.judged.items())
        + f"; {len(data.training_rows)} training judgments")
    lap("data")

    tuned = train_biencoder(workspace, config, data, progress=progress, log=log, lap=lap)
    tuned.model.save(str(output / "biencoder"))
    lap("re-embedding the corpus (upsert) and saving")

    # The students learn from every graded training candidate: base retrieval, random, and each round's retrieval.
    write_jsonl(output / "judgments.jsonl", data.training_rows)
    students = train_students(workspace, config, data, output=output, progress=progress, log=log, lap=lap)
    if install_student_to is not None:
        save_student_reranker(students[config.student_layers], install_student_to, top_k=config.rerank_k,
                              retrieval_weight=config.retrieval_weight)
        log(f"installed the {config.student_layers}-layer student for the job search pipeline at {install_student_to}")

    results = {split: evaluate_split(workspace, config, data, data.judged[split], tuned, students) for split in evaluate_on}
    lap("evaluation")
    main_split = evaluate_on[-1]
    main = results[main_split]
    latency = measure_latency(workspace, data.judged[main_split].cases, main["hits"], students, tuned.index, tuned.encode,
                              rerank_k=config.rerank_k, retrieve_k=config.retrieve_k, queries=config.latency_queries)
    lap("latency")
    report = {
        "config": asdict(config), "machine": machine_description(), "postings": len(workspace.catalog),
        "queries": counts, "evaluated_on": main_split, "training_judgments": len(data.training_rows), "timings_s": timings,
        "total_s": round(time.perf_counter() - started, 1),
        "splits": {split: {key: value for key, value in result.items() if key != "hits"} for split, result in results.items()},
        "table": main["table"], "counts": main["counts"], "agreement": main["agreement"], "latency_ms": latency,
        "targets": targets_met(main["table"], latency, student_layers=config.student_layers, pruned_layers=config.pruned_layers),
        "biencoder_loss": tuned.history,
    }
    report["markdown"] = report_markdown(report)
    (output / "report.json").write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    return report
