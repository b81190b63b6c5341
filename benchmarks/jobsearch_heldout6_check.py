"""Check that every query of a held-out job-search set can be answered from the raw postings.

Reads the ``network-jobs-data`` postings straight from the installed package (deduplicated by id),
and judges them with the evaluator's own ``Judge.violations`` and ``Judge.on_topic`` (from
``jobsearch_eval.py``; the engine is never imported: the judge is built without its constructor, and
the staffing check is replaced by a name/domain rule, as the bundled corpus holds no agencies).

A posting's time is read three ways, and a query counts as satisfiable only under the smallest:
``postedAt`` when present else ``firstSeen``; ``firstSeen`` alone; the earlier of the two. Stated pay
is the posting's ``salary`` (figures under 1,000 are hourly and are multiplied by 2080).

For every query with strict keys it prints how many postings meet all of them and how many of
those also match ``topic``; a query with fewer than ``--min`` of either is reported as failing.

Usage::

    python benchmarks/jobsearch_heldout6_check.py benchmarks/jobsearch_heldout6.jsonl \
        --places benchmarks/jobsearch_heldout6_places.json
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import glob
import json
import os
import pathlib
import re
import statistics
import sys
from types import SimpleNamespace

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import jobsearch_eval  # noqa: E402  -- the evaluator module only; it imports no engine code at import time

STAFFING = re.compile(r"staffing|recruit|talent|search partners|headhunt|personnel|manpower|randstad|adecco|robert half|kforce|"
                      r"teksystems|insight global|hays\b|cyber ?coders|aerotek|apex systems", re.IGNORECASE)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _pay(value):
    if value is None:
        return None
    return float(value) * 2080 if value < 1000 else float(value)


def load_postings() -> list[dict]:
    """Every posting of the installed package once (first occurrence of each id)."""
    import network_jobs_data

    root = os.path.dirname(network_jobs_data.__file__)
    seen: dict = {}
    for path in sorted(glob.glob(os.path.join(root, "*", "*.json"))):
        if path.endswith(("manifest.json", "advisor.json")):
            continue
        with open(path, encoding="utf-8") as handle:
            for job in json.load(handle):
                seen.setdefault(job["id"], job)
    return list(seen.values())


def as_postings(raw: list[dict], clock: str) -> list[SimpleNamespace]:
    out = []
    for job in raw:
        first = _time(job["firstSeen"])
        posted = _time(job["postedAt"]) if job.get("postedAt") else None
        when = {"posted_else_first": posted or first, "first_seen": first, "earlier": min(posted or first, first)}[clock]
        salary = job.get("salary") or {}
        out.append(SimpleNamespace(id=job["id"], title=job["title"], company=job["company"], company_domain=job.get("companyDomain", ""),
                                   department=job.get("department") or "", category=job.get("category") or "", location=job["location"],
                                   posted_at=when, salary_min=_pay(salary.get("min")), salary_max=_pay(salary.get("max"))))
    return out


class _Staffing:
    def is_staffing(self, company: str, domain: str) -> bool:
        return bool(STAFFING.search(company or "") or STAFFING.search(domain or ""))


def make_judge(places: dict, postings: list) -> jobsearch_eval.Judge:
    judge = jobsearch_eval.Judge.__new__(jobsearch_eval.Judge)
    judge.places = {code: re.compile(pattern, re.IGNORECASE) for code, pattern in places["places"].items()}
    judge.modes = [(name, re.compile(places[name], re.IGNORECASE)) for name in ("remote", "hybrid", "onsite")]
    judge.search = None
    judge.postings = {p.id: p for p in postings}
    judge.staffing = _Staffing()
    judge._medians = {}
    return judge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries", type=pathlib.Path)
    parser.add_argument("--places", type=pathlib.Path, required=True)
    parser.add_argument("--now", default=jobsearch_eval.NOW)
    parser.add_argument("--min", type=int, default=6, help="fewest postings a query's strict keys (and topic) must leave")
    parser.add_argument("--show", default="", help="comma-separated query ids whose satisfying postings to list")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    places = json.loads(args.places.read_text(encoding="utf-8"))
    now = dt.datetime.fromisoformat(args.now)
    raw = load_postings()
    judges = {clock: make_judge(places, as_postings(raw, clock)) for clock in ("posted_else_first", "first_seen", "earlier")}
    show = set(filter(None, args.show.split(",")))
    ids = [r["id"] for r in rows]
    problems = [f"duplicate id {i}" for i, n in collections.Counter(ids).items() if n > 1]
    counts, cats = [], collections.Counter(r["category"] for r in rows)
    print(f"{len(raw)} postings; {len(rows)} queries; categories {dict(sorted(cats.items()))}")
    for row in rows:
        expect = row.get("expect", {})
        unknown = [k for k in expect if k not in (*jobsearch_eval.STRICT_KEYS, "topic", "intent", "loc_remote")]
        if unknown:
            problems.append(f"{row['id']}: unknown expect keys {unknown}")
        strict = [k for k in jobsearch_eval.STRICT_KEYS if k in expect]
        topic = expect.get("topic")
        if not strict and not topic:
            print(f"{row['id']:7s} {row['category']:11s} (no strict keys, no topic) {expect.get('intent', '')}  {row['query']!r}")
            continue
        worst_strict, worst_topic = None, None
        for clock, judge in judges.items():
            feasible = judge.feasible(expect, row.get("member"), now) if strict else list(judge.postings.values())
            on_topic = [p for p in feasible if judge.on_topic(p, topic)] if topic else feasible
            if worst_strict is None or len(feasible) < worst_strict:
                worst_strict = len(feasible)
            if worst_topic is None or len(on_topic) < len(worst_topic):
                worst_topic = on_topic
        if strict:
            counts.append(len(worst_topic))
        flag = "" if (not strict or len(worst_topic) >= args.min) else "   <-- FAILS"
        print(f"{row['id']:7s} {row['category']:11s} strict {worst_strict:6d}  +topic {len(worst_topic):6d}  {strict}{flag}  {row['query']!r}")
        if flag:
            problems.append(f"{row['id']}: only {len(worst_topic)} postings meet every strict key and the topic")
        if row["id"] in show:
            for p in worst_topic[:40]:
                print(f"      {p.title[:60]!r:62s} {p.company[:18]:18s} {p.location[:60]!r} {p.posted_at:%Y-%m-%d} {p.salary_max}")
    if counts:
        print(f"\nqueries with strict keys: {len(counts)}; postings meeting strict keys and topic: min {min(counts)}, "
              f"median {statistics.median(counts):.0f}, max {max(counts)}")
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
