"""Smoke tests of the benchmark harness: tiny data, every library, no timing assertions.

They check what the harness reports rather than how fast anything is: exact
libraries must score recall 1.0 everywhere (filters and churn included), the
JSON must carry every measure, and the table and plots must be written.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from fsbench.competitors.base import Rows  # noqa: E402
from fsbench.groundtruth import Truth, exact_topk, recall_at  # noqa: E402
from fsbench.profiles import LIBRARIES, Profile, get_profile  # noqa: E402
from fsbench.records import select, unit_of  # noqa: E402
from fsbench.report import markdown  # noqa: E402
from fsbench.suite import run_profile  # noqa: E402
from fsbench.workloads import DatasetSpec, load_workload  # noqa: E402

SELECTIVITIES = (0.5, 0.01)


def _load_run_module():
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_doc():
    profile = Profile(name="tiny", device="cpu", n_single=3, repeats=1, batch_sizes=(8, 16), k_recall=20,
                      selectivities=SELECTIVITIES, ef_search=(16, 64), nprobe=(1, 8), nlist_per_sqrt_n=(1.0,),
                      pq_dims_per_subquantizer=(8,), hnsw_ef_construction=32,
                      datasets=(DatasetSpec(kind="synthetic", n=3000, dim=32, n_clusters=20),))
    return run_profile(profile, threads=1, progress=False)


def test_exact_libraries_have_perfect_recall_everywhere(tiny_doc):
    records = tiny_doc["records"]
    for library in ("flatsearch", "torch-topk", "faiss-flat"):
        for measure in ("recall@10", "recall@20", "filter_recall@10", "churn_recall@10"):
            found = select(records, library=library, measure=measure)
            assert found, f"{library}: no {measure} record"
            assert all(r["value"] == 1.0 for r in found), f"{library} {measure}: {[r['value'] for r in found]}"


def test_every_library_reports_every_measure(tiny_doc):
    records = tiny_doc["records"]
    expected = {"build_s", "bytes_per_vector", "latency_p50_ms", "latency_p99_ms", "qps",
                "recall@10", "recall@20", "churn_before_ms_per_query", "churn_after_ms_per_query",
                "churn_recall@10"}
    present_libraries = {r["library"] for r in records}
    assert {"flatsearch", "torch-topk", "faiss-flat", "faiss-hnsw", "faiss-ivfflat", "faiss-ivfpq"} <= present_libraries
    for library in present_libraries:
        measures = {r["measure"] for r in select(records, library=library)}
        assert expected <= measures, f"{library} lacks {sorted(expected - measures)}"
        if library != "hnswlib":
            assert {"filter_ms_per_query", "filter_recall@10"} <= measures, library
        assert ({"delete_s", "insert_s"} <= measures) or ("rebuild_s" in measures), library
    sweep = {r["setting"] for r in select(records, library="faiss-hnsw", measure="recall@10")}
    assert sweep == {"ef=16", "ef=64"}
    assert {r["selectivity"] for r in select(records, measure="filter_recall@10")} == set(SELECTIVITIES)
    numeric = [r for r in records if unit_of(r["measure"]) != "text"]
    assert all(isinstance(r["value"], (int, float)) and r["value"] >= 0 for r in numeric)


def test_document_describes_machine_and_versions(tiny_doc):
    assert tiny_doc["machine"]["threads_used"] == 1
    assert "torch" in tiny_doc["versions"] and "faiss-cpu" in tiny_doc["versions"]
    assert tiny_doc["datasets"][0]["n_base"] == 3000 and tiny_doc["datasets"][0]["n_churn"] == 300


def test_run_replot_writes_table_and_plots(tiny_doc, tmp_path, capsys):
    run = _load_run_module()
    path = tmp_path / "tiny.json"
    run.write_json(tiny_doc, path)
    assert json.loads(path.read_text())["records"] == tiny_doc["records"]
    assert run.main(["--replot", str(path)]) == 0
    printed = capsys.readouterr().out
    for library in ("flatsearch", "faiss-hnsw", "faiss-ivfpq"):
        assert f"| {library} |" in printed
    assert path.with_suffix(".md").read_text().startswith("## flatsearch benchmark")
    for suffix in ("recall_latency", "filters", "churn"):
        png = tmp_path / f"tiny_{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", suffix


def test_markdown_lists_each_selectivity(tiny_doc):
    table = markdown(tiny_doc)
    assert "50.0% pass" in table and "1.0% pass" in table


def test_run_rejects_bad_arguments():
    run = _load_run_module()
    with pytest.raises(SystemExit):
        run.parse_args([])
    with pytest.raises(SystemExit):
        run.parse_args(["--profile", "huge"])
    with pytest.raises(SystemExit):
        run.parse_args(["--profile", "quick", "--threads", "0"])


def test_exact_topk_matches_brute_force_with_blocks_and_mask():
    generator = torch.Generator().manual_seed(3)
    base, queries = torch.randn(1000, 16, generator=generator), torch.randn(7, 16, generator=generator)
    keep = torch.rand(1000, generator=generator) < 0.3
    scores = (queries @ base.T).masked_fill(~keep, -torch.inf)
    assert torch.equal(exact_topk(base, queries, 10, keep=keep, block_rows=77), scores.topk(10).indices)
    few = torch.zeros(1000, dtype=torch.bool)
    few[[5, 9]] = True
    padded = exact_topk(base, queries, 4, keep=few, block_rows=100)
    assert (padded[:, 2:] == -1).all() and set(padded[0, :2].tolist()) == {5, 9}


def test_recall_counts_overlap_and_ignores_padding():
    truth = np.array([[1, 2, 3, 4], [7, -1, -1, -1]])
    found = np.array([[4, 3, 9, 8], [7, 5, -1, -1]])
    assert recall_at(found, truth, 4) == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError, match="same number of queries"):
        recall_at(found[:1], truth, 4)


def test_truth_credits_exact_ties_but_not_filtered_out_rows():
    vectors = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    rows = Rows(np.array([10, 11, 12, 13]), vectors, np.zeros(4, dtype=np.float32))
    query = torch.tensor([[1.0, 0.0]])
    truth = Truth.compute(rows, query, 1)
    assert truth.ids[0, 0] in (10, 11)
    assert truth.recall(np.array([[10]]), 1) == 1.0 and truth.recall(np.array([[11]]), 1) == 1.0
    assert truth.recall(np.array([[12]]), 1) == 0.0
    keep = np.zeros(14, dtype=bool)
    keep[[10, 12]] = True
    filtered = Truth.compute(rows, query, 1, keep_by_id=keep)
    assert filtered.ids[0, 0] == 10
    assert filtered.recall(np.array([[11]]), 1) == 0.0, "a tie that fails the filter is not a correct answer"
    deep = Truth.compute(rows, query, 3, keep_by_id=keep)
    assert deep.ids[0].tolist() == [10, 12, -1]
    assert deep.recall(np.array([[10, 12, 13]]), 3) == 1.0
    with pytest.raises(ValueError, match="ground truth depth"):
        deep.recall(np.array([[10, 12, 13, 11]]), 4)


def test_workload_is_seeded_and_churn_is_consistent():
    spec = DatasetSpec(kind="synthetic", n=500, dim=8, n_clusters=4, seed=7)
    first, second = load_workload(spec, n_queries=4), load_workload(spec, n_queries=4)
    assert torch.equal(first.base.vectors, second.base.vectors)
    assert np.array_equal(first.delete_ids, second.delete_ids)
    churned = first.rows_after_churn()
    assert len(churned.ids) == 500 and not np.isin(first.delete_ids, churned.ids).any()
    assert np.isin(first.inserts.ids, churned.ids).all()


def test_bad_configuration_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="kind"):
        DatasetSpec(kind="images")
    with pytest.raises(ValueError, match="measures"):
        DatasetSpec(kind="synthetic", n=10, measures=("speed",))
    with pytest.raises(ValueError, match="profile"):
        get_profile("huge")
    with pytest.raises(ValueError, match="libraries"):
        Profile(name="x", device="cpu", datasets=(), libraries=("annoy",))
    assert set(get_profile("cpu").libraries) == set(LIBRARIES)


def test_jobs_embeddings_are_cached(tmp_path, monkeypatch):
    from fsbench import jobs_data

    embedded = jobs_data.embed_jobs(limit=16, progress=False, directory=tmp_path)
    assert embedded.vectors.shape == (16, 384) and embedded.queries.shape == (len(jobs_data.JOB_SEEKER_QUERIES), 384)
    assert np.allclose(np.linalg.norm(embedded.vectors, axis=1), 1.0, atol=1e-4)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1

    import sentence_transformers

    def no_model(*args, **kwargs):
        raise AssertionError("the cached embeddings should have been used")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_model)
    again = jobs_data.embed_jobs(limit=16, progress=False, directory=tmp_path)
    assert np.array_equal(again.vectors, embedded.vectors)
    postings = jobs_data.load_postings()
    assert len({p["id"] for p in postings}) == len(postings) > 10_000


def test_scale_profile_runs_reports_targets_and_stops_its_busy_process(tmp_path):
    import os

    from fsbench.scale import ScaleConfig, one_busy_process, run_scale
    from fsbench.scale_report import markdown, save_plot

    config = ScaleConfig(sizes=(2000, 4000), nq=4, repeats=1, mutation_rows=500, faiss_n=2000, small_n=1000,
                         churn_n=1000, churn_rounds=3)
    doc = run_scale(config, threads=1, log=lambda line: None)
    sections = {r["section"] for r in doc["records"]}
    assert sections == {"size", "filter", "faiss", "small", "churn"}
    assert all(r["ids_identical"] == 4 for r in doc["records"] if r["section"] in ("filter", "faiss"))
    table = markdown(doc)
    assert "| N=2,000 | N=4,000 |" in table and "faiss IndexFlatIP + IDSelectorBitmap" in table
    # The fixed-count filter passes the same number of rows at both sizes, and is reported apart.
    assert [r["passing"] for r in doc["records"] if r.get("layout") == "random fixed count"] == [1000, 1000]
    assert "passing 1,000 rows at every N" in table
    assert save_plot(doc, tmp_path / "scale")[0].exists()
    with one_busy_process() as pid:
        os.kill(pid, 0)  # running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("the busy process is still running")


def test_jobsearch_scan_plans_are_valid_filters_that_pass_rows():
    import jobsearch_scan

    index, vectors, city, now, places = jobsearch_scan.build()
    assert len(index) == jobsearch_scan.N_POSTINGS
    searches = jobsearch_scan.plans(12, city, now, places)
    row = jobsearch_scan.measure(index, vectors, searches, repeats=1)
    assert row["calls"] == 12 and row["p95_ms"] >= row["p50_ms"] > 0
    # The evicting call between searches runs on one thread by default, on the count given otherwise;
    # either way torch's own thread count is back afterwards (the reference is timed apart on it).
    assert row["evicting_threads"] == 1 and row["bare_torch_p50_ms"] > 0
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    given = jobsearch_scan.measure(index, vectors, searches[:2], repeats=1, bare_threads=other)
    assert given["evicting_threads"] == other and torch.get_num_threads() == before
    apart = jobsearch_scan.measure(index, vectors, searches[:4], repeats=1, interleaved=False)
    assert apart["calls"] == 4 and "evicting_threads" not in apart and apart["bare_torch_p50_ms"] > 0
    passing = [len(index.ids(filter=pair[0])) for pair in searches if pair[0] is not None]
    assert passing and max(passing) > 0
