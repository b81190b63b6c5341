"""The pipeline ranks with a student cross-encoder installed in its cache, and says so; without one it
ranks by the documented score."""
import numpy as np
import pytest
import torch

from flatsearch.jobsearch.pipeline import MIN_SIMILARITY, POOL_SIZE, JobSearch
from flatsearch.jobsearch.rerank import ScoreReranker
from flatsearch.jobsearch.scoring import fold_profile

NOW = "2026-01-10T22:52:24Z"
QUERY = "software engineer jobs"
K = 8
TOP_K = 30  # the StudentReranker default: only the first 30 retrieved jobs are read by the student


@pytest.fixture(scope="module")
def student_cache(tmp_path_factory):
    """A cache directory holding no student yet (its own, so the session's engine keeps the default ranking)."""
    return tmp_path_factory.mktemp("student-cache")


@pytest.fixture(scope="module")
def default_engine(student_cache, corpus, encoder, gazetteer):
    from flatsearch.jobsearch.relevance.reranker import default_student_path

    assert not default_student_path(student_cache).exists()
    return JobSearch(corpus=corpus, cache_dir=student_cache, encoder=encoder, gazetteer=gazetteer, progress=False)


@pytest.fixture(scope="module")
def student_engine(default_engine, student_cache, corpus, encoder, gazetteer):
    from flatsearch.jobsearch.relevance.reranker import default_student_path
    from flatsearch.jobsearch.relevance.student import StudentCrossEncoder

    student = StudentCrossEncoder.from_base(num_layers=1, max_length=32, seed=0)
    # An untrained head gives nearly equal grades to every job; widened, they spread out (about 1e-3 apart).
    with torch.no_grad():
        student.cross_encoder.model.classifier.weight.mul_(300.0)
    student.save(default_student_path(student_cache))
    return JobSearch(corpus=corpus, cache_dir=student_cache, encoder=encoder, gazetteer=gazetteer, progress=False)


def test_without_a_student_the_documented_score_ranks(default_engine):
    response = default_engine.search(QUERY, k=K, now=NOW)
    assert response.results and response.ranked_by == ScoreReranker.description
    assert response.to_dict()["ranked_by"] == "the multi-objective score (similarity + engagement + preference, see scoring.py)"


def test_an_installed_student_ranks_and_is_named(student_engine, student_cache):
    from flatsearch.jobsearch.relevance.reranker import default_student_path

    response = student_engine.search(QUERY, k=K, now=NOW)
    assert response.ranked_by == f"student cross-encoder (1 layers) from {default_student_path(student_cache)}, top {TOP_K}"
    assert response.to_dict()["ranked_by"] == response.ranked_by


def test_the_results_follow_the_students_expected_grades(student_engine, default_engine, student_cache):
    from flatsearch.jobsearch.lexical import names_phrase
    from flatsearch.jobsearch.relevance.reranker import default_student_path
    from flatsearch.jobsearch.relevance.student import StudentCrossEncoder
    from flatsearch.jobsearch.relevance.texts import job_side_text, query_side_text

    response = student_engine.search(QUERY, k=K, now=NOW)
    plan, catalog = response.plan, student_engine.catalog
    # The jobs the student reads: the first TOP_K of the retrieval order, computed here from the index.
    semantic = student_engine.encoder.encode_query(plan.semantic_text)
    head = student_engine._retrieve(plan, fold_profile(semantic, None, weight=plan.profile_weight), max(K, POOL_SIZE))[:TOP_K]
    # On this query every one of them is on topic and distinct, so the pipeline drops none of them after ranking but
    # those the floor's role-phrase rule holds to its strict bar.
    assert len(head) == TOP_K and all(float(c.vector @ semantic) >= MIN_SIMILARITY for c in head)
    keys = {(c.record.posting.title.casefold().strip(), c.record.posting.company, c.record.posting.location.casefold().strip()) for c in head}
    assert len(keys) == TOP_K

    student = StudentCrossEncoder.load(default_student_path(student_cache))  # a second copy, scored here
    pairs = [(query_side_text(plan, None, catalog), job_side_text(c.record, catalog.default_now())) for c in head]
    grades = student.predict(pairs) @ np.arange(5, dtype=np.float64)
    by_id = {c.id: float(g) for c, g in zip(head, grades)}
    returned = [job.id for job in response.results]
    tolerance = 1e-6  # the pipeline may batch pairs differently; float32 logits then differ in the last bits
    # Every returned job carries its student grade, in descending order, and no job left out had a higher grade.
    assert len(returned) == K and set(returned) <= set(by_id)
    assert [job.score for job in response.results] == pytest.approx([by_id[i] for i in returned], abs=tolerance)
    assert all(a >= b - tolerance for a, b in zip([by_id[i] for i in returned], [by_id[i] for i in returned][1:]))
    # (the floor's role-phrase rule holds titles that do not name "software engineer" to its strict similarity bar,
    # whatever their grade: only the titles that name it are compared here)
    groups = student_engine.lexical.phrase_groups(plan.semantic_text)
    kept = {c.id for c in head if not groups or names_phrase(groups, c.record.posting.title)}
    assert min(by_id[i] for i in returned) >= max(g for i, g in by_id.items() if i not in returned and i in kept) - tolerance
    # The check means something only if the student disagrees with the default ranking here.
    assert [job.id for job in response.results] != [job.id for job in default_engine.search(QUERY, k=K, now=NOW).results]
