"""The distilled student as the job search pipeline's reranker: defined beside the pipeline in
:mod:`flatsearch.jobsearch.student` (serving loads it without this package); training installs
it with :func:`save_student_reranker`."""
from ..student import (DEFAULT_TOP_K, SETTINGS_FILE, StudentReranker, default_student_path, load_student_reranker, rerank_scores,
                       save_student_reranker)

__all__ = ["DEFAULT_TOP_K", "SETTINGS_FILE", "StudentReranker", "default_student_path", "load_student_reranker", "rerank_scores",
           "save_student_reranker"]
