"""Readable text for a search response: the plan with each filter explained, suggestions,
then the ranked jobs. It reads the ``--json`` form (``SearchResponse.to_dict()``, which the
service returns too), so local and server answers print alike."""
from __future__ import annotations


def pay_text(job: dict) -> str:
    """A job's pay range as text.

    Example:
        >>> pay_text({"salary_min": 90000.0, "salary_max": 120000.0}), pay_text({"salary_min": None, "salary_max": None})
        ('$90,000-$120,000', 'pay not stated')
    """
    low, high = job.get("salary_min"), job.get("salary_max")
    if low is None and high is None:
        return "pay not stated"
    low, high = low or high, high or low
    return f"${low:,.0f}" if low == high else f"${low:,.0f}-${high:,.0f}"


def format_response(response, *, max_suggestions: int = 8) -> str:
    """The response (a ``SearchResponse`` or its ``to_dict()`` form) as lines of text for a terminal.

    Example:
        >>> from flatsearch.jobsearch.pipeline import SearchResponse
        >>> from flatsearch.jobsearch.plan import QueryPlan
        >>> print(format_response(SearchResponse("", QueryPlan("", intent="empty"), message="The query is empty.")))
        Query: ''
        The query is empty.
    """
    data = response if isinstance(response, dict) else {**response.to_dict(), "timings_ms": response.timings_ms}
    plan, query = data["plan"], data["query"]
    lines = [f"Query: {query[:200]!r}" + (" ..." if len(query) > 200 else "")]
    if plan["intent"] == "job_search":
        lines.append(f"Plan ({plan.get('planner', 'rules')}): search for \"{plan['semantic_text'][:200]}\"")
        for e in plan["explanations"]:
            kind = "prefer" if e.get("soft") else ("filter" if e.get("filter") is not None else "rank  ")
            lines.append(f"  {kind}  \"{e['phrase']}\" -> {e['meaning']}")
    for note in plan.get("notes", []):
        lines.append(f"  note: {note}")
    if data.get("message"):
        lines.append(data["message"])
    if data.get("suggestions"):
        lines.append("Suggestions:")
        for s in data["suggestions"][:max_suggestions]:
            if s["kind"] == "relax":
                lines.append(f"  relax: {s['message']}")
            else:
                lines.append(f"  {'refine' if s['kind'] == 'refine' else 'try'} {s['facet']}: {s['value']} ({s['count']} jobs)")
    if data.get("results"):
        lines.append(f"Top {len(data['results'])} jobs (ranked by {data['ranked_by']}):")
        for rank, job in enumerate(data["results"], start=1):
            lines.append(f"{rank:>3}. {job['title']} — {job['company']}")
            lines.append(f"     {job['location']} | {job['remote']} | {pay_text(job)} | posted {job['posted_at'][:10]} | score {job['score']:.3f}")
    timings = data.get("timings_ms") or {}
    if "search" in timings:
        lines.append(f"(search {timings['search']:.1f} ms, total {timings['total']:.1f} ms in the pipeline)")
    return "\n".join(lines)
