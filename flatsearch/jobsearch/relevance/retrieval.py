"""Candidate retrieval through flatsearch, the way the job search pipeline retrieves.

A :class:`JobIndex` holds one embedding per posting plus the catalog's columns.
A query plan is searched with its strict filters, its boost, and (for a signed-in
member) the profile folded into the query vector (:mod:`..scoring`). Replacing the
embeddings after fine-tuning goes through ``fs.Index.upsert``: the columns stay,
nothing is rebuilt.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import flatsearch as fs

from ..catalog import ATTRIBUTES, JobCatalog
from ..members import MemberStore
from ..plan import QueryPlan
from ..scoring import fold_profile

TextEncoder = Callable[[list[str]], np.ndarray]


class JobIndex:
    """Postings of a catalog in an ``fs.Index`` (inner product over normalised vectors).

    Example:
        >>> import numpy as np
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> from flatsearch.jobsearch.gazetteer import Gazetteer
        >>> catalog = JobCatalog(load_bundled_corpus().head(20), Gazetteer())
        >>> vectors = np.eye(20, 8, dtype=np.float32)
        >>> jobs = JobIndex(catalog, vectors)
        >>> len(jobs.passing(None))
        20
    """

    def __init__(self, catalog: JobCatalog, vectors: np.ndarray, *, device: str = "cpu"):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(catalog):
            raise ValueError(f"vectors: expected shape ({len(catalog)}, dim), one row per posting of the catalog, got {vectors.shape}")
        self.catalog = catalog
        self.ids = np.asarray(catalog.ids, dtype=np.int64)
        self.dim = vectors.shape[1]
        self.index = fs.Index(self.dim, metric="ip", dtype="float32", device=device, attributes=ATTRIBUTES)
        self.index.add(self.ids, vectors, attributes=catalog.columns())

    def __len__(self) -> int:
        return len(self.index)

    def replace_vectors(self, vectors: np.ndarray) -> None:
        """New embeddings for every posting (rows in catalog order), written with ``upsert``."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(self.ids), self.dim):
            raise ValueError(f"vectors: expected shape {(len(self.ids), self.dim)}, got {vectors.shape}")
        self.index.upsert(self.ids, vectors)

    def query_vectors(self, plans: Sequence[QueryPlan], encode: TextEncoder, members: MemberStore | None) -> np.ndarray:
        """The vector each plan is searched with: semantic text, plus the weighted profile when a member is signed in."""
        queries = encode([plan.semantic_text or plan.query for plan in plans])
        personal = [i for i, plan in enumerate(plans) if plan.member_id is not None and plan.profile_weight]
        if personal:
            if members is None:
                raise ValueError("members: expected a member store, since some plans have a member")
            profiles = encode([members.get(plans[i].member_id).profile_text() for i in personal])
            for row, i in enumerate(personal):
                queries[i] = fold_profile(queries[i], profiles[row], weight=plans[i].profile_weight)
        return queries

    def search(self, plans: Sequence[QueryPlan], query_vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-k (ids, scores) per plan: strict filters and boost applied inside the scan; padding removed."""
        if len(plans) != len(query_vectors):
            raise ValueError(f"query_vectors: expected one row per plan ({len(plans)}), got {len(query_vectors)}")
        out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(plans)  # type: ignore[list-item]
        # Plans made at the same time share one boost, so they go to the index together.
        groups: dict[str, list[int]] = {}
        for i, plan in enumerate(plans):
            groups.setdefault(repr(sorted(plan.boost.items())), []).append(i)
        for rows in groups.values():
            result = self.index.search(query_vectors[rows], k, filter=[plans[i].filters for i in rows],
                                       boost=plans[rows[0]].boost or None)
            for row, i in enumerate(rows):
                ids = result.ids[row].numpy()
                keep = ids >= 0
                out[i] = (ids[keep], result.scores[row].numpy()[keep])
        return out

    def passing(self, filter: dict | None, ids: Sequence[int] | None = None) -> np.ndarray:
        """Ids (all, or those of ``ids``) that satisfy a filter dict, sorted."""
        selected = self.ids if filter is None else self.index.ids(filter=filter).numpy()
        if ids is None:
            return selected
        return np.asarray(ids, dtype=np.int64)[np.isin(np.asarray(ids, dtype=np.int64), selected)]
