"""A work mode asked for ("in-office", "on-site") is met first by postings that state it; postings that state
no mode are searched only when none of those is close, and a negation ("not remote or hybrid") keeps them."""
import datetime as dt

from flatsearch.jobsearch import add_postings, remove_postings
from flatsearch.jobsearch.corpus import Posting

WHEN = dt.datetime(2026, 1, 9, tzinfo=dt.timezone.utc)
NOW = "2026-01-10T22:52:24Z"
STATED, UNSTATED, REMOTE = 77_000_001, 77_000_002, 77_000_003


def shown(engine, query):
    response = engine.search(query, k=10, now=NOW)
    return {job.id for job in response.results if job.id >= 77_000_000 and job.close_match}, response


def test_a_mode_asked_for_is_met_by_postings_that_state_it_first(engine):
    add_postings(engine, [Posting(STATED, "Glassblower", "Kiln Works", "Tacoma, WA - In-Office", WHEN),
                          Posting(UNSTATED, "Glassblower, Studio", "Ember Glass", "Tacoma, WA", WHEN),
                          Posting(REMOTE, "Glassblower Instructor", "Ember Glass", "Remote - US", WHEN)])
    try:
        for query in ("in-office glassblower jobs", "glassblower, on site", "glassblowing work in person"):
            ids, response = shown(engine, query)
            assert ids == {STATED}, (query, ids)
            assert any("state no work mode" in note for note in response.plan.notes), response.plan.notes
        # Asking for no remote or hybrid work is not asking for a stated mode: postings that state none stay.
        ids, _ = shown(engine, "glassblower jobs, not remote or hybrid")
        assert ids == {STATED, UNSTATED}
        remove_postings(engine, [STATED])
        # With no stated on-site posting close, the ones that state no mode (mostly office jobs) are shown, and the plan says so.
        ids, response = shown(engine, "in-office glassblower jobs")
        assert ids == {UNSTATED}
        assert any("do not state a work mode" in note for note in response.plan.notes), response.plan.notes
    finally:
        remove_postings(engine, [i for i in (STATED, UNSTATED, REMOTE) if i in engine.catalog.records])
