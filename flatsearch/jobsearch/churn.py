"""Adding and removing postings while a :class:`~.pipeline.JobSearch` keeps answering.

The index takes the new rows with ``upsert`` and drops old ones with ``delete`` under
its own read-write lock, so searches running at the same time see each posting either
before or after the change. New postings get their derived attributes the way the
catalog derives them at start-up (a small catalog of just them, at the same anchor
time); a company or category the catalog has not seen gets the next free id. What the
planner looks up follows each change: company names are those with a live posting, pay
statistics are computed over the live postings, and cached plans (which hold pay
thresholds and company ids) are dropped. Its spelling vocabulary stays the start-up one.
"""
from __future__ import annotations

import threading
from typing import Iterable

import numpy as np

from .catalog import JobCatalog, title_terms
from .corpus import Corpus, Posting

_writer = threading.Lock()  # one change at a time; searches are never blocked by it


def add_postings(search, postings: Iterable[Posting]) -> list[int]:
    """Add (or replace, by id) postings in ``search``; returns their ids.

    Example:
        >>> import datetime as dt
        >>> posting = Posting(99_000_001, "Data Engineer", "Acme", "Boston, MA", dt.datetime(2026, 1, 9, tzinfo=dt.timezone.utc))
        >>> add_postings(search, [posting])  # doctest: +SKIP
        [99000001]
    """
    postings = list(postings)
    if not postings or not all(isinstance(p, Posting) for p in postings):
        raise TypeError("postings: expected a non-empty list of Posting objects")
    ids = [p.id for p in postings]
    if len(set(ids)) != len(ids):
        raise ValueError(f"postings: expected distinct ids, got {sorted(i for i in set(ids) if ids.count(i) > 1)} more than once")
    with _writer:
        catalog = search.catalog
        added = JobCatalog(Corpus(tuple(postings), "added", catalog.corpus.reference_time), catalog.gazetteer, anchor_time=catalog.anchor_time)
        vectors = search.encoder.encode(added.texts(ids))
        for posting in postings:
            if posting.company not in catalog.company_ids:
                number = max(catalog.company_names, default=0) + 1
                catalog.company_ids[posting.company], catalog.company_names[number] = number, posting.company
            for term in sorted(title_terms(posting.title) - catalog.title_term_ids.keys()):  # new title words get new ids
                catalog.title_term_ids[term] = max(catalog.title_term_ids.values(), default=0) + 1
            if posting.category and posting.category not in catalog.category_ids:
                catalog.category_ids[posting.category] = max(catalog.category_ids.values(), default=0) + 1
        catalog.records.update(added.records)
        search.index.upsert(np.array(ids, dtype=np.int64), vectors, catalog.columns(ids))
        _follow(search)
    return ids


def remove_postings(search, ids: Iterable[int]) -> int:
    """Remove postings by id from ``search``; returns how many. Unknown ids raise KeyError and remove nothing.

    Example:
        >>> remove_postings(search, [99_000_001])  # doctest: +SKIP
        1
    """
    ids = list(ids)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise TypeError("ids: expected a non-empty list of integer posting ids")
    with _writer:
        unknown = sorted({i for i in ids if i not in search.catalog.records})
        if unknown:
            raise KeyError(f"ids: no posting has id(s) {unknown[:10]}" + (" ..." if len(unknown) > 10 else ""))
        removed = search.index.delete(np.array(sorted(set(ids)), dtype=np.int64))
        for i in set(ids):
            search.catalog.records.pop(i, None)
        _follow(search)
    return int(removed)


def _follow(search) -> None:
    """After a change: derived catalog data, the planner's company lookups and cached plans follow the live postings."""
    search.catalog.changed()
    search.tools.refresh_companies()
    search.plan_cache.clear()
