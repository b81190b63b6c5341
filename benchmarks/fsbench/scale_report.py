"""Markdown tables and a PNG plot of a ``scale`` profile document (see :mod:`fsbench.scale`).

Example:
    >>> doc = {"config": {"sizes": [10], "nq": 4}, "targets": {}, "records": [], "machine": {}}
    >>> markdown(doc).splitlines()[0]
    '### How each cost grows with N'
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fsbench.scale import FIXED_PASSING, SELECTIVITIES


def _find(doc, **match) -> list[dict[str, Any]]:
    return [r for r in doc["records"] if all(r.get(key) == value for key, value in match.items())]


def _one(doc, **match) -> dict[str, Any] | None:
    found = _find(doc, **match)
    return found[0] if found else None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def _growth_rows(doc, condition: str) -> list[tuple[str, list[float | None], list[float | None]]]:
    sizes = doc["config"]["sizes"]
    nq = doc["config"]["nq"]
    rows = []

    def size_row(label, measure, baseline=True):
        found = [_one(doc, section="size", measure=measure, n=n, condition=condition) for n in sizes]
        values = [r["value"] if r else None for r in found]
        bases = [r.get("baseline_ms") if (r and baseline) else None for r in found]
        rows.append((label, values, bases))

    size_row("build (s)", "build_s", baseline=False)
    size_row("unfiltered nq=1 (ms) / torch.topk(q @ X.T)", "unfiltered_nq1_ms")
    size_row(f"unfiltered nq={nq} (ms) / torch.topk(q @ X.T)", f"unfiltered_nq{nq}_ms")
    for layout in ("random", "aligned"):
        for fraction in SELECTIVITIES:
            found = [_one(doc, section="filter", layout=layout, fraction=fraction, n=n, condition=condition)
                     for n in sizes]
            rows.append((f"{layout} {fraction:.2%} filter, nq={nq} (ms) / topk over gathered passing rows",
                         [r["value"] if r else None for r in found], [r["baseline_ms"] if r else None for r in found]))
    found = [_one(doc, section="filter", layout="random fixed count", n=n, condition=condition) for n in sizes]
    rows.append((f"random filter passing {FIXED_PASSING:,} rows at every N, nq={nq} (ms) / topk over gathered "
                 "passing rows", [r["value"] if r else None for r in found],
                 [r["baseline_ms"] if r else None for r in found]))
    for label, measure in (("append 100k (ms)", "append_ms"), ("delete 100k (ms)", "delete_ms"),
                           ("add 100k into freed slots (ms)", "add_into_freed_ms")):
        size_row(label, measure, baseline=False)
    return rows


def _targets(doc) -> list[tuple[str, str, float | None, float, str]]:
    """(condition, what, measured, target, verdict) for every target the run can judge."""
    out = []
    targets = doc["targets"]
    for condition in ("quiet", "contended"):
        if not _find(doc, condition=condition):
            continue

        def judge(what, measured, target_key):
            target = targets[target_key]
            verdict = "-" if measured is None else ("met" if measured <= target else "NOT met")
            out.append((condition, what, measured, target, verdict))

        at_1m = _one(doc, section="filter", layout="random", fraction=0.001, n=1_000_000, condition=condition)
        judge("1M rows, 0.1% random filter / topk over gathered passing rows",
              at_1m and at_1m["value"] / at_1m["baseline_ms"], "filter_0.1%_vs_gathered_topk_at_1M")
        at_5m = _one(doc, section="filter", layout="random", fraction=0.001, n=5_000_000, condition=condition)
        if at_5m and at_1m:
            judge("0.1% random filter (fixed fraction: 5x the passing rows at 5M): 5M rows / 1M rows",
                  at_5m["value"] / at_1m["value"], "filter_0.1%_5M_over_1M")
        fixed_1m, fixed_5m = (_one(doc, section="filter", layout="random fixed count", n=n, condition=condition)
                              for n in (1_000_000, 5_000_000))
        if fixed_1m and fixed_5m:
            judge(f"random filter passing {FIXED_PASSING:,} rows (fixed count at both sizes): 5M rows / 1M rows",
                  fixed_5m["value"] / fixed_1m["value"], "filter_fixed_count_5M_over_1M")
        for record in _find(doc, section="faiss", condition=condition):
            judge(f"{record['n'] // 1000}k rows, {record['fraction']:.1%} filter / faiss IndexFlatIP + IDSelectorBitmap "
                  f"(ids identical {record['ids_identical']}/{record['nq']})",
                  record["value"] / record["faiss_ms"], "vs_faiss_bitmap")
        for record in _find(doc, section="size", measure=f"unfiltered_nq{doc['config']['nq']}_ms", condition=condition):
            judge(f"{record['n']:,} rows, unfiltered nq={doc['config']['nq']} / torch.topk(q @ X.T)",
                  record["value"] / record["baseline_ms"], "unfiltered_vs_torch")
        small = _one(doc, section="small", condition=condition)
        if small:
            judge(f"{small['n']:,} rows, nq=1 / bare torch", small["value"] / small["baseline_ms"], "nq1_overhead_17k")
        for record in _find(doc, section="size", measure="add_into_freed_ms", condition=condition):
            judge(f"{record['n']:,} rows, add 100k into freed slots (ms)", record["value"], "add_into_freed_ms")
        for record in _find(doc, section="size", measure="delete_ms", condition=condition):
            judge(f"{record['n']:,} rows, delete 100k (ms)", record["value"], "delete_ms")
        rounds = sorted(_find(doc, section="churn", condition=condition), key=lambda r: r["value"])
        if len(rounds) >= 2:
            last, first = rounds[-1], rounds[0]
            judge(f"churn, {last['value']} rounds of 10%: bytes / live rows' bytes", last["bytes"] / last["live_bytes"],
                  "churn_bytes_over_live")
            judge(f"churn: search latency, round {last['value']} / round {first['value']}",
                  last["search_ms"] / first["search_ms"], "churn_latency_last_over_first")
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The growth table (one column per N, the baseline beside each value) and the targets table."""
    sizes = doc["config"]["sizes"]
    lines = ["### How each cost grows with N", ""]
    for condition in ("quiet", "contended"):
        rows = _growth_rows(doc, condition)
        if not any(v is not None for _, values, _ in rows for v in values):
            continue
        loads = [r["load"] for r in _find(doc, condition=condition)]
        what = "one CPU-bound process added by the benchmark" if condition == "contended" else \
            "no load added by the benchmark"
        lines.append(f"Condition: {condition} ({what}; machine load average {min(loads):.1f} to {max(loads):.1f} "
                     "during these records)")
        lines.append("")
        header = "| measure | " + " | ".join(f"N={n:,}" for n in sizes) + " | last / first N |"
        lines += [header, "|" + "---|" * (len(sizes) + 2)]
        for label, values, bases in rows:
            if all(v is None for v in values):
                continue
            cells = [_fmt(v) + ("" if b is None else f" / {_fmt(b)}") for v, b in zip(values, bases)]
            known = [v for v in values if v is not None]
            growth = f"{known[-1] / known[0]:.2f}x" if len(known) >= 2 and known[0] else "-"
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} |")
        lines.append("")
    lines += ["### Targets", "", "| condition | ratio | measured | target | verdict |", "|---|---|---|---|---|"]
    for condition, what, measured, target, verdict in _targets(doc):
        lines.append(f"| {condition} | {what} | {_fmt(measured)} | <= {_fmt(target)} | {verdict} |")
    machine = doc.get("machine", {})
    if machine:
        lines += ["", f"Machine: {machine.get('cpu')}, {machine.get('cpu_cores')} cores, {machine.get('threads_used')} "
                  f"threads; load average at start {machine.get('load_average_at_start')}, at end "
                  f"{doc.get('load_average_at_end')}; {doc.get('started')} to {doc.get('finished')}."]
    return "\n".join(lines)


def save_plot(doc: dict[str, Any], stem: Path) -> list[Path]:
    """One PNG: filtered and unfiltered search time against N (log-log), baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = doc["config"]["sizes"]
    if not doc["records"]:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, fraction in zip(colours, SELECTIVITIES):
        found = [_one(doc, section="filter", layout="random", fraction=fraction, n=n, condition="quiet") for n in sizes]
        points = [(n, r) for n, r in zip(sizes, found) if r]
        if not points:
            continue
        xs = [n for n, _ in points]
        left.plot(xs, [r["value"] for _, r in points], "o-", color=colour, label=f"flatsearch {fraction:.2%}")
        left.plot(xs, [r["baseline_ms"] for _, r in points], "x--", color=colour, alpha=0.6,
                  label=f"topk over gathered {fraction:.2%}")
    nq = doc["config"]["nq"]
    for colour, measure in zip(colours, ("unfiltered_nq1_ms", f"unfiltered_nq{nq}_ms")):
        found = [_one(doc, section="size", measure=measure, n=n, condition="quiet") for n in sizes]
        points = [(n, r) for n, r in zip(sizes, found) if r]
        if points:
            xs = [n for n, _ in points]
            right.plot(xs, [r["value"] for _, r in points], "o-", color=colour, label=f"flatsearch {measure[11:-3]}")
            right.plot(xs, [r["baseline_ms"] for _, r in points], "x--", color=colour, alpha=0.6,
                       label=f"torch.topk(q @ X.T) {measure[11:-3]}")
    for axis, title in ((left, f"random filters, nq={nq}"), (right, "unfiltered")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("rows (N)")
        axis.set_ylabel("ms per search call")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    machine = doc.get("machine", {})
    fig.suptitle(f"flatsearch scale profile, {machine.get('cpu', '')}, load {machine.get('load_average_at_start')}",
                 fontsize=9)
    fig.tight_layout()
    path = stem.with_name(stem.name + "_scale.png")
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return [path]
