"""The job search's index scan, on random data shaped like its index: p50 / p95 per query.

    python benchmarks/jobsearch_scan.py                 # quiet, then with one busy process
    python benchmarks/jobsearch_scan.py --queries 100 --no-contended

Builds a 17,268 x 384 float32 index (the job-search corpus size) with the job
search's columns: ``geo`` and ``title_terms`` tags, ``work_mode`` / ``company`` /
``category`` / ``seniority`` ints, salary floats, ``posted_at`` times, an
``engagement`` prior and an ``is_staffing`` flag, partition size 8192. Values
are random but shaped like the real ones (a few hundred places with skewed
popularity, a few thousand companies, salaries in the tens of thousands,
postings over 90 days), so no model or corpus is needed.

Each query is what the job search's retrieval sends (see
``flatsearch/jobsearch/pipeline.py``): two queries in one batch, one per-query
filter each (the plan's filters, and the same filters ANDed with a
preference), an ``engagement`` boost, k=50. The plan's filters combine the
kinds it produces: a ``geo`` isin of a place and its parents, ``work_mode ==``,
a salary range, a posted-time range and a ``company`` not-in list, in random
subsets. Reported: p50 and p95 of one search call in ms (wall clock, and the CPU
time of the calling thread, which leaves out waiting for a core), quiet and then
while one CPU-bound process runs (started and stopped here). Targets: p50 <= 1.5
ms, p95 <= 3 ms. OpenMP runs with its defaults.

Cold caches: each search is timed right after a bare torch call
(``topk(q @ X.T)``, which reads the whole matrix), as a search after other work
(``--separate`` times the searches back to back instead; see ``measure``). That
call runs on one thread (``EVICTING_THREADS``), as the work that precedes a search
in the job search does: its default ONNX query encoder runs a single query on the
calling thread, and the search's own 2 x 384 by 384 x 17,268 product is below
``torch_scan.PARALLEL_MIN_MACS``, so it runs on one thread too. On torch's two threads it left OpenMP's
worker spin-waiting for a few milliseconds after it returned, so with one busy
process three threads wanted the two cores and the search that followed was
preempted: a cost of the benchmark's own call, not of the search (measured with
one busy process, load 1.8-2.4: 19-20% of searches preempted, wall p95
5.2-5.4 ms against CPU p95 1.8-2.1 ms; with the evicting call on one thread, 6%
and wall p95 2.4 ms). The bare torch reference itself is timed in a phase of
its own, back to back on torch's default threads, so it is torch at its best and
its spinning reaches no search; the interleaved call's timings are printed too.
``--bare-threads`` sets the evicting call's thread count (2 gives the former
design).

Also reported: the share of searches the scheduler preempted (an involuntary
context switch of the calling thread during the call, on Linux).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
N_POSTINGS, DIM, K = 17_268, 384, 50
TARGETS = {"p50_ms": 1.5, "p95_ms": 3.0}
# Threads of the bare torch call between searches. Fixed, not derived from the library: in the job search the
# work before a search is the query encoder, whose default ONNX session runs one query on the calling thread
# alone, and the search's product (2 x 384 by 384 x 17,268) is below torch_scan.PARALLEL_MIN_MACS, so nothing
# there runs on two threads just before a search (see the module docstring for what two cost here).
EVICTING_THREADS = 1
DAY = 86_400


def build(seed: int = 0):
    import flatsearch as fs

    rng = np.random.default_rng(seed)
    n = N_POSTINGS
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    places = 400
    popularity = 1.0 / np.arange(1, places + 1) ** 1.1  # a few metros hold most postings
    popularity /= popularity.sum()
    city = rng.choice(places, n, p=popularity)
    # A posting is tagged with its city, its region and its country (as the gazetteer tags it).
    geo = [[int(c), places + int(c) % 40, 2 * places + int(c) % 3] for c in city]
    now = 1_790_000_000
    salary_min = np.where(rng.random(n) < 0.4, np.nan, rng.uniform(30_000, 150_000, n)).astype(np.float32)
    attributes = {
        "geo": geo,
        "work_mode": rng.integers(0, 3, n),
        "company": rng.integers(0, 3_000, n),
        "category": rng.integers(0, 30, n),
        "seniority": rng.integers(0, 6, n),
        "posted_at": now - rng.integers(0, 90 * DAY, n),
        "salary_min": salary_min,
        "salary_max": salary_min * 1.3,
        "salary_mid": salary_min * 1.15,
        "is_staffing": rng.random(n) < 0.1,
        "engagement": rng.random(n).astype(np.float32),
        "title_terms": [[int(t) for t in rng.integers(0, 5_000, rng.integers(1, 7))] for _ in range(n)],
    }
    kinds = {"geo": "tags", "work_mode": "int", "company": "int", "category": "int", "seniority": "int",
             "posted_at": "time", "salary_min": "float", "salary_max": "float", "salary_mid": "float",
             "is_staffing": "bool", "engagement": "float", "title_terms": "tags"}
    index = fs.Index(DIM, metric="ip", dtype="float32", attributes=kinds, partition_size=8192)
    index.add(np.arange(n), vectors, attributes)
    return index, vectors, city, now, places


def plans(count: int, city: np.ndarray, now: int, places: int, seed: int = 1) -> list[list[dict]]:
    """Per-query filter pairs as the job search sends them: [filters, filters AND a preference]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        clauses = []
        if rng.random() < 0.8:
            place = int(rng.choice(city))
            clauses.append({"geo": {"in": [place, places + place % 40]}})
        if rng.random() < 0.5:
            clauses.append({"work_mode": {"eq": int(rng.integers(0, 3))}})
        if rng.random() < 0.4:
            clauses.append({"salary_min": {"gte": float(rng.uniform(40_000, 120_000))}})
        if rng.random() < 0.6:
            clauses.append({"posted_at": {"gte": now - int(rng.integers(7, 60)) * DAY}})
        if rng.random() < 0.3:
            clauses.append({"not": {"company": {"in": [int(c) for c in rng.integers(0, 3_000, 20)]}}})
        filters = {"and": clauses} if len(clauses) > 1 else (clauses[0] if clauses else None)
        preference = {"is_staffing": False} if rng.random() < 0.5 else {"seniority": {"eq": int(rng.integers(0, 6))}}
        out.append([filters, {"and": [*clauses, preference]}])
    return out


def _preemptions() -> int:
    """Involuntary context switches of the calling thread so far (0 where the platform does not count them)."""
    who = getattr(resource, "RUSAGE_THREAD", None)
    return 0 if who is None else resource.getrusage(who).ru_nivcsw


def measure(index, vectors: np.ndarray, searches: list[list[dict]], *, repeats: int, interleaved: bool = True,
            bare_threads: int | None = None) -> dict:
    """p50 / p95 of one search call, and of bare torch on the same pairs of queries in a phase of its own.

    By default each search is timed right after a bare torch call on ``bare_threads`` threads (default
    ``EVICTING_THREADS``), which has just read the whole 26.5 MB matrix: the search then starts
    with its columns and postings out of the caches, as after other work. ``interleaved=False`` times
    all searches back to back: warm caches, measured at about half the CPU time per call (p50 0.86
    against 1.66 ms, same code, load average 1.2). Either way the bare torch reference is then timed
    back to back on torch's default threads."""
    rng = np.random.default_rng(2)
    queries = rng.normal(size=(len(searches), DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    matrix = torch.from_numpy(vectors)
    pairs = [np.tile(query, (2, 1)) for query in queries]
    ours, ours_cpu, bare, evicting, preempted = [], [], [], [], []
    between = EVICTING_THREADS if bare_threads is None else bare_threads

    def search(pair, filters):
        switches = _preemptions()
        started, cpu_started = time.perf_counter(), time.thread_time()
        index.search(pair, K, filter=filters, boost={"engagement": 0.05})
        ours.append(time.perf_counter() - started)
        ours_cpu.append(time.thread_time() - cpu_started)
        preempted.append(_preemptions() > switches)

    def torch_topk(pair, threads: int | None, out: list):
        caller = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            started = time.perf_counter()
            torch.topk(torch.from_numpy(pair) @ matrix.T, K)
            out.append(time.perf_counter() - started)
        finally:
            torch.set_num_threads(caller)

    for _ in range(repeats):
        for pair, filters in zip(pairs, searches):
            search(pair, filters)
            if interleaved:
                torch_topk(pair, between, evicting)
    for _ in range(repeats):
        for pair in pairs:
            torch_topk(pair, None, bare)
    ours_ms, bare_ms, cpu_ms = 1e3 * np.array(ours), 1e3 * np.array(bare), 1e3 * np.array(ours_cpu)
    row = {"p50_ms": float(np.percentile(ours_ms, 50)), "p95_ms": float(np.percentile(ours_ms, 95)),
           # CPU time of the calling thread: what a call costs, without the time it waited for a core.
           "cpu_p50_ms": float(np.percentile(cpu_ms, 50)), "cpu_p95_ms": float(np.percentile(cpu_ms, 95)),
           "bare_torch_p50_ms": float(np.percentile(bare_ms, 50)), "bare_torch_p95_ms": float(np.percentile(bare_ms, 95)),
           "bare_torch_threads": torch.get_num_threads(),
           "preempted": float(np.mean(preempted)), "calls": len(ours), "load": round(os.getloadavg()[0], 2)}
    if evicting:
        evicting_ms = 1e3 * np.array(evicting)
        row.update({"evicting_threads": between, "evicting_torch_p50_ms": float(np.percentile(evicting_ms, 50)),
                    "evicting_torch_p95_ms": float(np.percentile(evicting_ms, 95))})
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200, help="distinct query plans")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the plans")
    parser.add_argument("--no-contended", action="store_true", help="skip the run with one busy process")
    parser.add_argument("--separate", action="store_true",
                        help="time all searches back to back (default: each after a bare torch call; see measure)")
    parser.add_argument("--unseen", action="store_true",
                        help="time plans the warm-up did not send (the index plans every filter anew on the first "
                             "pass; with --repeats 1 no search reads a cached plan)")
    parser.add_argument("--bare-threads", type=int, default=None,
                        help="threads of the bare torch call between searches (default: the library's own for this "
                             "product, one; see the docstring)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.bare_threads is not None and args.bare_threads < 1:
        parser.error(f"--bare-threads: expected a positive count, got {args.bare_threads}")
    if args.queries < 1 or args.repeats < 1:
        parser.error(f"--queries and --repeats: expected positive counts, got {args.queries} and {args.repeats}")
    sys.path.insert(0, str(HERE))
    from fsbench.scale import one_busy_process

    index, vectors, city, now, places = build()
    searches = plans(args.queries, city, now, places)
    # Warm-up, three passes over the plans: attribute indexes built, code paths loaded, and the int8
    # copy that loose plans are scored from built (a storage starts it once scans that could use it have
    # read 16 times its rows, see flatsearch.storage.COARSE_BUILD_AFTER, then builds a bounded batch of
    # rows per such scan, so it completes some tens of loose searches later): the steady state of a
    # search service.
    measure(index, vectors, searches, repeats=3)
    def timed(seed: int) -> list:  # with --unseen each condition sends plans of its own, not sent before
        return plans(args.queries, city, now, places, seed=seed) if args.unseen else searches
    between = EVICTING_THREADS if args.bare_threads is None else args.bare_threads
    rows = {"quiet": measure(index, vectors, timed(7), repeats=args.repeats, interleaved=not args.separate,
                             bare_threads=between)}
    if not args.no_contended:
        with one_busy_process():
            rows["contended"] = measure(index, vectors, timed(8), repeats=args.repeats,
                                        interleaved=not args.separate, bare_threads=between)
    print(f"job-search index scan, {N_POSTINGS:,} x {DIM}, 2 queries per call with per-query filters, boost, k={K}, "
          f"{torch.get_num_threads()} threads, "
          f"{'searches back to back' if args.separate else f'each search after a bare torch call on {between} thread(s)'}"
          f"{', plans unseen by the warm-up' if args.unseen else ''}; bare torch timed in its own phase on "
          f"{torch.get_num_threads()} threads")
    print(f"{'condition':<11}{'p50 ms':>9}{'p95 ms':>9}{'cpu p50':>9}{'cpu p95':>9}{'torch p50':>11}{'torch p95':>11}"
          f"{'evict p50':>11}{'evict p95':>11}{'preempt':>8}{'load':>7}  verdict")
    for condition, row in rows.items():
        verdict = "met" if row["p50_ms"] <= TARGETS["p50_ms"] and row["p95_ms"] <= TARGETS["p95_ms"] else "NOT met"
        evict = (f"{row['evicting_torch_p50_ms']:>11.2f}{row['evicting_torch_p95_ms']:>11.2f}"
                 if "evicting_torch_p50_ms" in row else f"{'-':>11}{'-':>11}")
        print(f"{condition:<11}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['cpu_p50_ms']:>9.2f}{row['cpu_p95_ms']:>9.2f}"
              f"{row['bare_torch_p50_ms']:>11.2f}{row['bare_torch_p95_ms']:>11.2f}{evict}"
              f"{row['preempted']:>8.0%}{row['load']:>7}  {verdict} "
              f"(p50 <= {TARGETS['p50_ms']}, "
              f"p95 <= {TARGETS['p95_ms']})")
    if args.out is not None:
        args.out.write_text(json.dumps({"targets": TARGETS, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
