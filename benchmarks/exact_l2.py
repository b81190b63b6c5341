"""The cost of exact l2: unfiltered l2 against ip on the same index, and l2 far from the origin.

    python benchmarks/exact_l2.py                 # N=100,000, dim=128, 100 queries, k=10
    python benchmarks/exact_l2.py --n 20000       # a smaller, faster check

l2 searches scan with the expanded form and then re-score candidates exactly
(flatsearch/exact_l2.py). Measured side by side in one process, median of
repeated runs taken round-robin:

1. unfiltered l2 / unfiltered ip on the same vectors near the origin (target <= 1.15x);
2. the same l2 search with the data and queries shifted by ``--shift`` (where the
   expanded form alone cancels catastrophically), with recall@k against a float64
   brute force for both.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import flatsearch as fs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--nq", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--shift", type=float, default=1000.0)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args(argv)


def brute_force_ids(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """float64 exact nearest ids (ids are row numbers), in chunks of queries."""
    base = torch.from_numpy(vectors).double()
    out = []
    for chunk in torch.from_numpy(queries).double().split(16):
        distances = torch.cdist(chunk, base).pow(2)
        out.append(torch.topk(distances, k, largest=False).indices)
    return torch.cat(out).numpy()


def recall(found: torch.Tensor, truth: np.ndarray) -> float:
    found = found.numpy()
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    queries = rng.standard_normal((args.nq, args.dim)).astype(np.float32)
    shifted_vectors, shifted_queries = vectors + np.float32(args.shift), queries + np.float32(args.shift)
    indexes = {}
    for name, metric, data in (("ip", "ip", vectors), ("l2", "l2", vectors), ("l2 shifted", "l2", shifted_vectors)):
        index = fs.Index(args.dim, metric=metric)
        index.add(np.arange(args.n), data)
        indexes[name] = index
    inputs = {"ip": queries, "l2": queries, "l2 shifted": shifted_queries}
    times: dict[str, list[float]] = {name: [] for name in indexes}
    for name, index in indexes.items():  # warm up
        index.search(inputs[name], args.k)
    for _ in range(args.repeats):
        for name, index in indexes.items():
            start = time.perf_counter()
            index.search(inputs[name], args.k)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    truth = brute_force_ids(vectors, queries, args.k)
    shifted_truth = brute_force_ids(shifted_vectors, shifted_queries, args.k)
    print(f"N={args.n} dim={args.dim} nq={args.nq} k={args.k} threads={torch.get_num_threads()} "
          f"repeats={args.repeats}")
    for name in indexes:
        print(f"  {name:<11} {median[name] * 1e3:9.1f} ms")
    print(f"unfiltered l2 / ip: {median['l2'] / median['ip']:.3f}x (target <= 1.15x)")
    print(f"l2 recall@{args.k} vs float64 brute force: near origin "
          f"{recall(indexes['l2'].search(queries, args.k).ids, truth):.4f}, shifted by {args.shift:g} "
          f"{recall(indexes['l2 shifted'].search(shifted_queries, args.k).ids, shifted_truth):.4f}; "
          f"shifted l2 / near-origin l2: {median['l2 shifted'] / median['l2']:.2f}x")


if __name__ == "__main__":
    main()
