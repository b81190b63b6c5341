"""Fine-tuning the retrieval embedding on teacher-graded lists.

:class:`BiEncoderTrainer` runs the composite loss (:mod:`.losses`) over batches of
lists with AdamW, a cosine learning-rate schedule with warm-up, and bf16 autocast
on GPUs that support it. When the process was started by ``torchrun`` on several
GPUs, the model is sharded with FSDP (``torch.distributed.fsdp.fully_shard``) and
each rank trains on its share of every batch; on one device (the CPU path) the
same code runs unsharded.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .losses import LossWeights, composite_loss


@dataclass(frozen=True)
class TrainingList:
    """One query's graded candidates: the unit the list losses work on."""

    query_text: str
    document_texts: tuple[str, ...]
    teacher_gains: tuple[float, ...]   # expected grade, 0 ... 4
    grades: tuple[int, ...]            # most likely grade
    frozen_scores: tuple[float, ...]   # the starting model's cosine similarities

    def __post_init__(self):
        n = len(self.document_texts)
        if n == 0:
            raise ValueError("document_texts: expected at least one document, got none")
        for name in ("teacher_gains", "grades", "frozen_scores"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: expected {n} values, one per document, got {len(getattr(self, name))}")


@dataclass(frozen=True)
class BiEncoderTraining:
    """Optimisation settings of one fine-tuning round."""

    steps: int = 40
    batch_queries: int = 8
    list_size: int = 8
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    precision: str = "auto"   # "auto": bf16 autocast on GPUs that support it; "fp32"; "bf16"
    freeze_embeddings: bool = True  # keep the pre-trained token embeddings: less to fit on little data, faster steps
    seed: int = 0
    loss: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self):
        for name in ("steps", "batch_queries", "list_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision: expected 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected a positive number, got {self.learning_rate!r}")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1

    @property
    def sharded(self) -> bool:
        return self.world_size > 1


def distributed_context() -> DistributedContext:
    """Join the process group when started by torchrun with several GPUs; otherwise a single-process context."""
    import torch.distributed as dist

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group("nccl")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    return DistributedContext(dist.get_rank(), dist.get_world_size())


def shard_model(model: torch.nn.Module, *, mesh=None) -> torch.nn.Module:
    """FSDP-shard each transformer layer and then the whole model (parameters, gradients, optimiser state).

    ``mesh`` is the device mesh to shard over (default: all ranks on the current accelerator).
    """
    from torch.distributed.fsdp import fully_shard

    for module in model.modules():
        if type(module).__name__.endswith("Layer") and hasattr(module, "attention"):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def autocast_for(device: torch.device, precision: str):
    """The autocast context for a device and a precision setting."""
    if precision == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    supported = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=supported)


def encode_texts(model, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Normalised float32 embeddings with a SentenceTransformer in eval mode."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    model.eval()
    return np.asarray(model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False), dtype=np.float32)


class BiEncoderTrainer:
    """Trains a SentenceTransformer on teacher-graded lists; one optimiser and schedule across all rounds.

    Example:
        >>> from sentence_transformers import SentenceTransformer
        >>> from flatsearch.jobsearch.embedding import default_model_path
        >>> trainer = BiEncoderTrainer(SentenceTransformer(default_model_path(), device="cpu"),
        ...                            training=BiEncoderTraining(steps=1, batch_queries=1, list_size=2), total_steps=1)
        >>> lists = [TrainingList("data engineer", ("Data Engineer. Acme", "Chef. Bistro"), (4.0, 0.0), (4, 0), (0.6, 0.1))]
        >>> sorted(trainer.train(lists)[0])
        ['calibration', 'contrastive', 'kl_to_frozen', 'listnet', 'total']
    """

    def __init__(self, model, *, training: BiEncoderTraining, total_steps: int, context: DistributedContext | None = None):
        from transformers import get_cosine_schedule_with_warmup

        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"total_steps: expected a positive int, got {total_steps!r}")
        self.training = training
        self.context = context or DistributedContext()
        from .student import set_embeddings_trainable

        set_embeddings_trainable(model.transformers_model, not training.freeze_embeddings)
        self.model = shard_model(model) if self.context.sharded else model
        self.device = next(model.parameters()).device
        self.optimiser = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=training.learning_rate,
                                           weight_decay=0.01)
        self.schedule = get_cosine_schedule_with_warmup(self.optimiser, int(training.warmup_fraction * total_steps), total_steps)
        self.rng = random.Random(training.seed)
        torch.manual_seed(training.seed)

    def _embed(self, texts: list[str]) -> torch.Tensor:
        features = self.model.preprocess(texts)
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        embeddings = self.model(features)["sentence_embedding"].float()
        return torch.nn.functional.normalize(embeddings, dim=-1)

    def _batch(self, lists: Sequence[TrainingList]) -> dict[str, torch.Tensor | list]:
        size = self.training.list_size
        chosen = []
        for item in lists:
            rows = list(range(len(item.document_texts)))
            if len(rows) > size:
                # Keep the best-graded document (the positive) and a random sample of the rest.
                best = max(rows, key=lambda r: item.teacher_gains[r])
                rest = [r for r in rows if r != best]
                rows = [best] + self.rng.sample(rest, size - 1)
            chosen.append(rows)
        width = max(len(rows) for rows in chosen)
        shape = (len(lists), width)
        gains, grades, frozen = torch.zeros(shape), torch.zeros(shape, dtype=torch.long), torch.zeros(shape)
        mask = torch.zeros(shape, dtype=torch.bool)
        texts = []
        for b, (item, rows) in enumerate(zip(lists, chosen)):
            for slot, r in enumerate(rows):
                gains[b, slot], grades[b, slot], frozen[b, slot] = item.teacher_gains[r], item.grades[r], item.frozen_scores[r]
                mask[b, slot] = True
                texts.append(item.document_texts[r])
        return {"queries": [item.query_text for item in lists], "documents": texts, "gains": gains, "grades": grades,
                "frozen": frozen, "mask": mask}

    def train(self, lists: Sequence[TrainingList], *, steps: int | None = None, progress: bool = False) -> list[dict[str, float]]:
        """Run ``steps`` optimiser steps (default ``training.steps``) on batches drawn from ``lists``; returns per-step losses."""
        from tqdm.auto import tqdm

        if not lists:
            raise ValueError("lists: expected at least one training list, got none")
        steps = self.training.steps if steps is None else steps
        history = []
        order: list[int] = []
        self.model.train()
        for _ in tqdm(range(steps), desc="bi-encoder", disable=not progress or self.context.rank != 0):
            if len(order) < self.training.batch_queries:
                fresh = list(range(len(lists)))
                self.rng.shuffle(fresh)
                order.extend(fresh)
            picked = [order.pop() for _ in range(min(self.training.batch_queries, len(order)))]
            # Every rank draws the same batch and trains on its own share of the lists.
            mine = picked[self.context.rank::self.context.world_size] or picked[:1]
            batch = self._batch([lists[i] for i in mine])
            with autocast_for(self.device, self.training.precision):
                queries = self._embed(batch["queries"])
                flat = self._embed(batch["documents"])
            documents = torch.zeros(*batch["mask"].shape, flat.shape[-1], device=self.device)
            documents[batch["mask"].to(self.device)] = flat
            loss, terms = composite_loss(queries, documents, teacher_gains=batch["gains"].to(self.device),
                                         grades=batch["grades"].to(self.device), frozen_scores=batch["frozen"].to(self.device),
                                         mask=batch["mask"].to(self.device), weights=self.training.loss)
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimiser.step()
            self.schedule.step()
            history.append({**terms, "total": loss.item()})
        self.model.eval()
        return history
