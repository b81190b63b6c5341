"""The text that stands for a posting wherever a model reads it (bi-encoder embeddings
now, a cross-encoder reranker later): one function, so every model sees the same thing."""
from __future__ import annotations

from .corpus import Posting


def posting_text(posting: Posting) -> str:
    """Render a posting as "title. company. department. category. location[. description]".

    Example:
        >>> import datetime as dt
        >>> p = Posting(1, "Data Analyst", "Acme", "Boston, MA", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        ...             department="Finance", category="data")
        >>> posting_text(p)
        'Data Analyst. Acme. Finance. data. Boston, MA'
    """
    parts = [posting.title, posting.company, posting.department, posting.category, posting.location, posting.description]
    return ". ".join(" ".join(part.split()) for part in parts if part and part.strip())
