"""A workload: the rows, queries, churn batch and filter attribute one dataset is measured on.

Ids are row numbers: the base holds ids ``0 .. n-1``, the churn inserts take
``n .. n+m-1``, so a keep-mask indexed by id is also a faiss bitmap. Every
random choice (the attribute ``r``, the rows deleted by churn, the split of the
real postings) comes from the workload's seed.

Example:
    >>> from fsbench.workloads import DatasetSpec, load_workload
    >>> w = load_workload(DatasetSpec(kind="synthetic", n=1000, dim=16), device="cpu", n_queries=8)
    >>> w.base.vectors.shape, w.inserts.vectors.shape, w.delete_ids.shape
    (torch.Size([1000, 16]), torch.Size([100, 16]), (100,))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fsbench import synthetic
from fsbench.competitors.base import FilterSpec, Rows

KINDS = ("jobs", "synthetic")
ALL_MEASURES = ("search", "filter", "churn")


@dataclass(frozen=True)
class DatasetSpec:
    """What to measure on.

    Attributes:
        kind: "jobs" (real postings, 384-d) or "synthetic" (clustered).
        n: synthetic rows, or the number of postings to use for "jobs" (None = all).
        dim: synthetic dimension (ignored for "jobs", which is 384).
        n_clusters: synthetic cluster count.
        spread: synthetic noise relative to a unit cluster centre.
        measures: any of "search", "filter", "churn".
        libraries: library names to run here (None = every library of the profile).
        churn_fraction: share of the base deleted and, in equal number, inserted.
        seed: fixes the data and every random choice made on it.
    """

    kind: str
    n: int | None = None
    dim: int = 384
    n_clusters: int = 200
    spread: float = 2.5
    measures: tuple[str, ...] = ALL_MEASURES
    libraries: tuple[str, ...] | None = None
    churn_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.kind == "synthetic" and (self.n is None or self.n < 1):
            raise ValueError(f"n: expected a positive row count for synthetic data, got {self.n!r}")
        unknown = set(self.measures) - set(ALL_MEASURES)
        if unknown:
            raise ValueError(f"measures: expected a subset of {ALL_MEASURES}, got unknown {sorted(unknown)}")
        if not 0 < self.churn_fraction < 1:
            raise ValueError(f"churn_fraction: expected a value in (0, 1), got {self.churn_fraction}")

    @property
    def name(self) -> str:
        if self.kind == "jobs":
            return "jobs-minilm" + (f"-{self.n}" if self.n else "")
        return f"synthetic-{_short_count(self.n)}x{self.dim}"


def _short_count(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


@dataclass
class Workload:
    """Rows and queries of one dataset, ready for every adapter.

    Attributes:
        spec: the dataset spec it was made from.
        base: rows the index is built from.
        inserts: rows added by churn (as many as are deleted).
        delete_ids: base ids deleted by churn.
        queries: (n_queries, dim) float32 query pool; batches cycle through it.
        r_by_id: the filter attribute of every id (base and inserts).
        description: facts for the JSON record (source, sizes).
    """

    spec: DatasetSpec
    base: Rows
    inserts: Rows
    delete_ids: np.ndarray
    queries: torch.Tensor
    r_by_id: np.ndarray
    description: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        return int(self.base.vectors.shape[1])

    def query_batch(self, nq: int) -> torch.Tensor:
        """The first ``nq`` queries of the pool, cycling when the pool is smaller."""
        return self.queries[torch.arange(nq, device=self.queries.device) % self.queries.shape[0]]

    def filter_spec(self, selectivity: float) -> FilterSpec:
        """The filter ``r < selectivity``: about that share of rows passes."""
        return FilterSpec(threshold=float(selectivity), keep_by_id=self.r_by_id < selectivity)

    def rows_after_churn(self) -> Rows:
        """The rows a churned index holds: base minus deletes, plus inserts."""
        survivors = ~np.isin(self.base.ids, self.delete_ids)
        keep = torch.from_numpy(survivors).to(self.base.vectors.device)
        return Rows(np.concatenate([self.base.ids[survivors], self.inserts.ids]),
                    torch.cat([self.base.vectors[keep], self.inserts.vectors]),
                    np.concatenate([self.base.r[survivors], self.inserts.r]))


def _assemble(base_vectors: torch.Tensor, insert_vectors: torch.Tensor, rng: np.random.Generator,
              queries: torch.Tensor, spec: DatasetSpec, description: dict) -> Workload:
    n_base, n_churn = base_vectors.shape[0], insert_vectors.shape[0]
    r_by_id = rng.random(n_base + n_churn, dtype=np.float32)
    ids = np.arange(n_base + n_churn, dtype=np.int64)
    base = Rows(ids[:n_base], base_vectors, r_by_id[:n_base])
    inserts = Rows(ids[n_base:], insert_vectors, r_by_id[n_base:])
    delete_ids = np.sort(rng.choice(n_base, size=n_churn, replace=False)).astype(np.int64)
    description |= {"n_base": n_base, "n_churn": n_churn, "dim": int(base_vectors.shape[1]),
                    "n_queries": int(queries.shape[0]), "churn_fraction": spec.churn_fraction}
    return Workload(spec, base, inserts, delete_ids, queries, r_by_id, description)


def load_workload(spec: DatasetSpec, *, device: str = "cpu", n_queries: int = 256,
                  progress: bool = False) -> Workload:
    """Build the workload for ``spec`` on ``device`` (jobs embeddings come from the disk cache)."""
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "jobs":
        from fsbench.jobs_data import embed_jobs

        embedded = embed_jobs(limit=spec.n, progress=progress)
        order = rng.permutation(embedded.vectors.shape[0])
        vectors = torch.from_numpy(embedded.vectors[order]).to(device)
        # The postings held back for churn are real postings too, unseen by the built index.
        n_base = int(round(vectors.shape[0] / (1 + spec.churn_fraction)))
        queries = torch.from_numpy(embedded.queries).to(device)
        description = {"source": "network-jobs-data postings embedded with all-MiniLM-L6-v2; "
                                 "queries are job-seeker phrasings, not postings",
                       "postings": int(vectors.shape[0])}
        return _assemble(vectors[:n_base], vectors[n_base:], rng, queries, spec, description)
    shape = synthetic.ClusteredSpec(dim=spec.dim, n_clusters=spec.n_clusters, spread=spec.spread, seed=spec.seed)
    n_churn = int(round(spec.n * spec.churn_fraction)) if "churn" in spec.measures else 0
    queries = synthetic.query_vectors(shape, n_queries, device=device)
    description = {"source": f"synthetic clustered unit vectors, {spec.n_clusters} clusters, "
                             f"spread {shape.spread}, seed {spec.seed}"}
    return _assemble(synthetic.base_vectors(shape, spec.n, device=device),
                     synthetic.extra_vectors(shape, n_churn, device=device), rng, queries, spec, description)
