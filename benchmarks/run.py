"""Run the flatsearch benchmark suite and write JSON, a Markdown table and PNG plots.

    python benchmarks/run.py --profile quick --out benchmarks/results/quick.json
    python benchmarks/run.py --profile cpu   --out benchmarks/results/cpu-MACHINE-DATE.json
    python benchmarks/run.py --profile gpu   --out benchmarks/results/gpu-MACHINE-DATE.json
    python benchmarks/run.py --replot benchmarks/results/cpu-MACHINE-DATE.json

Profiles: ``quick`` (about a minute on 2 cores, a smoke test), ``cpu`` (under
10 minutes on 2 cores), ``gpu`` (flatsearch and torch on CUDA; faiss on the
host cores). Every library gets the same thread count. Kernel-level GPU
checks are a separate run: ``python benchmarks/gpu_check.py OUT.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Set before torch and faiss load: each ships its own OpenMP runtime, and the
# default busy-waiting threads of one steal the cores the other needs next
# (measured here: faiss PQ training 8x slower right after torch work on 2 cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
    parser.add_argument("--profile", choices=("quick", "cpu", "gpu"), help="what to run")
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
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    from fsbench.plots import save_plots
    from fsbench.profiles import get_profile
    from fsbench.report import markdown
    from fsbench.suite import run_profile

    if args.replot is not None:
        doc = json.loads(args.replot.read_text(encoding="utf-8"))
        out = args.replot
    else:
        profile = get_profile(args.profile)
        if profile.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                print("profile gpu: expected a CUDA device, found none (torch.cuda.is_available() is False)",
                      file=sys.stderr)
                return 2
        out = args.out or HERE / "results" / f"{profile.name}-local.json"
        doc = run_profile(profile, threads=args.threads, progress=not args.no_progress,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
        write_json(doc, out)
    table = markdown(doc)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    plots = save_plots(doc, out.with_suffix(""))
    print(table)
    print(f"\nwrote {out}, {out.with_suffix('.md')}" + "".join(f", {p}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
