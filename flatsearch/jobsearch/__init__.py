"""Natural-language job search on flatsearch: real postings, a query planner with tool
calling, strict filters, multi-objective exact retrieval, suggestions and caching.

Example:
    >>> from flatsearch.jobsearch import JobSearch
    >>> search = JobSearch()  # doctest: +SKIP
    >>> print(search.search("remote data engineer jobs in Boston", k=5).results[0].title)  # doctest: +SKIP
"""
from .corpus import Corpus, Posting, load_bundled_corpus, load_postings
from .members import ConnectionGraph, Member, MemberStore, Person, SampleNetwork
from .pipeline import JobResult, JobSearch, SearchResponse
from .plan import Explanation, QueryPlan
from .rerank import Candidate, Reranker, ScoreReranker
from .text import posting_text

__all__ = [
    "Candidate", "ConnectionGraph", "Corpus", "Explanation", "JobResult", "JobSearch", "Member", "MemberStore", "Person",
    "Posting", "QueryPlan", "Reranker", "SampleNetwork", "ScoreReranker", "SearchResponse", "load_bundled_corpus",
    "load_postings", "posting_text",
]
