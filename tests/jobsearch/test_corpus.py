import datetime as dt
import json

import pytest

from flatsearch.jobsearch.corpus import HOURS_PER_YEAR, load_bundled_corpus, load_postings
from flatsearch.jobsearch.text import posting_text


def test_bundled_corpus_is_deduplicated_and_frozen():
    corpus = load_bundled_corpus()
    ids = [p.id for p in corpus.postings]
    assert len(ids) == len(set(ids)) == 17268
    assert corpus.reference_time == max(p.posted_at for p in corpus.postings)
    assert all(p.posted_at.tzinfo is not None for p in corpus.postings[:100])


def test_bundled_hourly_pay_is_made_yearly():
    hourly = [p for p in load_bundled_corpus().postings if p.salary_max is not None and p.salary_max < 20_000]
    assert hourly == []  # every stated pay is yearly after normalisation


def test_load_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "jobs.csv"
    csv_path.write_text("id,title,company,location,posted_at,salary_min,salary_max\n"
                        "1,Data Analyst,Acme,\"Boston, MA\",2026-01-02T10:00:00Z,\"$90,000\",120000\n"
                        "2,Barista,Cafe,Remote,,25,30\n")
    corpus = load_postings(csv_path, now=dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc))
    first, second = corpus.postings
    assert (first.salary_min, first.salary_max) == (90_000.0, 120_000.0)
    assert first.posted_at == dt.datetime(2026, 1, 2, 10, tzinfo=dt.timezone.utc)
    assert (second.salary_min, second.salary_max) == (25 * HOURS_PER_YEAR, 30 * HOURS_PER_YEAR)
    assert second.posted_at == dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    assert corpus.reference_time is None  # user data: recency is measured from now
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text("\n".join(json.dumps({"id": i, "title": "Nurse", "company": "Clinic", "location": "Austin, TX",
                                           "description": "night shifts"}) for i in (5, 6)) + "\n")
    loaded = load_postings(jsonl)
    assert [p.id for p in loaded.postings] == [5, 6]
    assert posting_text(loaded.postings[0]) == "Nurse. Clinic. Austin, TX. night shifts"


@pytest.mark.parametrize("content, suffix, message", [
    ("id,title,company\n1,A,B\n", ".csv", "missing required field(s) location"),
    ("id,title,company,location\nx,A,B,C\n", ".csv", "field id: expected an integer, got 'x'"),
    ("id,title,company,location,posted_at\n1,A,B,C,yesterday\n", ".csv", "expected an ISO 8601 time"),
    ("id,title,company,location,salary_min,salary_max\n1,A,B,C,200000,100000\n", ".csv", "salary_min (200000) is above salary_max"),
    ("id,title,company,location\n1,A,B,C\n1,Other,B,C\n", ".csv", "id 1 appears twice"),
    ('{"id": 1, "title": "A"\n', ".jsonl", "line 1: expected a JSON object, got invalid JSON"),
    ("[1, 2]\n", ".jsonl", "line 1: expected a JSON object, got list"),
    ("id,title\n", ".txt", "expected a file ending in .csv or .jsonl"),
])
def test_bad_posting_files_name_the_problem(tmp_path, content, suffix, message):
    path = tmp_path / f"jobs{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_postings(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="expected an existing .csv or .jsonl file"):
        load_postings(tmp_path / "nope.csv")
