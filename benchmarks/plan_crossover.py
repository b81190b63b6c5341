"""Where a filter plan should switch from postings to a column scan, measured.

    python benchmarks/plan_crossover.py              # 1M slots, one thread
    python benchmarks/plan_crossover.py --n 200000 --threads 2

For pass fractions from 0.1% to 40% it times ``filter_plan.select`` forced to
postings (``max_fraction=1``) and forced to a column scan (``max_fraction=0``),
for one int range comparison and for that comparison ANDed with a float range
that keeps half the rows, and prints the fraction where the scan starts to win.
``flatsearch.filter_plan.POSTINGS_MAX_FRACTION`` is set from these numbers.
The minimum of repeated runs is reported (the cost without interference), with
the load average, since other work on the machine inflates every median.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="rows in the index")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    if args.n < 1000 or args.threads < 1 or args.repeats < 1:
        parser.error("--n >= 1000, --threads >= 1 and --repeats >= 1 expected")
    import torch

    import flatsearch as fs
    from flatsearch import filter_plan

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    index = fs.Index(4, attributes={"v": "int", "w": "float"})
    index.add(torch.arange(args.n), torch.zeros(args.n, 4),
              {"v": torch.randint(0, 100_000, (args.n,), generator=generator), "w": torch.rand(args.n, generator=generator)})
    storage, schema = index._storage, index.schema

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * min(times)

    print(f"N={args.n:,}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}; ms, minimum of {args.repeats}")
    print(f"{'passing':>8} | {'postings':>9} {'scan':>9} | {'AND postings':>12} {'AND scan':>9}")
    for fraction in (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4):
        single = fs.col("v") < int(fraction * 100_000)
        combined = single & (fs.col("w") < 0.5)
        cells = [best(lambda e=expr, m=mode: filter_plan.select(e, schema, storage, max_fraction=m))
                 for expr in (single, combined) for mode in (1.0, 0.0)]
        print(f"{fraction:>8.1%} | {cells[0]:>9.3f} {cells[1]:>9.3f} | {cells[2]:>12.3f} {cells[3]:>9.3f}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
