"""Run the flatsearch benchmark suite and write JSON, a Markdown table and PNG plots.

    python benchmarks/run.py --profile quick --out benchmarks/results/quick.json
    python benchmarks/run.py --profile cpu   --out benchmarks/results/cpu-MACHINE-DATE.json
    python benchmarks/run.py --profile gpu   --out benchmarks/results/gpu-MACHINE-DATE.json
    python benchmarks/run.py --profile scale --out benchmarks/results/scale-MACHINE-DATE.json
    python benchmarks/run.py --profile scale --sizes 100000,1000000 --contended
    python benchmarks/run.py --replot benchmarks/results/cpu-MACHINE-DATE.json

Profiles: ``quick`` (about a minute on 2 cores, a smoke test), ``cpu`` (under
10 minutes on 2 cores), ``gpu`` (flatsearch and torch on CUDA; faiss on the
host cores), ``scale`` (how each cost grows with N, beside torch and faiss
baselines, see ``fsbench/scale.py``; 100k, 1M and 5M rows by default, about 9 GB
of memory and a few minutes on 2 cores; ``--sizes`` goes bigger, ``--contended`` repeats the ratios with one
CPU-bound process running). Every library gets the same thread count, and
OpenMP runs with its defaults (no ``OMP_WAIT_POLICY``). Kernel-level GPU
checks are a separate run: ``python benchmarks/gpu_check.py OUT.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write_json(doc: dict, path: Path) -> None:
    """Write ``doc`` with one record per line: small, readable and diff-friendly."""
    head = {key: value for key, value in doc.items() if key != "records"}
    text = json.dumps(head, indent=1)[:-2]
    records = ",\n  ".join(json.dumps(r, separators=(",", ":")) for r in doc["records"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(f'{text},\n "records": [\n  {records}\n ]\n}}\n', encoding="utf-8")
    partial.replace(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("quick", "cpu", "gpu", "scale"), help="what to run")
    parser.add_argument("--sizes", default=None,
                        help="scale profile: comma-separated row counts (default 100000,1000000,5000000)")
    parser.add_argument("--contended", action="store_true",
                        help="scale profile: also measure with one CPU-bound process running (started and stopped here)")
    parser.add_argument("--repeats", type=int, default=None, help="scale profile: timed runs per measure (default 7)")
    parser.add_argument("--out", type=Path, help="JSON path; plots are written next to it "
                        "(default benchmarks/results/PROFILE-local.json)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every library (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--replot", type=Path, default=None,
                        help="re-make the table and plots of an existing JSON instead of running")
    args = parser.parse_args(argv)
    if (args.profile is None) == (args.replot is None):
        parser.error("give exactly one of --profile or --replot")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads: expected a positive count, got {args.threads}")
    if args.profile != "scale" and (args.sizes is not None or args.contended or args.repeats is not None):
        parser.error("--sizes, --contended and --repeats apply to --profile scale only")
    if args.sizes is not None:
        try:
            args.sizes = tuple(int(part) for part in args.sizes.split(","))
        except ValueError:
            parser.error(f"--sizes: expected comma-separated row counts such as 100000,1000000, got {args.sizes!r}")
        if not args.sizes or min(args.sizes) < 1000:
            parser.error(f"--sizes: expected row counts of at least 1000, got {args.sizes}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats: expected a positive count, got {args.repeats}")
    return args


def _run_scale(args: argparse.Namespace) -> dict:
    from fsbench.scale import ScaleConfig, run_scale
    from fsbench.timing import default_threads

    config = ScaleConfig(**{name: value for name, value in (("sizes", args.sizes), ("repeats", args.repeats))
                            if value is not None}, contended=args.contended)
    return run_scale(config, threads=args.threads or default_threads(),
                     log=lambda line: print(line, file=sys.stderr, flush=True))


def _run_suite(args: argparse.Namespace) -> dict | None:
    from fsbench.profiles import get_profile
    from fsbench.suite import run_profile

    profile = get_profile(args.profile)
    if profile.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("profile gpu: expected a CUDA device, found none (torch.cuda.is_available() is False)",
                  file=sys.stderr)
            return None
    return run_profile(profile, threads=args.threads, progress=not args.no_progress,
                       log=lambda line: print(line, file=sys.stderr, flush=True))


def _reporters(profile: str):
    """(markdown, save_plots) of a profile's results."""
    if profile == "scale":
        from fsbench.scale_report import markdown, save_plot
        return markdown, save_plot
    from fsbench.plots import save_plots
    from fsbench.report import markdown
    return markdown, save_plots


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    # One path for every profile: run (or read the JSON to replot), then the table and plots.
    if args.replot is not None:
        doc = json.loads(args.replot.read_text(encoding="utf-8"))
        out, profile = args.replot, doc.get("profile")
    else:
        profile = args.profile
        doc = _run_scale(args) if profile == "scale" else _run_suite(args)
        if doc is None:
            return 2
        out = args.out or HERE / "results" / f"{profile}-local.json"
        write_json(doc, out)
    markdown, save_plots = _reporters("scale" if profile == "scale" else "suite")
    table = markdown(doc)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    plots = save_plots(doc, out.with_suffix(""))
    print(table)
    print(f"\nwrote {out}, {out.with_suffix('.md')}" + "".join(f", {p}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
