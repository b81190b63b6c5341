"""The three run profiles: ``quick`` (CI smoke, ~1 min), ``cpu`` (< 10 min on 2 cores), ``gpu``.

A profile fixes the datasets, the libraries and their sweeps, and how hard
each measure is repeated. ANN libraries get a sweep of their search-time
knobs (HNSW efSearch, IVF nprobe) and of their build-time knobs (IVF nlist,
PQ sub-quantizers), so their best settings are shown, not a weak default.

Example:
    >>> from fsbench.profiles import get_profile
    >>> profile = get_profile("quick")
    >>> profile.name, [d.name for d in profile.datasets]
    ('quick', ['jobs-minilm-2000', 'synthetic-20kx128'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from fsbench.workloads import DatasetSpec

LIBRARIES = ("flatsearch", "torch-topk", "faiss-flat", "faiss-hnsw", "faiss-ivfflat", "faiss-ivfpq", "hnswlib")
EXACT_ONLY = ("flatsearch", "torch-topk", "faiss-flat")


@dataclass(frozen=True)
class Profile:
    """Everything one run measures.

    Attributes:
        name: profile name.
        device: where flatsearch and the torch baseline run ("cpu" or "cuda");
            faiss and hnswlib always run on the CPU.
        datasets: what to measure on.
        libraries: libraries to run (a dataset may narrow it further).
        flatsearch_variants: (backend, dtype) pairs; dtype None is the device default.
        threads: CPU threads for every library (None = all cores of this process).
        k: neighbours per query for latency, throughput and recall@10.
        k_recall: the larger k for recall@100.
        batch_sizes: batch sizes for throughput; the first is also used for
            filtered and churn latency.
        n_single: queries timed one by one for the nq=1 latency percentiles.
        repeats, warmup: timed and untimed runs for every batch measure.
        selectivities: filter pass rates.
        hnsw_m, hnsw_ef_construction, ef_search: HNSW graph and search sweep.
        nlist_per_sqrt_n: IVF list counts as multiples of sqrt(n) (rounded to a power of two).
        nprobe: IVF probe sweep.
        pq_dims_per_subquantizer: IVF-PQ sub-vector widths (m = dim / width).
        ivf_train_per_list: training rows per IVF list (capped by n).
    """

    name: str
    device: str
    datasets: tuple[DatasetSpec, ...]
    libraries: tuple[str, ...] = LIBRARIES
    flatsearch_variants: tuple[tuple[str, str | None], ...] = (("auto", None),)
    threads: int | None = None
    k: int = 10
    k_recall: int = 100
    batch_sizes: tuple[int, ...] = (64, 256)
    n_single: int = 100
    repeats: int = 5
    warmup: int = 1
    selectivities: tuple[float, ...] = (0.5, 0.1, 0.01, 0.001)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    ef_search: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    nlist_per_sqrt_n: tuple[float, ...] = (1.0, 4.0)
    nprobe: tuple[int, ...] = (1, 4, 16, 64)
    pq_dims_per_subquantizer: tuple[int, ...] = (8, 16)
    ivf_train_per_list: int = 64
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = set(self.libraries) - set(LIBRARIES)
        if unknown:
            raise ValueError(f"libraries: expected names from {LIBRARIES}, got unknown {sorted(unknown)}")
        if self.k > self.k_recall:
            raise ValueError(f"k, k_recall: expected k <= k_recall, got {self.k} > {self.k_recall}")

    def libraries_for(self, spec: DatasetSpec) -> tuple[str, ...]:
        """The profile's libraries that also run on ``spec``."""
        allowed = spec.libraries or LIBRARIES
        return tuple(lib for lib in self.libraries if lib in allowed)

    def nlists(self, n: int) -> list[int]:
        """IVF list counts for ``n`` rows: powers of two near each multiple of sqrt(n)."""
        counts = {2 ** max(1, round(math.log2(factor * math.sqrt(n)))) for factor in self.nlist_per_sqrt_n}
        return sorted(c for c in counts if c * 8 <= n)


def _quick() -> Profile:
    return Profile(
        name="quick", device="cpu",
        datasets=(DatasetSpec(kind="jobs", n=2000),
                  DatasetSpec(kind="synthetic", n=20_000, dim=128)),
        n_single=20, repeats=3, batch_sizes=(64, 256), ef_search=(16, 64, 256), nprobe=(1, 8, 32),
        nlist_per_sqrt_n=(1.0,), pq_dims_per_subquantizer=(8,), hnsw_ef_construction=40)


def _cpu() -> Profile:
    return Profile(
        name="cpu", device="cpu",
        datasets=(DatasetSpec(kind="jobs"),
                  DatasetSpec(kind="synthetic", n=100_000, dim=384),
                  # Other widths show how each scan scales with dim; graph builds would
                  # not fit the 10-minute budget on 2 cores.
                  DatasetSpec(kind="synthetic", n=100_000, dim=256, measures=("search",),
                              libraries=EXACT_ONLY + ("faiss-ivfflat",)),
                  DatasetSpec(kind="synthetic", n=100_000, dim=768, measures=("search",),
                              libraries=EXACT_ONLY + ("faiss-ivfflat",))),
        n_single=50, repeats=5, pq_dims_per_subquantizer=(8,))


def _gpu() -> Profile:
    return Profile(
        name="gpu", device="cuda",
        datasets=(DatasetSpec(kind="jobs"),
                  DatasetSpec(kind="synthetic", n=1_000_000, dim=384),
                  DatasetSpec(kind="synthetic", n=10_000_000, dim=384, measures=("search",),
                              libraries=("flatsearch", "torch-topk")),
                  DatasetSpec(kind="synthetic", n=2_000_000, dim=768, measures=("search",),
                              libraries=("flatsearch", "torch-topk"))),
        libraries=tuple(lib for lib in LIBRARIES if lib != "hnswlib"),
        flatsearch_variants=(("triton", None), ("triton", "float32"), ("torch", None)),
        n_single=50, repeats=3, ef_search=(16, 64, 256, 512), nprobe=(4, 16, 64),
        pq_dims_per_subquantizer=(8,), nlist_per_sqrt_n=(1.0,),
        notes=("faiss runs on the CPU cores of the GPU machine (the ANN anchor); flatsearch and "
               "torch-topk run on the GPU. hnswlib is left out: faiss HNSW covers graph search.",))


PROFILES = {"quick": _quick, "cpu": _cpu, "gpu": _gpu}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (one of ``quick``, ``cpu``, ``gpu``)."""
    if name not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]()
