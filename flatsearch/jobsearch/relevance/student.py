"""The student: a sentence-transformers CrossEncoder distilled from the teacher's grades.

It starts from the bundled all-MiniLM-L6-v2 weights with a new five-way head
(one logit per grade), optionally cut to its first ``num_layers`` transformer
layers (dropping the top layers keeps most of the quality at a fraction of the
cost), and is trained on (query text, job text, teacher distribution) examples
with ``kl_weight * KL(teacher || student) + ce_weight * CE(student, teacher's
hard grade)``. Its ranking score is the expected grade.
"""
from __future__ import annotations

import math
import pathlib
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..embedding import default_model_path
from ..student import StudentCrossEncoder as ServingStudent
from ..student import check_pairs
from .grades import NUM_GRADES, check_distribution


@dataclass(frozen=True)
class StudentTraining:
    """How the student is trained (keyword-only everywhere it is taken)."""

    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # the pooler and the new grade head; None = learning_rate
    warmup_fraction: float = 0.1
    kl_weight: float = 1.0
    ce_weight: float = 0.5
    freeze_embeddings: bool = True  # the token embeddings stay as pre-trained: fewer weights to fit on little data, faster steps
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate!r}")
        if self.head_learning_rate is not None and not self.head_learning_rate > 0:
            raise ValueError(f"head_learning_rate: expected a positive number or None, got {self.head_learning_rate!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction: expected a number in [0, 1), got {self.warmup_fraction!r}")
        if self.kl_weight < 0 or self.ce_weight < 0 or self.kl_weight + self.ce_weight == 0:
            raise ValueError(f"kl_weight, ce_weight: expected non-negative weights, not both 0, got {self.kl_weight}, {self.ce_weight}")


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, *, kl_weight: float, ce_weight: float) -> torch.Tensor:
    """KL(teacher || softmax(logits)) plus cross-entropy on the teacher's most likely grade, batch means.

    Example:
        >>> teacher = torch.tensor([[0.0, 0.0, 0.0, 0.2, 0.8]])
        >>> float(distillation_loss(torch.log(teacher + 1e-9), teacher, kl_weight=1, ce_weight=0)) < 1e-6
        True
    """
    log_student = F.log_softmax(logits.float(), dim=-1)
    kl = F.kl_div(log_student, teacher, reduction="batchmean")
    ce = F.nll_loss(log_student, teacher.argmax(dim=-1))
    return kl_weight * kl + ce_weight * ce


def set_embeddings_trainable(model, trainable: bool) -> None:
    """Freeze or unfreeze the input embeddings of a Hugging Face model."""
    for parameter in model.get_input_embeddings().parameters():
        parameter.requires_grad_(trainable)


def prune_layers(model, num_layers: int) -> None:
    """Keep the first ``num_layers`` transformer layers of a BERT-style Hugging Face model, in place."""
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise TypeError(f"model: expected a BERT-style model with encoder.layer, got {type(model).__name__}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= len(layers):
        raise ValueError(f"num_layers: expected an int from 1 to {len(layers)}, got {num_layers!r}")
    encoder.layer = torch.nn.ModuleList(list(layers)[:num_layers])
    model.config.num_hidden_layers = num_layers


class StudentCrossEncoder(ServingStudent):
    """A five-grade CrossEncoder reranker that can be built from base weights, cut and trained
    (loading and prediction: :class:`flatsearch.jobsearch.student.StudentCrossEncoder`).

    Example:
        >>> student = StudentCrossEncoder.from_base(num_layers=1, seed=0)
        >>> student.predict([("data engineer jobs", "Data Engineer. Acme. Boston, MA")]).shape
        (1, 5)
    """

    @classmethod
    def from_base(cls, model_path: str | None = None, *, num_layers: int | None = None, max_length: int = 128,
                  device: str = "cpu", seed: int = 0) -> "StudentCrossEncoder":
        """A new student from sentence-model weights (the bundled all-MiniLM-L6-v2 by default)."""
        from sentence_transformers import CrossEncoder

        path = model_path or default_model_path()
        if not pathlib.Path(path).is_dir():
            raise ValueError(f"model_path: expected a model directory, got {path!r} (not found)")
        torch.manual_seed(seed)  # the new grade head is initialised at random
        cross_encoder = CrossEncoder(path, num_labels=NUM_GRADES, max_length=max_length, device=device)
        if num_layers is not None:
            prune_layers(cross_encoder.model, num_layers)
        return cls(cross_encoder, max_length=max_length, device=device)

    def pruned(self, num_layers: int) -> "StudentCrossEncoder":
        """A copy of this student keeping only its first ``num_layers`` layers (train it again briefly to adapt the head)."""
        import copy

        cut = copy.deepcopy(self.cross_encoder)
        prune_layers(cut.model, num_layers)
        return StudentCrossEncoder(cut, max_length=self.max_length, device=str(self.device))

    def fit(self, pairs: Sequence[tuple[str, str]], teacher: np.ndarray, *, training: StudentTraining = StudentTraining(),
            progress: bool = False) -> list[float]:
        """Distil the teacher's distributions into the student; returns the mean loss of each epoch."""
        from tqdm.auto import tqdm
        from transformers import get_cosine_schedule_with_warmup

        check_pairs(pairs)
        teacher = check_distribution(teacher, name="teacher")
        if len(pairs) != len(teacher):
            raise ValueError(f"teacher: expected one distribution per pair ({len(pairs)}), got {len(teacher)}")
        if not pairs:
            raise ValueError("pairs: expected at least one training pair, got none")
        model = self.cross_encoder.model
        torch.manual_seed(training.seed)
        order = random.Random(training.seed)
        set_embeddings_trainable(model, not training.freeze_embeddings)
        optimiser = torch.optim.AdamW(_parameter_groups(model, training), weight_decay=0.01)
        pool = training.batch_size * _POOL_BATCHES
        steps = training.epochs * sum(math.ceil(min(pool, len(pairs) - start) / training.batch_size) for start in range(0, len(pairs), pool))
        schedule = get_cosine_schedule_with_warmup(optimiser, int(training.warmup_fraction * steps), steps)
        targets = torch.tensor(teacher, dtype=torch.float32)
        history = []
        model.train()
        with tqdm(total=steps, desc=f"student ({self.num_layers} layers)", disable=not progress) as bar:
            for _ in range(training.epochs):
                total = 0.0
                for batch in _length_bucketed_batches(pairs, training.batch_size, order):
                    with _autocast(self.device):
                        logits = model(**self._features([pairs[i] for i in batch])).logits
                    loss = distillation_loss(logits, targets[batch].to(self.device), kl_weight=training.kl_weight,
                                             ce_weight=training.ce_weight)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimiser.step()
                    schedule.step()
                    total += loss.item() * len(batch)
                    bar.update(1)
                history.append(total / len(pairs))
        model.eval()
        return history


_POOL_BATCHES = 16
_HEAD_PREFIXES = ("classifier.", "bert.pooler.", "pooler.")


def _parameter_groups(model, training: StudentTraining) -> list[dict]:
    """The encoder at ``learning_rate``; the pooler and the freshly initialised grade head at ``head_learning_rate``."""
    head_rate = training.head_learning_rate or training.learning_rate
    body, head = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head if name.startswith(_HEAD_PREFIXES) else body).append(parameter)
    return [{"params": body, "lr": training.learning_rate}, {"params": head, "lr": head_rate}]


def _length_bucketed_batches(pairs: Sequence[tuple[str, str]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar text length, so little time goes to padding.

    Rows are shuffled, cut into pools of 16 batches, sorted by length within a pool,
    batched, and the batches shuffled again.
    """
    rows = list(range(len(pairs)))
    rng.shuffle(rows)
    pool = batch_size * _POOL_BATCHES
    batches = []
    for start in range(0, len(rows), pool):
        chunk = sorted(rows[start:start + pool], key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _autocast(device: torch.device):
    """bf16 autocast on GPUs that support it; full precision elsewhere (CPU bf16 is slow without AMX)."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)
