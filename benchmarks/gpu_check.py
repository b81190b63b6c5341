"""One-command check of the Triton backend on a GPU: correctness, hardware ceilings, timings.

    python benchmarks/gpu_check.py results.json          # one CUDA GPU, well under 8 minutes
    python benchmarks/gpu_check.py tiny.json --tiny      # same code path at toy sizes; on a CPU it
                                                         # runs the kernel through Triton's interpreter

1. correctness: ``triton_scan`` against ``torch_scan`` on small-integer data (exact in every
   dtype, so slots must match exactly) and on random floats (scores within tolerance), and the
   Index with ``backend="triton"`` against ``backend="torch"``;
2. ceilings: device-to-device copy bandwidth and a bare bf16 GEMM at the benchmark shapes;
3. timings (CUDA events, warm-up, median) of flatsearch-triton, flatsearch-torch and
   ``torch.topk(q @ X.T)`` over N, dim, nq, k and filters, plus add/delete throughput.

Every configuration runs inside its own guard: a failure is recorded and the run goes on.
Full results go to the JSON path given; a summary table of the targets is printed last.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    dims: tuple[int, ...]
    query_counts: tuple[int, ...]
    ks: tuple[int, ...]
    filters: tuple[str, ...] = ("none", "random10", "random1", "aligned1")
    check_rows: int = 50_001
    update_rows: int = 1_000_000
    copy_bytes: int = 2 << 30
    batch_rows: int = 1_000_000
    min_reps: int = 3
    max_reps: int = 10
    rep_seconds: float = 0.3


FULL = Plan(sizes=(1_000_000, 10_000_000), dims=(256, 768), query_counts=(1, 16, 128), ks=(10, 100, 1000))
TINY = Plan(sizes=(1500,), dims=(32,), query_counts=(1, 16), ks=(10,), check_rows=700, update_rows=2000,
            copy_bytes=8 << 20, batch_rows=1000, min_reps=1, max_reps=2, rep_seconds=0.0)
PARTITIONS = 100  # values of the partition attribute: one value is a 1% filter aligned with blocks


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="path of the JSON file to write")
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks that the script itself runs")
    parser.add_argument("--budget-s", type=float, default=430.0,
                        help="stop starting new measurements after this many seconds (default 430)")
    parser.add_argument("--prewarm-workers", type=int, default=12,
                        help="processes that compile the autotuning candidates in parallel (0: none)")
    return parser.parse_args(argv)


# -- recording ----------------------------------------------------------------------------------------
@dataclass
class Recorder:
    budget_s: float
    started: float = field(default_factory=time.perf_counter)
    rows: list = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def attempt(self, section: str, params: dict, measure) -> dict | None:
        """Run ``measure()`` (returns a dict of results); record it, its error, or a budget skip."""
        row = {"section": section, **params}
        if self.elapsed() > self.budget_s:
            row["skipped"] = f"time budget of {self.budget_s:.0f} s spent"
            self.rows.append(row)
            return None
        try:
            row.update(measure())
        except Exception as error:  # one failing configuration must not end the run
            row["error"] = f"{type(error).__name__}: {error}"
            row["traceback"] = traceback.format_exc(limit=4)
            print(f"[{section}] {params}: {row['error']}", file=sys.stderr, flush=True)
            _release_memory()
        self.rows.append(row)
        return row


def _release_memory():
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def time_ms(fn, *, device, plan: Plan) -> dict:
    """Median milliseconds of ``fn()`` after one warm-up call: CUDA events on a GPU, wall clock otherwise."""
    import torch
    fn()
    times = []
    spent_start = time.perf_counter()
    while len(times) < plan.max_reps and (len(times) < plan.min_reps
                                          or time.perf_counter() - spent_start < plan.rep_seconds):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        else:
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1e3)
    return {"ms": statistics.median(times), "reps": len(times),
            "timer": "cuda-events" if device.type == "cuda" else "wall-clock"}


def environment(device) -> dict:
    import torch
    import triton
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
            "host": platform.node(), "device": str(device),
            "triton_interpret": os.environ.get("TRITON_INTERPRET", "")}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, sm_count=props.multi_processor_count,
                    memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    else:
        info.update(device_name=platform.processor() or "cpu", cpu_threads=torch.get_num_threads())
    return info


# -- 1. correctness -------------------------------------------------------------------------------------
def scan_request(*, device, dtype, dim, rows, nq, k, filter_name, integer, bias=False, score_scale=1.0, seed=0):
    """A ScanRequest over three arenas; mask bits only inside the ranges, as the Index builds them."""
    import torch
    from flatsearch.bitmask import pack_bits
    from flatsearch.scan import ScanRequest
    generator = torch.Generator(device=device).manual_seed(seed)

    def values(*shape):
        if integer:
            return torch.randint(-3, 4, shape, generator=generator, device=device).float()
        return torch.randn(shape, generator=generator, device=device)

    capacities = [rows // 4 // 32 * 32, rows // 4 // 32 * 32, rows - 2 * (rows // 4 // 32 * 32)]
    arenas, starts, capacity = [], [], 0
    for rows_in_arena in capacities:
        arenas.append(values(rows_in_arena, dim).to(dtype))
        starts.append(capacity)
        capacity += rows_in_arena
    block = 256
    ranges = [[start + offset, min(start + offset + block - 7, start + rows_in_arena)]
              for start, rows_in_arena in zip(starts, capacities) for offset in range(0, rows_in_arena, block)]
    if filter_name == "aligned1":
        ranges = ranges[::100]
    ranges_tensor = torch.tensor(ranges, dtype=torch.int64).reshape(-1, 2)
    inside = torch.zeros(capacity, dtype=torch.bool, device=device)
    for start, stop in ranges:
        inside[start:stop] = True
    fraction = {"none": 1.0, "aligned1": 1.0, "random10": 0.1, "random1": 0.01, "per_query10": 0.1}[filter_name]
    shape = (nq, capacity) if filter_name == "per_query10" else (capacity,)
    keep = (torch.rand(shape, generator=generator, device=device) < fraction) & inside
    return ScanRequest(queries=values(nq, dim), k=k, arenas=tuple(arenas), arena_starts=tuple(starts),
                       ranges=ranges_tensor, mask_words=pack_bits(keep),
                       bias=values(capacity) if bias else None, score_scale=score_scale)


def compare_scans(request, *, integer, config=None) -> dict:
    import torch
    from flatsearch.torch_scan import torch_scan
    from flatsearch.triton_scan import triton_scan
    got, expected = triton_scan(request, config=config), torch_scan(request)
    finite = torch.isfinite(expected.scores)
    score_error = float((got.scores - expected.scores)[finite].abs().max()) if finite.any() else 0.0
    same_slots = float((got.slots == expected.slots).float().mean())
    same_padding = bool(torch.equal(torch.isfinite(got.scores), finite))
    result = {"slot_agreement": same_slots, "max_score_error": score_error, "padding_matches": same_padding}
    result["ok"] = same_padding and (same_slots == 1.0 if integer else same_slots >= 0.99) and \
        score_error <= (0.0 if integer else 0.05 * float(expected.scores[finite].abs().max().clamp(min=1)))
    return result


def check_correctness(plan: Plan, device, recorder: Recorder) -> None:
    import torch
    from flatsearch.triton_scan import KernelConfig
    dims = plan.dims
    for dim in dims:
        for nq in plan.query_counts:
            for k in plan.ks:
                for filter_name in plan.filters:
                    params = dict(dtype="bfloat16", dim=dim, rows=plan.check_rows, nq=nq, k=k, filter=filter_name)
                    recorder.attempt("correctness", params, lambda: compare_scans(scan_request(
                        device=device, dtype=torch.bfloat16, dim=dim, rows=plan.check_rows, nq=nq, k=k,
                        filter_name=filter_name, integer=True), integer=True))
    # Other dtypes, per-query masks, bias and scale 2, with fixed tiles (one compile each).
    dim = dims[0] - 7
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for integer in (True, False):
            for config in (KernelConfig(1, 128, 64), KernelConfig(16, 64, 64)):
                nq = 1 if config.block_q == 1 else 20
                params = dict(dtype=str(dtype).replace("torch.", ""), dim=dim, rows=plan.check_rows, nq=nq, k=10,
                              filter="per_query10", bias=True, score_scale=2.0, integer=integer,
                              config=[config.block_q, config.block_n, config.block_d])
                recorder.attempt("correctness", params, lambda: compare_scans(scan_request(
                    device=device, dtype=dtype, dim=dim, rows=plan.check_rows, nq=nq, k=10,
                    filter_name="per_query10", integer=integer, bias=True, score_scale=2.0), integer=integer,
                    config=config))
    for k in (1, 1024, 1025):  # smallest, largest in the kernel, first on the fallback path
        params = dict(dtype="float16", dim=dims[0], rows=plan.check_rows, nq=3, k=k, filter="random10")
        recorder.attempt("correctness", params, lambda: compare_scans(scan_request(
            device=device, dtype=torch.float16, dim=dims[0], rows=plan.check_rows, nq=3, k=k,
            filter_name="random10", integer=True), integer=True))
    for metric in ("ip", "l2", "cosine"):
        recorder.attempt("correctness", dict(level="index", metric=metric, dim=dims[0], rows=plan.check_rows),
                         lambda: compare_indexes(device, metric=metric, dim=dims[0], rows=plan.check_rows))


def compare_indexes(device, *, metric, dim, rows) -> dict:
    import numpy as np
    import torch
    import flatsearch as fs
    rng = np.random.default_rng(1)
    vectors = rng.integers(-3, 4, (rows, dim)).astype(np.float32)
    attributes = {"part": rng.integers(0, PARTITIONS, rows), "pay": rng.integers(0, 5, rows).astype(np.float32)}
    queries = rng.integers(-3, 4, (9, dim)).astype(np.float32)
    searches = [dict(k=10), dict(k=100, filter=fs.col("part").isin([3, 4]), boost={"pay": 0.5}),
                dict(k=7, filter=[fs.col("pay") >= 3] * 4 + [None] * 5)]
    results = {}
    for backend in ("triton", "torch"):
        index = fs.Index(dim, metric=metric, dtype=torch.bfloat16, device=device, partition_by="part",
                         attributes={"part": "int", "pay": "float"}, backend=backend)
        index.add(np.arange(rows), vectors, attributes)
        index.delete(np.arange(0, rows, 5))
        results[backend] = [index.search(queries, **search) for search in searches]
    agreement = [float((a.ids == b.ids).float().mean()) for a, b in zip(results["triton"], results["torch"])]
    # Cosine normalisation makes the data non-integer: near-ties may legitimately swap there.
    return {"id_agreement": agreement, "ok": min(agreement) >= (0.99 if metric == "cosine" else 1.0)}


# -- 2. ceilings ------------------------------------------------------------------------------------------
def measure_copy(plan: Plan, device) -> dict:
    import torch
    source = torch.empty(plan.copy_bytes, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    timing = time_ms(lambda: target.copy_(source), device=device, plan=plan)
    # Read + write traffic; a scan only reads, so compare it with this figure.
    return {**timing, "bytes_moved": 2 * plan.copy_bytes, "gb_per_s": 2 * plan.copy_bytes / timing["ms"] / 1e6}


# -- 3. timings --------------------------------------------------------------------------------------------
@dataclass
class Workload:
    index: object
    matrix: object  # the same vectors as one (N, dim) tensor, for the torch.topk baseline
    rows: int
    dim: int


def build_workload(plan: Plan, device, *, rows: int, dim: int) -> Workload:
    import torch
    import flatsearch as fs
    generator = torch.Generator(device=device).manual_seed(rows + dim)
    matrix = torch.randn((rows, dim), generator=generator, device=device, dtype=torch.float32).to(torch.bfloat16)
    part = torch.randint(0, PARTITIONS, (rows,), generator=generator, device=device)
    draw = torch.randint(0, 1000, (rows,), generator=generator, device=device)
    index = fs.Index(dim, dtype=torch.bfloat16, device=device, partition_by="part",
                     attributes={"part": "int", "draw": "int"}, backend="auto")
    for start in range(0, rows, plan.batch_rows):
        stop = min(rows, start + plan.batch_rows)
        index.add(torch.arange(start, stop, device=device), matrix[start:stop],
                  attributes={"part": part[start:stop], "draw": draw[start:stop]})
    return Workload(index=index, matrix=matrix, rows=rows, dim=dim)


def filter_expression(name: str):
    import flatsearch as fs
    return {"none": None, "random10": fs.col("draw") < 100, "random1": fs.col("draw") < 10,
            "aligned1": fs.col("part") == 7}[name]


def with_backend(backend: str, fn):
    def run():
        os.environ["FLATSEARCH_BACKEND"] = backend
        try:
            return fn()
        finally:
            os.environ.pop("FLATSEARCH_BACKEND", None)
    return run


def measure_searches(plan: Plan, device, recorder: Recorder, workload: Workload) -> None:
    import torch
    from flatsearch.triton_scan import triton_scan
    shape = dict(N=workload.rows, dim=workload.dim)
    stored_bytes = workload.rows * workload.dim * 2
    for nq in plan.query_counts:
        queries = torch.randn((nq, workload.dim), device=device)
        queries_bf16 = queries.to(torch.bfloat16)
        recorder.attempt("gemm", {**shape, "nq": nq}, lambda: time_ms(
            lambda: torch.mm(queries_bf16, workload.matrix.T), device=device, plan=plan))
        for k in plan.ks:
            recorder.attempt("timing", {**shape, "nq": nq, "k": k, "filter": "none", "provider": "torch-topk"},
                             lambda: time_ms(lambda: torch.topk(torch.mm(queries_bf16, workload.matrix.T), k, dim=1),
                                             device=device, plan=plan))
            for filter_name in plan.filters:
                expression = filter_expression(filter_name)
                params = {**shape, "nq": nq, "k": k, "filter": filter_name}
                for provider, backend in (("flatsearch-triton", "triton"), ("flatsearch-torch", "torch")):
                    recorder.attempt("timing", {**params, "provider": provider}, lambda: time_ms(with_backend(
                        backend, lambda: workload.index.search(queries, k, filter=expression)), device=device,
                        plan=plan))

                def scan_only():
                    # The kernel launch path alone (request built once), for the bandwidth figure.
                    request = workload.index._scan_request(queries, k + 1, expression, {})
                    timing = time_ms(lambda: triton_scan(request), device=device, plan=plan)
                    return {**timing, "read_gb_per_s": stored_bytes / timing["ms"] / 1e6}
                recorder.attempt("timing", {**params, "provider": "triton-scan"}, scan_only)


def measure_updates(plan: Plan, device) -> dict:
    import torch
    import flatsearch as fs
    rows, dim = plan.update_rows, 256
    vectors = torch.randn((rows, dim), device=device)
    ids = torch.arange(rows, device=device)
    index = fs.Index(dim, dtype=torch.bfloat16, device=device)
    index.add(ids[:1000] + rows, vectors[:1000])  # allocate once outside the timed calls

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - began) * 1e3, result

    add_ms, _ = timed(lambda: index.add(ids, vectors))
    delete_ms, removed = timed(lambda: index.delete(ids))
    return {"rows": rows, "dim": dim, "add_ms": add_ms, "delete_ms": delete_ms, "deleted": removed,
            "timer": "wall-clock with device sync"}


# -- parallel compilation ---------------------------------------------------------------------------------
def compile_jobs(plan: Plan) -> list[tuple]:
    """(dim, k, nq, config) for every autotuning candidate the timings will meet."""
    from flatsearch.triton_scan import KernelConfig, _bucket, _prune_configs
    jobs = []
    for dim in plan.dims:
        for k in plan.ks:
            width = max(16, 1 << k.bit_length())  # the Index asks for k + 1
            for nq in plan.query_counts:
                for config in _prune_configs([], {"nq_bucket": _bucket(nq)}, K=width, DIM=dim):
                    jobs.append((dim, k, nq, KernelConfig(config.kwargs["BLOCK_Q"], config.kwargs["BLOCK_N"],
                                                          config.kwargs["BLOCK_D"], config.num_warps,
                                                          config.num_stages)))
    return jobs


def compile_one(job) -> str:
    """Compile one candidate into Triton's on-disk cache by running it once on tiny data."""
    import torch
    from flatsearch.triton_scan import triton_scan
    dim, k, nq, config = job
    device = torch.device("cuda")
    try:
        request = scan_request(device=device, dtype=torch.bfloat16, dim=dim, rows=4096, nq=nq, k=k + 1,
                               filter_name="none", integer=True)
        triton_scan(request, config=config)
        torch.cuda.synchronize()
        return "ok"
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def prewarm(plan: Plan, workers: int) -> dict:
    import concurrent.futures
    import multiprocessing
    jobs = compile_jobs(plan)
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        outcomes = list(pool.map(compile_one, jobs))
    failures = [f"{job[:3]} {job[3]}: {outcome}" for job, outcome in zip(jobs, outcomes) if outcome != "ok"]
    return {"jobs": len(jobs), "seconds": time.perf_counter() - began, "failures": failures}


# -- summary ----------------------------------------------------------------------------------------------
def summary(rows: list, environment_info: dict, *, targets_apply: bool) -> list[tuple[str, str, str]]:
    """(check, measured, verdict) lines for the targets, all computed from this run's rows.

    Performance verdicts are "n/a" unless ``targets_apply`` (a full-size run on a GPU).
    """
    def verdict(passed: bool) -> str:
        return ("PASS" if passed else "FAIL") if targets_apply else "n/a"

    def find(**wanted):
        for row in rows:
            if all(row.get(key) == value for key, value in wanted.items()) and "ms" in row:
                return row
        return None

    lines = []
    correctness = [row for row in rows if row["section"] == "correctness"]
    passed = sum(1 for row in correctness if row.get("ok"))
    lines.append(("correctness cases passing", f"{passed}/{len(correctness)}",
                  "PASS" if correctness and passed == len(correctness) else "FAIL"))
    copy = next((row for row in rows if row["section"] == "copy" and "gb_per_s" in row), None)
    if copy:
        lines.append(("copy bandwidth (read+write)", f"{copy['gb_per_s']:.0f} GB/s", "-"))
    shapes = sorted({(row["N"], row["dim"]) for row in rows if row["section"] == "timing"})
    for n, dim in shapes:
        tag = f"N={n:,} dim={dim}"
        scan = find(section="timing", N=n, dim=dim, nq=1, k=10, filter="none", provider="triton-scan")
        if scan and copy:
            ratio = scan["read_gb_per_s"] / copy["gb_per_s"]
            lines.append((f"{tag} nq=1 scan read bandwidth / copy", f"{scan['read_gb_per_s']:.0f} GB/s = {ratio:.2f}",
                          verdict(ratio >= 0.8)))
        for nq in (q for q in (1, 16) if find(section="timing", N=n, dim=dim, nq=q)):
            for k in sorted({row["k"] for row in rows if row.get("N") == n and row.get("k")}):
                ours = find(section="timing", N=n, dim=dim, nq=nq, k=k, filter="none", provider="flatsearch-triton")
                base = find(section="timing", N=n, dim=dim, nq=nq, k=k, provider="torch-topk")
                if ours and base:
                    speedup = base["ms"] / ours["ms"]
                    lines.append((f"{tag} nq={nq} k={k} speedup vs torch.topk", f"{speedup:.2f}x",
                                  verdict(speedup >= 2)))
        gemm = find(section="gemm", N=n, dim=dim, nq=128)
        ours = find(section="timing", N=n, dim=dim, nq=128, k=10, filter="none", provider="flatsearch-triton")
        if gemm and ours:
            ratio = ours["ms"] / gemm["ms"]
            lines.append((f"{tag} nq=128 k=10 time / bare GEMM", f"{ratio:.2f}x", verdict(ratio <= 1.5)))
        plain = find(section="timing", N=n, dim=dim, nq=1, k=10, filter="none", provider="flatsearch-triton")
        for filter_name, rule in (("aligned1", "aligned"), ("random1", "random"), ("random10", "random")):
            filtered = find(section="timing", N=n, dim=dim, nq=1, k=10, filter=filter_name,
                            provider="flatsearch-triton")
            if plain and filtered:
                speedup = plain["ms"] / filtered["ms"]
                lines.append((f"{tag} nq=1 {filter_name} speedup vs unfiltered", f"{speedup:.2f}x",
                              verdict(speedup >= 10 if rule == "aligned" else speedup >= 1.0)))
    updates = next((row for row in rows if row["section"] == "updates" and "add_ms" in row), None)
    if updates:
        for name in ("add", "delete"):
            value = updates[f"{name}_ms"]
            lines.append((f"{name} {updates['rows']:,} rows", f"{value:.1f} ms", verdict(value < 100)))
    warmed = next((row for row in rows if row["section"] == "prewarm" and "jobs" in row), None)
    if warmed:
        lines.append(("kernels compiled ahead (failures)", f"{warmed['jobs']} in {warmed['seconds']:.0f} s "
                      f"({len(warmed['failures'])})", "PASS" if not warmed["failures"] else "FAIL"))
    errors = sum(1 for row in rows if "error" in row)
    skipped = sum(1 for row in rows if "skipped" in row)
    lines.append(("configurations failed / skipped", f"{errors} / {skipped}", "PASS" if not errors else "FAIL"))
    lines.append(("device", environment_info.get("device_name", "?"), "-"))
    return lines


def print_table(lines) -> None:
    width = max(len(check) for check, _, _ in lines)
    value_width = max(len(value) for _, value, _ in lines)
    for check, value, verdict in lines:
        print(f"{check:<{width}}  {value:>{value_width}}  {verdict}")


# -- main -------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    has_gpu = torch.cuda.is_available()
    if not has_gpu and not args.tiny:
        print("no CUDA device: run with --tiny to check the script on this machine", file=sys.stderr)
        return 2
    if not has_gpu and os.environ.get("TRITON_INTERPRET") != "1":
        print("on a CPU the kernel runs through Triton's interpreter: set TRITON_INTERPRET=1", file=sys.stderr)
        return 2
    device = torch.device("cuda" if has_gpu else "cpu")
    plan = TINY if args.tiny else FULL
    recorder = Recorder(budget_s=args.budget_s)
    report = {"environment": environment(device), "plan": plan.__dict__, "rows": recorder.rows}

    if device.type == "cuda" and args.prewarm_workers > 0:
        recorder.attempt("prewarm", {"workers": args.prewarm_workers}, lambda: prewarm(plan, args.prewarm_workers))
    check_correctness(plan, device, recorder)
    recorder.attempt("copy", {"bytes": plan.copy_bytes}, lambda: measure_copy(plan, device))
    for rows in plan.sizes:
        for dim in plan.dims:
            built = {}
            recorder.attempt("build", {"N": rows, "dim": dim}, lambda: _timed_build(plan, device, rows, dim, built))
            if "workload" in built:
                measure_searches(plan, device, recorder, built.pop("workload"))
            _release_memory()
    recorder.attempt("updates", {}, lambda: measure_updates(plan, device))

    report["elapsed_s"] = recorder.elapsed()
    lines = summary(recorder.rows, report["environment"], targets_apply=device.type == "cuda" and not args.tiny)
    report["summary"] = [{"check": check, "measured": value, "verdict": verdict} for check, value, verdict in lines]
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, default=str)
    print(f"\nwrote {args.output} ({len(recorder.rows)} rows, {report['elapsed_s']:.0f} s)\n")
    print_table(lines)
    return 0


def _timed_build(plan: Plan, device, rows: int, dim: int, built: dict) -> dict:
    began = time.perf_counter()
    built["workload"] = build_workload(plan, device, rows=rows, dim=dim)
    return {"seconds": time.perf_counter() - began}


if __name__ == "__main__":
    sys.exit(main())
