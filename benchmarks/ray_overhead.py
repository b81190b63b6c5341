"""What sharding costs: RayIndex and ShardedIndex against one in-process fs.Index.

On a CPU machine, at small N, the search itself is cheap, so the difference is
the scatter/gather cost: validation, routing, one Ray call per shard (object
store transfer, actor scheduling), and the exact merge. Measured per query batch
for several batch sizes, plus the throughput of many concurrent single-query
searches (which RayIndex coalesces into one call per shard).

On a machine with GPUs (``--gpus``), it also measures the scaling of a RayIndex
with one actor per GPU, and a local ShardedIndex with one shard per GPU, from
one GPU to all visible ones, at a size where the scan dominates.

Every timed configuration first checks that it returns exactly the ids of the
single Index. Rows are written as JSON (with machine and versions); a table is
printed last.

Usage:
    python benchmarks/ray_overhead.py                        # CPU overhead, small N
    python benchmarks/ray_overhead.py --gpus --n 4000000     # plus GPU scaling
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import flatsearch as fs  # noqa: E402
from flatsearch.sharded import ShardedIndex  # noqa: E402


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="rows in the index")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 3], help="shard counts to measure on CPU")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256], help="queries per search call")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per configuration (median reported)")
    parser.add_argument("--concurrent", type=int, default=16, help="threads issuing single-query searches at once")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in this process; Ray starts each CPU actor with 1, so 1 compares like with like")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs given to the local Ray instance")
    parser.add_argument("--gpus", action="store_true", help="also measure scaling over the visible GPUs")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "ray_overhead.json")
    return parser.parse_args()


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpus": [torch.cuda.get_device_name(gpu) for gpu in range(torch.cuda.device_count())],
            "python": platform.python_version(), "torch": torch.__version__, "flatsearch": fs.__version__}


def interleaved_medians(calls: dict, repeats: int) -> dict:
    """Median seconds of each call, timing them in turn on every round so that
    load from other processes falls on all of them alike."""
    for call in calls.values():
        call()  # warm-up: first-call allocations, Ray worker imports
    times = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def concurrent_throughput(index, queries: np.ndarray, k: int, threads: int, rounds: int) -> float:
    """Single-query searches per second with ``threads`` callers searching at once."""
    barrier = threading.Barrier(threads + 1)

    def worker(offset: int) -> None:
        barrier.wait()
        for round_ in range(rounds):
            index.search(queries[(offset + round_ * threads) % len(queries)], k)

    workers = [threading.Thread(target=worker, args=(offset,)) for offset in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in workers:
        thread.join()
    return threads * rounds / (time.perf_counter() - start)


def check_exact(reference, candidate, queries: np.ndarray, k: int, label: str) -> None:
    expected, got = reference.search(queries, k).ids.cpu(), candidate.search(queries, k).ids.cpu()
    if not torch.equal(expected, got):
        raise SystemExit(f"{label}: ids differ from the single Index; refusing to time a wrong result")


def cpu_rows(arguments, data, queries) -> list[dict]:
    from flatsearch.distributed import RayIndex

    ids = np.arange(arguments.n)
    single = fs.Index(arguments.dim)
    single.add(ids, data)
    candidates = {"index": single}
    for shards in arguments.shards:
        sharded = ShardedIndex(arguments.dim, shards=shards)
        sharded.add(ids, data)
        candidates[f"sharded x{shards}"] = sharded
        remote = RayIndex(arguments.dim, shards=shards, device="cpu")
        remote.add(ids, data)
        candidates[f"ray x{shards}"] = remote
    rows = []
    for label, index in candidates.items():
        check_exact(single, index, queries[:32], arguments.k, label)
    for batch in arguments.batches:
        medians = interleaved_medians({label: (lambda index=index: index.search(queries[:batch], arguments.k))
                                       for label, index in candidates.items()}, arguments.repeats)
        rows += [{"measure": "search", "provider": label, "n": arguments.n, "dim": arguments.dim, "batch": batch,
                  "k": arguments.k, "seconds": seconds} for label, seconds in medians.items()]
    for label, index in candidates.items():
        index.search(queries[0], arguments.k)
        throughput = concurrent_throughput(index, queries, arguments.k, arguments.concurrent,
                                           max(1, arguments.repeats // 2))
        rows.append({"measure": "concurrent", "provider": label, "n": arguments.n, "dim": arguments.dim,
                     "threads": arguments.concurrent, "k": arguments.k, "queries_per_second": throughput})
    for index in candidates.values():
        if hasattr(index, "close"):
            index.close()
    return rows


def gpu_rows(arguments, data, queries) -> list[dict]:
    from flatsearch.distributed import RayIndex

    gpus = torch.cuda.device_count()
    ids = np.arange(arguments.n)
    batch = max(arguments.batches)
    rows = []
    reference = None
    for count in range(1, gpus + 1):
        local = ShardedIndex(arguments.dim, devices=[f"cuda:{gpu}" for gpu in range(count)])
        remote = RayIndex(arguments.dim, shards=count)
        for index in (local, remote):
            for start in range(0, arguments.n, 1_000_000):
                index.add(ids[start:start + 1_000_000], data[start:start + 1_000_000])
        if reference is None:
            reference = local
        pair = {f"sharded gpus={count}": local, f"ray gpus={count}": remote}
        for label, index in pair.items():
            check_exact(reference, index, queries[:32], arguments.k, label)
        medians = interleaved_medians({label: (lambda index=index: index.search(queries[:batch], arguments.k))
                                       for label, index in pair.items()}, arguments.repeats)
        rows += [{"measure": "gpu_scaling", "provider": label, "gpus": count, "n": arguments.n, "dim": arguments.dim,
                  "batch": batch, "k": arguments.k, "seconds": seconds} for label, seconds in medians.items()]
        remote.close()
        if local is not reference:
            local.close()
    return rows


def print_table(rows: list[dict], arguments) -> None:
    search = [row for row in rows if row["measure"] == "search"]
    base = {row["batch"]: row["seconds"] for row in search if row["provider"] == "index"}
    print(f"\nsearch call latency, n={arguments.n}, dim={arguments.dim}, k={arguments.k} "
          f"(median of {arguments.repeats}); overhead = provider - index")
    print(f"{'provider':<14} {'batch':>6} {'ms/call':>9} {'x index':>8} {'overhead ms':>12}")
    for row in search:
        reference = base[row["batch"]]
        print(f"{row['provider']:<14} {row['batch']:>6} {row['seconds'] * 1e3:>9.2f} "
              f"{row['seconds'] / reference:>8.2f} {(row['seconds'] - reference) * 1e3:>12.2f}")
    concurrent = [row for row in rows if row["measure"] == "concurrent"]
    if concurrent:
        print(f"\n{concurrent[0]['threads']} threads of single-query searches")
        print(f"{'provider':<14} {'queries/s':>10}")
        for row in concurrent:
            print(f"{row['provider']:<14} {row['queries_per_second']:>10.0f}")
    scaling = [row for row in rows if row["measure"] == "gpu_scaling"]
    if scaling:
        print(f"\nGPU scaling, n={arguments.n}, batch={scaling[0]['batch']}")
        print(f"{'provider':<18} {'ms/call':>9} {'queries/s':>10}")
        for row in scaling:
            print(f"{row['provider']:<18} {row['seconds'] * 1e3:>9.2f} {row['batch'] / row['seconds']:>10.0f}")


def main() -> None:
    arguments = parse_arguments()
    torch.set_num_threads(arguments.threads)
    import ray

    rng = np.random.default_rng(0)
    data = rng.normal(size=(arguments.n, arguments.dim)).astype(np.float32)
    queries = rng.normal(size=(max(arguments.batches + [arguments.concurrent * 4]), arguments.dim)).astype(np.float32)
    ray.init(num_cpus=arguments.cpus, include_dashboard=False, log_to_driver=False)
    try:
        rows = cpu_rows(arguments, data, queries)
        if arguments.gpus:
            if not torch.cuda.is_available():
                raise SystemExit("--gpus: no CUDA device is visible")
            rows += gpu_rows(arguments, data, queries)
    finally:
        ray.shutdown()
    record = {"machine": {**machine(), "ray": ray.__version__, "ray_cpus": arguments.cpus}, "rows": rows}
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(record, indent=1))
    print(json.dumps(record["machine"]))
    print_table(rows, arguments)
    print(f"\nrows written to {arguments.output}")


if __name__ == "__main__":
    main()
