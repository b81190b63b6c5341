"""Judge the job search on a query set against the postings' raw fields.

Every query runs through one long-lived ``JobSearch`` process; every returned job is checked
against what the query's ``expect`` object requires, reading the posting's raw title, company,
location text, posted time and stated salary -- never the plan, so a misread query cannot pass by
agreeing with itself. Query sets are JSON Lines in the format of the development set::

    {"id": "q1", "query": "remote data jobs in Boston", "category": "remote", "member": null,
     "expect": {"loc": ["BOSTON"], "loc_remote": "US", "mode": "remote", "topic": "data"}}

``expect`` keys (each strict on every returned job unless noted):

* ``loc``: place codes; the location text must match one code's pattern (``--places`` JSON, which
  also holds the work-mode patterns); ``loc_remote``: a fully remote job within that code also passes;
  ``loc_not``: the location text must match none of these codes.
* ``mode``: allowed modes joined by ``|`` (remote, hybrid, onsite, unknown), or ``not_MODE``.
* ``days``: posted within that many days of ``--now``; ``since``: posted at or after that ISO time.
* ``pay_min``: the stated yearly pay (the top of the range; hourly figures were converted at 2080
  hours a year when the corpus was read) reaches at least this; ``pay_median``: reaches the median
  mid-point of postings whose titles contain all the given words.
* ``pay_max``: the bottom of the stated yearly range is at most this ("under $25 an hour"; a posting
  without pay fails, as it cannot be shown to be under).
* ``company`` / ``company_not``: names (case-insensitive), or ``@connection`` / ``@worked_with`` for
  the companies of the member's connections / former colleagues.
* ``title`` / ``title_not``: a regex, or ``level:NAME`` for one of the title patterns in ``LEVEL_TITLES``.
* ``no_staffing``: no staffing, sourcing or recruiting agency (``StaffingRules`` on the company).
* ``topic``: relevance, not strict: the top 3 results should all match this regex over title,
  department and category.
* ``intent``: ``not_job_search`` means nothing may be searched; ``job_search`` means it must be.

A query is *all-strict-right* when its intent is right, no returned job breaks a strict key (jobs
labelled as nearest included: everything shown must pass the filters), and a job search with strict
keys is either answered with at least one job or rightly empty. *Rightly empty* is checked against the
corpus, not the plan: no posting's raw fields satisfy every strict key, and the response has a message
saying so. An empty answer while some posting satisfies every strict key is a miss.

*Irrelevant top-3* reads the ranked answer, which is the jobs the response marks as close matches
(``close_match``). When the response says nothing close passes the filters (the honest floor: every
job shown is labelled as nearest, or nothing is shown), it is judged against the corpus too: it is
right when no posting satisfies every strict key and matches ``topic``, and an irrelevant top-3 (a real
miss) when one does. Close matches that are off topic always count as irrelevant.

Latency is the wall time of ``search`` for each query, measured after warm-up queries, with the
plan cache and the encoder's query-embedding cache cleared before every query, so each query is
planned and embedded as a new user's would be (query sets repeat semantic texts such as "jobs"
or "sales"; a warm embedding cache would hide the encoding time).

Usage::

    python benchmarks/jobsearch_eval.py ../shared/jobsearch/dev_queries.jsonl --places ../shared/jobsearch/dev_places.json
    python benchmarks/jobsearch_eval.py benchmarks/jobsearch_queries.jsonl --places benchmarks/jobsearch_places.json -v
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import re
import statistics
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NOW = "2026-01-11T00:00:00+00:00"
STRICT_KEYS = ("loc", "loc_not", "mode", "days", "since", "pay_min", "pay_max", "pay_median", "company", "company_not", "title", "title_not", "no_staffing")
# Title patterns for ``level:NAME`` (case-insensitive). senior_plus is what an entry-level or
# mid-level seeker does not want: senior, staff and above, leads, directors and executives.
LEVEL_TITLES = {
    "intern": r"\b(intern|interns|internship|co-?op|apprentice(ship)?|trainee|working student)\b",
    "junior": r"\b(junior|jr\.?|entry[- ]level|associate|graduate|new grad|early career)\b",
    "senior": r"\b(senior|sr\.?|snr)\b",
    "staff": r"\b(staff|principal|distinguished|fellow)\b",
    "director": r"\b(director|head of|vp|vice president|svp|evp)\b",
    "vp": r"\b(vp|vice president|svp|evp)\b",
    "executive": r"\b(chief|cto|ceo|cfo|coo|cmo|vp|vice president|president)\b",
    "manager": r"\b(manager|mgr|supervisor|head of|director|lead)\b",
    "senior_plus": r"\b(senior|sr\.?|snr|staff|principal|distinguished|fellow|lead|director|head of|vp|vice president|svp|evp|"
                   r"chief|president|architect|iii|iv)\b",
}


def _pattern(text: str, *, flags: int = re.IGNORECASE) -> re.Pattern:
    if text.startswith("level:"):
        return re.compile(LEVEL_TITLES[text[len("level:"):]], re.IGNORECASE)
    return re.compile(text, flags)


class Judge:
    """Checks returned jobs against an ``expect`` object using only raw posting fields."""

    def __init__(self, places: dict, search):
        self.places = {code: re.compile(pattern, re.IGNORECASE) for code, pattern in places["places"].items()}
        self.modes = [(name, re.compile(places[name], re.IGNORECASE)) for name in ("remote", "hybrid", "onsite")]
        self.search = search
        self.postings = {p.id: p for p in search.catalog.corpus.postings}
        from flatsearch.jobsearch.staffing import StaffingRules

        self.staffing = StaffingRules()
        self._medians: dict[str, float | None] = {}

    def mode(self, location: str) -> str:
        for name, pattern in self.modes:
            if pattern.search(location):
                return name
        return "unknown"

    def median(self, words: str) -> float | None:
        if words not in self._medians:
            keys = words.lower().split()
            mids = [((p.salary_min if p.salary_min is not None else p.salary_max) + (p.salary_max if p.salary_max is not None else p.salary_min)) / 2
                    for p in self.postings.values() if (p.salary_min is not None or p.salary_max is not None)
                    and all(k in p.title.lower() for k in keys)]
            self._medians[words] = statistics.median(mids) if mids else None
        return self._medians[words]

    def companies(self, spec, member_id: str | None) -> set[str]:
        if isinstance(spec, str) and spec.startswith("@"):
            found = self.search.tools.graph_lookup(member_id, spec[1:])
            return {c["name"].casefold() for c in found["companies"]}
        return {name.casefold() for name in spec}

    def violations(self, posting, expect: dict, member_id: str | None, now: dt.datetime) -> list[str]:
        out = []
        location = posting.location
        mode = self.mode(location)
        if "loc" in expect:
            inside = any(self.places[code].search(location) for code in expect["loc"])
            remote_ok = bool(expect.get("loc_remote")) and mode == "remote" and bool(self.places[expect["loc_remote"]].search(location))
            if not (inside or remote_ok):
                out.append(f"loc {expect['loc']} vs {location!r}")
        if "loc_not" in expect and any(self.places[code].search(location) for code in expect["loc_not"]):
            out.append(f"loc_not {expect['loc_not']} vs {location!r}")
        if "mode" in expect:
            wanted = expect["mode"]
            ok = mode != wanted[4:] if wanted.startswith("not_") else mode in wanted.split("|")
            if not ok:
                out.append(f"mode {wanted} vs {mode} ({location!r})")
        if "days" in expect and posting.posted_at < now - dt.timedelta(days=expect["days"]):
            out.append(f"days {expect['days']} vs posted {posting.posted_at:%Y-%m-%d %H:%M}")
        if "since" in expect and posting.posted_at < dt.datetime.fromisoformat(expect["since"]):
            out.append(f"since {expect['since'][:10]} vs posted {posting.posted_at:%Y-%m-%d %H:%M}")
        top = posting.salary_max if posting.salary_max is not None else posting.salary_min
        if "pay_min" in expect and (top is None or top < expect["pay_min"]):
            out.append(f"pay_min {expect['pay_min']} vs {top}")
        bottom = posting.salary_min if posting.salary_min is not None else posting.salary_max
        if "pay_max" in expect and (bottom is None or bottom > expect["pay_max"]):
            out.append(f"pay_max {expect['pay_max']} vs {bottom}")
        if "pay_median" in expect:
            median = self.median(expect["pay_median"])
            if median is not None and (top is None or top < median):
                out.append(f"pay_median {median:.0f} vs {top}")
        if "company" in expect and posting.company.casefold() not in self.companies(expect["company"], member_id):
            out.append(f"company {expect['company']} vs {posting.company!r}")
        if "company_not" in expect and posting.company.casefold() in self.companies(expect["company_not"], member_id):
            out.append(f"company_not {expect['company_not']} vs {posting.company!r}")
        if "title" in expect and not _pattern(expect["title"]).search(posting.title):
            out.append(f"title {expect['title']} vs {posting.title!r}")
        if "title_not" in expect and _pattern(expect["title_not"]).search(posting.title):
            out.append(f"title_not {expect['title_not']} vs {posting.title!r}")
        if expect.get("no_staffing") and self.staffing.is_staffing(posting.company, posting.company_domain):
            out.append(f"no_staffing vs {posting.company!r}")
        return out

    def on_topic(self, posting, topic: str) -> bool:
        return bool(re.search(topic, f"{posting.title} | {posting.department} | {posting.category}", re.IGNORECASE))

    def feasible(self, expect: dict, member_id: str | None, now: dt.datetime) -> list:
        """Every posting of the corpus whose raw fields satisfy all strict keys of ``expect``."""
        if not any(key in expect for key in STRICT_KEYS):
            return list(self.postings.values())
        return [p for p in self.postings.values() if not self.violations(p, expect, member_id, now)]


def clear_query_embeddings(search) -> None:
    """Forget the encoder's remembered query vectors, so the next search embeds its text as a new user's would."""
    search.encoder.clear_query_cache()


class _NoPlanCache:
    def get(self, query, member_id, *, now):
        return None

    def put(self, plan, *, now):
        pass


def evaluate(rows: list[dict], search, judge: Judge, *, now: str, k: int, verbose: bool) -> dict:
    moment = dt.datetime.fromisoformat(now)
    counts = {"queries": len(rows), "all_right": 0, "violating": 0, "topic_queries": 0, "irrelevant_top3": 0, "tracebacks": 0,
              "empty_job_searches": 0, "rightly_empty": 0, "honest_floor": 0, "wrong_intent": 0}
    latencies, plan_ms, categories, failures, parts = [], [], {}, [], {}
    for row in rows:
        expect = row.get("expect", {})
        clear_query_embeddings(search)
        started = time.perf_counter()
        try:
            response = search.search(row["query"], member_id=row.get("member"), k=k, now=now)
        except Exception:  # noqa: BLE001 -- a traceback is a result to count, not a reason to stop
            counts["tracebacks"] += 1
            failures.append((row, ["traceback: " + traceback.format_exc(limit=3)]))
            categories.setdefault(row.get("category", "?"), [0, 0])[1] += 1
            continue
        latencies.append(1000 * (time.perf_counter() - started))
        plan_ms.append(response.timings_ms.get("plan", 0.0))
        for part, value in response.timings_ms.items():
            parts.setdefault(part, []).append(value)
        problems = []
        wanted_intent = expect.get("intent", "job_search")
        if response.plan.intent != wanted_intent:
            counts["wrong_intent"] += 1
            problems.append(f"intent {wanted_intent} vs {response.plan.intent}")
        strict = [key for key in STRICT_KEYS if key in expect]
        jobs = [judge.postings[r.id] for r in response.results]
        close = [judge.postings[r.id] for r in response.results if r.close_match]
        feasible = None  # postings satisfying every strict key, read from the corpus only when an answer claims there are none close

        def corpus_feasible() -> list:
            nonlocal feasible
            if feasible is None:
                feasible = judge.feasible(expect, row.get("member"), moment)
            return feasible

        bad = []
        for posting in jobs:
            bad.extend(judge.violations(posting, expect, row.get("member"), moment))
        if bad:
            counts["violating"] += 1
            problems.extend(bad[:4] + ([f"... {len(bad) - 4} more"] if len(bad) > 4 else []))
        if wanted_intent == "job_search" and strict and not jobs and response.plan.intent == "job_search":
            if corpus_feasible():
                counts["empty_job_searches"] += 1
                problems.append(f"no results, though {len(corpus_feasible())} postings satisfy every strict constraint")
            elif not response.message:
                counts["empty_job_searches"] += 1
                problems.append("no results and no message saying that no posting matches")
            else:
                counts["rightly_empty"] += 1
        right = not problems
        counts["all_right"] += right
        cat = categories.setdefault(row.get("category", "?"), [0, 0])
        cat[0] += right
        cat[1] += 1
        if "topic" in expect:
            counts["topic_queries"] += 1
            if close:
                off = [p.title for p in close[:3] if not judge.on_topic(p, expect["topic"])]
                if off:
                    counts["irrelevant_top3"] += 1
                    problems.append(f"topic /{expect['topic']}/ off: {off[:3]}")
            else:
                on_topic = [p for p in corpus_feasible() if judge.on_topic(p, expect["topic"])]
                if on_topic:
                    counts["irrelevant_top3"] += 1
                    problems.append(f"topic /{expect['topic']}/: no close match shown, though {len(on_topic)} on-topic postings satisfy "
                                    f"every strict constraint, e.g. {on_topic[0].title!r} ({on_topic[0].location[:40]})")
                else:
                    counts["honest_floor"] += 1
        if problems:
            failures.append((row, problems))
        if verbose and (problems or not close):  # misses, and answers that say nothing close fits (to read whether that is true)
            print(f"--- {row['id']} [{row.get('category')}] {row['query'][:100]!r}{'' if problems else '  (right)'}")
            print(f"    filters: {json.dumps(response.plan.filters)[:300]}")
            print(f"    semantic: {response.plan.semantic_text[:100]!r}  notes: {[n[:80] for n in response.plan.notes]}")
            for problem in problems:
                print(f"    ! {problem[:220]}")
            if response.message:
                print(f"    message: {response.message[:200]}")
            for r in response.results[:3]:
                print(f"    {'-' if r.close_match else '~'} {r.title[:60]} | {r.company[:25]} | {r.location[:50]}")
    n = max(counts["queries"], 1)

    def pct(values, q):
        return float(statistics.quantiles(values, n=100)[q - 1]) if len(values) > 1 else (values[0] if values else float("nan"))

    return {**counts, "all_right_share": counts["all_right"] / n, "violating_share": counts["violating"] / n,
            "irrelevant_top3_share": counts["irrelevant_top3"] / max(counts["topic_queries"], 1),
            "latency_ms": {"p50": pct(latencies, 50), "p90": pct(latencies, 90), "p99": pct(latencies, 99)},
            "plan_ms": {"p50": pct(plan_ms, 50), "p90": pct(plan_ms, 90)},
            "stage_ms_p50": {part: round(statistics.median(values), 2) for part, values in parts.items()},
            "by_category": {c: f"{ok}/{total}" for c, (ok, total) in sorted(categories.items())},
            "failures": [{"id": r["id"], "query": r["query"][:120], "problems": [p[:300] for p in ps]} for r, ps in failures]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries", type=pathlib.Path, help="JSON Lines query set with expectations")
    parser.add_argument("--places", type=pathlib.Path, default=None,
                        help="place-code and work-mode patterns (default: dev_places.json next to the query set)")
    parser.add_argument("--now", default=NOW, help=f"the time recency is measured from (default {NOW})")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="queries run before timing starts, after JobSearch.warm_up() (0: neither)")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the figures and failures as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failing query with its plan and top results")
    args = parser.parse_args(argv)
    places_path = args.places or args.queries.with_name("dev_places.json")
    if not places_path.is_file():
        parser.error(f"--places: expected the place-pattern JSON file, got {str(places_path)!r} (not found)")
    rows = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    places = json.loads(places_path.read_text(encoding="utf-8"))
    unknown = sorted({code for r in rows for code in [*r.get("expect", {}).get("loc", []), *r.get("expect", {}).get("loc_not", []),
                                                      r.get("expect", {}).get("loc_remote")]
                      if code and code not in places["places"]})
    if unknown:
        parser.error(f"queries use place codes missing from {places_path.name}: {', '.join(unknown)}")

    from flatsearch.jobsearch import JobSearch

    started = time.perf_counter()
    search = JobSearch(progress=False)
    startup = time.perf_counter() - started
    if args.warmup:
        search.warm_up()  # as a server does before its first request
    for query in ("software engineer jobs", "remote marketing roles in Boston", "nurse jobs posted this week")[:args.warmup]:
        search.search(query, k=args.k, now=args.now)
    judge = Judge(places, search)
    search.plan_cache = _NoPlanCache()  # every query is planned, as a new user's would be
    report = evaluate(rows, search, judge, now=args.now, k=args.k, verbose=args.verbose)
    load = os.getloadavg()
    print(f"\n{args.queries.name}: {report['queries']} queries, k={args.k}, now={args.now}; startup {startup:.1f} s; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  all strict constraints right : {report['all_right_share']:6.1%} ({report['all_right']}/{report['queries']})")
    print(f"  any strict violation         : {report['violating_share']:6.1%} ({report['violating']})")
    print(f"  irrelevant top-3             : {report['irrelevant_top3_share']:6.1%} ({report['irrelevant_top3']}/{report['topic_queries']} with a topic)")
    print(f"  empty job searches (misses)  : {report['empty_job_searches']}   rightly empty (no posting fits): {report['rightly_empty']}"
          f"   wrong intent: {report['wrong_intent']}")
    print(f"  honest floor (nothing on topic in the corpus passes the filters, said so): {report['honest_floor']}")
    print(f"  tracebacks                   : {report['tracebacks']}")
    lat, plan = report["latency_ms"], report["plan_ms"]
    print(f"  latency ms (plan + search)   : p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}; plan alone p50 {plan['p50']:.1f}")
    print(f"  stage medians ms             : {report['stage_ms_p50']}")
    print(f"  by category (right/total)    : {report['by_category']}")
    if args.out:
        args.out.write_text(json.dumps({"queries": str(args.queries), "load_average": load, **report}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
