"""Shared fixtures: a small slice of the bundled corpus, one base-model load and its embeddings per session."""
from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flatsearch.jobsearch.corpus import Corpus, Posting, load_bundled_corpus  # noqa: E402

SLICE_STEP = 97  # every 97th posting: ~180 postings across companies, places and functions
REFERENCE = dt.datetime(2026, 1, 10, 22, 52, 24, tzinfo=dt.timezone.utc)


def synthetic_postings() -> list[Posting]:
    day = dt.timedelta(days=1)
    rows = [  # id, title, company, location, age in days, pay
        (9_100_001, "Senior Software Engineer, Platform", "Acme Staffing Partners", "Seattle, WA - Remote", 1, 200_000),
        (9_100_002, "Software Engineer, Backend", "Stripe", "Seattle, WA (Hybrid)", 2, 210_000),
        (9_100_003, "Software Engineer, Infrastructure", "Stripe", "Remote - US", 3, 190_000),
        (9_100_004, "Software Engineer", "Waymo", "Mountain View, CA", 5, None),
        (9_100_005, "Software Engineer, Payments", "Stripe", "Seattle, WA - Remote", 120, None),
        (9_100_006, "Keyholder, Part-Time", "Warby Parker", "Seattle, WA", 1, None),
        (9_100_007, "Data Scientist, Growth", "Lyft", "San Francisco, CA", 2, 180_000),
        (9_100_008, "Data Engineer", "Lyft", "San Francisco, CA", 2, None),
        (9_100_009, "Growth Marketing Manager", "Airbnb", "New York, NY", 2, 160_000),
    ]
    return [Posting(id=i, title=title, company=company, location=location, posted_at=REFERENCE - age * day,
                    salary_min=pay, salary_max=pay)
            for i, title, company, location, age, pay in rows]


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return Corpus(tuple(list(load_bundled_corpus().postings[::SLICE_STEP]) + synthetic_postings()), "relevance-test-slice", REFERENCE)


@pytest.fixture(scope="session")
def catalog(corpus):
    from flatsearch.jobsearch.catalog import JobCatalog
    from flatsearch.jobsearch.gazetteer import Gazetteer

    return JobCatalog(corpus, Gazetteer())


@pytest.fixture(scope="session")
def network():
    from flatsearch.jobsearch.members import SampleNetwork

    return SampleNetwork()


@pytest.fixture(scope="session")
def tools(catalog, network):
    from flatsearch.jobsearch.tools import PlannerTools

    return PlannerTools(catalog, network, network)


@pytest.fixture(scope="session")
def planner(tools):
    from flatsearch.jobsearch.planner_rules import RulePlanner

    return RulePlanner(tools)


@pytest.fixture(scope="session")
def base_model():
    from sentence_transformers import SentenceTransformer

    from flatsearch.jobsearch.embedding import default_model_path

    return SentenceTransformer(default_model_path(), device="cpu")


@pytest.fixture(scope="session")
def base_encode(base_model):
    from flatsearch.jobsearch.relevance.biencoder import encode_texts

    return lambda texts: encode_texts(base_model, texts)


@pytest.fixture(scope="session")
def base_vectors(catalog, base_encode) -> np.ndarray:
    return base_encode(catalog.texts())


@pytest.fixture(scope="session")
def teacher(catalog, base_vectors, base_encode, network):
    from flatsearch.jobsearch.relevance.policy import PolicyGrader

    return PolicyGrader(catalog, base_vectors, base_encode, network, now=REFERENCE)


@pytest.fixture(scope="session")
def make_case(planner):
    from flatsearch.jobsearch.relevance.cases import QueryCase

    def make(query: str, member_id: str | None = None, query_type: str = "role", query_id: str = "q1") -> QueryCase:
        return QueryCase(query_id, query, query_type, member_id, planner.plan(query, member_id, now=REFERENCE))

    return make
