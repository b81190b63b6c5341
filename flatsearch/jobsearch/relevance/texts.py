"""What the reranker reads for a (query, job) pair: defined beside the pipeline in
:mod:`flatsearch.jobsearch.pair_text`, which serving uses without this package."""
from ..pair_text import AGE_WORDS, age_words, job_side_text, query_side_text

__all__ = ["AGE_WORDS", "age_words", "job_side_text", "query_side_text"]
