"""Write-path costs at scale: append, delete and add into freed slots, quiet and with the other core busy.

Reproduces the mutation part of ``run.py --profile scale`` (see ``fsbench/scale.py``):
N rows x dim float32 with an ``int`` column ``v`` and ``seq``, one filtered search per column
(so both attribute indexes exist and are maintained by the writes, as in the profile), then
append 100k rows, delete 100k random rows and add 100k new ids into the freed slots. Each
condition builds a fresh index; ``contended`` runs one CPU-bound Python process meanwhile
(started here, stopped after). OpenMP keeps its defaults: nothing here sets
``OMP_WAIT_POLICY``. ``--stages`` also prints inclusive time per write-path function
(wrapped with timers, so totals are a little higher than the plain run).

Usage::

    python benchmarks/write_path.py [--n 1000000] [--dim 384] [--rounds 3] [--stages]

Prints one line per round and condition (wall ms, and the process CPU ms of all its threads,
OpenMP spin-waits included), the medians, and the targets (add into freed slots
<= 200 ms, delete <= 50 ms), with the load average beside each.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TARGETS_MS = {"add_into_freed": 200.0, "delete": 50.0}


@contextlib.contextmanager
def busy_process(enabled: bool):
    """One CPU-bound process for the duration of the block (nothing when not ``enabled``)."""
    if not enabled:
        yield
        return
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        yield
    finally:
        busy.terminate()
        busy.wait(timeout=10)


@contextlib.contextmanager
def stage_timers(enabled: bool):
    """Wrap the write path's functions with timers; yields {name: [seconds per call]}."""
    times: dict[str, list[float]] = defaultdict(list)
    if not enabled:
        yield times
        return
    import flatsearch._validation as validation
    import flatsearch.attribute_index as attribute_index
    import flatsearch.checks as checks
    import flatsearch.idmap as idmap
    import flatsearch.index as index_module
    import flatsearch.storage as storage

    targets = [
        (checks.Checks, "rows"), (checks.Checks, "delete_ids"), (checks, "check_ids"), (checks, "check_unique"),
        (checks, "check_matrix"), (checks.Checks, "storable"), (index_module.Index, "_insert"),
        (index_module.Index, "_remove"), (idmap.IdMap, "lookup"), (idmap.IdMap, "insert"), (idmap.IdMap, "remove"),
        (idmap.IdMap, "_fold"), (storage.Storage, "allocate"), (storage.Storage, "write"),
        (storage.Storage, "set_column"), (storage.Storage, "clear"), (attribute_index.SortedColumn, "write"),
        (attribute_index.SortedColumn, "_fold"), (validation, "check_storable"),
    ]
    saved = []
    for owner, name in targets:
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is None:
            continue
        label = f"{getattr(owner, '__name__', owner)}.{name}".replace("flatsearch.", "")

        def wrapped(*args, __original=original, __label=label, **kwargs):
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                times[__label].append(time.perf_counter() - start)

        functools.update_wrapper(wrapped, original)
        saved.append((owner, name, original))
        setattr(owner, name, wrapped)
    try:
        yield times
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def timed(fn, cpu: dict, name: str) -> float:
    """Wall seconds of one call; its process CPU seconds (every thread, spin-waits included) go to ``cpu``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    cpu[name] = 1e3 * (time.process_time() - start_cpu)
    return time.perf_counter() - start


def one_round(n: int, dim: int, rows: int, seed: int, stages: bool) -> dict[str, float]:
    import flatsearch as fs

    generator = torch.Generator().manual_seed(seed)
    vectors = torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=1)
    rng = np.random.default_rng(seed)
    v = torch.from_numpy(rng.integers(0, 10_000, n))
    index = fs.Index(dim, dtype="float32", attributes={"v": "int", "seq": "int"})
    index.add(torch.arange(n), vectors, {"v": v, "seq": torch.arange(n)})
    del vectors
    queries = torch.randn(4, dim, generator=generator)
    index.search(queries, 10, filter=fs.col("v") < 10)  # builds the attribute index of each column,
    index.search(queries, 10, filter=fs.col("seq") < 1000)  # which every later write then maintains
    extra = torch.nn.functional.normalize(torch.randn(rows, dim, generator=generator), dim=1)
    extra_v = torch.from_numpy(np.random.default_rng(1).integers(0, 10_000, rows))
    gone = torch.from_numpy(np.random.default_rng(2).choice(n, rows, replace=False))
    # Arguments are built before the clock starts: only the index's own work is timed (a torch.arange
    # of 100k ids is itself a parallel region that can wait several ms for a busy core).
    appended, refilled = torch.arange(n, n + rows), torch.arange(10 * n, 10 * n + rows)
    out, cpu = {}, {}
    with stage_timers(stages) as times:
        out["append"] = timed(lambda: index.add(appended, extra, {"v": extra_v}), cpu, "append")
        append_stages = {k: sum(v) for k, v in times.items()}
        times.clear()
        out["delete"] = timed(lambda: index.delete(gone), cpu, "delete")
        delete_stages = {k: sum(v) for k, v in times.items()}
        times.clear()
        out["add_into_freed"] = timed(lambda: index.add(refilled, extra, {"v": extra_v}), cpu, "add_into_freed")
        refill_stages = {k: sum(v) for k, v in times.items()}
    assert len(index) == n + rows
    if stages:
        for title, found in (("append", append_stages), ("delete", delete_stages), ("add_into_freed", refill_stages)):
            print(f"    {title}: " + ", ".join(f"{k} {1e3 * s:.1f}" for k, s in sorted(found.items(), key=lambda x: -x[1])))
    return {k: 1e3 * s for k, s in out.items()}, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="print time per write-path function")
    parser.add_argument("--conditions", default="quiet,contended")
    args = parser.parse_args()
    import flatsearch
    print(f"flatsearch from {os.path.dirname(flatsearch.__file__)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    for condition in args.conditions.split(","):
        if condition not in ("quiet", "contended"):
            parser.error(f"--conditions: expected quiet and/or contended, got {condition!r}")
        results = defaultdict(list)
        with busy_process(condition == "contended"):
            for round_ in range(args.rounds):
                found, cpu = one_round(args.n, args.dim, args.rows, round_, args.stages)
                load = os.getloadavg()[0]
                print(f"[{condition}] round {round_}: " + ", ".join(f"{k} {v:.1f} ms (cpu {cpu[k]:.0f})"
                                                                   for k, v in found.items())
                      + f" (load {load:.2f})", flush=True)
                for k, v in found.items():
                    results[k].append(v)
                    results[f"{k}_cpu"].append(cpu[k])
        load = os.getloadavg()
        print(f"[{condition}] median: " + ", ".join(
            f"{k} {statistics.median(v):.1f} ms" + (f" (target <= {TARGETS_MS[k]:.0f}, "
                                                    f"{statistics.median(v) / TARGETS_MS[k]:.2f}x)" if k in TARGETS_MS else "")
            for k, v in results.items()) + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)


if __name__ == "__main__":
    main()
