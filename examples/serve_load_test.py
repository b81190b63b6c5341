"""A bounded load test of the job search service on loopback, with index churn during the run.

    python examples/serve_load_test.py [--url URL] [--seconds 20] [--concurrency 8] [--queries 200] [--churn-every 0.5]

Without ``--url`` it starts ``python -m flatsearch.jobsearch serve`` on a free loopback port
(the bundled corpus, from the cache), waits for ``/healthz`` and stops it at the end. Two
phases, each ``--seconds`` long: one client sending searches one after another (the latency
of a search on an otherwise idle server), then ``--concurrency`` clients at once while a
churn task adds a posting and removes it again through the admin endpoints every
``--churn-every`` seconds. Queries are drawn at random from ``--queries`` distinct generated
job searches (so the plan and query-vector caches see repeats, as a live service does).
Prints requests per second, p50/p90/p99 latency measured by the client, errors and the
churn operations done, with the machine's load average.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROLES = ["software engineer", "marketing manager", "data scientist", "account executive", "designer", "recruiter", "nurse",
         "product manager", "data engineer", "sales", "customer success", "financial analyst"]
PLACES = ["", "in Seattle", "in New York", "in the Bay Area", "in London", "in Texas", "in Boston", "in Canada", "in Silicon Valley or Seattle"]
MODES = ["", "remote", "mostly remote", "hybrid", "on-site"]
WHEN = ["", "posted recently", "posted this week", "posted in the last 30 days"]
PAY = ["", "with above median pay", "$150k+", "at least $100,000"]
WHO = ["", "not from staffing companies", "senior", "junior"]


def generated_queries(count: int, seed: int = 11) -> list[str]:
    """``count`` distinct job searches built from role, place, work mode, recency, pay and seniority phrases."""
    rng, out = random.Random(seed), {}
    while len(out) < count:
        parts = [rng.choice(MODES), rng.choice(WHO), rng.choice(ROLES), "jobs", rng.choice(PLACES), rng.choice(WHEN), rng.choice(PAY)]
        query = " ".join(p for p in parts if p)
        out[query] = None
    return list(out)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values[0] if values else float("nan"))


async def phase(url: str, queries: list[str], *, seconds: float, concurrency: int, churn_every: float | None) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    churn = {"added": 0, "removed": 0, "failed": 0}
    deadline = time.monotonic() + seconds
    rng = random.Random(concurrency)

    async def client_loop(client):
        while time.monotonic() < deadline:
            query = rng.choice(queries)
            started = time.perf_counter()
            try:
                answer = await client.get("/search", params={"q": query, "k": 10})
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            latencies.append(1000 * (time.perf_counter() - started))
            if answer.status_code != 200:
                errors.append(f"{answer.status_code}: {answer.text[:200]}")

    async def churn_loop(client):
        number = 0
        while time.monotonic() < deadline:
            number += 1
            posting = {"id": 880_000_000 + number, "title": f"Load Test Engineer {number}", "company": "Churn Labs",
                       "location": "Remote - US", "posted_at": "2026-01-09T12:00:00Z", "salary_min": 150000, "salary_max": 190000}
            added = await client.post("/admin/postings", json={"postings": [posting]})
            churn["added" if added.status_code == 200 else "failed"] += 1
            await asyncio.sleep(churn_every / 2)
            removed = await client.post("/admin/postings/remove", json={"ids": [posting["id"]]})
            churn["removed" if removed.status_code == 200 else "failed"] += 1
            await asyncio.sleep(churn_every / 2)

    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        tasks = [client_loop(client) for _ in range(concurrency)] + ([churn_loop(client)] if churn_every else [])
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed, "errors": errors, "churn": churn,
            "p50": percentile(latencies, 50), "p90": percentile(latencies, 90), "p99": percentile(latencies, 99),
            "load": os.getloadavg()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(cache_dir: str | None) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "flatsearch.jobsearch", "serve", "--port", str(port), "--log-level", "warning"]
    if cache_dir:
        command += ["--cache-dir", cache_dir]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server was not ready within 15 minutes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one on a free loopback port)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in the concurrent phase (default 8)")
    parser.add_argument("--queries", type=int, default=200, help="distinct queries to draw from (default 200)")
    parser.add_argument("--churn-every", type=float, default=0.5, help="seconds per add + remove cycle in the concurrent phase")
    parser.add_argument("--cache-dir", help="the server's cache (default $FLATSEARCH_CACHE or ~/.cache/flatsearch)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600 or args.concurrency < 1 or args.queries < 1:
        parser.error("expected 0 < --seconds <= 600, --concurrency >= 1 and --queries >= 1")
    import httpx

    process, url = (None, args.url) if args.url else start_server(args.cache_dir)
    try:
        postings = httpx.get(url + "/healthz", timeout=10).json().get("postings")
        queries = generated_queries(args.queries)
        for query in queries[:3]:  # warm up
            httpx.get(url + "/search", params={"q": query, "k": 10}, timeout=60)
        print(f"server {url}: {postings} postings; {args.queries} distinct queries; {os.cpu_count()} cores")
        for name, concurrency, churn in (("sequential, 1 client", 1, None),
                                         (f"concurrent, {args.concurrency} clients + churn", args.concurrency, args.churn_every)):
            result = asyncio.run(phase(url, queries, seconds=args.seconds, concurrency=concurrency, churn_every=churn))
            churn_text = (f"; churn: {result['churn']['added']} added, {result['churn']['removed']} removed, "
                          f"{result['churn']['failed']} failed") if churn else ""
            print(f"{name}: {result['requests']} requests in {result['seconds']:.1f} s = {result['rps']:.1f} req/s; "
                  f"latency p50 {result['p50']:.1f} ms, p90 {result['p90']:.1f} ms, p99 {result['p99']:.1f} ms; "
                  f"{len(result['errors'])} errors{churn_text}; load average {result['load'][0]:.2f}")
            for error in result["errors"][:5]:
                print("  error:", error)
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
