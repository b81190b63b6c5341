"""Retrieval quality and speed of the float and int8 ONNX encoders, on the relevance evaluation.

    python examples/encoder_quality.py [--config quick] [--seed 1] [--split test]

Builds the relevance workspace of a config (its corpus sample, synthetic queries planned
by the rule planner, and every job passing each evaluated query's filters graded by the
policy teacher), then retrieves the top 100 for each query twice with the same filters
and boosts: postings and queries embedded by the float model, and by its int8 dynamically
quantised ONNX export. Prints NDCG@10 and Recall@100 for both, the cosine between the two
models' posting vectors and each encoder's texts per second on this machine. The teacher
itself reads float-model similarities, which favours the float model a little.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="quick")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--cache-dir", help="default $FLATSEARCH_CACHE or ~/.cache/flatsearch")
    args = parser.parse_args(argv)


    from flatsearch.jobsearch.embedding import Encoder
    from flatsearch.jobsearch.relevance.config import get_config
    from flatsearch.jobsearch.relevance.evaluate import METRICS, OVERALL, evaluate, qrels_dict, run_dict
    from flatsearch.jobsearch.relevance.experiment import make_data
    from flatsearch.jobsearch.relevance.retrieval import JobIndex
    from flatsearch.jobsearch.relevance.workspace import build_workspace
    from flatsearch.jobsearch.settings import default_cache_dir

    cache = args.cache_dir or default_cache_dir()
    config = get_config(args.config)
    workspace = build_workspace(corpus_size=config.corpus_size, seed=args.seed, device="cpu", cache_dir=cache, corpus=None, progress=True)
    data = make_data(workspace, config, evaluate_on=(args.split,), progress=True)
    judged = data.judged[args.split]
    texts = workspace.catalog.texts()
    rankings, speed, vectors = {}, {}, {}
    for name, quantized in (("float32", False), ("int8", True)):
        encoder = Encoder(cache_dir=None, backend="onnx", quantized=quantized)  # no disk cache: time every text
        encoder.encode(texts[:64])  # load and warm up
        started = time.perf_counter()
        vectors[name] = encoder.encode(texts)
        speed[name] = len(texts) / (time.perf_counter() - started)
        index = JobIndex(workspace.catalog, vectors[name])
        plans = [case.plan for case in judged.cases]
        hits = index.search(plans, index.query_vectors(plans, encoder.model.encode, workspace.members), config.retrieve_k)
        rankings[name] = {case.query_id: [int(i) for i in ids] for case, (ids, _) in zip(judged.cases, hits)}
    table = evaluate(qrels_dict(judged.grades()), {name: run_dict(r) for name, r in rankings.items()},
                     {case.query_id: case.query_type for case in judged.cases})
    cosine = (vectors["float32"] * vectors["int8"]).sum(axis=1)
    print(f"{config.name} config, seed {args.seed}: {len(texts)} postings, {len(judged.cases)} {args.split} queries with a Good job; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name in rankings:
        metrics = ", ".join(f"{metric} {table[name][OVERALL][metric]:.4f}" for metric in METRICS)
        print(f"  {name:8s} {metrics}, {speed[name]:.0f} texts/s")
    print(f"  posting vectors, int8 vs float32: mean cosine {cosine.mean():.4f}, min {cosine.min():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
