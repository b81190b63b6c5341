"""Bounded, expiring caches for query plans.

Plans for queries without a member are shared by everyone and kept apart from
personalised plans, which are keyed by (member, query). Both are size-bounded
with a time to live, so a changed profile or network is picked up after the TTL.
Query embeddings are cached by the encoder (:class:`~.embedding.Encoder`).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Callable

from cachetools import TTLCache

from .plan import QueryPlan


class PlanCache:
    """Two TTL caches of plans; entries are copied in and out so callers may edit them.

    Example:
        >>> cache = PlanCache(maxsize=2, ttl_s=60)
        >>> cache.put(QueryPlan("data jobs", semantic_text="data"), now=None)
        >>> cache.get("data jobs", None, now=None).semantic_text, cache.get("data jobs", "m001", now=None)
        ('data', None)
    """

    def __init__(self, *, maxsize: int = 1024, ttl_s: float = 600.0, personal_maxsize: int = 1024, personal_ttl_s: float = 300.0,
                 timer: Callable[[], float] = time.monotonic):
        for name, value in (("maxsize", maxsize), ("personal_maxsize", personal_maxsize)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        for name, value in (("ttl_s", ttl_s), ("personal_ttl_s", personal_ttl_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")
        self.public: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s, timer=timer)
        self.personal: TTLCache = TTLCache(maxsize=personal_maxsize, ttl=personal_ttl_s, timer=timer)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()  # cachetools caches are not thread-safe; the service searches from several threads

    @staticmethod
    def _key(query: str, now: dt.datetime | None) -> tuple:
        # Recency clauses hold absolute times, so a plan is only reused within the same minute.
        return (" ".join(query.split()).casefold(), None if now is None else int(now.timestamp()) // 60)

    def get(self, query: str, member_id: str | None, *, now: dt.datetime | None) -> QueryPlan | None:
        store, key = (self.public, self._key(query, now)) if member_id is None else (self.personal, (member_id, *self._key(query, now)))
        with self._lock:
            stored = store.get(key)
            if stored is None:
                self.misses += 1
                return None
            self.hits += 1
        return QueryPlan.from_dict(stored)

    def put(self, plan: QueryPlan, *, now: dt.datetime | None) -> None:
        stored = plan.to_dict()
        with self._lock:
            if plan.member_id is None:
                self.public[self._key(plan.query, now)] = stored
            else:
                self.personal[(plan.member_id, *self._key(plan.query, now))] = stored
