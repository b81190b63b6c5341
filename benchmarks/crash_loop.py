"""Kill a process mid-save again and again, then count what the folder holds.

    python benchmarks/crash_loop.py --kills 30

A child process fills a ShardedIndex and saves it to one folder in a loop; it is
SIGKILLed at a random moment ``--kills`` times. Then this script reports the
bytes and entries left (orphan generations, temporaries), checks that the last
complete save still loads, and saves once more, after which only the new
generation, the manifest and the lock file may remain.
"""
from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flatsearch.sharded import ShardedIndex

CHILD = """
import sys, numpy as np
from flatsearch.sharded import ShardedIndex
index = ShardedIndex(64, shards=2)
index.add(np.arange({rows}), np.random.default_rng(0).normal(size=({rows}, 64)).astype(np.float32))
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


def folder_size(folder: Path) -> tuple[int, int]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files), len(list(folder.iterdir()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="flatsearch-crash-")) / "saved"
    rng = random.Random(0)
    for _ in range(args.kills):
        child = subprocess.Popen([sys.executable, "-c", CHILD.format(rows=args.rows), str(folder)],
                                 stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        time.sleep(rng.uniform(0.05, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait()
    size, entries = folder_size(folder)
    loaded = len(ShardedIndex.load(folder)) if (folder / "manifest.json").exists() else None
    print(f"after {args.kills} kills: {size / 1e6:.1f} MB in {entries} entries; the last complete save loads "
          f"with {loaded} rows")
    index = ShardedIndex(64, shards=2)
    index.add(np.arange(10), np.ones((10, 64), dtype=np.float32))
    index.save(folder)
    size, entries = folder_size(folder)
    print(f"after the next save: {size / 1e6:.3f} MB in {entries} entries: "
          f"{sorted(path.name for path in folder.iterdir())}")


if __name__ == "__main__":
    main()
