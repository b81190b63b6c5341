"""The student cross-encoder reranker at serving time: load a saved student, predict grades, rerank.

Training lives in :mod:`flatsearch.jobsearch.relevance` (which builds on this module);
nothing here imports it. :class:`StudentReranker` implements
:class:`flatsearch.jobsearch.rerank.Reranker`: it reads each (query, job) pair as the
student was trained to (:mod:`.pair_text`), scores it with the expected grade plus
``retrieval_weight`` times the retrieval score (:func:`rerank_scores`: the retrieval score
carries the exact embedding similarity and the boosts, which a small cross-encoder only
approximates), and orders the candidates by that score (ties keep the retrieval order).
:func:`save_student_reranker` stores a student with these settings;
:func:`load_student_reranker` returns None when no trained student is saved, so the
pipeline can fall back to its default ranking and say which one it uses.
"""
from __future__ import annotations

import json
import logging
import math
import os
import pathlib
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from .catalog import JobCatalog
from .members import Member
from .pair_text import job_side_text, query_side_text
from .plan import QueryPlan
from .rerank import Candidate
from .settings import default_cache_dir

# The grade scale the student predicts, lowest first (the teachers' policy defines what each grade means).
GRADES = ("Bad", "Poor", "Fair", "Good", "Excellent")
NUM_GRADES = len(GRADES)
GRADE_VALUES = np.arange(NUM_GRADES, dtype=np.float64)


class StudentCrossEncoder:
    """A five-grade CrossEncoder: ``load`` a saved one, ``predict`` grade probabilities, ``score`` expected grades.

    (``flatsearch.jobsearch.relevance.student`` adds building a new one from base weights and training it.)

    Example:
        >>> student = StudentCrossEncoder.load(default_student_path())  # doctest: +SKIP
        >>> student.predict([("data engineer jobs", "Data Engineer. Acme. Boston, MA")]).shape  # doctest: +SKIP
        (1, 5)
    """

    def __init__(self, cross_encoder, *, max_length: int = 128, device: str = "cpu"):
        self.cross_encoder = cross_encoder
        self.max_length = max_length
        self.device = torch.device(device)
        self.cross_encoder.model.to(self.device)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "cpu") -> "StudentCrossEncoder":
        """A student saved with :meth:`save`."""
        from .onnx_model import quiet_model_loading

        path = pathlib.Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(f"path: expected a saved student directory with config.json, got {str(path)!r}")
        with quiet_model_loading():
            from sentence_transformers import CrossEncoder

            cross_encoder = CrossEncoder(str(path), device=device)
        if cross_encoder.num_labels != NUM_GRADES:
            raise ValueError(f"path: expected a {NUM_GRADES}-grade cross-encoder, got one with {cross_encoder.num_labels} labels")
        return cls(cross_encoder, max_length=cross_encoder.max_seq_length or 128, device=device)

    def save(self, path: str | os.PathLike) -> None:
        self.cross_encoder.save(str(path))

    @property
    def num_layers(self) -> int:
        return int(self.cross_encoder.model.config.num_hidden_layers)

    def _features(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        tokenizer = self.cross_encoder.tokenizer
        features = tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True, truncation="longest_first",
                             max_length=self.max_length, return_tensors="pt")
        return {name: tensor.to(self.device) for name, tensor in features.items()}

    @torch.inference_mode()
    def predict_logits(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64) -> np.ndarray:
        """(n, 5) grade logits for (query text, job text) pairs."""
        check_pairs(pairs)
        model = self.cross_encoder.model
        model.eval()
        chunks = [model(**self._features(pairs[start:start + batch_size])).logits.float().cpu()
                  for start in range(0, len(pairs), batch_size)]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, NUM_GRADES), dtype=np.float32)

    def predict(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64) -> np.ndarray:
        """(n, 5) grade probabilities."""
        logits = torch.from_numpy(self.predict_logits(pairs, batch_size=batch_size))
        return torch.softmax(logits, dim=-1).numpy().astype(np.float64)

    def score(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64) -> np.ndarray:
        """Expected grade per pair: the ranking score."""
        return self.predict(pairs, batch_size=batch_size) @ GRADE_VALUES


def check_pairs(pairs) -> None:
    if isinstance(pairs, (str, tuple)) or not all(isinstance(p, (tuple, list)) and len(p) == 2
                                                  and all(isinstance(t, str) for t in p) for p in pairs):
        raise TypeError("pairs: expected a list of (query text, job text) string pairs")


logger = logging.getLogger(__name__)
SETTINGS_FILE = "reranker.json"
DEFAULT_TOP_K = 30


def rerank_scores(expected_grades: np.ndarray, retrieval_scores: np.ndarray, retrieval_weight: float) -> np.ndarray:
    """The reranking score: the student's expected grade (0 ... 4) plus ``retrieval_weight`` times the retrieval score.

    Example:
        >>> rerank_scores(np.array([3.0, 3.0]), np.array([0.7, 0.5]), 2.0).round(2).tolist()
        [4.4, 4.0]
    """
    expected_grades = np.asarray(expected_grades, dtype=np.float64)
    retrieval_scores = np.asarray(retrieval_scores, dtype=np.float64)
    if expected_grades.shape != retrieval_scores.shape:
        raise ValueError(f"retrieval_scores: expected shape {expected_grades.shape} like expected_grades, got {retrieval_scores.shape}")
    return expected_grades + retrieval_weight * retrieval_scores if retrieval_weight else expected_grades


def _check_settings(top_k, retrieval_weight) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
        raise ValueError(f"top_k: expected a positive int, got {top_k!r}")
    if (isinstance(retrieval_weight, bool) or not isinstance(retrieval_weight, (int, float)) or not math.isfinite(retrieval_weight)
            or retrieval_weight < 0):
        raise ValueError(f"retrieval_weight: expected a finite number >= 0, got {retrieval_weight!r}")


def default_student_path(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where ``examples/train_and_eval.py`` saves the student for the pipeline: ``<cache>/relevance/student``."""
    return pathlib.Path(cache_dir) / "relevance" / "student" if cache_dir is not None else default_cache_dir() / "relevance" / "student"


class StudentReranker:
    """Ranks candidates by the student's expected grade (0 = Bad ... 4 = Excellent), plus
    ``retrieval_weight`` times their retrieval score.

    Example:
        >>> reranker = load_student_reranker(default_student_path(), catalog=search.catalog)  # doctest: +SKIP
        >>> reranker.description  # doctest: +SKIP
        'student cross-encoder (6 layers) from /root/.cache/flatsearch/relevance/student, top 30, + 2 x retrieval score'
    """

    def __init__(self, student: StudentCrossEncoder, *, catalog: JobCatalog, top_k: int = DEFAULT_TOP_K, retrieval_weight: float = 0.0,
                 source: str = "memory", batch_size: int = 64):
        _check_settings(top_k, retrieval_weight)
        self.student = student
        self.catalog = catalog
        self.top_k = top_k
        self.retrieval_weight = float(retrieval_weight)
        self.batch_size = batch_size
        self.description = (f"student cross-encoder ({student.num_layers} layers) from {source}, top {top_k}"
                            + (f", + {self.retrieval_weight:g} x retrieval score" if self.retrieval_weight else ""))

    def rerank(self, query: str, plan: QueryPlan, member: Member | None, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The first ``top_k`` candidates (in retrieval order) ordered by :func:`rerank_scores`, then the rest as they came.

        Candidates beyond ``top_k`` keep a score below every reranked one.
        """
        if not candidates:
            return []
        head, tail = list(candidates[:self.top_k]), list(candidates[self.top_k:])
        now = self.catalog.default_now()
        query_text = query_side_text(plan, member, self.catalog)
        grades = self.student.score([(query_text, job_side_text(c.record, now)) for c in head], batch_size=self.batch_size)
        scores = rerank_scores(grades, np.array([c.retrieval_score for c in head]), self.retrieval_weight)
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
        floor = float(min(scores)) if len(scores) else 0.0
        return ([replace(head[i], score=float(scores[i])) for i in order]
                + [replace(c, score=floor - 1.0 - n / max(1, len(tail))) for n, c in enumerate(tail)])


def save_student_reranker(student: StudentCrossEncoder, path: str | os.PathLike, *, top_k: int = DEFAULT_TOP_K,
                          retrieval_weight: float = 0.0) -> None:
    """Save the student with its reranking settings, where :func:`load_student_reranker` reads both."""
    _check_settings(top_k, retrieval_weight)
    path = pathlib.Path(path)
    student.save(path)
    (path / SETTINGS_FILE).write_text(json.dumps({"top_k": top_k, "retrieval_weight": float(retrieval_weight)}), encoding="utf-8")


def load_student_reranker(path: str | os.PathLike | None = None, *, catalog: JobCatalog, top_k: int | None = None,
                          device: str = "cpu") -> StudentReranker | None:
    """The saved student as a reranker, or None (with a log line) when ``path`` holds no trained student.

    Settings saved by :func:`save_student_reranker` are used; ``top_k`` overrides the saved depth.
    """
    path = pathlib.Path(path) if path is not None else default_student_path()
    if not (path / "config.json").is_file():
        logger.info("no trained student at %s; the default ranking is used", path)
        return None
    settings = {"top_k": DEFAULT_TOP_K, "retrieval_weight": 0.0}
    if (path / SETTINGS_FILE).is_file():
        try:
            stored = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"path: {path / SETTINGS_FILE} is not valid JSON ({error})") from None
        if not isinstance(stored, dict):
            raise ValueError(f"path: expected {path / SETTINGS_FILE} to hold a JSON object, got {type(stored).__name__}")
        settings.update({key: stored[key] for key in settings if key in stored})
    if top_k is not None:
        settings["top_k"] = top_k
    student = StudentCrossEncoder.load(path, device=device)
    logger.info("ranking with the student cross-encoder from %s (%d layers)", path, student.num_layers)
    return StudentReranker(student, catalog=catalog, top_k=settings["top_k"], retrieval_weight=settings["retrieval_weight"],
                           source=str(path))
