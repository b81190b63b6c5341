"""The evaluation's judging rules on a tiny fake search: an empty answer and the honest floor are judged
against the corpus, labelled-nearest jobs are not the ranked answer, and query vectors are forgotten per query."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import jobsearch_eval as ev  # noqa: E402

NOW = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)
PLACES = {"places": {"BOSTON": "Boston"}, "remote": "remote", "hybrid": "hybrid", "onsite": "on-?site"}


def posting(i, title, location="Boston, MA"):
    return SimpleNamespace(id=i, title=title, department="", category="", location=location, company="Acme", company_domain="",
                           posted_at=NOW - dt.timedelta(days=1), salary_min=None, salary_max=None)


POSTINGS = [posting(1, "Registered Nurse"), posting(2, "Retail Associate"), posting(3, "Nurse Practitioner", "Remote - US")]


@dataclass
class Result:
    id: int
    close_match: bool = True


@dataclass
class Response:
    results: list
    message: str | None = None
    plan: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(intent="job_search", filters=None, semantic_text="nurse", notes=[]))
    timings_ms: dict = field(default_factory=dict)


class FakeEncoder:
    def __init__(self):
        self.remembered = {"nurse": "remembered"}

    def clear_query_cache(self):
        self.remembered.clear()


class FakeSearch:
    def __init__(self, answers):
        self.answers = answers
        self.catalog = SimpleNamespace(corpus=SimpleNamespace(postings=POSTINGS))
        self.encoder = FakeEncoder()
        self.cleared = 0

    def search(self, query, **_):
        self.cleared += not self.encoder.remembered
        self.encoder.remembered[query] = "remembered"
        return self.answers[query]


def judge_all(answers, rows):
    search = FakeSearch(answers)
    return ev.evaluate(rows, search, ev.Judge(PLACES, search), now=NOW.isoformat(), k=10, verbose=False), search


def test_empty_answers_and_the_floor_are_judged_against_the_corpus():
    rows = [{"id": "a", "query": "nurse in Boston", "expect": {"loc": ["BOSTON"], "topic": "nurs"}},
            {"id": "b", "query": "retail in Boston", "expect": {"loc": ["BOSTON"], "topic": "chef"}},
            {"id": "c", "query": "nothing", "expect": {"loc": ["BOSTON"], "title": "astronaut"}},
            {"id": "d", "query": "nurse empty", "expect": {"loc": ["BOSTON"], "title": "Nurse"}}]
    answers = {"nurse in Boston": Response([Result(2, close_match=False)], "No close matches"),  # a nurse in Boston exists: a miss
               "retail in Boston": Response([Result(2, close_match=False)], "No close matches"),  # no chef anywhere: an honest floor
               "nothing": Response([], "No job matches every filter"),  # no posting fits: rightly empty
               "nurse empty": Response([], "No job matches every filter")}  # posting 1 fits: an empty miss
    report, search = judge_all(answers, rows)
    assert report["irrelevant_top3"] == 1 and report["honest_floor"] == 1 and report["topic_queries"] == 2
    assert report["rightly_empty"] == 1 and report["empty_job_searches"] == 1
    assert [f["id"] for f in report["failures"]] == ["a", "d"]
    assert search.cleared == len(rows)  # the query-vector cache is empty before every search


def test_close_matches_are_the_ranked_answer_and_every_shown_job_must_pass():
    rows = [{"id": "e", "query": "nurse", "expect": {"loc": ["BOSTON"], "topic": "nurs"}}]
    report, _ = judge_all({"nurse": Response([Result(1), Result(2, close_match=False)])}, rows)
    assert report["irrelevant_top3"] == 0 and report["violating"] == 0 and report["all_right"] == 1
    report, _ = judge_all({"nurse": Response([Result(1), Result(3, close_match=False)])}, rows)  # a nearest job outside Boston
    assert report["violating"] == 1
