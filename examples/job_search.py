"""Natural-language job search over the 17,268 real postings of network-jobs-data with flatsearch.

    python examples/job_search.py "QUERY" [--member ID] [-k N] [--now ISO] [--json] [--server [URL]]
    python examples/job_search.py --list-members

The first run exports the bundled model to ONNX and encodes every posting once (one
progress bar on stderr with the count and an ETA: the 16,979 distinct posting texts,
since some openings are posted under several ids), then caches the vectors and the
index under $FLATSEARCH_CACHE or ~/.cache/flatsearch; later runs load them and answer
in a few seconds of wall time, most of it starting Python and loading. ``--server URL``
asks a running ``python -m flatsearch.jobsearch serve`` instead (milliseconds).
--llm-url/--llm-model plan with an OpenAI-compatible endpoint (falling back to the rule
planner when it fails).
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships with a pip package; never reach for the hub
DEFAULT_SERVER = "http://127.0.0.1:8080"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Search real job postings in plain language.")
    parser.add_argument("query", nargs="?", help="what you are looking for, in your own words")
    parser.add_argument("--member", help="sample member id for personalised search (see --list-members)")
    parser.add_argument("-k", type=int, default=10, help="number of jobs to show (default 10)")
    parser.add_argument("--now", help="reference time for recency, ISO 8601 (default: newest posting of the bundled snapshot)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text (progress and timing go to stderr)")
    parser.add_argument("--list-members", action="store_true", help="print the sample members (id, title, location) and exit")
    parser.add_argument("--postings", help="search your own postings (.csv or .jsonl) instead of the bundled corpus")
    parser.add_argument("--cache-dir", help="where to keep embeddings and the index (default $FLATSEARCH_CACHE or ~/.cache/flatsearch)")
    parser.add_argument("--server", nargs="?", const=DEFAULT_SERVER, metavar="URL",
                        help=f"ask a running `python -m flatsearch.jobsearch serve` (default URL {DEFAULT_SERVER})")
    parser.add_argument("--llm-url", default=os.environ.get("FLATSEARCH_LLM_URL"), help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model", default=os.environ.get("FLATSEARCH_LLM_MODEL"), help="model name served at --llm-url")
    return parser.parse_args(argv)


def ask_server(url: str, args: argparse.Namespace) -> dict:
    """The --json object for the query from a running server (ValueError with its message when it refuses)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    params = {"q": args.query, "k": args.k, **({"member": args.member} if args.member else {}), **({"now": args.now} if args.now else {})}
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/search?{urllib.parse.urlencode(params)}", timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read()).get("detail", error.reason)
        except ValueError:
            detail = error.reason
        raise ValueError(f"the server at {url} refused the query ({error.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ValueError(f"--server: no job search server answers at {url} ({getattr(error, 'reason', error)}); start one with "
                         "`python -m flatsearch.jobsearch serve`") from None


def main(argv: list[str] | None = None, *, started: float | None = None) -> int:
    """Run the command; ``started`` is when the process began its work (default: now), for the wall time printed."""
    started = time.perf_counter() if started is None else started
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return run(args, started)
    except ModuleNotFoundError as error:
        from flatsearch.jobsearch.settings import report_missing_extra

        return report_missing_extra(error)


def run(args: argparse.Namespace, started: float) -> int:
    from flatsearch.jobsearch.members import SampleNetwork

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
    from flatsearch.jobsearch.display import format_response

    try:
        if args.server:
            data = ask_server(args.server, args)
        else:
            from flatsearch.jobsearch.corpus import load_postings, parse_time
            from flatsearch.jobsearch.pipeline import JobSearch

            corpus = load_postings(args.postings) if args.postings else None
            if args.now is not None:
                parse_time(args.now, name="--now")
            search = JobSearch(corpus=corpus, cache_dir=args.cache_dir, llm_url=args.llm_url, llm_model=args.llm_model, progress=True)
            response = search.search(args.query, member_id=args.member, k=args.k, now=args.now)
            data = {**response.to_dict(), "timings_ms": response.timings_ms}
    except (ValueError, TypeError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    what = "asking the server" if args.server else "imports, loading the model, places and index, and the search"
    wall = f"(wall {time.perf_counter() - started:.2f} s: {what})"
    if args.json:
        data.pop("timings_ms", None)
        print(json.dumps(data, ensure_ascii=False))
        print(wall, file=sys.stderr)
    else:
        print(format_response(data))
        print(wall)
    return 0


def _end_now(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    status = main(started=STARTED)
    # Everything is written by now (vectors, index and start-up data are saved before a search returns), so the
    # process ends without tearing down torch's and onnxruntime's modules, which took most of a second: registered
    # last, this exit handler runs first at interpreter exit.
    import atexit

    atexit.register(_end_now, status)
    sys.exit(status)
