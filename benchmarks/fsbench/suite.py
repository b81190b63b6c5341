"""Run every measure of a profile on every dataset and library; returns the JSON document.

Per (dataset, library, build configuration) the order is: build (timed), then
for each search-time setting the nq=1 latencies, batch throughput and recall;
then filtered search at each selectivity; then churn (delete 10 % and insert as
many new rows, or rebuild where the library cannot delete) and the same batch
search before and after it. Ground truth is exact float32 search computed once
per dataset and shared by every library.

Example:
    >>> from fsbench.profiles import Profile
    >>> from fsbench.workloads import DatasetSpec
    >>> tiny = Profile(name="tiny", device="cpu", libraries=("faiss-flat",), n_single=2, repeats=1,
    ...                batch_sizes=(4,), k_recall=10, selectivities=(0.5,),
    ...                datasets=(DatasetSpec(kind="synthetic", n=500, dim=8, n_clusters=4),))
    >>> doc = run_profile(tiny, progress=False)
    >>> sorted({r["measure"] for r in doc["records"]})[:3]
    ['build_s', 'bytes_per_vector', 'churn_after_ms_per_query']
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from tqdm.auto import tqdm

from fsbench import records as rec_mod
from fsbench.competitors.base import Adapter, format_setting
from fsbench.groundtruth import Truth
from fsbench.lineup import lineup
from fsbench.profiles import Profile
from fsbench.timing import default_threads, median, percentile, pin_threads, time_once, time_repeated
from fsbench.workloads import Workload, load_workload


@dataclass
class GroundTruth:
    """Exact answers shared by every library on one workload."""

    unfiltered: Truth
    filtered: dict[float, Truth]
    after_churn: Truth | None


def ground_truth(workload: Workload, profile: Profile) -> GroundTruth:
    """Exact float32 top-k for the recall, filter and churn query sets of ``workload``."""
    spec, base, id_space = workload.spec, workload.base, len(workload.r_by_id)
    filter_queries = workload.query_batch(profile.batch_sizes[0])
    unfiltered = Truth.compute(base, workload.queries[:max(profile.batch_sizes)], profile.k_recall, id_space=id_space)
    filtered = {}
    if "filter" in spec.measures:
        for selectivity in profile.selectivities:
            filtered[selectivity] = Truth.compute(base, filter_queries, profile.k, id_space=id_space,
                                                  keep_by_id=workload.filter_spec(selectivity).keep_by_id)
    after_churn = None
    if "churn" in spec.measures:
        after_churn = Truth.compute(workload.rows_after_churn(), filter_queries, profile.k, id_space=id_space)
    return GroundTruth(unfiltered, filtered, after_churn)


class _AdapterRun:
    """Measures one adapter on one workload and writes its records."""

    def __init__(self, adapter: Adapter, workload: Workload, truth: GroundTruth, profile: Profile,
                 recorder: rec_mod.Recorder) -> None:
        self.adapter, self.workload, self.truth, self.profile = adapter, workload, truth, profile
        self.recorder = recorder
        self.device = adapter.device

    def record(self, setting: dict, measure: str, value: Any, **extra: Any) -> None:
        self.recorder.add(dataset=self.workload.name, library=self.adapter.library,
                          build=format_setting(self.adapter.build_setting), setting=format_setting(setting),
                          measure=measure, value=value, **extra)

    def batch_seconds(self, queries: Any, setting: dict, prepared_filter: Any = None) -> float:
        k, adapter = self.profile.k, self.adapter
        return median(time_repeated(lambda: adapter.search(queries, k, setting, prepared_filter),
                                    repeats=self.profile.repeats, warmup=self.profile.warmup, device=self.device))

    def run(self) -> None:
        measures = self.workload.spec.measures
        self.record({}, "build_s", time_once(lambda: self.adapter.build(self.workload.base), device=self.device),
                    rows=len(self.workload.base.ids))
        self.record({}, "bytes_per_vector", self.adapter.bytes_per_vector())
        if "search" in measures:
            self.search_measures()
        if "filter" in measures:
            if self.adapter.no_filter_reason is None:
                self.filter_measures()
            else:
                self.adapter.notes.add(self.adapter.no_filter_reason)
        if "churn" in measures:
            self.churn_measures()
        for note in sorted(self.adapter.notes):
            self.record({}, "note", note)

    def search_measures(self) -> None:
        adapter, profile, workload = self.adapter, self.profile, self.workload
        singles = [adapter.prepare_queries(workload.queries[i:i + 1]) for i in range(profile.n_single)]
        batches = {nq: adapter.prepare_queries(workload.query_batch(nq)) for nq in profile.batch_sizes}
        recall_queries = adapter.prepare_queries(self.truth.unfiltered.queries)
        for setting in adapter.search_settings:
            for query in singles[:max(profile.warmup, 1) * 3]:
                adapter.search(query, profile.k, setting)
            latencies = [time_once(lambda q=q: adapter.search(q, profile.k, setting), device=self.device)
                         for q in singles]
            self.record(setting, "latency_p50_ms", 1e3 * percentile(latencies, 50), nq=1, k=profile.k)
            self.record(setting, "latency_p99_ms", 1e3 * percentile(latencies, 99), nq=1, k=profile.k)
            for nq, queries in batches.items():
                seconds = self.batch_seconds(queries, setting)
                self.record(setting, "qps", nq / seconds, nq=nq, k=profile.k)
            for k in (profile.k, profile.k_recall):
                found = adapter.result_ids(adapter.search(recall_queries, k, setting))
                self.record(setting, f"recall@{k}", self.truth.unfiltered.recall(found, k), nq=len(found), k=k)

    def filter_measures(self) -> None:
        adapter, profile = self.adapter, self.profile
        for selectivity in profile.selectivities:
            truth = self.truth.filtered[selectivity]
            queries, nq = adapter.prepare_queries(truth.queries), truth.queries.shape[0]
            prepared = adapter.prepare_filter(self.workload.filter_spec(selectivity))
            for setting in adapter.search_settings:
                seconds = self.batch_seconds(queries, setting, prepared)
                found = adapter.result_ids(adapter.search(queries, profile.k, setting, prepared))
                extra = {"selectivity": selectivity, "nq": nq, "k": profile.k}
                self.record(setting, "filter_ms_per_query", 1e3 * seconds / nq, **extra)
                self.record(setting, "filter_recall@10", truth.recall(found, profile.k), **extra)

    def churn_measures(self) -> None:
        adapter, profile, workload = self.adapter, self.profile, self.workload
        truth = self.truth.after_churn
        queries, nq = adapter.prepare_queries(truth.queries), truth.queries.shape[0]
        n_churn = len(workload.delete_ids)
        for setting in adapter.search_settings:
            self.record(setting, "churn_before_ms_per_query", 1e3 * self.batch_seconds(queries, setting) / nq,
                        nq=nq, k=profile.k)
        if adapter.can_delete:
            seconds = time_once(lambda: adapter.delete(workload.delete_ids), device=self.device)
            self.record({}, "delete_s", seconds, rows=n_churn)
            seconds = time_once(lambda: adapter.insert(workload.inserts), device=self.device)
            self.record({}, "insert_s", seconds, rows=n_churn)
        else:
            churned = workload.rows_after_churn()
            adapter.close()
            seconds = time_once(lambda: adapter.build(churned), device=self.device)
            self.record({}, "rebuild_s", seconds, rows=len(churned.ids))
        for setting in adapter.search_settings:
            self.record(setting, "churn_after_ms_per_query", 1e3 * self.batch_seconds(queries, setting) / nq,
                        nq=nq, k=profile.k)
            found = adapter.result_ids(adapter.search(queries, profile.k, setting))
            self.record(setting, "churn_recall@10", truth.recall(found, profile.k),
                        nq=nq, k=profile.k)


def run_profile(profile: Profile, *, threads: int | None = None, progress: bool = True,
                log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run ``profile``; the JSON-ready document with machine, versions, config and records."""
    threads = pin_threads(threads or profile.threads or default_threads())
    started = time.perf_counter()
    recorder = rec_mod.Recorder()
    doc: dict[str, Any] = {"profile": profile.name, "created": rec_mod.utc_now(),
                           "machine": rec_mod.machine_info(threads), "versions": rec_mod.library_versions(),
                           "config": _config(profile, threads), "datasets": [], "skipped": [],
                           "units": rec_mod.UNITS, "records": recorder.records}
    n_queries = max(profile.batch_sizes + (profile.n_single,))
    for spec in profile.datasets:
        log(f"dataset {spec.name}: loading")
        workload = load_workload(spec, device=profile.device, n_queries=n_queries, progress=progress)
        truth = ground_truth(workload, profile)
        doc["datasets"].append({"name": workload.name, **workload.description, "measures": list(spec.measures)})
        makers = lineup(profile, workload, threads=threads)
        doc["skipped"] += _skipped(profile, workload, makers, threads)
        for make in tqdm(makers, desc=workload.name, unit="index", disable=not progress):
            adapter = make()
            adapter_started = time.perf_counter()
            try:
                _AdapterRun(adapter, workload, truth, profile, recorder).run()
            finally:
                adapter.close()
            log(f"  {adapter.label}: {time.perf_counter() - adapter_started:.1f} s")
        del workload, truth
    doc["wall_s"] = round(time.perf_counter() - started, 1)
    return doc


def _skipped(profile: Profile, workload: Workload, makers: list, threads: int) -> list[dict[str, str]]:
    wanted = set(profile.libraries_for(workload.spec))
    present = {make().library for make in makers}
    return [{"dataset": workload.name, "library": lib, "reason": "not installed or no valid configuration"}
            for lib in sorted(wanted - present)]


def _config(profile: Profile, threads: int) -> dict[str, Any]:
    config = asdict(profile)
    config["datasets"] = [spec.name for spec in profile.datasets]
    config["threads"] = threads
    return config
