"""What the student reranker reads for a (query, job) pair, in training and in serving alike.

The query side is the query plus, for a signed-in member, their title, level and
skills and the companies of any soft preference; the job side is, in words, the
attributes the grading policy looks at (work mode, level, age in the policy's
bands, pay, staffing) followed by the posting text. A cross-encoder can only learn a grade from
what it reads.
"""
from __future__ import annotations

import datetime as dt

from .catalog import JobCatalog, JobRecord
from .members import Member
from .plan import QueryPlan
from .seniority import seniority_of
from .text import posting_text

AGE_WORDS = ((7, "posted this week"), (30, "posted this month"), (90, "posted 1-3 months ago"))


def query_side_text(plan: QueryPlan, member: Member | None, catalog: JobCatalog) -> str:
    """The query as the reranker reads it.

    Example:
        >>> query_side_text(QueryPlan("remote data jobs"), None, catalog=None)
        'remote data jobs'
    """
    parts = [" ".join(plan.query.split())]
    if member is not None:
        # Title, level and skills carry the fit; the summary would mostly cost tokens.
        parts.append(f"member: {member.title} (level: {seniority_of(member.title)}); {', '.join(member.skills)}")
    preferred = [catalog.company_names[c] for clause in plan.preferences for c in clause.get("company", {}).get("in", [])
                 if c in catalog.company_names] if catalog is not None else []
    if preferred:
        parts.append("prefers: " + ", ".join(preferred))
    return " | ".join(parts)


def age_words(days: float) -> str:
    """A posting's age in the words the grading policy's thresholds use.

    Example:
        >>> [age_words(d) for d in (0, 12, 45, 200)]
        ['posted this week', 'posted this month', 'posted 1-3 months ago', 'posted over 3 months ago']
    """
    for limit, words in AGE_WORDS:
        if days <= limit:
            return words
    return "posted over 3 months ago"


def job_side_text(record: JobRecord, now: dt.datetime) -> str:
    """The posting as the reranker reads it: work mode, level, age, pay and the staffing flag, then its text.

    The attributes come first so that truncating a long pair (a member's profile and
    a long location list) cuts posting text, not the facts the grade depends on.

    Example:
        >>> from flatsearch.jobsearch.corpus import Posting
        >>> from flatsearch.jobsearch.locations import ParsedLocation
        >>> when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        >>> record = JobRecord(Posting(1, "Data Analyst", "Acme", "Boston, MA", when, salary_min=90000.0),
        ...                    ParsedLocation(work_mode="hybrid"), (), "mid", False)
        >>> job_side_text(record, when + dt.timedelta(days=3))
        'hybrid | level: mid | posted this week | pay $90,000 | Data Analyst. Acme. Boston, MA'
    """
    posting = record.posting
    parts = []
    if record.work_mode != "unknown":
        parts.append(record.work_mode)
    parts.append(f"level: {record.seniority}")
    parts.append(age_words((now - posting.posted_at).total_seconds() / 86400))
    low, high = posting.salary_min, posting.salary_max
    if low is not None or high is not None:
        low, high = low if low is not None else high, high if high is not None else low
        parts.append(f"pay ${low:,.0f}" if low == high else f"pay ${low:,.0f}-${high:,.0f}")
    if record.is_staffing:
        parts.append("staffing agency")
    parts.append(posting_text(posting))
    return " | ".join(parts)
