"""Pick the rows worth showing from the records: each library's best settings.

Exact libraries have one setting. For ANN libraries, over every build and
search setting: the fastest one (nq=1 median latency) that reaches recall@10
>= 0.95, and the one with the highest recall. Both the report and the plots
read their numbers through these helpers, so they always agree.

Example:
    >>> where = {"dataset": "d", "library": "x", "build": "", "setting": "ef=8"}
    >>> recs = [where | {"measure": "recall@10", "value": 0.9}, where | {"measure": "latency_p50_ms", "value": 1.0}]
    >>> [c.setting for c in search_choices(recs, "d", "x")]
    ['ef=8']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsbench.records import select

RECALL_BAR = 0.95
LIBRARY_ORDER = ("flatsearch", "torch-topk", "faiss-flat", "faiss-hnsw", "hnswlib", "faiss-ivfflat", "faiss-ivfpq")


@dataclass(frozen=True)
class Choice:
    """One (build, setting) of a library and why it was picked."""

    library: str
    build: str
    setting: str
    role: str


def libraries(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """Libraries with records on ``dataset``, in the fixed display order."""
    present = {r["library"] for r in select(records, dataset=dataset)}
    return [lib for lib in LIBRARY_ORDER if lib in present] + sorted(present - set(LIBRARY_ORDER))


def datasets(records: list[dict[str, Any]]) -> list[str]:
    """Dataset names in run order."""
    return list(dict.fromkeys(r["dataset"] for r in records))


def value(records: list[dict[str, Any]], **match: Any) -> Any:
    """The value of the single record matching ``match``, or None."""
    found = select(records, **match)
    return found[0]["value"] if found else None


def configurations(records: list[dict[str, Any]], dataset: str, library: str, measure: str,
                   **match: Any) -> list[tuple[str, str]]:
    """(build, setting) pairs of ``library`` that have ``measure`` on ``dataset``, in run order."""
    rows = select(records, dataset=dataset, library=library, measure=measure, **match)
    return list(dict.fromkeys((r["build"], r["setting"]) for r in rows))


def _best(records, dataset, library, recall_measure, speed_measure, **match) -> tuple[tuple, tuple] | None:
    scored = []
    for build, setting in configurations(records, dataset, library, recall_measure, **match):
        where = {"dataset": dataset, "library": library, "build": build, "setting": setting, **match}
        recall = value(records, measure=recall_measure, **where)
        speed = value(records, measure=speed_measure, **where)
        if recall is not None and speed is not None:
            scored.append((recall, speed, build, setting))
    if not scored:
        return None
    fastest_good = min((s for s in scored if s[0] >= RECALL_BAR), key=lambda s: s[1], default=None)
    most_recall = max(scored, key=lambda s: (s[0], -s[1]))
    return fastest_good, most_recall


def search_choices(records: list[dict[str, Any]], dataset: str, library: str) -> list[Choice]:
    """The fastest setting at recall@10 >= 0.95 and the highest-recall setting (one if they coincide)."""
    best = _best(records, dataset, library, "recall@10", "latency_p50_ms")
    if best is None:
        return []
    fastest_good, most_recall = best
    choices = []
    same = fastest_good is not None and fastest_good[2:] == most_recall[2:]
    if fastest_good is not None:
        role = f"fastest at R@10>={RECALL_BAR}" + (", highest recall" if same else "")
        choices.append(Choice(library, fastest_good[2], fastest_good[3], role))
    if not same:
        choices.append(Choice(library, most_recall[2], most_recall[3], "highest recall"))
    if len(configurations(records, dataset, library, "recall@10")) == 1:
        choices = [Choice(library, most_recall[2], most_recall[3], "only setting")]
    return choices


def best_recall_choice(records: list[dict[str, Any]], dataset: str, library: str, recall_measure: str,
                       speed_measure: str, **match: Any) -> Choice | None:
    """The setting with the highest ``recall_measure`` (ties: lowest ``speed_measure``)."""
    best = _best(records, dataset, library, recall_measure, speed_measure, **match)
    if best is None:
        return None
    _, most_recall = best
    return Choice(library, most_recall[2], most_recall[3], "highest recall")
