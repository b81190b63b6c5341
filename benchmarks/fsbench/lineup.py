"""Which adapters run on a workload, with which build configurations and sweeps.

Example:
    >>> from fsbench.profiles import get_profile
    >>> from fsbench.workloads import DatasetSpec, load_workload
    >>> w = load_workload(DatasetSpec(kind="synthetic", n=2000, dim=16), n_queries=4)
    >>> [make().label for make in lineup(get_profile("quick"), w, threads=1)][:3]
    ['flatsearch backend=auto', 'torch-topk', 'faiss-flat']
"""
from __future__ import annotations

from typing import Callable

from fsbench.competitors.base import Adapter
from fsbench.competitors.faiss_side import FaissFlatAdapter, FaissHNSWAdapter, FaissIVFAdapter
from fsbench.competitors.flatsearch_side import FlatsearchAdapter
from fsbench.competitors.hnswlib_side import HnswlibAdapter, hnswlib_available
from fsbench.competitors.torch_side import TorchTopkAdapter
from fsbench.profiles import Profile
from fsbench.workloads import Workload

# k-means needs about 39 rows per centroid; PQ sub-quantizers have 256 centroids.
_MIN_PQ_TRAIN_ROWS = 39 * 256


def lineup(profile: Profile, workload: Workload, *, threads: int) -> list[Callable[[], Adapter]]:
    """Factories, one per (library, build configuration), in run order."""
    libraries = profile.libraries_for(workload.spec)
    n, dim = len(workload.base.ids), workload.dim
    makers: list[Callable[[], Adapter]] = []
    if "flatsearch" in libraries:
        makers += [lambda b=backend, d=dtype: FlatsearchAdapter(device=profile.device, backend=b, dtype=d)
                   for backend, dtype in profile.flatsearch_variants]
    if "torch-topk" in libraries:
        makers.append(lambda: TorchTopkAdapter(device=profile.device))
    if "faiss-flat" in libraries:
        makers.append(FaissFlatAdapter)
    if "faiss-hnsw" in libraries:
        makers.append(lambda: FaissHNSWAdapter(m=profile.hnsw_m, ef_construction=profile.hnsw_ef_construction,
                                               ef_search=list(profile.ef_search)))
    if "hnswlib" in libraries and hnswlib_available():
        makers.append(lambda: HnswlibAdapter(m=profile.hnsw_m, ef_construction=profile.hnsw_ef_construction,
                                             ef_search=list(profile.ef_search), threads=threads))
    for nlist in profile.nlists(n):
        train_rows = min(n, max(profile.ivf_train_per_list * nlist, _MIN_PQ_TRAIN_ROWS))
        if "faiss-ivfflat" in libraries:
            makers.append(lambda nl=nlist, t=train_rows: FaissIVFAdapter(
                nlist=nl, nprobe=list(profile.nprobe), train_rows=t))
        if "faiss-ivfpq" in libraries:
            makers += [lambda nl=nlist, m=dim // width, t=train_rows: FaissIVFAdapter(
                           nlist=nl, nprobe=list(profile.nprobe), pq_m=m, train_rows=t)
                       for width in profile.pq_dims_per_subquantizer if dim % width == 0]
    return makers
