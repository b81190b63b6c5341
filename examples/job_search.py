"""Natural-language job search over ~17k real postings with flatsearch.

    python examples/job_search.py "QUERY" [--member ID] [-k N] [--now ISO] [--json]
    python examples/job_search.py --list-members

The first run encodes every posting (a few minutes on 2 CPU cores, with a progress
bar) and caches the index under $FLATSEARCH_CACHE or ~/.cache/flatsearch; later runs
load it and answer in milliseconds of search time. --llm-url/--llm-model plan with an
OpenAI-compatible endpoint (falling back to the rule planner when it fails).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships with a pip package; never reach for the hub


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Search real job postings in plain language.")
    parser.add_argument("query", nargs="?", help="what you are looking for, in your own words")
    parser.add_argument("--member", help="sample member id for personalised search (see --list-members)")
    parser.add_argument("-k", type=int, default=10, help="number of jobs to show (default 10)")
    parser.add_argument("--now", help="reference time for recency, ISO 8601 (default: newest posting of the bundled snapshot)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--list-members", action="store_true", help="print the sample members (id, title, location) and exit")
    parser.add_argument("--postings", help="search your own postings (.csv or .jsonl) instead of the bundled corpus")
    parser.add_argument("--cache-dir", help="where to keep embeddings and the index (default $FLATSEARCH_CACHE or ~/.cache/flatsearch)")
    parser.add_argument("--llm-url", default=os.environ.get("FLATSEARCH_LLM_URL"), help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model", default=os.environ.get("FLATSEARCH_LLM_MODEL"), help="model name served at --llm-url")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from flatsearch.jobsearch import SampleNetwork

    if args.list_members:
        for member in SampleNetwork().all():
            print(f"{member.id}\t{member.title}\t{member.location}")
        return 0
    if args.query is None:
        print("error: give a query, e.g. python examples/job_search.py \"remote data jobs in Boston\", or --list-members", file=sys.stderr)
        return 2
    if not 1 <= args.k <= 1000:
        print(f"error: -k: expected a number from 1 to 1000, got {args.k}", file=sys.stderr)
        return 2
    if args.member is not None and args.member not in {m.id for m in SampleNetwork().all()}:
        known = ", ".join(m.id for m in SampleNetwork().all())
        print(f"error: --member: unknown member {args.member!r}; known members are {known} (see --list-members)", file=sys.stderr)
        return 2
    from flatsearch.jobsearch import JobSearch, load_postings
    from flatsearch.jobsearch.display import format_response

    try:
        corpus = load_postings(args.postings) if args.postings else None
        if args.now is not None:
            from flatsearch.jobsearch.corpus import parse_time

            parse_time(args.now, name="--now")
        search = JobSearch(corpus=corpus, cache_dir=args.cache_dir, llm_url=args.llm_url, llm_model=args.llm_model,
                           progress=not args.json)
        response = search.search(args.query, member_id=args.member, k=args.k, now=args.now)
    except (ValueError, TypeError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(response.to_dict(), ensure_ascii=False))
    else:
        print(format_response(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
