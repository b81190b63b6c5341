"""The ``scale`` profile: how each flatsearch cost grows with N, beside the baselines it must beat.

Per size N (dim 384, float32 on the CPU, clustered unit vectors from :mod:`fsbench.synthetic`):

* build (one ``add`` of N rows), then append 100k rows, delete 100k, add 100k into the freed slots;
* unfiltered search, nq=1 and nq=64, beside ``torch.topk(q @ X.T)`` on the same matrix;
* filtered search (nq=64) at 10%, 1%, 0.1% and 0.01%, both "random" (``v < t`` on an int
  column uniform over 0..9999, so passing rows are scattered) and "aligned" (``seq < t`` on the
  insertion order, so passing rows are contiguous slots, as a partition's are), beside
  ``torch.topk`` over just the passing rows gathered beforehand;

(above 1M rows, ``HELD_ONCE_ABOVE``, the rows are added in chunks and only the build, the filters
passing at most 1% and the mutation rates are measured: 5M rows of float32 take 7.7 GB),
and once, on a 200k set: 1% and 0.1% random filters beside faiss ``IndexFlatIP`` searched with
an ``IDSelectorBitmap`` (ids compared), nq=1 per-call overhead at 17,269 rows (the job-search
size) beside bare torch, and 50 rounds of 10% churn under changing partition keys (bytes
against live rows' bytes, search latency against the first round). With ``contended=True``
every ratio is measured a second time while one CPU-bound process runs; it is stopped after.

Medians of round-robin repeats (each contender timed in turn, so load drifts hit all alike).
Condition "quiet" means no load added by the benchmark; the machine's own load average is
stored with every record, and "contended" adds one busy process.
OpenMP runs with its defaults: nothing here sets ``OMP_WAIT_POLICY``.

Example:
    >>> from fsbench.scale import ScaleConfig
    >>> ScaleConfig(sizes=(1000,)).sizes
    (1000,)
"""
from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from fsbench import records, synthetic
from fsbench.timing import median, pin_threads, time_interleaved, time_once

SELECTIVITIES = (0.1, 0.01, 0.001, 0.0001)
# A filter passing this many scattered rows at every N (``pick < FIXED_PASSING`` on a random
# permutation column): at a fixed fraction 5x as many rows pass at 5M as at 1M, so only a fixed
# count shows whether the per-search cost follows what passes rather than N.
FIXED_PASSING = 1_000
TARGETS = {
    "filter_0.1%_vs_gathered_topk_at_1M": 2.0, "filter_0.1%_5M_over_1M": 1.5,
    "filter_fixed_count_5M_over_1M": 1.5, "vs_faiss_bitmap": 0.5,
    "unfiltered_vs_torch": 1.1, "nq1_overhead_17k": 1.3, "add_into_freed_ms": 200.0, "delete_ms": 50.0,
    "churn_bytes_over_live": 1.3, "churn_latency_last_over_first": 1.2,
}


# Above this many rows a size is built from chunks and only its build, its filters passing at most
# 1% and its mutation rates are measured: an unfiltered nq=64 scan of 5M rows takes seconds per call
# and its score matrix alone is 1.3 GB, and the one-add build would hold the rows twice (15 GB at 5M).
HELD_ONCE_ABOVE = 1_000_000


@dataclass(frozen=True)
class ScaleConfig:
    sizes: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)
    dim: int = 384
    nq: int = 64
    k: int = 10
    repeats: int = 7
    mutation_rows: int = 100_000
    faiss_n: int = 200_000
    small_n: int = 17_269
    churn_n: int = 50_000
    churn_rounds: int = 50
    contended: bool = False
    seed: int = 0


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextlib.contextmanager
def one_busy_process():
    """Run one CPU-bound process (a Python busy loop) for the duration of the block, then stop it."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the scheduler see it
        yield busy.pid
    finally:
        busy.terminate()
        busy.wait(timeout=10)


class _Log:
    def __init__(self, log: Callable[[str], None]):
        self.records: list[dict[str, Any]] = []
        self._log = log

    def add(self, section: str, measure: str, value: float, **extra: Any) -> None:
        value = float(f"{value:.4g}") if isinstance(value, float) else value
        self.records.append({"section": section, "measure": measure, "value": value, **extra, "load": _load()[0]})

    def say(self, line: str) -> None:
        self._log(line)


def _data(config: ScaleConfig, n: int):
    spec = synthetic.ClusteredSpec(dim=config.dim, seed=config.seed)
    vectors = synthetic.base_vectors(spec, n)
    rng = np.random.default_rng(config.seed + n)
    v = torch.from_numpy(rng.integers(0, 10_000, n))
    return spec, vectors, v, _pick(config, n)


def _pick(config: ScaleConfig, n: int) -> torch.Tensor:
    """A random permutation of 0..n-1: ``pick < m`` passes exactly m scattered rows."""
    return torch.from_numpy(np.random.default_rng(config.seed + 7 * n + 1).permutation(n))


def _ms(seconds: list[float]) -> float:
    return 1e3 * median(seconds)


def measure_size(config: ScaleConfig, n: int, out: _Log, *, condition: str) -> None:
    """Build, search and mutation costs at one size (see the module docstring)."""
    import flatsearch as fs

    if n > HELD_ONCE_ABOVE:
        return _measure_large(config, n, out, condition=condition)
    spec, vectors, v, pick = _data(config, n)
    seq = torch.arange(n)
    queries = synthetic.query_vectors(spec, config.nq)
    index = fs.Index(config.dim, dtype="float32", attributes={"v": "int", "seq": "int", "pick": "int"})
    build = time_once(lambda: index.add(torch.arange(n), vectors, {"v": v, "seq": seq, "pick": pick}))
    out.add("size", "build_s", build, n=n, condition=condition)
    # The baselines multiply the index's own stored rows (one add into an empty index puts
    # row i at slot i), so the data is held once: 5M x 384 float32 is 7.7 GB.
    stored = index._storage.arenas[0][:n]
    assert torch.equal(stored[::max(1, n // 1000)], vectors[::max(1, n // 1000)])
    vectors = stored
    k = config.k
    one = queries[:1]
    times = time_interleaved({"fs": lambda: index.search(one, k), "torch": lambda: torch.topk(one @ vectors.T, k)},
                             repeats=config.repeats, warmup=1)
    out.add("size", "unfiltered_nq1_ms", _ms(times["fs"]), n=n, baseline_ms=_ms(times["torch"]), condition=condition)
    times = time_interleaved({"fs": lambda: index.search(queries, k),
                              "torch": lambda: torch.topk(queries @ vectors.T, k)},
                             repeats=max(3, config.repeats // 2), warmup=1)
    out.add("size", f"unfiltered_nq{config.nq}_ms", _ms(times["fs"]), n=n, baseline_ms=_ms(times["torch"]),
            condition=condition)
    out.say(f"  N={n:,}: build {build:.2f} s; unfiltered nq={config.nq} {_ms(times['fs']):.1f} ms "
            f"vs torch.topk(q @ X.T) {_ms(times['torch']):.1f} ms (load {_load()[0]})")
    for layout, column in (("random", v), ("aligned", seq)):
        for fraction in SELECTIVITIES:
            threshold = max(1, round(fraction * (10_000 if layout == "random" else n)))
            expr = fs.col("v" if layout == "random" else "seq") < threshold
            passing = (column < threshold).nonzero().flatten()
            _measure_filter(config, index, queries, expr, passing, vectors[passing].contiguous(), out,
                            n=n, layout=layout, fraction=fraction, condition=condition)
    passing = (pick < FIXED_PASSING).nonzero().flatten()
    _measure_filter(config, index, queries, fs.col("pick") < FIXED_PASSING, passing, vectors[passing].contiguous(),
                    out, n=n, layout="random fixed count", fraction=len(passing) / n, condition=condition)
    _measure_mutations(config, index, spec, out, n=n, condition=condition)


def _measure_large(config: ScaleConfig, n: int, out: _Log, *, condition: str) -> None:
    """Above ``HELD_ONCE_ABOVE`` rows: build from chunks (the rows are never held twice), then the
    filters passing at most 1% beside topk over their gathered rows, and the mutation rates."""
    import flatsearch as fs

    spec = synthetic.ClusteredSpec(dim=config.dim, seed=config.seed)
    v = torch.from_numpy(np.random.default_rng(config.seed + n).integers(0, 10_000, n))  # as _data draws it
    queries = synthetic.query_vectors(spec, config.nq)
    pick = _pick(config, n)
    index = fs.Index(config.dim, dtype="float32", attributes={"v": "int", "seq": "int", "pick": "int"})
    build = 0.0
    for start, chunk in synthetic.base_vector_chunks(spec, n):
        rows = torch.arange(start, start + len(chunk))
        attributes = {"v": v[start:start + len(chunk)], "seq": rows, "pick": pick[start:start + len(chunk)]}
        build += time_once(functools.partial(index.add, rows, chunk, attributes))
        del chunk  # the index holds its own copy: keep one chunk alive at a time
    out.add("size", "build_s", build, n=n, condition=condition, chunks=True)
    out.say(f"  N={n:,}: build {build:.2f} s in chunks of {1 << 20:,} rows (load {_load()[0]})")
    for layout in ("random", "aligned"):
        for fraction in [f for f in SELECTIVITIES if f <= 0.01]:
            threshold = max(1, round(fraction * (10_000 if layout == "random" else n)))
            expr = fs.col("v" if layout == "random" else "seq") < threshold
            passing = (v < threshold).nonzero().flatten() if layout == "random" else torch.arange(threshold)
            gathered = index.get(passing).vectors.contiguous()  # ids are slots' rows: the stored vectors
            _measure_filter(config, index, queries, expr, passing, gathered, out,
                            n=n, layout=layout, fraction=fraction, condition=condition)
            del gathered
    passing = (pick < FIXED_PASSING).nonzero().flatten()
    gathered = index.get(passing).vectors.contiguous()
    _measure_filter(config, index, queries, fs.col("pick") < FIXED_PASSING, passing, gathered, out,
                    n=n, layout="random fixed count", fraction=len(passing) / n, condition=condition)
    del gathered
    _measure_mutations(config, index, spec, out, n=n, condition=condition)


def _measure_filter(config: ScaleConfig, index, queries: torch.Tensor, expr, passing: torch.Tensor,
                    gathered: torch.Tensor, out: _Log, *, n: int, layout: str, fraction: float,
                    condition: str) -> None:
    """One filter beside topk over its passing rows gathered beforehand, with an id check."""
    k = config.k
    times = time_interleaved({"fs": lambda: index.search(queries, k, filter=expr),
                              "torch": lambda: torch.topk(queries @ gathered.T, min(k, len(passing)))},
                             repeats=config.repeats, warmup=1)
    found = index.search(queries, k, filter=expr).ids
    expected = passing[torch.topk(queries @ gathered.T, min(k, len(passing))).indices]
    same = int((found[:, :expected.shape[1]] == expected).all(dim=1).sum())
    out.add("filter", "filtered_ms", _ms(times["fs"]), n=n, layout=layout, fraction=fraction,
            passing=len(passing), baseline_ms=_ms(times["torch"]), ids_identical=same, nq=config.nq,
            condition=condition)
    out.say(f"  N={n:,} {layout} {fraction:.3%} ({len(passing):,} pass): {_ms(times['fs']):.2f} ms vs "
            f"gathered topk {_ms(times['torch']):.2f} ms, ids identical {same}/{config.nq}")


def _measure_mutations(config: ScaleConfig, index, spec, out: _Log, *, n: int, condition: str) -> None:
    """Append rows, delete as many random ones, then add that many again into the freed slots."""
    rows = min(config.mutation_rows, n // 2)
    extra = synthetic.extra_vectors(spec, rows)
    extra_v = torch.from_numpy(np.random.default_rng(1).integers(0, 10_000, rows))
    append = time_once(lambda: index.add(torch.arange(n, n + rows), extra, {"v": extra_v}))
    gone = torch.from_numpy(np.random.default_rng(2).choice(n, rows, replace=False))
    delete = time_once(lambda: index.delete(gone))
    refill = time_once(lambda: index.add(torch.arange(10 * n, 10 * n + rows), extra, {"v": extra_v}))
    for measure, seconds in (("append_ms", append), ("delete_ms", delete), ("add_into_freed_ms", refill)):
        out.add("size", measure, 1e3 * seconds, n=n, rows=rows, condition=condition)
    out.say(f"  N={n:,}: append {rows:,} {1e3 * append:.0f} ms, delete {1e3 * delete:.0f} ms, "
            f"add into freed slots {1e3 * refill:.0f} ms")


def measure_faiss(config: ScaleConfig, out: _Log, *, condition: str) -> None:
    """1% and 0.1% random filters at 200k rows beside faiss IndexFlatIP + IDSelectorBitmap."""
    import faiss

    import flatsearch as fs

    n = config.faiss_n
    spec, vectors, v, _ = _data(config, n)
    queries = synthetic.query_vectors(spec, config.nq)
    index = fs.Index(config.dim, dtype="float32", attributes={"v": "int"})
    index.add(torch.arange(n), vectors, {"v": v})
    flat = faiss.IndexFlatIP(config.dim)
    flat.add(vectors.numpy())
    queries_np = queries.numpy()
    for fraction in (0.01, 0.001):
        threshold = round(fraction * 10_000)
        keep = (v < threshold).numpy()
        bitmap = np.packbits(keep, bitorder="little")
        # The selector points into ``bitmap``: both stay bound until the next fraction replaces them.
        params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap)))
        expr = fs.col("v") < threshold
        times = time_interleaved({"fs": lambda: index.search(queries, config.k, filter=expr),
                                  "faiss": lambda: flat.search(queries_np, config.k, params=params)},
                                 repeats=config.repeats, warmup=2)
        _, faiss_ids = flat.search(queries_np, config.k, params=params)
        same = int((index.search(queries, config.k, filter=expr).ids.numpy() == faiss_ids).all(axis=1).sum())
        out.add("faiss", "filtered_ms", _ms(times["fs"]), n=n, fraction=fraction, faiss_ms=_ms(times["faiss"]),
                ids_identical=same, nq=config.nq, condition=condition)
        out.say(f"  faiss N={n:,} {fraction:.1%}: flatsearch {_ms(times['fs']):.2f} ms vs faiss Flat+bitmap "
                f"{_ms(times['faiss']):.2f} ms -> {_ms(times['fs']) / _ms(times['faiss']):.2f}x, ids identical {same}/{config.nq}")


def measure_small(config: ScaleConfig, out: _Log, *, condition: str) -> None:
    """nq=1 per-call overhead at the job-search size, beside bare torch on the same matrix."""
    import flatsearch as fs

    n = config.small_n
    spec, vectors, _, _ = _data(config, n)
    query = synthetic.query_vectors(spec, 1)
    index = fs.Index(config.dim, dtype="float32")
    index.add(torch.arange(n), vectors)
    # Steady state, as in a running service: the int8 copy the pre-scan reads is started after searches have read 16x the
    # rows and built a bounded batch per search (about 50 searches of this index in all), so the warm-up covers it.
    times = time_interleaved({"fs": lambda: index.search(query, config.k),
                              "torch": lambda: torch.topk(query @ vectors.T, config.k)},
                             repeats=max(50, config.repeats * 10), warmup=80)
    out.add("small", "unfiltered_nq1_ms", _ms(times["fs"]), n=n, baseline_ms=_ms(times["torch"]), condition=condition)
    out.say(f"  nq=1 at N={n:,}: flatsearch {_ms(times['fs']):.3f} ms vs torch {_ms(times['torch']):.3f} ms")


def measure_churn(config: ScaleConfig, out: _Log, *, condition: str) -> None:
    """Rounds of 10% delete + 10% add, the new rows under new partition keys."""
    import flatsearch as fs

    n, dim = config.churn_n, config.dim
    spec = synthetic.ClusteredSpec(dim=dim, seed=config.seed)
    rng = np.random.default_rng(config.seed)
    pool = synthetic.extra_vectors(spec, n)
    queries = synthetic.query_vectors(spec, config.nq)
    keys_per_round = 20
    index = fs.Index(dim, dtype="float32", attributes={"day": "int"}, partition_by="day")
    live = np.arange(n)
    index.add(live, pool, {"day": rng.integers(0, keys_per_round, n)})
    step = n // 10
    next_id = n
    first = None
    for round_ in range(1, config.churn_rounds + 1):
        gone = rng.choice(live, step, replace=False)
        index.delete(gone)
        live = np.setdiff1d(live, gone)
        new_ids = np.arange(next_id, next_id + step)
        next_id += step
        days = rng.integers(round_ * keys_per_round, (round_ + 1) * keys_per_round, step)
        # Fresh rows each round (repeated vectors would tie and send queries down the exact tie path).
        fresh = synthetic.extra_vectors(synthetic.ClusteredSpec(dim=dim, seed=config.seed + round_), step)
        index.add(new_ids, fresh, {"day": days})
        live = np.concatenate([live, new_ids])
        if round_ == 1 or round_ == config.churn_rounds:
            latency = _ms(time_interleaved({"fs": lambda: index.search(queries, config.k)},
                                           repeats=config.repeats, warmup=1)["fs"])
            stats = index.stats()
            live_bytes = len(index) * dim * 4
            first = latency if first is None else first
            out.add("churn", "round", round_, n=n, bytes=stats["bytes"], live_bytes=live_bytes,
                    blocks=stats["blocks"], partitions=stats["partitions"], search_ms=latency, condition=condition)
            out.say(f"  churn round {round_}: {stats['bytes'] / 2**20:.1f} MiB for {live_bytes / 2**20:.1f} MiB of live "
                    f"vectors ({stats['bytes'] / live_bytes:.2f}x), {stats['blocks']} blocks, search {latency:.1f} ms")


def run_scale(config: ScaleConfig, *, threads: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every measure of the scale profile; returns the results document."""
    threads = pin_threads(threads)
    out = _Log(log)
    doc = {"profile": "scale", "started": records.utc_now(), "machine": records.machine_info(threads),
           "versions": records.library_versions(), "config": asdict(config), "targets": TARGETS}
    conditions = ["quiet"] + (["contended"] if config.contended else [])
    for condition in conditions:
        busy = one_busy_process() if condition == "contended" else contextlib.nullcontext()
        with busy:
            log(f"[{condition}] load average {_load()}")
            measure_small(config, out, condition=condition)
            measure_faiss(config, out, condition=condition)
            if condition == "quiet":
                measure_churn(config, out, condition=condition)
                for n in config.sizes:
                    measure_size(config, n, out, condition=condition)
            else:  # the ratios that must hold with the other core busy, at the sizes that decide them
                measure_size(config, min(config.sizes[-1], 1_000_000), out, condition=condition)
    doc["finished"] = records.utc_now()
    doc["load_average_at_end"] = _load()
    doc["records"] = out.records
    return doc
