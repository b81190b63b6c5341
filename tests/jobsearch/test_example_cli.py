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
    monkeypatch.setattr(pipeline, "Encoder", lambda path, cache_dir: Encoder(path, cache_dir=cache_dir, model=encoder.model, backend=encoder.backend, quantized=encoder.quantized))


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


HEAVY = ("sentence_transformers", "sklearn", "transformers", "optimum", "flatsearch.jobsearch.relevance")


def run_cli_in_a_fresh_process(args, cache_dir):
    """The example CLI in its own interpreter; returns (exit code, stdout, stderr, heavy modules it imported)."""
    import subprocess
    import sys

    probe = ("import json, runpy, sys; sys.argv = ['job_search.py', *json.loads(sys.argv[1])]; code = 0\n"
             "try:\n    runpy.run_path(%r, run_name='__main__')\n"
             "except SystemExit as stop:\n    code = stop.code\n"
             "print('HEAVY=' + json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr); sys.exit(code)") % (str(SCRIPT), HEAVY)
    env = {**__import__("os").environ, "FLATSEARCH_CACHE": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True, env=env, timeout=600)
    heavy = json.loads(done.stderr.rsplit("HEAVY=", 1)[1])
    return done.returncode, done.stdout, done.stderr, heavy


def test_list_members_and_a_warm_query_load_no_training_or_sentence_transformers(postings_csv, cache_dir, encoder, tmp_path):
    import shutil

    encoder.encode_query("warm")  # the session's encoder has exported the ONNX model into cache_dir
    # A cache holding only that export: the postings are new to it, so the first run encodes them.
    cache_dir = tmp_path / "cache"
    shutil.copytree(encoder.export_dir, cache_dir / encoder.export_dir.name)
    code, out, err, heavy = run_cli_in_a_fresh_process(["--list-members"], cache_dir)
    assert code == 0 and out.startswith("m001\t") and heavy == []
    args = ["remote software engineer jobs", "--postings", str(postings_csv), "--json", "-k", "2", "--now", "2026-01-10T22:52:24Z"]
    code, out, err, heavy = run_cli_in_a_fresh_process(args, cache_dir)  # the first run encodes the 12 postings (one bar, on stderr)
    assert code == 0 and json.loads(out)["results"] and heavy == [], err
    assert "encoding postings: 12 distinct texts of 12" in err and "Loading weights" not in err
    code, out, err, heavy = run_cli_in_a_fresh_process(args, cache_dir)  # warm: index and vectors from the cache
    assert code == 0 and json.loads(out)["results"] and heavy == []
    assert "encoding postings" not in err and "(wall " in err and "Loading weights" not in err and "Warning" not in err


def test_a_missing_extra_is_one_line_naming_the_install(cli, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_cachetools(name, *args, **kwargs):
        if name == "cachetools" or name.startswith("cachetools."):
            raise ModuleNotFoundError("No module named 'cachetools'", name="cachetools")
        return real_import(name, *args, **kwargs)

    import sys

    for module in [m for m in sys.modules if m.startswith("flatsearch.jobsearch.") and m.split(".")[2] in ("pipeline", "cache", "embedding")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", without_cachetools)
    assert cli.main(["data jobs"]) == 1
    assert capsys.readouterr().err.strip() == ('error: the job search needs the "jobs" extra (module cachetools is missing): '
                                                'pip install -e ".[jobs]"')


def test_server_mode_asks_a_running_server(cli, capsys, engine):
    uvicorn = pytest.importorskip("uvicorn")
    import socket
    import threading
    import time

    from flatsearch.jobsearch.serve import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(lambda: engine, load_in_background=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        url = f"http://127.0.0.1:{port}"
        assert cli.main(["marketing jobs", "--server", url, "--json", "-k", "3", "--now", "2026-01-10T22:52:24Z"]) == 0
        assert json.loads(capsys.readouterr().out) == engine.search("marketing jobs", k=3, now="2026-01-10T22:52:24Z").to_dict()
        assert cli.main(["marketing jobs", "--server", url, "-k", "2", "--now", "2026-01-10T22:52:24Z"]) == 0
        assert "Top 2 jobs (ranked by" in capsys.readouterr().out
        assert cli.main(["marketing jobs", "--server", url, "--now", "soon"]) == 2
        assert "refused the query (400): now: expected an ISO 8601 time" in capsys.readouterr().err
    finally:
        server.should_exit = True
        thread.join(10)
    assert cli.main(["marketing jobs", "--server", url]) == 2
    assert "no job search server answers at" in capsys.readouterr().err
