"""Natural-language job search on flatsearch: real postings, a query planner with tool
calling, strict filters, multi-objective exact retrieval, suggestions and caching.

Names load on first use, so ``import flatsearch.jobsearch`` costs nothing until one is needed.

Example:
    >>> from flatsearch.jobsearch import JobSearch
    >>> search = JobSearch()  # doctest: +SKIP
    >>> print(search.search("remote data engineer jobs in Boston", k=5).results[0].title)  # doctest: +SKIP
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Candidate": "rerank", "ConnectionGraph": "members", "Corpus": "corpus", "Explanation": "plan", "JobResult": "pipeline",
    "JobSearch": "pipeline", "Member": "members", "MemberStore": "members", "Person": "members", "Posting": "corpus",
    "QueryPlan": "plan", "Reranker": "rerank", "SampleNetwork": "members", "ScoreReranker": "rerank",
    "SearchResponse": "pipeline", "add_postings": "churn", "load_bundled_corpus": "corpus", "load_postings": "corpus",
    "posting_text": "text", "remove_postings": "churn",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
