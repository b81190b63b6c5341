"""PNG plots of a results document: recall vs latency, filters, churn.

Each plot has one row per dataset that has the measure. Plots read the same
choices as the Markdown report (see :mod:`fsbench.summary`).

Example:
    >>> import tempfile, pathlib
    >>> paths = save_plots({"records": []}, pathlib.Path(tempfile.mkdtemp()) / "run")
    >>> paths
    []
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fsbench.records import select
from fsbench.summary import best_recall_choice, configurations, datasets, libraries, value

COLOURS = {"flatsearch": "tab:red", "torch-topk": "tab:gray", "faiss-flat": "tab:blue", "faiss-hnsw": "tab:green",
           "hnswlib": "tab:olive", "faiss-ivfflat": "tab:purple", "faiss-ivfpq": "tab:orange"}
MARKERS = "osD^v<>ph*"
DPI = 60


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(n_rows: int, title: str):
    plt = _pyplot()
    fig, axes = plt.subplots(n_rows, 2, figsize=(10, 3.1 * n_rows), squeeze=False)
    fig.suptitle(title)
    return plt, fig, axes


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, pil_kwargs={"optimize": True})
    plt.close(fig)
    return path


def _plain_log_ticks(ax) -> None:
    from matplotlib.ticker import NullFormatter

    # Minor tick labels on a log axis spanning decades overlap; the decades are enough.
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() == "log" and limits[0] > 0 and limits[1] / limits[0] >= 10:
            axis.set_minor_formatter(NullFormatter())


def _log_x_panel(ax, *, xlabel: str, ylabel: str, title: str) -> None:
    """Log x axis, labels, title and grid of one panel."""
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)


def recall_latency(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Recall@10 against nq=1 median latency and against per-query time in the largest batch."""
    names = [d for d in datasets(records) if select(records, dataset=d, measure="recall@10")]
    if not names:
        return None
    largest = max(r["nq"] for r in select(records, measure="qps"))
    plt, fig, axes = _figure(len(names), "Recall@10 vs latency (up and left is better)")
    for row, dataset in enumerate(names):
        for col, (measure, extra, to_ms, xlabel) in enumerate((
                ("latency_p50_ms", {}, lambda ms: ms, "median latency, nq=1 (ms)"),
                ("qps", {"nq": largest}, lambda qps: 1e3 / qps, f"time per query in a batch of {largest} (ms)"))):
            ax = axes[row][col]
            for library in libraries(records, dataset):
                for b, build in enumerate(dict.fromkeys(b for b, _ in configurations(records, dataset, library,
                                                                                       "recall@10"))):
                    settings = [s for bb, s in configurations(records, dataset, library, "recall@10") if bb == build]
                    where = {"dataset": dataset, "library": library, "build": build}
                    xs = [to_ms(value(records, measure=measure, setting=s, **where, **extra)) for s in settings]
                    ys = [value(records, measure="recall@10", setting=s, **where) for s in settings]
                    ax.plot(xs, ys, marker=MARKERS[b % len(MARKERS)], color=COLOURS.get(library),
                            label=f"{library} {build}".strip(), linewidth=1, markersize=4)
            _log_x_panel(ax, xlabel=xlabel, ylabel="recall@10", title=dataset)
            _plain_log_ticks(ax)
        axes[row][1].legend(fontsize=6, loc="lower right")
    return _save(plt, fig, path)


def filters(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Per-query time and recall@10 against the share of rows passing the filter."""
    names = [d for d in datasets(records) if select(records, dataset=d, measure="filter_recall@10")]
    if not names:
        return None
    plt, fig, axes = _figure(len(names), "Filtered search (best-recall setting of each library)")
    for row, dataset in enumerate(names):
        selectivities = sorted({r["selectivity"] for r in select(records, dataset=dataset, measure="filter_recall@10")})
        for library in libraries(records, dataset):
            times, recalls = [], []
            for selectivity in selectivities:
                choice = best_recall_choice(records, dataset, library, "filter_recall@10", "filter_ms_per_query",
                                            selectivity=selectivity)
                if choice is None:
                    break
                where = {"dataset": dataset, "library": library, "build": choice.build, "setting": choice.setting,
                         "selectivity": selectivity}
                times.append(value(records, measure="filter_ms_per_query", **where))
                recalls.append(value(records, measure="filter_recall@10", **where))
            if not times:
                continue
            axes[row][0].plot(selectivities, times, marker="o", color=COLOURS.get(library), label=library)
            axes[row][1].plot(selectivities, recalls, marker="o", color=COLOURS.get(library), label=library)
        for col, ylabel in enumerate(("ms per query (batch of 64)", "recall@10")):
            _log_x_panel(axes[row][col], xlabel="share of rows passing the filter", ylabel=ylabel, title=dataset)
        axes[row][0].set_yscale("log")
        for ax in axes[row]:
            _plain_log_ticks(ax)
        axes[row][1].legend(fontsize=7, loc="best")
    return _save(plt, fig, path)


def churn(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Search time before and after churn, and the time the churn itself took."""
    names = [d for d in datasets(records) if select(records, dataset=d, measure="churn_recall@10")]
    if not names:
        return None
    plt, fig, axes = _figure(len(names), "Churn: delete 10% and insert as many new rows")
    for row, dataset in enumerate(names):
        labels, before, after, update = [], [], [], []
        for library in libraries(records, dataset):
            choice = best_recall_choice(records, dataset, library, "churn_recall@10", "churn_after_ms_per_query")
            if choice is None:
                continue
            where = {"dataset": dataset, "library": library, "build": choice.build, "setting": choice.setting}
            base = {"dataset": dataset, "library": library, "build": choice.build, "setting": ""}
            labels.append(library)
            before.append(value(records, measure="churn_before_ms_per_query", **where))
            after.append(value(records, measure="churn_after_ms_per_query", **where))
            seconds = value(records, measure="rebuild_s", **base)
            if seconds is None:
                seconds = sum(value(records, measure=m, **base) or 0 for m in ("delete_s", "insert_s"))
            update.append(seconds)
        positions = range(len(labels))
        ax = axes[row][0]
        ax.bar([p - 0.2 for p in positions], before, width=0.4, label="before churn", color="tab:blue")
        ax.bar([p + 0.2 for p in positions], after, width=0.4, label="after churn", color="tab:orange")
        ax.set_ylabel("ms per query (batch of 64)")
        ax.legend(fontsize=7)
        ax = axes[row][1]
        ax.bar(list(positions), update, color=[COLOURS.get(lib, "tab:gray") for lib in labels])
        ax.set_yscale("log")
        ax.set_ylabel("delete + insert, or rebuild (s)")
        for col in (0, 1):
            axes[row][col].set_xticks(list(positions), labels, rotation=30, fontsize=7)
            axes[row][col].set_title(dataset, fontsize=9)
            axes[row][col].grid(True, axis="y", alpha=0.3)
    return _save(plt, fig, path)


def save_plots(doc: dict[str, Any], stem: Path) -> list[Path]:
    """Write ``<stem>_recall_latency.png``, ``<stem>_filters.png`` and ``<stem>_churn.png`` where there is data."""
    stem = Path(stem)
    made = [recall_latency(doc["records"], stem.with_name(stem.name + "_recall_latency.png")),
            filters(doc["records"], stem.with_name(stem.name + "_filters.png")),
            churn(doc["records"], stem.with_name(stem.name + "_churn.png"))]
    return [path for path in made if path is not None]
