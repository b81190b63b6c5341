"""Pure-torch scan backend: the reference for the Triton kernel and the CPU path.

Two strategies, picked per search by how many rows pass the mask:

* scan: blocked ``addmm`` over the listed slot ranges, the mask and boost folded
  into a bias row (or applied per query), top-k per chunk, then a merge;
* gather: when few rows pass, copy just those rows and multiply them alone. On a
  CPU matrix multiplication costs far more than copying, so gathering wins up to
  a large pass fraction (measured: see ``GATHER_MAX_FRACTION``).

Before either, when thousands of rows pass for one or two query vectors on
float32 CPU storage, a bounded pre-scan (:func:`_pruned_scan`) scores every
passing row from an int8 copy of the vectors with a rigorous bound on the
difference to the float32 score, and gathers just the rows that can still reach
the top k: a quarter of the bytes read, and results identical to the plain scan.

Queries that are all the same vector (the job search sends one vector with a
filter per query) are multiplied once and masked per query.

Ties between equal scores go to the lower slot, exactly, as the contract in
:mod:`flatsearch.scan` requires (:func:`flatsearch.topk.best_k`); a slot is
padding (-1) only when no passing row is left, whatever the scores.

**Threads.** On a CPU with OpenMP, :func:`one_thread` runs a search's
bookkeeping on the calling thread only, and :func:`_parallel` gives the
caller's threads back to a multiplication of at least ``PARALLEL_MIN_MACS``
multiply-adds. A parallel region waits for every thread it started; when
another process keeps a core busy, that wait is a scheduler time slice
(measured on 2 shared cores with other work running: a (2 x 384) by
(384 x 17,269) product, median 20.6 ms on two threads against 3.5 ms on one,
while (64 x 384) by (384 x 2,000), 49M multiply-adds, took 0.62 ms on two and
1.13 ms on one on a quieter moment). Below the threshold one thread is about as
fast even on an idle machine (nq=1 and nq=2 products are bound by memory), so
small searches lose nothing and stop depending on the other core.

Between that threshold and ``ALWAYS_PARALLEL_MACS`` the choice follows what the other
processes use of the CPUs (on Linux, from ``/proc/stat`` less this process's own CPU time,
over windows of at least ``LOAD_WINDOW_S``, see :class:`_OtherLoad`): the caller's threads
when the cores they need are free (within ``FREE_CORE_MARGIN``), one thread otherwise. It
does not depend on how long this process's own products took, so on an idle machine it
does not change from one run to the next (the timed choice it replaces took one thread in
some runs of the 1M-row, 0.1% benchmark below and two in others: 1.4-2.3x the gathered
baseline). Each other search running in this process at the time counts as one core
taken (its CPU time is this process's own); other work of this process's threads is not
seen. Only the CPUs this process may run on are counted (a taskset or cpuset of one
core leaves one), and never more than a container's CFS quota allows (:func:`_cpu_quota`).
Where that reading is not available (not Linux, or ``/proc/stat`` does not list those CPUs) each product is timed, per size class, on whichever of
one thread or the caller's threads it ran, and the next one of its class takes the faster,
except now and then (more rarely the larger the gap, see ``RETRY_EVERY``) the slower, so
that a change of load is noticed. Larger products always take the caller's threads.
Measured on 2 shared cores with other work running (load average about 4): 1M
rows, 0.1% passing, nq=64, median 2.8 ms on one thread against 32 ms on two, and
2.6 against 48 ms with one more busy process; on an idle machine two are faster
(0.56 ms on one thread, about half on two).
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time

import numpy as np
import torch

from .bitmask import bits_at, unpack_bits
from .scan import ScanRequest, ScanResult
from .storage import rounded_up
from .topk import best_k

# Below this fraction of passing rows (among the rows in the listed ranges) the
# gather strategy is used. Measured on a 2-core CPU at N=200k, dim=384, nq=200:
# gathering was faster at every fraction up to about 0.5.
GATHER_MAX_FRACTION = 0.4
# Neighbouring scan ranges of one arena at most this many rows apart are scanned as one span.
SPAN_GAP_ROWS = 1024
# Largest score matrix one chunk may allocate, in float32 elements.
CHUNK_ELEMENTS = 1 << 26
# Multiply-adds (queries x rows x dim) from which a product may run on the caller's threads (see Threads above).
PARALLEL_MIN_MACS = 1 << 24
# From this many multiply-adds (about 50 ms on one core) a product always runs on the caller's threads:
# a stall of the parallel region costs less than the second thread saves.
ALWAYS_PARALLEL_MACS = 1 << 30
# A large product runs on the choice that measured slower after RETRY_EVERY times (slower / faster)
# products of its size class on the faster one (medians of recent timings), at most RETRY_MAX, so
# that a change of load is seen.
RETRY_EVERY = 32
RETRY_MAX = 1024
# The other processes' CPU use is read again once this many seconds have passed since the last reading
# (/proc/stat counts in ticks of 10 ms: over 0.1 s on 2 cores, 20 ticks).
LOAD_WINDOW_S = 0.1
# A product takes the caller's T threads when the other processes left at least T - FREE_CORE_MARGIN
# cores free: a stall of a parallel region (a scheduler time slice, 3-30 ms) costs many times what a
# second thread saves on these products (a few tenths of a ms), so half a core busy already loses.
FREE_CORE_MARGIN = 0.5
# Query-factor row counts whose product MKL computes with a different summation on one thread than on
# two (last-bit differences; torch 2.13 with MKL 2024.2, every dim and row count tried; 1-4, 8 and 12-256
# query rows gave identical bits). A product that may take either thread count is computed with its
# factor padded to the row count here, so its scores do not depend on the thread choice.
THREAD_INVARIANT_ROWS = {5: 8, 6: 8, 7: 8, 9: 12, 10: 12, 11: 12}


# Bounded pre-scan (see _pruned_scan): used when at least PRUNE_MIN_ROWS rows pass, at most PRUNE_MAX_ROWS
# (its float32 bookkeeping is a few passes of 4 bytes per passing row), for products of at most
# PRUNE_MAX_QUERIES query rows and k at most a PRUNE_MIN_RATIO-th of the passing rows; dropped for the
# plain scan when more than PRUNE_MAX_FRACTION of the passing rows stay candidates. Measured (CPU time,
# one thread, 2-core EPYC): 1M x 384 nq=1 unfiltered 118 -> 25.5 ms; the job search's 17,268 real
# postings, loose plans timed after other work 3.1-3.7 -> 1.9-2.4 ms at the median.
PRUNE_MIN_ROWS = 2048
PRUNE_MAX_ROWS = 1 << 22
PRUNE_MAX_QUERIES = 2
PRUNE_MIN_RATIO = 8
PRUNE_MAX_FRACTION = 0.25
# A pre-scan that fell back (too many candidates: near-tied scores) is not tried again on the same copy
# for the next 2, 4, 8, ... scans of its class (query rows, power of two of the passing rows and of k,
# mask shape), at most PRUNE_RETRY_MAX; one that answers clears its class. Measured: a failed pre-scan of
# 200k x 48 near-tied rows cost 9.9 ms against 2.1 ms for the plain scan.
PRUNE_RETRY_MAX = 256
# Intermediate values of the pre-scan stay below this magnitude (float32 overflows at 3.4e38), and its
# scale factors above PRUNE_MIN_SCALE (float32 normals start at 2**-126), or it declines.
PRUNE_MAX_MAGNITUDE = 1e37
PRUNE_MIN_SCALE = 2.0 ** -120
# Products are computed over a multiple of this many rows (gathered rows repeated, spans read past their
# end inside the arena, the extra columns dropped): MKL scores the last n % 4 columns of a product with
# other code, whose last bits differ, so without it a row's score would depend on which rows were
# multiplied with it (the gather, the span scan and the bounded pre-scan must agree bit for bit).
ROW_MULTIPLE = 8
# Fewest rows a product is computed over: MKL scores a product of 8 columns with other code than the same
# columns inside a wider one (last-bit differences for 4 or more query rows; every multiple of 8 from 16 to
# 256 columns gave the bits of the wider product), so narrower gathers and spans are padded to this.
MIN_PRODUCT_ROWS = 16


class _ThreadState(threading.local):
    caller = 0  # the caller's intra-op thread count while one_thread() holds this thread at one; 0 outside
    parallel = False  # inside _parallel(): its thread choice holds for the blocks inside
    searching = False  # inside one_thread() (counted in _SEARCHING)


_THREADS = _ThreadState()
_SEARCHING: list[None] = []  # one entry per thread inside one_thread() on a CPU with OpenMP
_OPENMP: bool | None = None


class _Timings:
    """Seconds per multiply-add of large products, on one thread and on the caller's threads.

    Kept per size class (one query or many, and the power of two of the multiply-adds): the
    last ``WINDOW`` timings of each choice, compared by their medians (a stall of a parallel
    region is a heavy tail: one slow run must not decide). Each choice is timed
    ``FIRST_RUNS`` times, alternately, before the faster is taken."""

    WINDOW = 5
    FIRST_RUNS = 3

    def __init__(self):
        # size class -> [timings on one thread, timings on the caller's threads, runs since the slower ran]
        self._classes: dict[tuple[bool, int], list] = {}

    def use_threads(self, key: tuple[bool, int]) -> bool:
        """Whether the next product of this class runs on the caller's threads."""
        entry = self._classes.setdefault(key, [[], [], 0])
        single, parallel = entry[0], entry[1]
        if len(single) < self.FIRST_RUNS or len(parallel) < self.FIRST_RUNS:
            return len(parallel) <= len(single)  # the caller's threads first, then alternately
        single, parallel = _median(single), _median(parallel)
        entry[2] += 1
        ratio = max(single, parallel) / max(min(single, parallel), 1e-300)
        if entry[2] >= min(RETRY_EVERY * ratio, RETRY_MAX):
            entry[2] = 0
            return parallel >= single  # the slower choice, once
        return parallel < single

    def record(self, key: tuple[bool, int], threads: bool, seconds_per_mac: float) -> None:
        timings = self._classes.setdefault(key, [[], [], 0])[threads]  # also when the load reading chose
        timings.append(seconds_per_mac)
        del timings[:-self.WINDOW]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


_TIMINGS = _Timings()


class _OtherLoad:
    """Cores that other processes kept busy, from the CPU time of the CPUs this process may run on less
    its own.

    ``busy_cores()`` reads again once ``LOAD_WINDOW_S`` have passed since the last reading and
    returns the average over that window (None before the second reading, or where it cannot be
    read). Time stolen by a hypervisor counts as busy: the core was not there for this process.

    Example:
        >>> readings = iter([(10.0, 1.0), (10.9, 1.4)])  # (machine's busy CPU seconds, this process's)
        >>> times = iter([0.0, 0.5])
        >>> load = _OtherLoad(lambda: next(readings), cores=2, clock=lambda: next(times))
        >>> load.busy_cores() is None  # one reading: no window yet
        True
        >>> round(load.busy_cores(), 6)  # (0.9 s busy - 0.4 s of its own) over 0.5 s: one core
        1.0
    """

    # Consecutive failed readings after which the reading is given up: a failure can be transient (EMFILE
    # while another thread holds every file descriptor), so one alone does not end it.
    MAX_FAILURES = 3

    def __init__(self, sample=None, cores: int | None = None, clock=time.monotonic, quota: float | None = None):
        # sample(): (busy seconds of every CPU since boot, this process's CPU seconds), or None
        self._sample = sample
        self._cores = cores
        self._clock = clock
        self._last: tuple[float, float, float] | None = None
        self._busy: float | None = None
        self._failures = 0
        # Cores the CFS quota of this process's cgroup allows (None: no quota); /proc/stat shows the host's CPUs.
        self.quota = quota

    @property
    def cores(self) -> int | None:
        """CPUs the reading covers (None where it is not available)."""
        return self._cores

    def busy_cores(self) -> float | None:
        sample = self._sample  # one read: another thread may give the reading up (set it to None) meanwhile
        if sample is None:
            return None
        now = self._clock()
        last = self._last
        if last is not None and now - last[0] < LOAD_WINDOW_S:
            return self._busy
        try:
            machine, own = sample()
        except (OSError, ValueError, IndexError):
            self._failures += 1
            if self._failures >= self.MAX_FAILURES:
                self._sample = None  # unreadable here: the timed choice decides from now on
            return None
        self._failures = 0
        self._last = (now, machine, own)
        if last is not None and now > last[0]:
            self._busy = max(0.0, (machine - last[1] - (own - last[2])) / (now - last[0]))
        return self._busy


def _proc_stat_sample(cpus: frozenset[int], path: str = "/proc/stat") -> tuple[float, float]:
    """(busy seconds of the CPUs ``cpus`` since boot, this process's CPU seconds), from /proc/stat.

    On a machine with hundreds of CPUs a reading costs more (the kernel formats a line for every CPU
    and its interrupt counts, however few lines are parsed here); it is paid at most once per
    ``LOAD_WINDOW_S``."""
    ticks, last = 0, max(cpus)
    with open(path, "rb") as file:
        file.readline()  # the machine's total; the CPUs this process may run on are summed instead
        for line in file:
            if line[:3] != b"cpu":
                break
            fields = line.split()
            cpu = int(fields[0][3:])
            if cpu in cpus:
                # cpuN user nice system idle iowait irq softirq steal ...: all but idle and iowait were busy.
                ticks += sum(int(value) for value in fields[1:4]) + sum(int(value) for value in fields[6:9])
            if cpu >= last:
                break
    return ticks / _CLOCK_TICKS, time.process_time()


def _cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """Cores the CFS quota allows this process's cgroup (quota / period), or None where there is none.

    In a container the quota caps the cores while /proc/stat lists the host's CPUs. Read from cgroup v2
    (``cpu.max``: "max 100000" is no quota, "200000 100000" two cores) or v1 (``cpu.cfs_quota_us``, -1 for
    none, and ``cpu.cfs_period_us``, under ``cpu/`` or ``cpu,cpuacct/``); the first of them found decides.

    Example:
        >>> import pathlib, tempfile
        >>> root = tempfile.mkdtemp()
        >>> _ = pathlib.Path(root, "cpu.max").write_text("150000 100000")
        >>> _cpu_quota(root)
        1.5
    """
    def read(name: str) -> str | None:
        try:
            with open(os.path.join(root, name), encoding="ascii") as file:
                return file.read()
        except (OSError, UnicodeDecodeError):
            return None

    try:
        text = read("cpu.max")
        if text is not None:
            quota, period = text.split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        for folder in ("cpu", "cpu,cpuacct", ""):
            quota_text = read(os.path.join(folder, "cpu.cfs_quota_us"))
            period_text = read(os.path.join(folder, "cpu.cfs_period_us"))
            if quota_text is not None and period_text is not None:
                quota = int(quota_text)
                return None if quota < 0 else quota / int(period_text)
    except (ValueError, ZeroDivisionError):
        pass  # a file of another shape: no cap
    return None


def _system_load() -> _OtherLoad:
    """The reading of /proc/stat over the CPUs this process may run on (a cpuset or taskset counts only
    its own), where every one of them is listed; else none (the timed choice decides). Capped by the
    cgroup's CFS quota where it has one."""
    try:
        allowed = frozenset(os.sched_getaffinity(0))
        with open("/proc/stat", "rb") as file:
            listed = {int(line.split()[0][3:]) for line in file if line[:3] == b"cpu" and line[3:4].isdigit()}
        _proc_stat_sample(allowed)
    except (AttributeError, OSError, ValueError, IndexError):
        return _OtherLoad()
    if not allowed or not allowed <= listed:
        return _OtherLoad()
    return _OtherLoad(functools.partial(_proc_stat_sample, allowed), cores=len(allowed), quota=_cpu_quota())


def _after_fork_in_child() -> None:
    """A forked child runs only the thread that forked: the other threads' searches are not running in it,
    its CPU time starts anew (the parent's baseline would read as others' work) and its affinity and
    cgroup may differ. A search the forking thread is inside stays counted, so that it can still end."""
    global _OTHERS
    _SEARCHING[:] = [None] if _THREADS.searching else []
    _OTHERS = _system_load()
    _OTHERS.busy_cores()


_CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
_OTHERS = _system_load()
_OTHERS.busy_cores()  # the first reading: a product from LOAD_WINDOW_S after import on has a window
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _openmp() -> bool:
    global _OPENMP
    if _OPENMP is None:
        # With OpenMP a thread count set by torch.set_num_threads binds the calling thread only.
        _OPENMP = "parallel backend: OpenMP" in torch.__config__.parallel_info()
    return _OPENMP


@contextlib.contextmanager
def one_thread(device: torch.device):
    """Run the block on one intra-op thread (CPU with OpenMP; elsewhere a no-op), then restore the count.

    Inside it, products of at least ``PARALLEL_MIN_MACS`` multiply-adds may still use the
    caller's threads (see Threads in the module docstring). The count is the calling
    thread's own under OpenMP; a thread
    whose first torch call falls inside the block starts with one thread.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with one_thread(torch.device("cpu")):
        ...     inside = torch.get_num_threads()
        >>> inside, torch.get_num_threads() == before
        (1, True)
    """
    if device.type != "cpu" or _THREADS.searching or not _openmp():
        yield
        return
    _THREADS.searching = True
    _SEARCHING.append(None)  # list append and pop are atomic: the count of searches in this process
    try:
        caller = torch.get_num_threads()
        if caller == 1:
            yield
            return
        _THREADS.caller = caller
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(caller)
            _THREADS.caller = 0
    finally:
        _SEARCHING.pop()
        _THREADS.searching = False


@contextlib.contextmanager
def _parallel(macs: int, queries: int):
    """The caller's threads for a product of ``macs`` multiply-adds (``queries`` rows of queries) when it
    is large enough and, by the timings of earlier products of its size, faster on them than on one."""
    caller = _THREADS.caller
    if not caller or macs < PARALLEL_MIN_MACS or _THREADS.parallel:
        yield  # small, outside one_thread(), or inside an outer _parallel() that already holds the threads
        return
    key = (queries == 1, macs.bit_length())
    threads = macs >= ALWAYS_PARALLEL_MACS or _use_threads(caller, key)
    _THREADS.parallel = True  # also when one thread was chosen: inner blocks keep the choice
    if threads:
        torch.set_num_threads(caller)
    started = time.perf_counter()
    try:
        yield
    finally:
        if macs < ALWAYS_PARALLEL_MACS:
            _TIMINGS.record(key, threads, (time.perf_counter() - started) / macs)
        _THREADS.parallel = False
        if threads:
            torch.set_num_threads(1)


def _use_threads(caller: int, key: tuple[bool, int]) -> bool:
    """Whether a product between the thresholds runs on the caller's ``caller`` threads (see Threads above)."""
    busy = _OTHERS.busy_cores()
    if busy is None:
        return _TIMINGS.use_threads(key)
    # This process's own CPU time is left out of ``busy``: each other search running in it holds a core.
    free = _OTHERS.cores - busy
    if _OTHERS.quota is not None:  # a container's CFS quota: no more cores than it allows, however idle the host
        free = min(free, _OTHERS.quota)
    free -= max(len(_SEARCHING) - 1, 0)
    # More threads than cores (an oversubscribed caller) needs every core, not more than there are.
    return free >= min(caller, _OTHERS.cores) - FREE_CORE_MARGIN


def _empty(queries: torch.Tensor, k: int) -> ScanResult:
    nq = queries.shape[0]
    return ScanResult(queries.new_full((nq, k), float("-inf")), torch.full((nq, k), -1, dtype=torch.int64, device=queries.device))


def rounded_queries(request: ScanRequest) -> torch.Tensor:
    """Queries rounded to the storage dtype, in float32: every backend multiplies these numbers."""
    if not request.arenas or request.arenas[0].dtype == request.queries.dtype:
        return request.queries
    return request.queries.to(request.arenas[0].dtype).float()


def _keep_bits(request: ScanRequest) -> torch.Tensor:
    if request.keep is not None:
        return request.keep
    return unpack_bits(request.mask_words, request.mask_words.shape[-1] * 32)


def _arena_rows(request: ScanRequest, start: int, stop: int) -> torch.Tensor:
    for arena, arena_start in zip(request.arenas, request.arena_starts):
        if arena_start <= start and stop <= arena_start + arena.shape[0]:
            return arena[start - arena_start:stop - arena_start]
    raise ValueError(f"ranges: slot range [{start}, {stop}) is not inside one arena")


def _same_rows(queries: torch.Tensor) -> bool:
    """Whether every query is the same vector (then one product serves them all)."""
    if queries.shape[0] < 2:
        return False
    if queries.device.type == "cpu":  # numpy: a few microseconds, where each torch call costs more
        values = queries.numpy()  # bytes compared (queries are finite; a -0.0 for 0.0 only costs the shortcut)
        return values[0].tobytes() == values[1].tobytes() and (len(values) == 2 or bool((values == values[:1]).all()))
    if not torch.equal(queries[0], queries[1]):
        return False
    return queries.shape[0] == 2 or bool((queries == queries[:1]).all())


def _score_block(request, queries, vectors, keep, bias, *, same: bool = False, columns: int | None = None
                 ) -> torch.Tensor:
    """Internal scores of queries against rows, -inf where the mask is clear.

    ``keep``: None (every row passes), (rows,) shared or (nq, rows) per query.
    ``same``: every query is one vector, multiplied once.
    ``columns``: only the first ``columns`` rows are wanted (the rest pad the product to
    ``ROW_MULTIPLE`` rows); ``keep`` and ``bias`` cover every row of ``vectors``."""
    vectors = vectors.float()
    nq = queries.shape[0]
    factor = queries[:1] if same else queries
    row = bias
    if keep is not None and keep.dim() == 1:  # a shared mask folds into the bias row
        neg_inf = torch.full((), float("-inf"), device=queries.device)
        row = torch.where(keep, neg_inf.new_zeros(()) if bias is None else bias, neg_inf)
    rows = factor.shape[0]
    macs = rows * vectors.shape[0] * vectors.shape[1]
    padded = THREAD_INVARIANT_ROWS.get(rows) if macs >= PARALLEL_MIN_MACS else None
    if padded is not None:  # see THREAD_INVARIANT_ROWS: the same bits on one thread or two
        factor = torch.cat([factor, factor.new_zeros(padded - rows, factor.shape[1])])
    with _parallel(macs, rows):
        if row is None:
            scores = torch.mm(factor, vectors.T)
            if request.score_scale != 1:
                scores.mul_(request.score_scale)
        else:
            scores = torch.addmm(row.unsqueeze(0), factor, vectors.T, alpha=request.score_scale)
    if padded is not None:
        scores = scores[:rows]
    if columns is not None and columns < scores.shape[1]:
        scores = scores[:, :columns]
        keep = None if keep is None else keep[..., :columns]
    if keep is not None and keep.dim() == 2:
        if scores.device.type == "cpu":
            return torch.from_numpy(_masked_host(keep.numpy(), scores.numpy()))
        # Broadcasts one shared row over the queries.
        return torch.where(keep, scores, torch.full((), float("-inf"), device=queries.device))
    return scores.expand(nq, -1) if same else scores


_MASK_BIAS = np.array([float("-inf"), 0.0], dtype=np.float32)  # a kept bit adds 0, a clear one -inf


def _masked_host(keep: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``where(keep, scores, -inf)`` (scores broadcast over keep's rows) on host arrays: a table
    lookup and an add, a third of the time of torch.where on a bool mask (17k x 2: 27 against 95 us).

    Only rows that are not live can score NaN or inf (unwritten memory) and they are never kept;
    -inf plus either is NaN or inf there, so then the exact where runs instead."""
    out = np.take(_MASK_BIAS, keep.view(np.uint8))
    if np.isfinite(scores).all():  # the usual case, told from the scores (one row when they are broadcast)
        out += scores
        return out
    with np.errstate(invalid="ignore"):  # -inf + inf at a row that is not live: NaN, handled below
        out += scores
    if np.isnan(out).any() or np.isposinf(out).any():
        return np.where(keep, scores, np.float32(float("-inf")))
    return out


def _any_host(bits: torch.Tensor) -> bool:
    return bool(bits.numpy().any()) if bits.device.type == "cpu" else bool(bits.any())


def _all_host(bits: torch.Tensor) -> bool:
    return bool(bits.numpy().all()) if bits.device.type == "cpu" else bool(bits.all())


def _padded_stop(request: ScanRequest, start: int, stop: int) -> int:
    """``stop`` rounded up to a multiple of ``ROW_MULTIPLE`` rows from ``start``, inside the arena."""
    for arena, arena_start in zip(request.arenas, request.arena_starts):
        if arena_start <= start < arena_start + arena.shape[0]:
            rows = max(-(-(stop - start) // ROW_MULTIPLE) * ROW_MULTIPLE, MIN_PRODUCT_ROWS)
            return min(start + rows, arena_start + arena.shape[0])
    return stop


def torch_scan(request: ScanRequest) -> ScanResult:
    """Best ``request.k`` slots per query (see :class:`flatsearch.scan.ScanRequest`).

    Example:
        >>> import torch
        >>> from flatsearch.scan import ScanRequest
        >>> from flatsearch.bitmask import pack_bits
        >>> vectors = torch.eye(4)
        >>> request = ScanRequest(queries=torch.tensor([[0.0, 1.0, 0.5, 0.0]]), k=2, arenas=(vectors,),
        ...     arena_starts=(0,), ranges=torch.tensor([[0, 4]]), mask_words=pack_bits(torch.ones(4, dtype=torch.bool)),
        ...     bias=None, score_scale=1.0)
        >>> torch_scan(request).slots.tolist()
        [[1, 2]]
    """
    queries = rounded_queries(request)
    nq, k = queries.shape[0], request.k
    if nq == 0:
        return _empty(queries, k)
    same = _same_rows(queries)
    tried = False  # whether this search has run the bounded pre-scan (it runs at most once)
    ranges = request.ranges.numpy() if request.ranges.device.type == "cpu" else request.ranges.cpu().numpy()
    # A few ranges (the usual plan): Python ints, where three numpy calls on a cold cache cost more.
    total_rows = sum(stop - start for start, stop in ranges.tolist()) if len(ranges) <= 64 \
        else int((ranges[:, 1] - ranges[:, 0]).sum())
    if request.passing_slots is not None and not request.per_query_mask:
        slots = request.passing_slots
        if slots.numel() == 0:
            return _empty(queries, k)
        pruned = _pruned_scan(request, queries, same, slots, None)
        if pruned is not None:
            return pruned
        tried = True  # the scan below must not try the pre-scan again
        if slots.numel() <= GATHER_MAX_FRACTION * total_rows:
            return _gather_scan(request, queries, None, slots, same)
    elif request.candidate_slots is not None and request.candidate_slots.numel() <= GATHER_MAX_FRACTION * total_rows:
        slots = request.candidate_slots
        if slots.numel() == 0:
            return _empty(queries, k)
        keep = request.candidate_keep
        if keep is None or keep.shape[0] != nq:
            keep = bits_at(request.mask_words, slots)
            if not request.per_query_mask:
                keep = keep.expand(nq, -1)
        pruned = _pruned_scan(request, queries, same, slots, keep)
        if pruned is not None:
            return pruned
        return _gather_scan(request, queries, keep, slots, same)
    if request.dense:
        keep_all = None  # every slot in the ranges passes: no mask to read
        copies = request.coarse(total_rows) if not tried and _may_prune(request, queries, same, total_rows) else None
        if copies is not None and not _prune_skipped(copies, _prune_key(queries, same, total_rows, k, None)):
            # the slots are listed only when the copy is there to score them
            slots = torch.from_numpy(np.concatenate([np.arange(start, stop) for start, stop in ranges.tolist()]))
            pruned = _pruned_scan(request, queries, same, slots, None, copies=copies, checked=True)
            if pruned is not None:
                return pruned
    else:
        keep_all = _keep_bits(request)
        if keep_all.device.type == "cpu":  # numpy: single-threaded, several times faster on these passes
            bits = keep_all.numpy()
            passing = bits if bits.ndim == 1 else np.logical_or.reduce(bits, axis=0)
            n_passing = int(np.count_nonzero(passing))
        else:
            passing = keep_all if keep_all.dim() == 1 else keep_all.any(dim=0)
            n_passing = int(passing.sum())
        if n_passing == 0:
            return _empty(queries, k)
        prune = not tried and _may_prune(request, queries, same, n_passing)
        if prune or n_passing <= GATHER_MAX_FRACTION * total_rows:
            slots = torch.from_numpy(np.flatnonzero(passing)) if isinstance(passing, np.ndarray) \
                else passing.nonzero().flatten()
            keep = keep_all.index_select(-1, slots)
            pruned = _pruned_scan(request, queries, same, slots, None if keep.dim() == 1 else keep) if prune else None
            if pruned is not None:
                return pruned
            if n_passing <= GATHER_MAX_FRACTION * total_rows:
                return _gather_scan(request, queries, keep, slots, same)
    # Dense ranges are used as listed: joining them across gaps would score rows that are not live.
    spans = ranges.tolist() if request.dense else _spans(request, ranges)
    candidates_scores, candidates_slots = [], []
    chunk_rows = max(4096, CHUNK_ELEMENTS // max(nq, 1) // 32 * 32)  # chunks end on multiples of ROW_MULTIPLE
    for start, stop in spans:
        for chunk_start in range(start, stop, chunk_rows):
            chunk_stop = min(stop, chunk_start + chunk_rows)
            # Rows past the chunk up to a multiple of ROW_MULTIPLE are multiplied too and dropped
            # (never live: blocks start at multiples of 32 and fill from their start).
            padded_stop = _padded_stop(request, chunk_start, chunk_stop)
            keep = None if keep_all is None else keep_all[..., chunk_start:padded_stop]
            if keep is not None:
                real = keep[..., :chunk_stop - chunk_start]
                if not _any_host(real):
                    continue
                if keep.dim() == 1 and _all_host(real):
                    keep = None
            bias = None if request.bias is None else request.bias[chunk_start:padded_stop]
            # The product and its top-k in one parallel region when the product is large: a top-k of
            # (64 x 1M) scores on one thread was 6% of an unfiltered search.
            with _parallel((1 if same else nq) * (chunk_stop - chunk_start) * queries.shape[1], 1 if same else nq):
                scores = _score_block(request, queries, _arena_rows(request, chunk_start, padded_stop), keep, bias,
                                      same=same, columns=chunk_stop - chunk_start)
                keep = None if keep is None else keep[..., :chunk_stop - chunk_start]
                # A shared mask folded into the bias row does not clean rows that are not live: their memory
                # may hold NaN or inf (never written), so best_k masks those scores itself.
                values, columns = best_k(scores, k, valid=keep, masked=keep is None or keep.dim() == 2)
            candidates_scores.append(values)
            candidates_slots.append(torch.where(columns >= 0, columns + chunk_start, columns) if chunk_start else columns)
    if not candidates_scores:
        return _empty(queries, k)
    if len(candidates_scores) == 1:
        return ScanResult(candidates_scores[0], candidates_slots[0])
    slots = torch.cat(candidates_slots, 1)
    return ScanResult(*best_k(torch.cat(candidates_scores, 1), k, keys=slots, valid=slots >= 0))


def _may_prune(request: ScanRequest, queries: torch.Tensor, same: bool, passing: int) -> bool:
    """Whether the bounded pre-scan (:func:`_pruned_scan`) may pay for ``passing`` rows."""
    return (PRUNE_MIN_ROWS <= passing <= PRUNE_MAX_ROWS and request.k * PRUNE_MIN_RATIO <= passing
            and (1 if same else queries.shape[0]) <= PRUNE_MAX_QUERIES and queries.device.type == "cpu"
            and bool(request.arenas) and request.arenas[0].dtype == torch.float32
            and _int8_products_exact(queries.shape[1]) and _int8_products_fast(queries.shape[1])
            and request.coarse is not None
            # Under "high" or "medium" a CPU may multiply float32 through bfloat16 (oneDNN): products of
            # different row counts then differ, and the bound does not hold for bfloat16 products.
            and torch.get_float32_matmul_precision() == "highest")


def _prune_key(queries: torch.Tensor, same: bool, passing: int, k: int, keep) -> tuple:
    return (1 if same else queries.shape[0], passing.bit_length(), k.bit_length(), keep is None)


def _prune_skipped(copies, key: tuple) -> bool:
    """Whether the pre-scan of this class sits out this scan after recent fallbacks (see PRUNE_RETRY_MAX)."""
    misses = getattr(copies, "misses", None)
    entry = None if misses is None else misses.get(key)
    if entry is None or entry[1] <= 0:
        return False
    entry[1] -= 1
    return True


def _prune_outcome(copies, key: tuple, answered: bool) -> None:
    misses = getattr(copies, "misses", None)
    if misses is None:
        return
    if answered:
        misses.pop(key, None)
        return
    entry = misses.setdefault(key, [0, 0])
    entry[0] += 1
    entry[1] = min(2 ** entry[0], PRUNE_RETRY_MAX)


_INT8_CHECKED: dict[int, bool] = {}


def _int8_products_exact(dim: int) -> bool:
    """Whether ``torch._int_mm`` multiplies int8 rows of ``dim`` values exactly here (checked once per dim
    on random codes against int64 arithmetic; torch 2.13 on a CPU gets dim 1 wrong)."""
    exact = _INT8_CHECKED.get(dim)
    if exact is None:
        exact = False
        if dim >= 2 and dim * 127 * 127 < 2 ** 31 and hasattr(torch, "_int_mm"):
            generator = torch.Generator().manual_seed(dim)
            left = torch.randint(-127, 128, (2, dim), dtype=torch.int8, generator=generator)
            right = torch.randint(-127, 128, (1029, dim), dtype=torch.int8, generator=generator)
            try:
                exact = all(torch.equal(torch._int_mm(left[:rows], right[:columns].T).long(),
                                        left[:rows].long() @ right[:columns].long().T)
                            for rows in (1, 2) for columns in (1, 37, 1029))
            except RuntimeError:
                exact = False
        _INT8_CHECKED[dim] = exact
    return exact


_INT8_FAST: dict[int, bool] = {}


def _int8_products_fast(dim: int) -> bool:
    """Whether ``torch._int_mm`` multiplies int8 rows of ``dim`` values faster than float32 ones here
    (timed once per dim; the best of a few runs of each, so another process's load slows both alike).

    With AVX-512 VNNI the int8 product of one or two query rows is several times faster than the
    float32 one, which is what the pre-scan pays for; a CPU without it (AVX2 only, torch 2.13)
    multiplies int8 through a generic loop (2 x 384 by 2,048 x 384 on one thread: 1.6 ms, float32 0.35 ms),
    and the pre-scan would cost more than the scan it prunes.
    """
    fast = _INT8_FAST.get(dim)
    if fast is None:
        generator = torch.Generator().manual_seed(dim)
        codes = torch.randint(-127, 128, (2048, dim), dtype=torch.int8, generator=generator)
        floats = codes.float()
        left_codes = codes[:2].clone()
        left_floats = left_codes.float()
        best_int8 = best_float = float("inf")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a two-thread product under load times OpenMP's waiting, not the product
        try:
            for _ in range(3):
                started = time.perf_counter()
                torch.mm(left_floats, floats.T)
                best_float = min(best_float, time.perf_counter() - started)
                started = time.perf_counter()
                torch._int_mm(left_codes, codes.T)
                best_int8 = min(best_int8, time.perf_counter() - started)
        finally:
            torch.set_num_threads(threads)
        fast = _INT8_FAST[dim] = best_int8 < best_float
    return fast


def _pruned_scan(request: ScanRequest, queries: torch.Tensor, same: bool, slots: torch.Tensor,
                 keep: torch.Tensor | None, *, copies: list | None = None, checked: bool = False) -> ScanResult | None:
    """The exact top k of the rows at ``slots`` (sorted, passing for some query; ``keep``: each query's
    bits there, None when all pass for every query), multiplying in float32 only the rows whose
    score can reach the k-th; None when the bound leaves too many (the caller scans them all).

    Each row is scored first from the int8 copy (``request.coarse``; a storage builds it, a bounded batch
    per scan, once scans that could use it have read enough rows, see ``storage.COARSE_BUILD_AFTER`` and
    ``storage.COARSE_STEP_FRACTION``, and None until it is complete and current) with the query rounded to int8
    too: the integer products are exact, so ``|approximate - real| <= |scale| (|q - q^| |x| +
    |q^| |x - x^|)``. The float32 product differs from the real score by at most
    ``4 (dim + 2) 2**-24 (|scale| |q| |x| + |bias|)`` in any summation order, and computing the
    approximation and its bound in float32 by less than as much again: the bound adds
    ``8 (dim + 2) 2**-24`` times that magnitude, is widened by one part in 2**20 and by 2**-100.
    Let T be a query's k-th largest lower bound: k rows score at least T, so a row whose upper
    bound is below T scores below k others and is in no top k, ties included. The remaining
    candidates are multiplied exactly by :func:`_gather_scan`, whose scores are the plain scan's
    bit for bit (see ``ROW_MULTIPLE``). ``copies``: ``request.coarse(len(slots))`` when the caller has it;
    ``checked``: the caller has asked ``_prune_skipped`` for this scan already.

    It declines (None) unless the float32 matmul precision is "highest", and where an intermediate
    value could overflow float32 or a scale factor is not a normal float32 (``PRUNE_MAX_MAGNITUDE``).
    After a fallback its class sits out the next scans on that copy (``PRUNE_RETRY_MAX``)."""
    n = slots.numel()
    if not _may_prune(request, queries, same, n):
        return None
    if copies is None:  # None until scans that could use it have read enough rows
        copies = request.coarse(n)
    if copies is None:
        return None
    key = _prune_key(queries, same, n, request.k, keep)
    if not checked and _prune_skipped(copies, key):
        return None
    try:
        result = _bounded_scan(request, queries, same, slots, keep, copies)
    except MemoryError:  # its bookkeeping (a few float32 passes over the rows) did not fit: scan plainly
        result = None
    _prune_outcome(copies, key, result is not None)
    return result


def _bounded_scan(request: ScanRequest, queries: torch.Tensor, same: bool, slots: torch.Tensor,
                  keep: torch.Tensor | None, copies: list) -> ScanResult | None:
    """:func:`_pruned_scan` once it has the copy: None when it declines or too many rows stay candidates."""
    bias = None if request.bias is None else _bias_at(request, slots).numpy()
    bounds = _score_bounds(request, queries, same, slots, copies, bias)
    if bounds is None:
        return None
    lower, upper = bounds
    n = slots.numel()
    nq, k = queries.shape[0], request.k
    bits = None if keep is None else keep.numpy()
    if bits is None:  # one mask for all: each distinct factor row
        candidates = _reaching(lower, upper, k).any(axis=0) if n >= k else np.ones(n, dtype=bool)
    else:  # each query's threshold from its own rows' lower bounds (a shared factor row broadcasts)
        # A query with fewer than k passing rows has -inf as its threshold: all its rows stay.
        reach = upper >= _kept_thresholds(lower, bits, k) if n >= k else np.ones(bits.shape, dtype=bool)
        reach &= bits
        candidates = reach.any(axis=0)
    chosen = np.flatnonzero(candidates)
    if chosen.size > PRUNE_MAX_FRACTION * n:
        return None
    # The gather's inputs padded here, from the host arrays at hand (as _padded_inputs pads them).
    at = slots.numpy()
    count = chosen.size
    pad = _row_padding(count)
    padded = chosen if not pad else np.concatenate([chosen, np.repeat(chosen[-1:], pad)])
    padded_bias = None
    if bias is not None:
        padded_bias = bias[padded]
        padded_bias[count:] = 0
    kept = padded_keep = None
    if bits is not None:
        padded_keep = bits[:, padded]
        padded_keep[:, count:] = False
        kept = padded_keep[:, :count]
    inputs = (torch.from_numpy(at[padded]), None if padded_bias is None else torch.from_numpy(padded_bias),
              None if padded_keep is None else torch.from_numpy(padded_keep))
    return _gather_scan(request, queries, None if kept is None else torch.from_numpy(kept),
                        torch.from_numpy(at[chosen]), same, padded=inputs)


def _reaching(lower: np.ndarray, upper: np.ndarray, k: int) -> np.ndarray:
    """Rows whose score can reach the top k, per row of ``lower`` (queries, n >= k): upper bound (broadcast
    over the queries) at least the row's k-th largest lower bound T. k rows score at least T, so a row whose
    upper bound is below T is beaten by k; one whose upper bound is T may tie with the k-th and win by its
    lower slot, so it stays. Only meaningful for queries with at least k rows (lower bounds not -inf)."""
    n = lower.shape[-1]
    threshold = np.partition(lower, n - k, axis=-1)[..., n - k:n - k + 1]  # the k-th largest, without negating
    return upper >= threshold


def _kept_thresholds(lower: np.ndarray, bits: np.ndarray, k: int) -> np.ndarray:
    """(queries, 1): each query's k-th largest lower bound over the rows its ``bits`` keep (-inf when it keeps
    fewer than k), as :func:`_reaching` finds it over ``where(bits, lower, -inf)``. ``lower``: (queries, n), or
    (1, n) shared by every row of ``bits``.

    Selected from the kept values alone: a narrow filter inside a loose union leaves most of a row -inf, and
    numpy's partition slows down on many equal values (17,268 values of which 14,374 -inf: 210 against 12 us)."""
    thresholds = np.full((bits.shape[0], 1), -np.inf, dtype=lower.dtype)
    n = bits.shape[1]
    for query in range(bits.shape[0]):
        values = lower[min(query, lower.shape[0] - 1)]
        kept = bits[query]
        count = int(np.count_nonzero(kept))
        if count < k:
            continue
        if count < n:
            values = values[kept]
        thresholds[query, 0] = np.partition(values, count - k)[count - k]
    return thresholds


def _score_bounds(request: ScanRequest, queries: torch.Tensor, same: bool, slots: torch.Tensor,
                  copies: list, bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """float32 (factor rows, len(slots)) lower and upper bounds of the rows' scores from the int8 copy:
    both the real score ``score_scale * q.x + bias`` and the float32 product's lie between them (see
    :func:`_pruned_scan`). None where the bound could not hold in float32 (overflow, subnormal scales).
    ``bias``: ``request.bias`` at ``slots`` when the caller has it (read here otherwise)."""
    n = slots.numel()
    factor = queries.numpy()[:1] if same else queries.numpy()  # numpy: each torch call costs more on these few values
    dim = factor.shape[1]
    alpha = float(request.score_scale)
    unit = 8 * (dim + 2) * 2.0 ** -24
    up = 1 + 2.0 ** -30
    q = factor.astype(np.float64)
    q_scale = (np.abs(q).max(axis=1) / 127.0).astype(np.float32)
    q_scale[q_scale == 0] = 1.0
    scale64 = q_scale.astype(np.float64)[:, None]
    q_round = np.rint(q / scale64)
    np.clip(q_round, -127, 127, out=q_round)
    codes = torch.from_numpy(q_round.astype(np.int8))
    q_round *= scale64
    # |q - q^|, |q| and |q^| of each factor row, in one pass over the three.
    parts = np.stack([q - q_round, q, q_round])
    parts *= parts
    q_error, q_norm, round_norm = np.sqrt(parts.sum(axis=2))
    row_scale = (alpha * scale64).astype(np.float32)
    if not (np.abs(row_scale) >= PRUNE_MIN_SCALE).all():  # a subnormal factor: rounded far more than 2**-24
        return None
    weights = rounded_up(np.stack([q_error + unit * q_norm, round_norm]) * (abs(alpha) * up))
    norm_weight, residual_weight = weights[0][:, None], weights[1][:, None]
    at = slots.numpy()
    starts = np.asarray(request.arena_starts, dtype=np.int64)
    if len(starts) == 1 or at[-1] < starts[1]:  # one arena (the usual case): no split
        pieces = [(0, 0, n)]
    else:
        edges = np.searchsorted(at, starts).tolist() + [n]
        pieces = [(arena_id, lo, hi) for arena_id, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])) if hi > lo]
    products = stats = None
    if len(pieces) > 1:
        products = np.empty((factor.shape[0], n), dtype=np.float32)
        stats = np.empty((n, 3), dtype=np.float32)  # each row's scale, norm and residual, gathered together
    for arena_id, lo, hi in pieces:
        coarse = copies[arena_id]
        rows = at[lo:hi] - starts[arena_id]
        first, last = int(rows[0]), int(rows[-1])
        if last - first + 1 == hi - lo:  # a run of rows (every row of a loose plan): slices, no gather
            piece = torch._int_mm(codes, coarse.codes[first:last + 1].T).numpy()
            piece_stats = coarse.stats[first:last + 1]
        elif 3 * (hi - lo) >= last - first:  # most rows: every row of their run, then the wanted columns
            piece = torch._int_mm(codes, coarse.codes[first:last + 1].T).numpy()[:, rows - first]
            piece_stats = coarse.stats[rows]
        else:
            piece = torch._int_mm(codes, coarse.codes.index_select(0, torch.from_numpy(rows)).T).numpy()
            piece_stats = coarse.stats[rows]
        if products is None:
            products = piece.astype(np.float32)
            stats = piece_stats
        else:
            products[:, lo:hi] = piece
            stats[lo:hi] = piece_stats
    scale, norm, residual = np.ascontiguousarray(stats.T)  # contiguous columns for the passes below
    if bias is None and request.bias is not None:
        bias = _bias_at(request, slots).numpy()
    largest = abs(alpha) * float(q_norm.max()) * float(norm.max()) + (0.0 if bias is None else float(np.abs(bias).max()))
    # |products| <= 127 * 127 * dim, so products * scale is below 127 * 127 * dim * max(scale); with every
    # scale at least PRUNE_MIN_SCALE, its nonzero values are float32 normals (relative rounding 2**-24).
    if not (largest < PRUNE_MAX_MAGNITUDE and 127.0 * 127.0 * dim * float(scale.max()) < PRUNE_MAX_MAGNITUDE
            and float(scale.min()) >= PRUNE_MIN_SCALE):
        return None  # near float32's range: the bound would not hold through overflow or underflow
    # Integer products below 2**24 are exact in float32 (dim <= 1040); past that their rounding is
    # one more part in 2**24 of the magnitude, inside the bound's margin.
    approximate = products
    approximate *= scale
    approximate *= row_scale
    error = norm * norm_weight
    error += residual * residual_weight
    if bias is not None:
        approximate += bias
        error += np.float32(unit) * np.abs(bias)
    error *= np.float32(1 + 2.0 ** -20)
    error += np.float32(2.0 ** -100)
    lower = approximate - error
    upper = np.add(approximate, error, out=approximate)
    return lower, upper


def _spans(request: ScanRequest, ranges: np.ndarray | None = None) -> list[list[int]]:
    """The listed ranges, neighbours in one arena joined across gaps of up to ``SPAN_GAP_ROWS``.

    Many partitions mean many short ranges; one multiplication per range would cost a few
    torch calls each. Rows in a gap are never live, so the mask (and ``best_k``'s validity)
    drops them, whatever the unused memory there holds.
    """
    if ranges is None:
        ranges = request.ranges.cpu().numpy()
    if len(ranges) <= 1:
        return ranges.tolist()
    arena_of = np.searchsorted(np.asarray(request.arena_starts, dtype=np.int64), ranges[:, 0], side="right")
    join = (arena_of[1:] == arena_of[:-1]) & (ranges[1:, 0] - ranges[:-1, 1] <= SPAN_GAP_ROWS)
    first = np.concatenate([[True], ~join])
    last = np.concatenate([~join, [True]])
    return np.stack([ranges[first, 0], ranges[last, 1]], axis=1).tolist()


def _gather_scan(request: ScanRequest, queries: torch.Tensor, keep: torch.Tensor | None, slots: torch.Tensor,
                 same: bool = False, *, padded: tuple | None = None) -> ScanResult:
    """Scores of just the rows at ``slots`` (sorted); ``keep``: the mask bits at those slots, or None;
    ``padded``: what :func:`_padded_inputs` returns for them, when the caller has built it."""
    # One parallel region for the gather, the product and the top-k when the product is large:
    # they are the bulk of the search, and switching the thread count between them costs more
    # than it saves (on 2 cores, 1M rows, 1,000 passing, nq=64: gather 95 against 200 us, top-k
    # 140 against 300 us on one thread).
    factor_rows = 1 if same else queries.shape[0]
    n = slots.numel()
    with _parallel(factor_rows * n * queries.shape[1], factor_rows):
        padded_slots, bias, padded_keep = _padded_inputs(request, slots, keep) if padded is None else padded
        vectors = gather_rows(request, padded_slots)
        scores = _score_block(request, queries, vectors, padded_keep, bias, same=same, columns=n)
        # Slots are sorted, so the lower column is the lower slot.
        values, columns = best_k(scores, request.k, valid=keep, masked=True)
    if columns.device.type == "cpu":  # (nq, k) small: numpy, not four torch calls
        places = columns.numpy()
        return ScanResult(values, torch.from_numpy(np.where(places >= 0, slots.numpy()[np.maximum(places, 0)], -1)))
    return ScanResult(values, torch.where(columns >= 0, slots[columns.clamp(min=0)], columns))


def _row_padding(count: int) -> int:
    """Rows to add to a gather of ``count`` rows: up to a multiple of ``ROW_MULTIPLE``, at least ``MIN_PRODUCT_ROWS``."""
    return max(-count % ROW_MULTIPLE, MIN_PRODUCT_ROWS - count)


def _padded_inputs(request: ScanRequest, slots: torch.Tensor, keep: torch.Tensor | None):
    """Slots, bias and keep bits of a gather, padded to a multiple of ``ROW_MULTIPLE`` rows, at least
    ``MIN_PRODUCT_ROWS`` (the last slot repeated, its bias 0 and bits clear; its extra columns are dropped).
    Kept in ``request.memo`` when they are the plan's own tensors, for the next search of the same cached plan."""
    planned = request.candidate_slots if request.candidate_slots is not None else request.passing_slots
    memo = request.memo
    # Kept with the very tensors they come from: a search of the same cached plan hands over the same ones.
    key = (id(slots), id(keep), id(request.bias), id(request.slot_bias))
    if memo is not None and slots is planned and (keep is None or keep is request.candidate_keep):
        found = memo.get("padded")
        if found is not None and found[0] == key:
            return found[1]
    else:
        memo = None
    pad = _row_padding(slots.numel())
    bias = None if request.bias is None else _bias_at(request, slots)
    padded_slots, padded_keep = slots, keep
    if pad and slots.device.type == "cpu":  # numpy: a third of the time of the torch calls on these few values
        at = slots.numpy()
        padded_slots = torch.from_numpy(np.concatenate([at, np.repeat(at[-1:], pad)]))
        if bias is not None:
            bias = torch.from_numpy(np.concatenate([bias.numpy(), np.zeros(pad, dtype=bias.numpy().dtype)]))
        if keep is not None:
            bits = keep.numpy()
            padded_keep = torch.from_numpy(np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), dtype=bool)], -1))
    elif pad:
        padded_slots = torch.cat([slots, slots[-1:].expand(pad)])
        bias = None if bias is None else torch.cat([bias, bias.new_zeros(pad)])
        padded_keep = None if keep is None else torch.cat([keep, keep.new_zeros(keep.shape[:-1] + (pad,))], -1)
    padded = (padded_slots, bias, padded_keep)
    if memo is not None:
        # The tensors themselves are kept too, so that their ids stay theirs.
        memo["padded"] = (key, padded, (slots, keep, request.bias, request.slot_bias))
    return padded


def _bias_at(request: ScanRequest, slots: torch.Tensor) -> torch.Tensor:
    """``request.bias`` at ``slots``: the Index's own copy when it computed the bias at these slots."""
    planned = request.candidate_slots if request.candidate_slots is not None else request.passing_slots
    if request.slot_bias is not None and slots is planned:
        return request.slot_bias
    return request.bias.index_select(0, slots)


def gather_rows(request: ScanRequest, slots: torch.Tensor) -> torch.Tensor:
    """Stored vectors of the given (sorted) slots."""
    arenas, starts = request.arenas, request.arena_starts
    if len(arenas) == 1:
        return arenas[0].index_select(0, slots - starts[0] if starts[0] else slots)
    pieces = []
    stops = [start + arena.shape[0] for arena, start in zip(arenas, starts)]
    # Where each arena's slots begin and end in ``slots``: one searchsorted, one copy to the host.
    edges = torch.searchsorted(slots, torch.tensor(stops, dtype=torch.int64, device=slots.device)).tolist()
    for arena, arena_start, lo, hi in zip(arenas, starts, [0] + edges[:-1], edges):
        if hi > lo:
            pieces.append(arena.index_select(0, slots[lo:hi] - arena_start))  # far faster than arena[...] on CPU
    if len(pieces) == 1:
        return pieces[0]
    return torch.cat(pieces) if pieces else arenas[0].new_empty((0, request.queries.shape[1]))
