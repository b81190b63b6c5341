"""Markdown tables from a results document: search, filtered search, churn.

Example:
    >>> doc = {"records": [], "machine": {"cpu": "x", "threads_used": 2}, "profile": "quick", "versions": {}}
    >>> markdown(doc).splitlines()[0]
    '## flatsearch benchmark: profile `quick`'
"""
from __future__ import annotations

from typing import Any

from fsbench.records import select
from fsbench.summary import best_recall_choice, configurations, datasets, libraries, search_choices, value


def _fmt(number: Any, kind: str = "ms") -> str:
    if number is None:
        return "–"
    if isinstance(number, str):
        return number
    if kind == "recall":
        return f"{number:.3f}"
    if kind == "int":
        return f"{number:,.0f}"
    if kind == "pct":
        return f"{number:+.1f}%"
    if number == 0:
        return "0"
    magnitude = abs(number)
    return f"{number:.3g}" if magnitude < 1000 else f"{number:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _where(dataset, choice) -> dict:
    return {"dataset": dataset, "library": choice.library, "build": choice.build, "setting": choice.setting}


def _config_label(build: str, setting: str) -> str:
    return ", ".join(part for part in (build, setting) if part) or "–"


def search_table(records: list[dict[str, Any]], dataset: str, batch_sizes: list[int]) -> list[str]:
    header = ["library", "configuration", "picked as", "build s", "bytes/vec", "p50 ms (nq=1)", "p99 ms (nq=1)",
              *[f"QPS (nq={nq})" for nq in batch_sizes], "R@10", "R@100"]
    rows = []
    for library in libraries(records, dataset):
        for choice in search_choices(records, dataset, library):
            where = _where(dataset, choice)
            base = {"dataset": dataset, "library": library, "build": choice.build, "setting": ""}
            rows.append([library, _config_label(choice.build, choice.setting), choice.role,
                         _fmt(value(records, measure="build_s", **base)),
                         _fmt(value(records, measure="bytes_per_vector", **base), "int"),
                         _fmt(value(records, measure="latency_p50_ms", **where)),
                         _fmt(value(records, measure="latency_p99_ms", **where)),
                         *[_fmt(value(records, measure="qps", nq=nq, **where), "int") for nq in batch_sizes],
                         _fmt(value(records, measure="recall@10", **where), "recall"),
                         _fmt(value(records, measure="recall@100", **where), "recall")])
    return _table(header, rows) if rows else []


def filter_table(records: list[dict[str, Any]], dataset: str) -> list[str]:
    selectivities = sorted({r["selectivity"] for r in select(records, dataset=dataset, measure="filter_recall@10")},
                           reverse=True)
    if not selectivities:
        return []
    header = ["library"] + [f"{s:.1%} pass: ms/query, R@10" for s in selectivities]
    rows = []
    for library in libraries(records, dataset):
        cells = [library]
        single_configuration = len(configurations(records, dataset, library, "filter_recall@10")) <= 1
        for selectivity in selectivities:
            choice = best_recall_choice(records, dataset, library, "filter_recall@10", "filter_ms_per_query",
                                        selectivity=selectivity)
            if choice is None:
                cells.append("–")
                continue
            where = _where(dataset, choice) | {"selectivity": selectivity}
            ms = value(records, measure="filter_ms_per_query", **where)
            recall = value(records, measure="filter_recall@10", **where)
            label = "" if single_configuration else f" ({_config_label(choice.build, choice.setting)})"
            cells.append(f"{_fmt(ms)} ms, {_fmt(recall, 'recall')}{label}")
        rows.append(cells)
    return _table(header, rows)


def churn_table(records: list[dict[str, Any]], dataset: str) -> list[str]:
    header = ["library", "configuration", "delete rows/s", "insert rows/s", "rebuild s", "ms/query before",
              "ms/query after", "change", "R@10 after"]
    rows = []
    for library in libraries(records, dataset):
        choice = best_recall_choice(records, dataset, library, "churn_recall@10", "churn_after_ms_per_query")
        if choice is None:
            continue
        where = _where(dataset, choice)
        base = {"dataset": dataset, "library": library, "build": choice.build, "setting": ""}
        before = value(records, measure="churn_before_ms_per_query", **where)
        after = value(records, measure="churn_after_ms_per_query", **where)
        change = 100.0 * (after - before) / before if before and after is not None else None
        rows.append([library, _config_label(choice.build, choice.setting),
                     _fmt(_rows_per_second(records, "delete_s", base), "int"),
                     _fmt(_rows_per_second(records, "insert_s", base), "int"),
                     _fmt(value(records, measure="rebuild_s", **base)),
                     _fmt(before), _fmt(after), _fmt(change, "pct"),
                     _fmt(value(records, measure="churn_recall@10", **where), "recall")])
    return _table(header, rows) if rows else []


def _rows_per_second(records: list[dict[str, Any]], measure: str, where: dict) -> float | None:
    found = select(records, measure=measure, **where)
    return found[0]["rows"] / found[0]["value"] if found and found[0]["value"] > 0 else None


def machine_line(doc: dict[str, Any]) -> str:
    """One line describing where the numbers come from."""
    machine = doc.get("machine", {})
    parts = [machine.get("cpu", "unknown CPU"), f"{machine.get('threads_used', '?')} threads for every library"]
    if machine.get("gpu"):
        parts.insert(1, machine["gpu"])
    versions = doc.get("versions", {})
    parts.append(", ".join(f"{name} {versions[name]}" for name in ("flatsearch", "torch", "faiss-cpu", "hnswlib")
                           if name in versions))
    return "; ".join(parts)


def markdown(doc: dict[str, Any]) -> str:
    """The full Markdown report of a results document."""
    records = doc["records"]
    batch_sizes = sorted({r["nq"] for r in select(records, measure="qps")})
    lines = [f"## flatsearch benchmark: profile `{doc['profile']}`", "", f"Machine: {machine_line(doc)}.", ""]
    for dataset in datasets(records):
        info = next((d for d in doc.get("datasets", []) if d["name"] == dataset), {})
        size = f" ({info['n_base']:,} rows x {info['dim']})" if info else ""
        sections = [("Search (k=10)", search_table(records, dataset, batch_sizes)),
                    ("Filtered search (batch of 64 queries, best-recall setting per selectivity)",
                     filter_table(records, dataset)),
                    (f"Churn: delete {info.get('n_churn', '?'):,} rows, insert as many new ones, then search"
                     if info else "Churn", churn_table(records, dataset))]
        lines += [f"### {dataset}{size}", ""]
        for title, table in sections:
            if table:
                lines += [f"**{title}**", "", *table, ""]
    notes = dict.fromkeys(f"- {n['dataset']} / {n['library']}: {n['value']}" for n in select(records, measure="note"))
    if notes:
        lines += ["Notes:", "", *notes, ""]
    return "\n".join(lines)
