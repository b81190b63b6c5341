"""Postings added and removed at run time: the planner's company lookups and pay statistics follow them, and
searches running meanwhile never fail or return a posting that was gone before they started."""
import datetime as dt
import threading
import time

from flatsearch.jobsearch import add_postings, remove_postings
from flatsearch.jobsearch.corpus import Posting

WHEN = dt.datetime(2026, 1, 9, tzinfo=dt.timezone.utc)
NOW = "2026-01-10T22:52:24Z"


def found(engine, company):
    return [m["name"] for m in engine.tools.lookup_company(company)["matches"]]


def test_company_lookups_follow_adds_and_removes(engine):
    company = "Quillfeather Robotics"
    assert company not in found(engine, company)
    postings = [Posting(78_000_001, "Robotics Engineer", company, "Austin, TX", WHEN)]
    engine.search(f"robotics engineer jobs at {company}", k=3, now=NOW)  # a plan made before the add is cached
    add_postings(engine, postings)
    try:
        assert found(engine, company) == [company]
        assert [company] == [engine.catalog.company_names[c] for _, _, c in engine.tools.company_mentions(f"roles at {company.lower()}")]
        response = engine.search(f"robotics engineer jobs at {company}", k=3, now=NOW)
        assert {"company": {"in": [engine.catalog.company_ids[company]]}} in response.plan.filters["and"]
        assert [r.id for r in response.results] == [78_000_001]
    finally:
        remove_postings(engine, [78_000_001])
    assert company not in found(engine, company)
    assert engine.tools.company_mentions(f"roles at {company.lower()}") == []


def test_pay_statistics_follow_adds_and_removes(engine):
    keywords = "apiarist"
    assert engine.tools.salary_statistics(keywords)["basis"].startswith("all postings")  # no such title at start-up
    pays = [100_000, 110_000, 120_000, 130_000, 140_000, 900_000]
    ids = [78_000_100 + i for i in range(len(pays))]
    add_postings(engine, [Posting(i, "Apiarist", "Hive Co", "Tacoma, WA", WHEN, salary_min=pay, salary_max=pay) for i, pay in zip(ids, pays)])
    try:
        stats = engine.tools.salary_statistics(keywords)
        assert (stats["basis"], stats["count"], stats["median"]) == ("titles containing 'apiarist'", 6, 125_000)
        remove_postings(engine, ids[-1:])
        stats = engine.tools.salary_statistics(keywords)
        assert (stats["basis"], stats["count"], stats["median"]) == ("titles containing 'apiarist'", 5, 120_000)
    finally:
        remove_postings(engine, ids[:-1])
    assert engine.tools.salary_statistics(keywords)["basis"].startswith("all postings")


def test_searches_keep_answering_while_postings_churn(engine):
    """A few seconds of concurrent searches while one thread adds and removes postings through the Python API."""
    queries = ["data engineer jobs in Seattle", "remote software engineer", "marketing manager jobs",
               "jobs at Churnwell", "well paid data engineer jobs"]
    added_at: dict[int, float] = {}    # id -> when its add began
    removed_at: dict[int, float] = {}  # id -> when its removal finished
    startup = set(engine.catalog.records)
    errors: list[BaseException] = []
    problems: list[str] = []
    returned_churned = 0
    stop = threading.Event()

    def searcher(offset: int):
        nonlocal returned_churned
        n = offset
        while not stop.is_set():
            query = queries[n % len(queries)]
            n += 1
            began = time.monotonic()
            try:
                response = engine.search(query, k=20, now=NOW)
            except BaseException as error:  # noqa: BLE001 - every failure is reported by the assertion below
                errors.append(error)
                return
            ended = time.monotonic()
            for result in response.results:
                if result.id in startup:
                    continue
                returned_churned += 1
                if result.id not in added_at or added_at[result.id] > ended:
                    problems.append(f"{query!r} returned {result.id} before it was added")
                elif result.id in removed_at and removed_at[result.id] < began:
                    problems.append(f"{query!r} returned {result.id}, removed before the search began")

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    live: list[list[int]] = []
    next_id = 79_000_000
    deadline = time.monotonic() + 4.0
    try:
        while time.monotonic() < deadline and not errors:
            batch = list(range(next_id, next_id + 3))
            next_id += 3
            for i in batch:
                added_at[i] = time.monotonic()
            add_postings(engine, [Posting(i, "Data Engineer", "Churnwell", "Seattle, WA - Remote", WHEN, salary_min=150_000,
                                          salary_max=190_000) for i in batch])
            live.append(batch)
            if len(live) > 2:
                gone = live.pop(0)
                remove_postings(engine, gone)
                for i in gone:
                    removed_at[i] = time.monotonic()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for batch in live:
            remove_postings(engine, batch)
    assert not errors, errors[0]
    assert not problems, problems[:5]
    assert len(removed_at) >= 6 and returned_churned > 0  # churn really happened, and searches saw the churned postings
    assert set(engine.catalog.records) == startup and len(engine.index) == len(startup)
