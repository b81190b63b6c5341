"""Train the relevance models and print the evaluation table.

    python examples/train_and_eval.py --config quick

Generates synthetic queries from the bundled postings, grades candidates with the
policy teacher, distils a student cross-encoder (full and half depth), fine-tunes
the retrieval embedding with the teacher in the loop, re-embeds the corpus into the
index with upsert, and prints NDCG@10 / Recall@100 on the validation and the
held-out test queries for the base model, the fine-tuned model, and the fine-tuned model plus each student, with the
student's agreement with the teacher and per-candidate latencies. The full student
is installed where the job search pipeline looks for its reranker unless
--no-install is given.

Choose settings with --tune: it evaluates the validation queries only and computes
nothing on the test queries, which are kept for the final run.
"""
from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    from flatsearch.jobsearch.relevance.config import CONFIGS, get_config
    from flatsearch.jobsearch.relevance.reranker import default_student_path
    from flatsearch.jobsearch.settings import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quick", choices=sorted(CONFIGS), help="size of the run (default: quick)")
    parser.add_argument("--output", type=pathlib.Path, help="where data, models and report.json go "
                                                             "(default: <cache>/relevance/runs/<config>)")
    parser.add_argument("--cache-dir", type=pathlib.Path, help="cache directory (default: $FLATSEARCH_CACHE or ~/.cache/flatsearch)")
    parser.add_argument("--seed", type=int, help="seed for sampling, queries and training (default: the config's)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda (default: the config's)")
    parser.add_argument("--no-install", action="store_true", help="do not install the student as the pipeline's reranker")
    parser.add_argument("--tune", action="store_true", help="evaluate on the validation queries only, leaving the test queries untouched")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    import transformers

    transformers.logging.set_verbosity_error()
    logging.basicConfig(level=logging.WARNING)
    from flatsearch.jobsearch.relevance.experiment import run_experiment

    config = get_config(args.config)
    changes = {key: value for key, value in (("seed", args.seed), ("device", args.device)) if value is not None}
    config = config.replace(**changes) if changes else config
    cache = args.cache_dir or default_cache_dir()
    output = args.output or cache / "relevance" / "runs" / config.name
    print(f"config {config.name}: {config.corpus_size or 'all'} postings, {config.queries} queries; output in {output}", flush=True)
    report = run_experiment(config, output_dir=output, cache_dir=cache, progress=not args.quiet,
                            evaluate_on=("validation",) if args.tune else ("validation", "test"),
                            install_student_to=None if args.no_install else default_student_path(cache),
                            log=lambda line: print(line, flush=True))
    print()
    print(report["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
