"""The HTTP service: the --json schema over GET and POST, errors as JSON, readiness, shared work and churn."""
import asyncio
import datetime as dt
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e '.[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from flatsearch.jobsearch import serve  # noqa: E402
from flatsearch.jobsearch.corpus import Posting  # noqa: E402

from .filter_reference import matches, row_of  # noqa: E402
from .test_planner_rules import QUERY_ONE  # noqa: E402

NOW = "2026-01-10T22:52:24Z"
NARROW = "software engineer jobs in Seattle posted in the last 24 hours with $400k+"


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(serve.create_app(lambda: engine, load_in_background=False)) as client:
        yield client


def test_get_and_post_return_the_json_schema_of_the_cli(client, engine):
    expected = engine.search(QUERY_ONE, k=4, now=NOW).to_dict()
    got = client.get("/search", params={"q": QUERY_ONE, "k": 4, "now": NOW})
    assert got.status_code == 200 and got.json() == expected
    posted = client.post("/search", json={"q": QUERY_ONE, "k": 4, "now": NOW})
    assert posted.status_code == 200 and posted.json() == expected
    personal = client.get("/search", params={"q": "marketing jobs", "member": "m002", "k": 3, "now": NOW}).json()
    assert personal == engine.search("marketing jobs", member_id="m002", k=3, now=NOW).to_dict()


def test_members_and_health(client, engine):
    members = client.get("/members").json()
    assert [m["id"] for m in members] == [m.id for m in engine.member_list()]
    assert set(members[0]) == {"id", "name", "title", "location"}
    assert client.get("/healthz").json() == {"status": "ready", "postings": len(engine.index)}


@pytest.mark.parametrize("params, status, message", [
    ({"q": "data jobs", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"q": "data jobs", "k": "ten"}, 422, "k: expected an int from 1 to 1000, got 'ten'"),
    ({"k": 3}, 422, "q: expected the query text"),
    ({"q": "data jobs", "now": "yesterday"}, 400, "now: expected an ISO 8601 time"),
    ({"q": "data jobs", "member": "m999"}, 404, "member: unknown member 'm999'; known members are m001"),
    ({"q": "data jobs", "refine": "{not json"}, 422, "refine[0]: expected a suggestion as JSON"),
    ({"q": "data jobs", "refine": '{"facet": "company"}'}, 400, "refine[0]: expected a suggestion with facet, value and a filter"),
    ({"q": "data jobs in Seattle", "drop": "in Boston"}, 400, "drop: 'in Boston' is not a filter phrase of this query"),
])
def test_bad_requests_get_json_errors_that_say_what_was_wrong(client, params, status, message):
    answer = client.get("/search", params=params)
    assert answer.status_code == status and answer.headers["content-type"] == "application/json"
    assert message in answer.json()["detail"] and "Traceback" not in answer.text


def test_bad_post_bodies(client):
    answer = client.post("/search", json={"q": "data jobs", "k": "many"})
    assert answer.status_code == 422 and "k: Input should be a valid integer" in answer.json()["detail"]
    answer = client.post("/search", json={"k": 3})
    assert answer.status_code == 422 and "q: Field required" in answer.json()["detail"]
    answer = client.post("/search", content=b"{", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "JSON" in answer.json()["detail"]


def test_over_long_queries_are_cut_not_rejected(client):
    answer = client.get("/search", params={"q": "remote data engineer jobs " + "please " * 400, "k": 3, "now": NOW})
    assert answer.status_code == 200
    data = answer.json()
    assert len(data["query"]) == serve.MAX_QUERY_CHARS
    assert f"The query was cut to its first {serve.MAX_QUERY_CHARS} characters." in data["plan"]["notes"]


def test_dropping_a_filter_phrase_and_refining(client, engine):
    narrow = client.get("/search", params={"q": NARROW, "k": 10, "now": NOW}).json()
    relax = [s for s in narrow["suggestions"] if s["kind"] == "relax"]
    assert relax and len(narrow["results"]) < 10
    best = relax[0]
    wider = client.get("/search", params={"q": NARROW, "k": 10, "now": NOW, "drop": best["phrase"]}).json()
    assert best["phrase"] not in [e["phrase"] for e in wider["plan"]["explanations"]]
    assert wider["results"] == [job.to_dict() for job in engine.search(NARROW, k=10, now=NOW, drop=(best["phrase"],)).results]
    assert len(wider["results"]) > len(narrow["results"])

    broad = client.get("/search", params={"q": "software engineer jobs", "k": 10, "now": NOW}).json()
    company = next(s for s in broad["suggestions"] if s["kind"] == "refine" and s["facet"] == "company")
    refined = client.post("/search", json={"q": "software engineer jobs", "k": 10, "now": NOW, "refine": [company]}).json()
    assert refined["results"] and {job["company"] for job in refined["results"]} == {company["value"]}
    assert f"company: {company['value']}" in [e["phrase"] for e in refined["plan"]["explanations"]]
    for job in refined["results"]:
        assert matches(refined["plan"]["filters"], row_of(engine.catalog, job["id"]))


def test_the_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="q"' in page.text and "/search?" in page.text


def test_healthz_says_loading_until_the_index_and_model_are_loaded(engine):
    release = threading.Event()

    def slow_factory():
        release.wait(10)
        return engine

    with TestClient(serve.create_app(slow_factory)) as client:
        assert client.get("/healthz").status_code == 503 and client.get("/healthz").json() == {"status": "loading"}
        answer = client.get("/search", params={"q": "data jobs"})
        assert answer.status_code == 503 and "still loading" in answer.json()["detail"]
        release.set()
        app = client.app
        assert app.state.holder.ready.wait(10)
        assert client.get("/healthz").json()["status"] == "ready"


def test_a_failed_load_is_reported_not_hidden():
    def broken():
        raise ValueError("model_path: expected a sentence-transformers model directory, got '/nowhere' (not found)")

    with TestClient(serve.create_app(broken, load_in_background=False)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and "model_path: expected" in health.json()["error"]
        assert "failed to load" in client.get("/search", params={"q": "data jobs"}).json()["detail"]


class CountingEngine:
    """Wraps the engine: each search takes at least 0.3 s and is counted."""

    def __init__(self, engine):
        self.engine, self.calls = engine, 0
        self.encoder, self.index = engine.encoder, engine.index

    def member_list(self):
        return self.engine.member_list()

    def warm_up(self):
        self.engine.warm_up()  # the server warms the engine before taking requests; not a search it counts

    def search(self, *args, **kwargs):
        self.calls += 1
        time.sleep(0.3)
        return self.engine.search(*args, **kwargs)


def test_concurrent_identical_searches_share_one_computation(engine):
    import httpx

    counting = CountingEngine(engine)
    app = serve.create_app(lambda: counting, load_in_background=False)
    app.state.holder._load()

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            same = [client.get("/search", params={"q": "data analyst jobs", "k": 5, "now": NOW}) for _ in range(6)]
            other = client.get("/search", params={"q": "nurse jobs", "k": 5, "now": NOW})
            return await asyncio.gather(*same, other)

    answers = asyncio.run(burst())
    assert all(a.status_code == 200 for a in answers)
    assert all(a.json() == answers[0].json() for a in answers[:6]) and answers[6].json()["query"] == "nurse jobs"
    assert counting.calls == 2 and app.state.shared.shared == 5


def test_postings_are_added_and_removed_while_searches_run(client, engine):
    posting = {"id": 77_000_001, "title": "Glassblower and Kiln Technician", "company": "Lumen Glassworks", "location": "Tacoma, WA",
               "posted_at": "2026-01-09T12:00:00Z", "salary_min": 70000, "salary_max": 90000, "category": "art"}
    before = len(engine.index)
    errors, answered = [], [0]
    stop = threading.Event()

    def keep_searching():
        while not stop.is_set():
            answer = client.get("/search", params={"q": "glassblower kiln jobs", "k": 5, "now": NOW})
            if answer.status_code != 200:
                errors.append(answer.text)
            answered[0] += 1

    worker = threading.Thread(target=keep_searching)
    worker.start()
    try:
        added = client.post("/admin/postings", json={"postings": [posting]})
        assert added.status_code == 200 and added.json() == {"added": [77_000_001], "postings": before + 1}
        found = client.get("/search", params={"q": "glassblower kiln technician jobs", "k": 3, "now": NOW}).json()
        assert found["results"][0]["id"] == 77_000_001 and found["results"][0]["company"] == "Lumen Glassworks"
        removed = client.post("/admin/postings/remove", json={"ids": [77_000_001]})
        assert removed.status_code == 200 and removed.json() == {"removed": 1, "postings": before}
        gone = client.get("/search", params={"q": "glassblower kiln technician jobs", "k": 3, "now": NOW}).json()
        assert 77_000_001 not in [job["id"] for job in gone["results"]]
    finally:
        stop.set()
        worker.join()
    assert errors == [] and answered[0] > 0
    missing = client.post("/admin/postings/remove", json={"ids": [77_000_001]})
    assert missing.status_code == 404 and "no posting has id(s) [77000001]" in missing.json()["detail"]
    bad = client.post("/admin/postings", json={"postings": [{"id": 5, "title": "x"}]})
    assert bad.status_code == 400 and "missing required field(s) company, location" in bad.json()["detail"]
    assert len(engine.index) == before


def test_python_api_for_churn(engine):
    from flatsearch.jobsearch import add_postings, remove_postings

    when = dt.datetime(2026, 1, 9, tzinfo=dt.timezone.utc)
    posting = Posting(77_000_002, "Beekeeper", "Hive Co", "Tacoma, WA", when)
    with pytest.raises(TypeError, match="postings: expected a non-empty list of Posting"):
        add_postings(engine, [])
    with pytest.raises(ValueError, match="expected distinct ids"):
        add_postings(engine, [posting, posting])
    assert add_postings(engine, [posting]) == [77_000_002]
    assert engine.search("beekeeper jobs", k=1, now=NOW).results[0].id == 77_000_002
    with pytest.raises(KeyError, match="no posting has id"):
        remove_postings(engine, [77_000_002, 123_456_789_000])
    assert engine.index.contains([77_000_002]).tolist() == [True]  # the failed call removed nothing
    assert remove_postings(engine, [77_000_002]) == 1
