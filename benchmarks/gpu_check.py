"""One-command check of the Triton backend on a GPU: install, compilation, correctness, timings.

    python benchmarks/gpu_check.py results.json          # one CUDA GPU: about 7 minutes on an H200
    python benchmarks/gpu_check.py tiny.json --tiny      # same code path at toy sizes; on a CPU it
                                                         # runs the kernel through Triton's interpreter

0. install: imports flatsearch from this checkout (``--install`` first runs
   ``pip install -e . --no-deps --no-build-isolation``), prints the versions and the device;
1. compilation: every kernel variant the timings will launch is compiled before anything is
   timed, in parallel processes, one progress line per variant;
2. correctness: ``triton_scan`` against ``torch_scan`` on small-integer data (exact in every
   dtype, so slots must match exactly) and on random floats, and the Index with
   ``backend="triton"`` against ``backend="torch"``;
3. the target rows first: 10M x 384 and 10M x 768 bf16, nq 1/16/128, k 10/100/1000,
   unfiltered, a random 1% and a partition-aligned 1% filter: ``Index.search`` time and the
   kernel alone (``triton_scan`` of a request built once) side by side, ``torch.topk(q @ X.T)``
   and the bare GEMM in the same run, and the device-to-device copy bandwidth;
4. then the rest: 1M rows, a random 10% filter, the torch backend on the GPU, add/delete.

Every configuration runs inside its own guard: a failure is recorded and the run goes on. The
JSON (path given) is rewritten after every row, so a run cut short still leaves its results; a
time budget stops new measurements in time. A summary table of the targets is printed last.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Plan:
    target_sizes: tuple[int, ...]
    target_dims: tuple[int, ...]
    query_counts: tuple[int, ...]
    ks: tuple[int, ...]
    target_filters: tuple[str, ...] = ("none", "random1", "aligned1")
    extra_sizes: tuple[int, ...] = ()
    extra_filters: tuple[str, ...] = ("random10",)
    check_rows: int = 50_001
    update_rows: int = 1_000_000
    copy_bytes: int = 2 << 30
    batch_rows: int = 1_000_000
    min_reps: int = 3
    max_reps: int = 10
    rep_seconds: float = 0.2


FULL = Plan(target_sizes=(10_000_000,), target_dims=(384, 768), query_counts=(1, 16, 128), ks=(10, 100, 1000),
            extra_sizes=(1_000_000,))
TINY = Plan(target_sizes=(1500,), target_dims=(32,), query_counts=(1, 16), ks=(10,), extra_sizes=(700,),
            check_rows=700, update_rows=2000, copy_bytes=8 << 20, batch_rows=1000, min_reps=1, max_reps=2,
            rep_seconds=0.0)
PARTITIONS = 100  # values of the partition attribute: one value is a 1% filter aligned with blocks


def measurement_plan(plan: Plan) -> list[dict]:
    """The search rows in the order they run: every target row (each shape built once) before the rest.

    Each entry: {"N", "dim", "phase" ("target" or "extra"), "nq", "k", "filter", "providers"}.
    """
    rows = []
    for phase, sizes, filters, providers in (
            ("target", plan.target_sizes, plan.target_filters, ("flatsearch-triton", "triton-scan")),
            ("extra", plan.extra_sizes, plan.target_filters + plan.extra_filters,
             ("flatsearch-triton", "triton-scan", "flatsearch-torch"))):
        for n in sizes:
            for dim in plan.target_dims:
                for nq in plan.query_counts:
                    for k in plan.ks:
                        for filter_name in filters:
                            rows.append({"N": n, "dim": dim, "phase": phase, "nq": nq, "k": k,
                                         "filter": filter_name, "providers": providers})
        if phase == "target":
            # the torch backend on the GPU at the target shapes, once the target rows are all in
            for n in sizes:
                for dim in plan.target_dims:
                    for nq in plan.query_counts:
                        rows.append({"N": n, "dim": dim, "phase": "extra", "nq": nq, "k": plan.ks[0],
                                     "filter": "none", "providers": ("flatsearch-torch",)})
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="path of the JSON file to write (rewritten after every row)")
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks that the script itself runs")
    parser.add_argument("--install", action="store_true",
                        help="first run `pip install -e . --no-deps --no-build-isolation` in this checkout")
    parser.add_argument("--budget-s", type=float, default=400.0,
                        help="stop starting new measurements after this many seconds (default 400)")
    parser.add_argument("--compile-workers", type=int, default=12,
                        help="processes that compile the kernel variants in parallel (0: compile on first use)")
    return parser.parse_args(argv)


# -- 0. install -----------------------------------------------------------------------------------------
def verify_install(*, install: bool) -> dict:
    """Import flatsearch from this checkout (installing it first when asked); the versions, or a SystemExit."""
    if install:
        command = [sys.executable, "-m", "pip", "install", "-e", ROOT, "--no-deps", "--no-build-isolation"]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    versions = {"python": platform.python_version()}
    for name in ("torch", "triton", "numpy", "flatsearch"):
        try:
            module = __import__(name)
        except ImportError as error:
            raise SystemExit(f"gpu_check: cannot import {name} ({error}); on a fresh GPU image run "
                             f"`pip install -e . --no-deps --no-build-isolation` (or pass --install) with the "
                             f"torch, triton and numpy wheels installed") from error
        versions[name] = getattr(module, "__version__", "?")
        if name == "flatsearch":
            versions["flatsearch_path"] = os.path.dirname(module.__file__)
    import flatsearch
    if os.path.realpath(os.path.dirname(os.path.dirname(flatsearch.__file__))) != os.path.realpath(ROOT):
        print(f"warning: flatsearch is imported from {flatsearch.__file__}, not from this checkout {ROOT}",
              file=sys.stderr)
    from flatsearch.kernels import scan  # noqa: F401  (the kernels package must be installed too)
    print("versions: " + ", ".join(f"{key} {value}" for key, value in versions.items()), flush=True)
    return versions


# -- recording ----------------------------------------------------------------------------------------
@dataclass
class Recorder:
    budget_s: float
    output: str | None = None
    report: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    rows: list = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def attempt(self, section: str, params: dict, measure) -> dict | None:
        """Run ``measure()`` (returns a dict of results); record it, its error, or a budget skip; save."""
        row = {"section": section, **params}
        if self.elapsed() > self.budget_s:
            row["skipped"] = f"time budget of {self.budget_s:.0f} s spent"
            self._append(row)
            return None
        began = time.perf_counter()
        try:
            row.update(measure())
        except Exception as error:  # one failing configuration must not end the run
            row["error"] = f"{type(error).__name__}: {error}"
            row["traceback"] = traceback.format_exc(limit=4)
            print(f"[{section}] {params}: {row['error']}", file=sys.stderr, flush=True)
            _release_memory()
        row["wall_s"] = round(time.perf_counter() - began, 3)
        self._append(row)
        if "ms" in row:
            print(f"[{self.elapsed():6.1f} s] {section} {params}: {row['ms']:.3f} ms", flush=True)
        return row

    def _append(self, row: dict) -> None:
        self.rows.append(row)
        self.save()

    def save(self) -> None:
        if not self.output:
            return
        self.report["rows"] = self.rows
        self.report["elapsed_s"] = self.elapsed()
        partial = self.output + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(self.report, handle, indent=1, default=str)
        os.replace(partial, self.output)


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
def scan_request(*, device, dtype, dim, rows, nq, k, filter_name, integer, bias=False, score_scale=1.0, seed=0,
                 with_slots=False):
    """A ScanRequest over three arenas; mask bits only inside the ranges, as the Index builds them.

    ``with_slots`` also hands over the passing slots of a shared mask, as the Index does for one
    filter expression (a sparse one then takes the gather path)."""
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
                       bias=values(capacity) if bias else None, score_scale=score_scale,
                       passing_slots=keep.nonzero().flatten() if with_slots and keep.dim() == 1 else None)


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


def correctness_cases(plan: Plan) -> list[dict]:
    """The scan-level correctness cases: every timed (dim, nq, k) on bf16 with the target filters, then
    other dtypes, per-query masks, bias, scale 2 and a ragged dim with fixed tiles, then k at the edges."""
    from flatsearch.triton_scan import MAX_KERNEL_K, KernelConfig
    cases = []
    for dim in plan.target_dims:
        for nq in plan.query_counts:
            for k in plan.ks:
                for filter_name in plan.target_filters:
                    cases.append(dict(dtype="bfloat16", dim=dim, nq=nq, k=k + 1, filter=filter_name, integer=True,
                                      bias=False, score_scale=1.0, config=None))
    for dtype in ("float32", "float16", "bfloat16"):
        for integer in (True, False):
            for config in (KernelConfig(1, 128, 64, 4, 3), KernelConfig(16, 64, 64, 8, 3, 255)):
                cases.append(dict(dtype=dtype, dim=plan.target_dims[0] - 7, nq=1 if config.block_q == 1 else 20,
                                  k=10, filter="per_query10", integer=integer, bias=True, score_scale=2.0,
                                  config=config))
    for k in (1, MAX_KERNEL_K, MAX_KERNEL_K + 1):  # smallest, largest in the kernel, first on the fallback path
        cases.append(dict(dtype="float16", dim=plan.target_dims[0], nq=3, k=k, filter="random10", integer=True,
                          bias=False, score_scale=1.0, config=None))
    return cases


INDEX_SEARCHES = ((10, None, False), (100, "isin", True), (7, "per_query", False))  # (k, filter, boost)


def check_correctness(plan: Plan, device, recorder: Recorder) -> None:
    import torch
    for case in correctness_cases(plan):
        params = {key: (value if key != "config" or value is None else
                        [value.block_q, value.block_n, value.block_d]) for key, value in case.items()}
        recorder.attempt("correctness", {**params, "rows": plan.check_rows}, lambda: compare_scans(scan_request(
            device=device, dtype=getattr(torch, case["dtype"]), dim=case["dim"], rows=plan.check_rows,
            nq=case["nq"], k=case["k"], filter_name=case["filter"], integer=case["integer"], bias=case["bias"],
            score_scale=case["score_scale"]), integer=case["integer"], config=case["config"]))
    dim = plan.target_dims[0]
    for metric in ("ip", "l2", "cosine"):
        recorder.attempt("correctness", dict(level="index", metric=metric, dim=dim, rows=plan.check_rows),
                         lambda: compare_indexes(device, metric=metric, dim=dim, rows=plan.check_rows))


def compare_indexes(device, *, metric, dim, rows) -> dict:
    import numpy as np
    import torch
    import flatsearch as fs
    rng = np.random.default_rng(1)
    vectors = rng.integers(-3, 4, (rows, dim)).astype(np.float32)
    attributes = {"part": rng.integers(0, PARTITIONS, rows), "pay": rng.integers(0, 5, rows).astype(np.float32)}
    queries = rng.integers(-3, 4, (9, dim)).astype(np.float32)
    filters = {None: None, "isin": fs.col("part").isin([3, 4]), "per_query": [fs.col("pay") >= 3] * 4 + [None] * 5}
    searches = [dict(k=k, filter=filters[name], boost={"pay": 0.5} if boost else None)
                for k, name, boost in INDEX_SEARCHES]
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


def measure_shape(plan: Plan, device, recorder: Recorder, workload: Workload, entries: list[dict],
                  baselines: bool) -> None:
    """The search rows of one built shape; the baselines (bare GEMM, torch.topk) beside them when asked."""
    import torch
    from flatsearch.triton_scan import triton_scan, uses_gather
    shape = dict(N=workload.rows, dim=workload.dim)
    element_bytes = workload.matrix.element_size()
    queries_of = {}
    for entry in entries:
        nq, k, filter_name = entry["nq"], entry["k"], entry["filter"]
        if nq not in queries_of:
            queries_of[nq] = torch.randn((nq, workload.dim), generator=torch.Generator(device=device).manual_seed(nq),
                                         device=device)
            if baselines:
                queries_bf16 = queries_of[nq].to(torch.bfloat16)
                recorder.attempt("gemm", {**shape, "nq": nq, "phase": entry["phase"]}, lambda: time_ms(
                    lambda: torch.mm(queries_bf16, workload.matrix.T), device=device, plan=plan))
                for baseline_k in plan.ks:
                    recorder.attempt("timing", {**shape, "nq": nq, "k": baseline_k, "filter": "none",
                                                "provider": "torch-topk", "phase": entry["phase"]},
                                     lambda: time_ms(lambda: torch.topk(torch.mm(queries_bf16, workload.matrix.T),
                                                                        baseline_k, dim=1), device=device, plan=plan))
        queries = queries_of[nq]
        expression = filter_expression(filter_name)
        params = {**shape, "nq": nq, "k": k, "filter": filter_name, "phase": entry["phase"]}
        for provider in entry["providers"]:
            if provider == "triton-scan":
                def scan_only():
                    # The kernel launch path alone (request built once), for the bandwidth figure.
                    checked = workload.index._checks.filters(expression, nq)
                    request = workload.index._scan_request(queries, k + 1, checked, {})
                    rows_read = int((request.ranges[:, 1] - request.ranges[:, 0]).sum())
                    if uses_gather(request, rows_read):  # the gather path reads the passing rows only
                        rows_read = request.passing_slots.numel()
                    timing = time_ms(lambda: triton_scan(request), device=device, plan=plan)
                    return {**timing, "rows_read": rows_read,
                            "read_gb_per_s": rows_read * workload.dim * element_bytes / timing["ms"] / 1e6}
                recorder.attempt("timing", {**params, "provider": provider}, scan_only)
            else:
                backend = "triton" if provider == "flatsearch-triton" else "torch"
                recorder.attempt("timing", {**params, "provider": provider}, lambda: time_ms(with_backend(
                    backend, lambda: workload.index.search(queries, k, filter=expression)), device=device, plan=plan))


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
FILTER_FRACTIONS = {"none": 1.0, "aligned1": 0.01, "random1": 0.01, "random10": 0.1, "per_query10": 1.0}


def scanned_rows(rows: int, filter_name: str, *, gathered: bool) -> int:
    """About how many of ``rows`` the kernel scans under a filter: the ranges of an aligned filter (its
    partition's blocks), the passing rows of a ``gathered`` random one, else every row. It decides
    between 64- and 128-query tiles (``uses_wide_tiles``).

    Example:
        >>> scanned_rows(10_000_000, "aligned1", gathered=False), scanned_rows(1000, "random10", gathered=True)
        (100000, 100)
    """
    if filter_name == "aligned1" or gathered:
        return int(rows * FILTER_FRACTIONS[filter_name])
    return rows


def compile_jobs(plan: Plan) -> list:
    """Every kernel variant the run will launch (each autotuning candidate of each timed call shape, the
    correctness cases' fixed tiles, the Index-level checks), each once."""
    import torch
    from flatsearch.triton_scan import MAX_KERNEL_K, KernelVariant, dispatch_variants, k_width_for
    shapes = set()
    for entry in measurement_plan(plan):
        if "flatsearch-triton" in entry["providers"] or "triton-scan" in entry["providers"]:
            # a random filter is one expression: the Index hands its slots over, so it is gathered
            shapes.add((torch.bfloat16, entry["dim"], entry["k"] + 1, entry["nq"], False, False, None,
                        entry["filter"].startswith("random"),
                        scanned_rows(entry["N"], entry["filter"], gathered=entry["filter"].startswith("random"))))
    for case in correctness_cases(plan):
        if case["k"] <= MAX_KERNEL_K:
            shapes.add((getattr(torch, case["dtype"]), case["dim"], case["k"], case["nq"],
                        case["filter"] == "per_query10", case["bias"], case["config"],
                        False, scanned_rows(plan.check_rows, case["filter"], gathered=False)))
    for metric in ("ip", "l2", "cosine"):
        for k, filter_name, boost in INDEX_SEARCHES:
            shapes.add((torch.bfloat16, plan.target_dims[0], k + 1, 9, filter_name == "per_query",
                        boost or metric == "l2", None, False, plan.check_rows))
    jobs, seen = [], set()
    for dtype, dim, k, nq, per_query, bias, config, gather, rows in sorted(shapes, key=str):
        if config is None:
            variants = dispatch_variants(storage_dtype=dtype, dim=dim, k=k, nq=nq, per_query_mask=per_query,
                                         has_bias=bias, gather=gather, total_rows=rows)
        else:
            variants = [KernelVariant(dtype, dim, k_width_for(k), config, per_query, bias)]
        for variant in variants:
            if variant not in seen:
                seen.add(variant)
                jobs.append(variant)
    return jobs


def compile_one(variant) -> tuple[str, float]:
    """Compile one variant into Triton's on-disk cache by launching it once on tiny data of its shape."""
    import torch
    from flatsearch.triton_scan import triton_scan
    began = time.perf_counter()
    device = torch.device("cuda")
    try:
        nq = max(1, variant.config.block_q)
        request = scan_request(device=device, dtype=variant.storage_dtype, dim=variant.dim, rows=4096, nq=nq,
                               k=variant.k_width, filter_name="per_query10" if variant.per_query_mask else
                               "random10" if variant.gather else "none",
                               integer=True, bias=variant.has_bias, with_slots=variant.gather)
        triton_scan(request, config=variant.config)
        torch.cuda.synchronize()
        return "ok", time.perf_counter() - began
    except Exception as error:
        return f"{type(error).__name__}: {error}", time.perf_counter() - began


def prewarm(jobs: list, workers: int) -> dict:
    """Compile every job in ``workers`` processes, one progress line per variant as it finishes."""
    import concurrent.futures
    import multiprocessing
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    failures, seconds = [], []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(compile_one, job): job for job in jobs}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            job = futures[future]
            outcome, spent = future.result()
            seconds.append(spent)
            print(f"[compile {done}/{len(jobs)} {time.perf_counter() - began:6.1f} s] {job.name}: {outcome} "
                  f"({spent:.1f} s)", flush=True)
            if outcome != "ok":
                failures.append(f"{job.name}: {outcome}")
    return {"jobs": len(jobs), "seconds": time.perf_counter() - began, "slowest_s": max(seconds, default=0.0),
            "failures": failures}


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
        low_k = find(section="timing", N=n, dim=dim, nq=1, k=10, filter="none", provider="triton-scan")
        high_k = find(section="timing", N=n, dim=dim, nq=1, k=1000, filter="none", provider="triton-scan")
        if low_k and high_k:
            ratio = high_k["ms"] / low_k["ms"]
            lines.append((f"{tag} nq=1 scan k=1000 / k=10", f"{ratio:.2f}x", verdict(ratio <= 1.3)))
        for k in sorted({row["k"] for row in rows if row.get("N") == n and row.get("k")}):
            ours = find(section="timing", N=n, dim=dim, nq=16, k=k, filter="none", provider="flatsearch-triton")
            base = find(section="timing", N=n, dim=dim, nq=16, k=k, provider="torch-topk")
            if ours and base:
                speedup = base["ms"] / ours["ms"]
                lines.append((f"{tag} nq=16 k={k} speedup vs torch.topk", f"{speedup:.2f}x", verdict(speedup >= 1.5)))
        gemm = find(section="gemm", N=n, dim=dim, nq=128)
        for k, limit in ((10, 1.5), (1000, 3.0)):
            ours = find(section="timing", N=n, dim=dim, nq=128, k=k, filter="none", provider="flatsearch-triton")
            if gemm and ours:
                ratio = ours["ms"] / gemm["ms"]
                lines.append((f"{tag} nq=128 k={k} time / bare GEMM", f"{ratio:.2f}x", verdict(ratio <= limit)))
        plain = find(section="timing", N=n, dim=dim, nq=1, k=10, filter="none", provider="flatsearch-triton")
        for filter_name, rule in (("aligned1", "aligned"), ("random1", "random"), ("random10", "random")):
            filtered = find(section="timing", N=n, dim=dim, nq=1, k=10, filter=filter_name,
                            provider="flatsearch-triton")
            if plain and filtered:
                speedup = plain["ms"] / filtered["ms"]
                need = 10.0 if rule == "aligned" else 3.0 if filter_name == "random1" else 1.0
                lines.append((f"{tag} nq=1 {filter_name} speedup vs unfiltered", f"{speedup:.2f}x",
                              verdict(speedup >= need)))
    updates = next((row for row in rows if row["section"] == "updates" and "add_ms" in row), None)
    if updates:
        for name in ("add", "delete"):
            value = updates[f"{name}_ms"]
            lines.append((f"{name} {updates['rows']:,} rows", f"{value:.1f} ms", verdict(value < 100)))
    warmed = next((row for row in rows if row["section"] == "prewarm" and "seconds" in row), None)
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
    versions = verify_install(install=args.install)
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
    report = {"environment": {**environment(device), "versions": versions}, "plan": plan.__dict__}
    recorder = Recorder(budget_s=args.budget_s, output=args.output, report=report)
    print(f"device: {report['environment']['device_name']}", flush=True)

    jobs = compile_jobs(plan)
    if device.type == "cuda" and args.compile_workers > 0:
        recorder.attempt("prewarm", {"workers": args.compile_workers}, lambda: prewarm(jobs, args.compile_workers))
    else:
        recorder.attempt("prewarm", {"workers": 0, "jobs": len(jobs)}, lambda: {"skipped_reason": "no GPU"})
    check_correctness(plan, device, recorder)
    recorder.attempt("copy", {"bytes": plan.copy_bytes}, lambda: measure_copy(plan, device))
    entries = measurement_plan(plan)
    shapes = []
    for entry in entries:
        if (entry["N"], entry["dim"], entry["phase"]) not in shapes:
            shapes.append((entry["N"], entry["dim"], entry["phase"]))
    workloads = {}
    for rows, dim, phase in shapes:
        if (rows, dim) not in workloads:
            for other in list(workloads):  # one large shape in memory at a time
                del workloads[other]
            _release_memory()
            built = {}
            recorder.attempt("build", {"N": rows, "dim": dim}, lambda: _timed_build(plan, device, rows, dim, built))
            if "workload" not in built:
                continue
            workloads[(rows, dim)] = built.pop("workload")
        mine = [entry for entry in entries if (entry["N"], entry["dim"], entry["phase"]) == (rows, dim, phase)]
        measure_shape(plan, device, recorder, workloads[(rows, dim)], mine,
                      baselines=phase == "target" or rows not in plan.target_sizes)
    workloads.clear()
    _release_memory()
    recorder.attempt("updates", {}, lambda: measure_updates(plan, device))

    lines = summary(recorder.rows, report["environment"], targets_apply=device.type == "cuda" and not args.tiny)
    report["summary"] = [{"check": check, "measured": value, "verdict": verdict} for check, value, verdict in lines]
    recorder.save()
    print(f"\nwrote {args.output} ({len(recorder.rows)} rows, {recorder.elapsed():.0f} s)\n")
    print_table(lines)
    return 0


def _timed_build(plan: Plan, device, rows: int, dim: int, built: dict) -> dict:
    began = time.perf_counter()
    built["workload"] = build_workload(plan, device, rows=rows, dim=dim)
    return {"seconds": time.perf_counter() - began}


if __name__ == "__main__":
    sys.exit(main())
