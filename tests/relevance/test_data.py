"""Synthetic queries (determinism, splits, types) and the JSONL judgments."""
import json

import numpy as np
import pytest

from flatsearch.jobsearch.relevance.dataset import (JUDGMENT_FIELDS, grade_candidates, plan_queries, read_jsonl, rows_by_query,
                                                    write_jsonl)
from flatsearch.jobsearch.relevance.querygen import QUERY_TYPES, QueryGenerator, resolvable_place_names, role_of, split_of
from flatsearch.jobsearch.relevance.retrieval import JobIndex

from .conftest import REFERENCE


@pytest.fixture(scope="module")
def generator(catalog, tools, network):
    return QueryGenerator(catalog, resolvable_place_names(catalog, tools.place_by_name), network, network, seed=3,
                          test_fraction=0.3, min_role_postings=2)


def test_generation_is_deterministic_and_covers_types(generator, catalog, tools, network):
    first = generator.generate(40)
    again = QueryGenerator(catalog, resolvable_place_names(catalog, tools.place_by_name), network, network, seed=3,
                           test_fraction=0.3, min_role_postings=2).generate(40)
    assert first == again
    assert len({(q.query, q.member_id) for q in first}) == len(first) == 40
    assert {q.query_type for q in first} >= {"role", "place", "seniority", "exclusion", "connections", "background"}
    assert all(q.query_type in QUERY_TYPES for q in first)
    assert all((q.member_id is not None) == (q.query_type in ("connections", "background")) for q in first)


def test_splits_are_by_query_text(generator):
    queries = generator.generate(40)
    by_text = {}
    for q in queries:
        by_text.setdefault(" ".join(q.query.lower().split()), set()).add(q.split)
    assert all(len(splits) == 1 for splits in by_text.values())
    assert {q.split for q in queries} == {"train", "test"}
    assert split_of("Data Engineer  jobs", seed=3, test_fraction=0.3) == split_of("data engineer jobs", seed=3, test_fraction=0.3)


def test_validation_is_carved_from_training_queries_only():
    texts = [f"role number {n} jobs" for n in range(2000)]
    without = [split_of(t, seed=1, test_fraction=0.25) for t in texts]
    with_validation = [split_of(t, seed=1, test_fraction=0.25, validation_fraction=0.15) for t in texts]
    # Adding a validation split never moves a test query, and takes its queries from training only.
    assert all((a == "test") == (b == "test") for a, b in zip(without, with_validation))
    assert all(a == "train" for a, b in zip(without, with_validation) if b == "validation")
    shares = {s: with_validation.count(s) / len(texts) for s in ("train", "validation", "test")}
    assert shares["test"] == pytest.approx(0.25, abs=0.03) and shares["validation"] == pytest.approx(0.15, abs=0.03)


@pytest.mark.parametrize("test_fraction, validation_fraction, bad", [(0.0, 0.1, "test_fraction"), (0.3, -0.1, "validation_fraction"),
                                                                     (0.5, 0.5, "validation_fraction"), (0.2, True, "validation_fraction")])
def test_split_fractions_are_checked(test_fraction, validation_fraction, bad):
    with pytest.raises(ValueError, match=bad):
        split_of("data jobs", seed=0, test_fraction=test_fraction, validation_fraction=validation_fraction)


def test_seed_postings_match_their_query(generator, planner, teacher):
    queries = [q for q in generator.generate(40) if q.seed_job_id is not None]
    cases = plan_queries(queries, planner, now=REFERENCE)
    # Queries are built so that their seed posting meets them. The exceptions: "above median pay" compares with other
    # postings, so the seed's pay may fall below it, and the planner takes the "executive" of "account executive" for a
    # seniority level.
    passing = [teacher.factors(case, [q.seed_job_id])["passes_filters"][0] for case, q in zip(cases, queries)]
    misread = [q.query for q, p in zip(queries, passing) if not p]
    assert np.mean(passing) >= 0.7, misread
    assert all("executive" in text or "median" in text for text in misread), misread


def test_role_of_titles():
    assert role_of("Senior Software Engineer, Backend") == "software engineer"
    assert role_of("Sr. Data Scientist II") == "data scientist"
    assert role_of("Συντονιστής Βάρδιας Αποθήκης") is None


def test_bad_arguments(generator, catalog, network):
    with pytest.raises(ValueError, match="count"):
        generator.generate(0)
    with pytest.raises(ValueError, match="test_fraction"):
        QueryGenerator(catalog, {}, network, network, test_fraction=1.0)


def test_graded_candidates_are_rows_of_the_documented_schema(generator, planner, teacher, catalog, base_vectors, base_encode,
                                                             network, tmp_path):
    cases = plan_queries(generator.generate(8), planner, now=REFERENCE)
    jobs = JobIndex(catalog, base_vectors)
    hits = jobs.search([c.plan for c in cases], jobs.query_vectors([c.plan for c in cases], base_encode, network), 5)
    rows = grade_candidates(cases, [ids for ids, _ in hits], teacher, jobs=jobs, random_negatives=2, seed=0)
    assert rows and all(set(JUDGMENT_FIELDS) <= set(row) for row in rows)
    for row in rows:
        assert abs(sum(row["grades"]) - 1) < 1e-5 and row["grade"] == int(np.argmax(row["grades"]))
    grouped = rows_by_query(rows)
    for case in cases:
        case_rows = grouped.get(case.query_id, [])
        retrieved = [r["job_id"] for r in case_rows if r["source"] == "retrieved"]
        extra = [r["job_id"] for r in case_rows if r["source"] == "random"]
        assert not set(retrieved) & set(extra)
        assert set(extra) <= set(jobs.passing(case.plan.filters).tolist())
    path = tmp_path / "judgments.jsonl"
    write_jsonl(path, rows)
    assert read_jsonl(path, required=JUDGMENT_FIELDS) == json.loads(json.dumps(rows))
    again = grade_candidates(cases, [ids for ids, _ in hits], teacher, jobs=jobs, random_negatives=2, seed=0)
    assert again == rows


def test_reading_bad_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"query_id": "q1"}\n[1, 2]\n')
    with pytest.raises(ValueError, match="line 2: expected a JSON object, got list"):
        read_jsonl(path)
    path.write_text('{"query_id": "q1"}\n')
    with pytest.raises(ValueError, match="line 1: missing field"):
        read_jsonl(path, required=("query_id", "job_id"))
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match="invalid JSON"):
        read_jsonl(path)
    with pytest.raises(ValueError, match="existing JSONL"):
        read_jsonl(tmp_path / "missing.jsonl")
