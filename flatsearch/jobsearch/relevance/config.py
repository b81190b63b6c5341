"""Named configurations of the whole loop: data, student, bi-encoder, evaluation.

``tiny`` is for tests (seconds of training), ``quick`` runs end to end in minutes
on two CPU cores, ``full`` uses the whole corpus and is meant for a GPU.

The quick config's query count, student learning rates and epochs, bi-encoder
steps and ``retrieval_weight`` were chosen on the validation queries of seed-0 runs,
comparing variants trained on the same data and bi-encoder. Its default seed is 1:
another corpus sample and other queries, whose test split no choice has seen.
``full`` takes the same choices untested.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .biencoder import BiEncoderTraining
from .querygen import check_split_fractions
from .student import StudentTraining


@dataclass(frozen=True)
class RelevanceConfig:
    name: str
    corpus_size: int | None          # postings sampled from the bundled corpus; None = all
    queries: int                     # synthetic queries generated (train and test together)
    test_fraction: float = 0.25
    validation_fraction: float = 0.15  # carved from the training queries; settings are chosen on it
    candidates_k: int = 20           # retrieved candidates graded per training query
    random_negatives: int = 4        # extra random jobs graded per training query
    student_layers: int = 6          # the full student
    pruned_layers: int = 3           # the cut student (half the layers)
    max_length: int = 128
    student: StudentTraining = field(default_factory=StudentTraining)
    pruned_student: StudentTraining = field(default_factory=lambda: StudentTraining(epochs=1))  # after cutting the trained full student
    rounds: int = 2                  # teacher-in-the-loop rounds of bi-encoder training
    round_k: int = 20                # each round's retrieval depth for new lists
    biencoder: BiEncoderTraining = field(default_factory=BiEncoderTraining)
    retrieve_k: int = 100            # evaluation retrieval depth (Recall@100)
    rerank_k: int = 30               # how many retrieved jobs the student reorders
    retrieval_weight: float = 0.0    # reranking score = student's expected grade + this x retrieval score
    latency_queries: int = 5         # test queries whose candidates are timed
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        for name in ("queries", "latency_queries", "candidates_k", "student_layers", "pruned_layers", "max_length", "rounds", "round_k",
                     "retrieve_k", "rerank_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.corpus_size is not None and (isinstance(self.corpus_size, bool) or not isinstance(self.corpus_size, int)
                                             or self.corpus_size <= 0):
            raise ValueError(f"corpus_size: expected a positive int or None, got {self.corpus_size!r}")
        check_split_fractions(self.test_fraction, self.validation_fraction)
        if self.pruned_layers >= self.student_layers:
            raise ValueError(f"pruned_layers: expected fewer than student_layers ({self.student_layers}), got {self.pruned_layers}")
        if (isinstance(self.retrieval_weight, bool) or not isinstance(self.retrieval_weight, (int, float))
                or not math.isfinite(self.retrieval_weight) or self.retrieval_weight < 0):
            raise ValueError(f"retrieval_weight: expected a finite number >= 0, got {self.retrieval_weight!r}")
        if self.rerank_k > self.retrieve_k:
            raise ValueError(f"rerank_k: expected at most retrieve_k ({self.retrieve_k}), got {self.rerank_k}")

    def replace(self, **changes) -> "RelevanceConfig":
        return dataclasses.replace(self, **changes)


CONFIGS = {
    "tiny": RelevanceConfig(
        name="tiny", corpus_size=400, queries=30, test_fraction=0.3, validation_fraction=0.2, candidates_k=6, random_negatives=2, student_layers=2,
        pruned_layers=1, max_length=64, student=StudentTraining(epochs=1, batch_size=16),
        pruned_student=StudentTraining(epochs=1, batch_size=16), rounds=2, round_k=6,
        biencoder=BiEncoderTraining(steps=2, batch_queries=4, list_size=4), retrieve_k=20, rerank_k=10, retrieval_weight=2.0, latency_queries=2),
    "quick": RelevanceConfig(
        name="quick", corpus_size=2500, queries=400, candidates_k=10, random_negatives=2, max_length=64,
        student=StudentTraining(epochs=3, batch_size=16, learning_rate=8e-5, head_learning_rate=3e-3),
        pruned_student=StudentTraining(epochs=2, batch_size=16, learning_rate=8e-5),
        rounds=2, round_k=10, biencoder=BiEncoderTraining(steps=40, batch_queries=8, list_size=8, learning_rate=3e-5),
        retrieve_k=100, rerank_k=30, retrieval_weight=2.0, seed=1),
    "full": RelevanceConfig(
        name="full", corpus_size=None, queries=4000, candidates_k=50, random_negatives=10,
        student=StudentTraining(epochs=3, batch_size=64, learning_rate=5e-5, head_learning_rate=3e-3),
        pruned_student=StudentTraining(epochs=2, batch_size=64, learning_rate=5e-5),
        rounds=3, round_k=50, biencoder=BiEncoderTraining(steps=600, batch_queries=32, list_size=16, learning_rate=2e-5),
        retrieve_k=100, rerank_k=50, retrieval_weight=2.0, device="cuda"),
}


def get_config(name: str) -> RelevanceConfig:
    """A named configuration.

    Example:
        >>> get_config("quick").rerank_k
        30
    """
    if name not in CONFIGS:
        raise KeyError(f"config: expected one of {', '.join(CONFIGS)}, got {name!r}")
    return CONFIGS[name]
