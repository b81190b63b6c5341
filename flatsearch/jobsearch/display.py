"""Readable text for a search response: the plan with each filter explained, suggestions,
then the ranked jobs."""
from __future__ import annotations

from .pipeline import JobResult, SearchResponse


def _pay(job: JobResult) -> str:
    if job.salary_min is None and job.salary_max is None:
        return "pay not stated"
    low, high = job.salary_min or job.salary_max, job.salary_max or job.salary_min
    return f"${low:,.0f}" if low == high else f"${low:,.0f}-${high:,.0f}"


def format_response(response: SearchResponse, *, max_suggestions: int = 8) -> str:
    """The response as lines of text for a terminal.

    Example:
        >>> from flatsearch.jobsearch.plan import QueryPlan
        >>> print(format_response(SearchResponse("", QueryPlan("", intent="empty"), message="The query is empty.")))
        Query: ''
        The query is empty.
    """
    plan = response.plan
    lines = [f"Query: {response.query[:200]!r}" + (" ..." if len(response.query) > 200 else "")]
    if plan.intent == "job_search":
        lines.append(f"Plan ({plan.planner}): search for \"{plan.semantic_text[:200]}\"")
        for e in plan.explanations:
            kind = "prefer" if e.soft else ("filter" if e.filter is not None else "rank  ")
            lines.append(f"  {kind}  \"{e.phrase}\" -> {e.meaning}")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    if response.message:
        lines.append(response.message)
    if response.suggestions:
        lines.append("Suggestions:")
        for s in response.suggestions[:max_suggestions]:
            if s["kind"] == "relax":
                lines.append(f"  relax: {s['message']}")
            else:
                lines.append(f"  {'refine' if s['kind'] == 'refine' else 'try'} {s['facet']}: {s['value']} ({s['count']} jobs)")
    if response.results:
        lines.append(f"Top {len(response.results)} jobs (ranked by {response.ranked_by}):")
        for rank, job in enumerate(response.results, start=1):
            lines.append(f"{rank:>3}. {job.title} — {job.company}")
            lines.append(f"     {job.location} | {job.remote} | {_pay(job)} | posted {job.posted_at[:10]} | score {job.score:.3f}")
    if "search" in response.timings_ms:
        lines.append(f"(search {response.timings_ms['search']:.1f} ms, total {response.timings_ms['total']:.1f} ms)")
    return "\n".join(lines)
