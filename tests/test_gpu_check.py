"""The GPU check's plan, compile list, recording and verdicts, on the CPU (no kernel runs here)."""
import importlib.util
import json
import os
import sys

import pytest

# Not imported here: Triton reads TRITON_INTERPRET when first imported, and the interpreter
# tests set it while they are collected.
if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed", allow_module_level=True)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import gpu_check  # noqa: E402


def test_target_rows_come_first_and_cover_the_target_grid():
    entries = gpu_check.measurement_plan(gpu_check.FULL)
    phases = [entry["phase"] for entry in entries]
    first_extra = phases.index("extra")
    assert set(phases[:first_extra]) == {"target"} and set(phases[first_extra:]) == {"extra"}
    targets = {(e["N"], e["dim"], e["nq"], e["k"], e["filter"]) for e in entries[:first_extra]}
    assert targets == {(10_000_000, dim, nq, k, f) for dim in (384, 768) for nq in (1, 16, 128)
                       for k in (10, 100, 1000) for f in ("none", "random1", "aligned1")}
    # every target row times Index.search and the kernel alone
    assert all(set(e["providers"]) == {"flatsearch-triton", "triton-scan"} for e in entries[:first_extra])


def test_every_timed_call_shape_is_compiled_ahead():
    import torch
    from flatsearch.triton_scan import dispatch_variants
    for plan in (gpu_check.FULL, gpu_check.TINY):
        jobs = gpu_check.compile_jobs(plan)
        assert len(jobs) == len(set(jobs))
        for entry in gpu_check.measurement_plan(plan):
            if "flatsearch-triton" in entry["providers"]:
                gathered = entry["filter"].startswith("random")
                # unfiltered: every row is scanned, which decides between 64- and 128-query tiles
                rows = entry["N"] if entry["filter"] == "none" else \
                    gpu_check.scanned_rows(entry["N"], entry["filter"], gathered=gathered)
                needed = dispatch_variants(storage_dtype=torch.bfloat16, dim=entry["dim"], k=entry["k"] + 1,
                                           nq=entry["nq"], per_query_mask=False, has_bias=False, gather=gathered,
                                           total_rows=rows)
                assert needed and set(needed) <= set(jobs), entry
    # 10M x 384 with 128 queries scans in 128-query tiles: those must be among the compiled ones
    assert any(job.config.block_q == 128 and job.dim == 384 for job in gpu_check.compile_jobs(gpu_check.FULL))


def test_recorder_saves_after_every_row_and_respects_the_budget(tmp_path):
    path = str(tmp_path / "out.json")
    recorder = gpu_check.Recorder(budget_s=1e9, output=path, report={"environment": {"device_name": "test"}})
    recorder.attempt("timing", {"nq": 1}, lambda: {"ms": 1.5})
    assert json.load(open(path))["rows"][0]["ms"] == 1.5
    recorder.attempt("timing", {"nq": 2}, lambda: 1 / 0)
    saved = json.load(open(path))["rows"]
    assert len(saved) == 2 and saved[1]["error"].startswith("ZeroDivisionError")
    recorder.budget_s = -1.0
    assert recorder.attempt("timing", {"nq": 3}, lambda: {"ms": 1.0}) is None
    assert "skipped" in json.load(open(path))["rows"][2]
    assert not os.path.exists(path + ".partial")


def test_summary_verdicts_follow_the_targets():
    shape = dict(N=10_000_000, dim=384)
    rows = [
        {"section": "correctness", "ok": True},
        {"section": "prewarm", "workers": 0, "jobs": 23, "skipped_reason": "no GPU"},  # as on a CPU
        {"section": "copy", "gb_per_s": 4000.0},
        {"section": "timing", **shape, "nq": 1, "k": 10, "filter": "none", "provider": "triton-scan", "ms": 2.0,
         "read_gb_per_s": 3840.0},
        {"section": "timing", **shape, "nq": 1, "k": 1000, "filter": "none", "provider": "triton-scan", "ms": 3.0},
        {"section": "timing", **shape, "nq": 1, "k": 10, "filter": "none", "provider": "flatsearch-triton", "ms": 2.2},
        {"section": "timing", **shape, "nq": 1, "k": 10, "filter": "aligned1", "provider": "flatsearch-triton",
         "ms": 0.2},
        {"section": "timing", **shape, "nq": 1, "k": 10, "filter": "random1", "provider": "flatsearch-triton",
         "ms": 1.0},
        {"section": "timing", **shape, "nq": 16, "k": 10, "filter": "none", "provider": "flatsearch-triton", "ms": 2.5},
        {"section": "timing", **shape, "nq": 16, "k": 10, "filter": "none", "provider": "torch-topk", "ms": 5.0},
        {"section": "gemm", **shape, "nq": 128, "ms": 2.5},
        {"section": "timing", **shape, "nq": 128, "k": 10, "filter": "none", "provider": "flatsearch-triton",
         "ms": 3.0},
    ]
    lines = {check: (value, verdict) for check, value, verdict in
             gpu_check.summary(rows, {"device_name": "H200"}, targets_apply=True)}
    tag = "N=10,000,000 dim=384"
    assert lines[f"{tag} nq=1 scan read bandwidth / copy"][1] == "PASS"   # 0.96
    assert lines[f"{tag} nq=1 scan k=1000 / k=10"][1] == "FAIL"           # 1.5x
    assert lines[f"{tag} nq=16 k=10 speedup vs torch.topk"][1] == "PASS"  # 2.0x
    assert lines[f"{tag} nq=128 k=10 time / bare GEMM"][1] == "PASS"      # 1.2x
    assert lines[f"{tag} nq=1 aligned1 speedup vs unfiltered"][1] == "PASS"  # 11x
    assert lines[f"{tag} nq=1 random1 speedup vs unfiltered"][1] == "FAIL"   # 2.2x
    off = gpu_check.summary(rows, {}, targets_apply=False)
    assert {verdict for check, _, verdict in off if "speedup" in check} == {"n/a"}
