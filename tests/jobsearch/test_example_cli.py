import csv
import importlib.util
import json
import pathlib

import pytest

from flatsearch.jobsearch import pipeline
from flatsearch.jobsearch.embedding import Encoder

from .conftest import synthetic_postings

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "job_search.py"


@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("job_search_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def postings_csv(tmp_path):
    path = tmp_path / "jobs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "company", "location", "posted_at", "salary_min", "salary_max", "category"])
        for p in synthetic_postings():
            writer.writerow([p.id, p.title, p.company, p.location, p.posted_at.isoformat(), p.salary_min or "", p.salary_max or "", p.category])
    return path


@pytest.fixture()
def shared_model(monkeypatch, encoder):
    monkeypatch.setattr(pipeline, "Encoder", lambda path, cache_dir: Encoder(path, cache_dir=cache_dir, model=encoder.model))


def test_list_members(cli, capsys):
    assert cli.main(["--list-members"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t") == ["m001", "Senior Software Engineer", "Seattle, WA"]
    assert len(lines) == 6


def test_json_output(cli, capsys, postings_csv, tmp_path, shared_model):
    code = cli.main(["mostly remote software engineer jobs not from staffing companies", "--postings", str(postings_csv),
                     "--json", "-k", "3", "--now", "2026-01-10T22:52:24Z", "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"].startswith("mostly remote") and data["plan"]["intent"] == "job_search"
    assert 1 <= len(data["results"]) <= 3
    assert all(r["remote"] in ("remote", "hybrid") and not r["is_staffing"] for r in data["results"])


def test_text_output(cli, capsys, postings_csv, tmp_path, shared_model):
    code = cli.main(["marketing jobs", "--postings", str(postings_csv), "--member", "m002", "-k", "2",
                     "--now", "2026-01-10T22:52:24Z", "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0 and "Top 2 jobs (ranked by the multi-objective score" in out and "score" in out and "Plan (rules)" in out


@pytest.mark.parametrize("argv, message", [
    (["data jobs", "--member", "m999"], "unknown member 'm999'"),
    (["data jobs", "-k", "0"], "-k: expected a number from 1 to 1000"),
    ([], "give a query"),
])
def test_bad_arguments_print_a_message(cli, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_now_and_bad_file(cli, capsys, tmp_path, shared_model, postings_csv):
    assert cli.main(["data jobs", "--postings", str(postings_csv), "--now", "yesterday", "--cache-dir", str(tmp_path)]) == 2
    assert "--now: expected an ISO 8601 time" in capsys.readouterr().err
    assert cli.main(["data jobs", "--postings", str(tmp_path / "missing.csv"), "--cache-dir", str(tmp_path)]) == 2
    assert "expected an existing .csv or .jsonl file" in capsys.readouterr().err
