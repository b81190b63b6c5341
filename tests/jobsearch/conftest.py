"""Shared fixtures: a small, varied slice of the bundled corpus plus a few synthetic postings
(staffing agencies, stated pay), one model load and one index build per test session."""
from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from flatsearch.jobsearch.corpus import Corpus, Posting, load_bundled_corpus  # noqa: E402

SLICE_STEP = 61  # every 61st posting: ~280 postings across companies, places and categories
REFERENCE = dt.datetime(2026, 1, 10, 22, 52, 24, tzinfo=dt.timezone.utc)


def synthetic_postings() -> list[Posting]:
    day = dt.timedelta(days=1)
    rows = [
        (9_000_001, "Senior Software Engineer, Platform", "Acme Staffing Partners", "Seattle, WA - Remote", 1, 200_000, 260_000),
        (9_000_002, "Software Engineer, Backend", "Stripe", "Seattle, WA (Hybrid)", 2, 210_000, 300_000),
        (9_000_003, "Software Engineer, Infrastructure", "Stripe", "Remote - US", 3, 190_000, 280_000),
        (9_000_004, "Staff Software Engineer", "Waymo", "Mountain View, CA - Hybrid", 4, 250_000, 340_000),
        (9_000_005, "Software Engineer", "Waymo", "Mountain View, CA", 5, 120_000, 150_000),
        (9_000_006, "Software Engineer, Payments", "Stripe", "Sunnyvale, CA - Remote", 60, 230_000, 310_000),
        (9_000_007, "Recruiter, Engineering", "TalentBridge Recruiting", "Remote - US", 1, 90_000, 120_000),
        (9_000_008, "Sustainability Marketing Manager", "KoBold Metals", "Remote - US", 2, 150_000, 190_000),
        (9_000_009, "Brand Marketing Lead, Climate", "Stripe", "San Francisco, CA", 3, None, None),
        (9_000_010, "Lifecycle Marketing Manager", "Samsara", "Remote - US", 6, 140_000, 180_000),
        (9_000_011, "Growth Marketing Manager", "Airbnb", "New York, NY", 2, 160_000, 200_000),
        (9_000_012, "Software Engineer, Mapping", "Waymo", "Bellevue, WA - Remote", 2, None, None),
    ]
    return [Posting(id=i, title=title, company=company, location=location, posted_at=REFERENCE - age * day,
                    salary_min=low, salary_max=high, category="engineering" if "Engineer" in title else "marketing")
            for i, title, company, location, age, low, high in rows]


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    bundled = load_bundled_corpus()
    postings = list(bundled.postings[::SLICE_STEP]) + synthetic_postings()
    return Corpus(tuple(postings), "test-slice", REFERENCE)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("flatsearch-cache")


@pytest.fixture(scope="session")
def gazetteer():
    from flatsearch.jobsearch.gazetteer import Gazetteer

    return Gazetteer()


@pytest.fixture(scope="session")
def encoder(cache_dir):
    from flatsearch.jobsearch.embedding import Encoder

    return Encoder(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def engine(corpus, cache_dir, gazetteer, encoder):
    from flatsearch.jobsearch import JobSearch

    return JobSearch(corpus=corpus, cache_dir=cache_dir, encoder=encoder, gazetteer=gazetteer, progress=False)


@pytest.fixture(scope="session")
def network():
    from flatsearch.jobsearch.members import SampleNetwork

    return SampleNetwork()


@pytest.fixture(scope="session")
def catalog(corpus, gazetteer):
    from flatsearch.jobsearch.catalog import JobCatalog

    return JobCatalog(corpus, gazetteer)


@pytest.fixture(scope="session")
def tools(catalog, network):
    from flatsearch.jobsearch.tools import PlannerTools

    return PlannerTools(catalog, network, network)


@pytest.fixture(scope="session")
def planner(tools):
    from flatsearch.jobsearch.planner_rules import RulePlanner

    return RulePlanner(tools)
