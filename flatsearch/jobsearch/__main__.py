"""``python -m flatsearch.jobsearch serve [--host 127.0.0.1] [--port 8080]``: the job search service
(:mod:`flatsearch.jobsearch.serve`). A one-off search from the shell is ``examples/job_search.py``."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships with a pip package; never reach for the hub
    parser = argparse.ArgumentParser(prog="python -m flatsearch.jobsearch", description="The job search as a service.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API and the search page")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--cache-dir", help="embeddings and index cache (default $FLATSEARCH_CACHE or ~/.cache/flatsearch)")
    serve.add_argument("--postings", help="serve your own postings (.csv or .jsonl) instead of the bundled corpus")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port: expected a port from 1 to 65535, got {args.port}")
    try:
        from .serve import serve as run

        run(host=args.host, port=args.port, cache_dir=args.cache_dir, postings=args.postings, log_level=args.log_level)
    except ModuleNotFoundError as error:
        from .settings import report_missing_extra

        return report_missing_extra(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
