"""What every stage of the relevance loop shares: the sampled corpus, its base embeddings, the planner and the teacher."""
from __future__ import annotations

import datetime as dt
import pathlib
import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..catalog import JobCatalog
from ..corpus import Corpus, load_bundled_corpus
from ..embedding import Encoder
from ..gazetteer import load_gazetteer
from ..members import SampleNetwork
from ..planner_rules import RulePlanner
from ..tools import PlannerTools
from .biencoder import encode_texts
from .cases import QueryCase
from .policy import PolicyGrader
from .texts import job_side_text, query_side_text


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

    def reranker_pairs(self, cases: Mapping[str, QueryCase], rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
        """(query side, job side) texts, as the student reads them, for rows holding a query_id and a job_id."""
        texts: dict[str, str] = {}
        pairs = []
        for row in rows:
            case = cases[row["query_id"]]
            if case.query_id not in texts:
                member = self.members.get(case.member_id) if case.member_id else None
                texts[case.query_id] = query_side_text(case.plan, member, self.catalog)
            pairs.append((texts[case.query_id], job_side_text(self.catalog.records[row["job_id"]], self.now)))
        return pairs


def sample_corpus(corpus: Corpus, size: int | None, *, seed: int) -> Corpus:
    """A seeded random sample of postings (in id order) that keeps the snapshot's reference time."""
    if size is None or size >= len(corpus):
        return corpus
    chosen = random.Random(seed).sample(sorted(corpus.postings, key=lambda p: p.id), size)
    return Corpus(tuple(sorted(chosen, key=lambda p: p.id)), f"{corpus.name}[sample of {size}, seed {seed}]", corpus.reference_time)


def build_workspace(*, corpus_size: int | None, seed: int, device: str, cache_dir: pathlib.Path, corpus: Corpus | None,
                    progress: bool) -> Workspace:
    """Sample the corpus, embed it with the base model (cached on disk) and set up the planner and the teacher."""
    corpus = sample_corpus(corpus or load_bundled_corpus(), corpus_size, seed=seed)
    catalog = JobCatalog(corpus, load_gazetteer(cache_dir))
    network = SampleNetwork()
    tools = PlannerTools(catalog, network, network)
    encoder = Encoder(cache_dir=cache_dir, device=device, backend="torch")  # training fine-tunes and reads the torch model
    vectors = encoder.encode(catalog.texts(), progress=progress, description="encoding postings (base model)")
    now = catalog.default_now()

    def base_encode(texts: list[str]) -> np.ndarray:
        return encode_texts(encoder.model, texts)

    teacher = PolicyGrader(catalog, vectors, base_encode, network, now=now)
    return Workspace(catalog, network, RulePlanner(tools), tools, encoder.model, vectors, teacher, now)
