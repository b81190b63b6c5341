"""Caches: bounded, expiring caches for query plans, and start-up data kept in the cache folder.

Plans for queries without a member are shared by everyone and kept apart from
personalised plans, which are keyed by (member, query). Both are size-bounded
with a time to live, so a changed profile or network is picked up after the TTL.
Query embeddings are cached by the encoder (:class:`~.embedding.Encoder`).

What every start derives from the postings (the catalog's attributes, the planner's
vocabularies) is kept as JSON under the cache folder by :func:`cached_json`, keyed by
its inputs: the postings, the place table and the job search's own code
(:func:`source_key`). Entries built from older inputs are removed by :func:`prune_cache`.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import pathlib
import shutil
import tempfile
import threading
import time
from typing import Callable

from cachetools import TTLCache

from .plan import QueryPlan


class QueryPlanCache:
    """Two TTL caches of query plans (what the planner read from a query text): one for anonymous queries, one for
    members' queries; entries are copied in and out so callers may edit them.

    Example:
        >>> cache = QueryPlanCache(maxsize=2, ttl_s=60)
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
        return (" ".join(query.split()), None if now is None else int(now.timestamp()) // 60)

    def get(self, query: str, member_id: str | None, *, now: dt.datetime | None) -> QueryPlan | None:
        store, key = (self.public, self._key(query, now)) if member_id is None else (self.personal, (member_id, *self._key(query, now)))
        with self._lock:
            stored = store.get(key)
            if stored is None:
                self.misses += 1
                return None
            self.hits += 1
        return QueryPlan.from_dict(stored)

    def clear(self) -> None:
        """Forget every plan (postings changed: pay thresholds and company ids in plans may be stale)."""
        with self._lock:
            self.public.clear()
            self.personal.clear()

    def put(self, plan: QueryPlan, *, now: dt.datetime | None) -> None:
        stored = plan.to_dict()
        with self._lock:
            if plan.member_id is None:
                self.public[self._key(plan.query, now)] = stored
            else:
                self.personal[(plan.member_id, *self._key(plan.query, now))] = stored


# -- start-up data kept in the cache folder -----------------------------------------------------------------
STARTUP_FORMAT = 1  # bump when the layout of a start-up entry changes


@functools.lru_cache(maxsize=1)
def source_key() -> str:
    """A hash of the job search's own code and data files: start-up data derived by that code is cached under
    it, so editing any rule (location parsing, seniority, the planner's vocabularies) rebuilds it.

    Example:
        >>> len(source_key()), source_key() == source_key()
        (16, True)
    """
    root = pathlib.Path(__file__).parent
    digest = hashlib.sha256(f"{STARTUP_FORMAT}".encode())
    for path in sorted([*root.glob("*.py"), *(root / "data").glob("*")]):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def entry_key(*parts: object) -> str:
    """A short stable hash of JSON-serialisable parts (the inputs a cache entry is built from).

    Example:
        >>> entry_key("a", 1) == entry_key("a", 1) != entry_key("a", 2)
        True
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_json(cache_dir: str | os.PathLike | None, name: str, key: str, build: Callable[[], dict]) -> dict:
    """The JSON object stored as ``<cache_dir>/<name>-<key>.json``, or ``build()`` saved there when it is
    missing or unreadable. Data only: the file is parsed with ``json.loads``, never executed or unpickled,
    and written atomically (a temporary file, then a rename), so a reader sees a whole entry or none.
    With ``cache_dir`` None nothing is stored.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> cached_json(folder, "demo", "k1", lambda: {"n": 1}), cached_json(folder, "demo", "k1", lambda: {"n": 2})
        ({'n': 1}, {'n': 1})
    """
    if cache_dir is None:
        return build()
    path = pathlib.Path(cache_dir) / f"{name}-{key}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_bytes())
            if isinstance(stored, dict):
                return stored
            raise ValueError(f"expected a JSON object, got {type(stored).__name__}")
        except (OSError, ValueError) as error:
            logging.getLogger(__name__).warning("cache entry %s is unreadable (%s); rebuilding it", path, error)
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"), ensure_ascii=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return data


# -- pruning -------------------------------------------------------------------------------------------------------
STALE_AFTER_DAYS = 7.0  # an entry nobody has used for this long is removed
KEEP_RECENT = 3         # and of each kind, only this many most recently used entries are kept (after a grace hour)
GRACE_S = 3600.0        # an entry written or used this recently is never removed: another process may be starting with it
# Each kind of start-up entry: (name prefix, name suffix). The key between them changes with the inputs.
ENTRY_KINDS = (("bm25-", ""), ("gazetteer-", ".sqlite"), ("jobs-", ".fsx"), ("catalog-", ".json"), ("planner-", ".json"))


def prune_cache(cache_dir: str | os.PathLike, in_use, *, now: float | None = None, stale_after_days: float = STALE_AFTER_DAYS,
                keep: int = KEEP_RECENT) -> list[pathlib.Path]:
    """Remove start-up entries of the cache folder that no longer match their inputs; returns what was removed.

    The entries in ``in_use`` (this process's) are marked as used now (their modification time), so several
    checkouts or versions sharing one folder each keep theirs while they run. Any other entry of a kind in
    ``ENTRY_KINDS`` goes when it has not been used for ``stale_after_days``, or when ``keep`` more recently
    used entries of its kind exist; an entry used within the last hour always stays. Half-written leftovers
    (``*.tmp`` files, ``.bm25-*`` staging folders) older than a day go too. Failures (a file another process
    removed first, a read-only folder) are skipped: pruning never stops a search from starting.

    Example:
        >>> import tempfile, time
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("catalog-old.json", "catalog-new.json", "notes.txt"):
        ...     _ = (folder / name).write_text("{}")
        >>> week_ago = time.time() - 8 * 86400
        >>> os.utime(folder / "catalog-old.json", (week_ago, week_ago))
        >>> [p.name for p in prune_cache(folder, [folder / "catalog-new.json"])], sorted(p.name for p in folder.iterdir())
        (['catalog-old.json'], ['catalog-new.json', 'notes.txt'])
    """
    folder = pathlib.Path(cache_dir)
    now = time.time() if now is None else now
    used = {pathlib.Path(p).resolve() for p in in_use if p is not None}
    for path in used:
        try:
            os.utime(path, (now, now))
        except OSError:
            pass
    removed: list[pathlib.Path] = []

    def remove(path: pathlib.Path) -> None:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass

    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for prefix, suffix in ENTRY_KINDS:
        kind = []
        for path in entries:
            name = path.name
            if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
                try:
                    kind.append((path.stat().st_mtime, path))
                except OSError:
                    continue
        kind.sort(key=lambda item: -item[0])
        for rank, (used_at, path) in enumerate(kind):
            if path.resolve() in used or now - used_at < GRACE_S:
                continue
            if now - used_at > stale_after_days * 86400 or rank >= keep:
                remove(path)
    for path in entries:
        if path.name.endswith(".tmp") or (path.name.startswith(".bm25-") and path.is_dir()):
            try:
                if now - path.stat().st_mtime > 86400:
                    remove(path)
            except OSError:
                continue
    return removed
