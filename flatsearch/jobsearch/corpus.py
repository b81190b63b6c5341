"""Job postings: the bundled corpus and user files in CSV or JSONL.

A posting file (CSV with a header row, or JSON Lines with one object per line)
has these fields:

==============  ========  ==========================================================
field           required  meaning
==============  ========  ==========================================================
id              yes       unique non-negative integer
title           yes       job title
company         yes       employer name
location        yes       free-text location, e.g. "Seattle, WA - Remote"
company_domain  no        e.g. "stripe.com" (used by the staffing rules)
department      no        e.g. "Platform Engineering"
category        no        e.g. "engineering"
url             no        link to the posting
posted_at       no        ISO 8601 time (naive times are UTC); missing = load time
salary_min      no        yearly pay in USD (hourly figures below 1,000 are x2080)
salary_max      no        as salary_min
description     no        free text, embedded with the title when present
==============  ========  ==========================================================
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import pathlib
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

HOURS_PER_YEAR = 2080
HOURLY_CEILING = 1000.0
REQUIRED_FIELDS = ("id", "title", "company", "location")
OPTIONAL_FIELDS = ("company_domain", "department", "category", "url", "posted_at", "salary_min", "salary_max", "description")


@dataclass(frozen=True)
class Posting:
    """One job posting, cleaned: times are timezone-aware UTC, pay is yearly USD or None."""

    id: int
    title: str
    company: str
    location: str
    posted_at: dt.datetime
    company_domain: str = ""
    department: str = ""
    category: str = ""
    url: str = ""
    salary_min: float | None = None
    salary_max: float | None = None
    description: str = field(default="", repr=False)


@dataclass(frozen=True)
class Corpus:
    """Postings plus the reference time that "recent" is measured from.

    ``reference_time`` is the newest posting time for a frozen snapshot (the
    bundled corpus) and None for live data, meaning "now".
    """

    postings: tuple[Posting, ...]
    name: str
    reference_time: dt.datetime | None = None

    def __len__(self) -> int:
        return len(self.postings)

    def head(self, n: int) -> "Corpus":
        """The first n postings, for quick experiments and tests.

        Example:
            >>> load_bundled_corpus().head(3).postings[0].company != ""
            True
        """
        postings = self.postings[:n]
        newest = max((p.posted_at for p in postings), default=None) if self.reference_time else None
        return Corpus(postings, f"{self.name}[:{n}]", newest)


def parse_time(value: Any, *, name: str) -> dt.datetime:
    """ISO 8601 text (a trailing Z is allowed) or a datetime, as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: expected an ISO 8601 time such as 2026-01-10T16:46:36Z, got {value!r}") from None
    else:
        raise TypeError(f"{name}: expected an ISO 8601 string or datetime, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _yearly_pay(value: Any, *, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        amount = float(str(value).replace(",", "").replace("$", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{name}: expected a finite non-negative number, got {value!r}")
    # Some employers publish hourly rates; a yearly salary is never below this ceiling.
    return amount * HOURS_PER_YEAR if 0 < amount < HOURLY_CEILING else amount


def posting_from_record(record: Mapping[str, Any], *, where: str, default_time: dt.datetime) -> Posting:
    """Build a Posting from one record of the documented schema (missing optional fields allowed)."""
    missing = [key for key in REQUIRED_FIELDS if record.get(key) in (None, "")]
    if missing:
        raise ValueError(f"{where}: missing required field(s) {', '.join(missing)}; required are {', '.join(REQUIRED_FIELDS)}")
    try:
        posting_id = int(str(record["id"]).strip())
    except ValueError:
        raise ValueError(f"{where}: field id: expected an integer, got {record['id']!r}") from None
    if posting_id < 0:
        raise ValueError(f"{where}: field id: expected a non-negative integer, got {posting_id}")
    posted = record.get("posted_at")
    salary_min = _yearly_pay(record.get("salary_min"), name=f"{where}: field salary_min")
    salary_max = _yearly_pay(record.get("salary_max"), name=f"{where}: field salary_max")
    if salary_min is not None and salary_max is not None and salary_min > salary_max:
        raise ValueError(f"{where}: salary_min ({salary_min:g}) is above salary_max ({salary_max:g})")
    return Posting(
        id=posting_id,
        title=str(record["title"]).strip(),
        company=str(record["company"]).strip(),
        location=str(record["location"]).strip(),
        posted_at=parse_time(posted, name=f"{where}: field posted_at") if posted not in (None, "") else default_time,
        company_domain=str(record.get("company_domain") or "").strip().lower(),
        department=str(record.get("department") or "").strip(),
        category=str(record.get("category") or "").strip().lower(),
        url=str(record.get("url") or "").strip(),
        salary_min=salary_min,
        salary_max=salary_max,
        description=str(record.get("description") or "").strip(),
    )


def _unique(postings: Iterable[Posting], *, source: str) -> tuple[Posting, ...]:
    seen: dict[int, Posting] = {}
    for posting in postings:
        if posting.id in seen and seen[posting.id] != posting:
            raise ValueError(f"{source}: id {posting.id} appears twice with different contents")
        seen[posting.id] = posting
    return tuple(seen.values())



def json_lines(path: pathlib.Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON Lines file; a bad line raises ValueError naming it."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path.name} line {number}: expected a JSON object, got invalid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path.name} line {number}: expected a JSON object, got {type(row).__name__}")
            rows.append((number, row))
    return rows


def load_postings(path: str | os.PathLike, *, now: dt.datetime | None = None) -> Corpus:
    """Read postings from a .csv or .jsonl file in the documented schema.

    Recency for a user file is measured from the current time.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "jobs.csv"
        >>> _ = path.write_text("id,title,company,location,posted_at\\n1,Data Analyst,Acme,Boston MA,2026-01-02\\n")
        >>> load_postings(path).postings[0].title
        'Data Analyst'
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"path: expected an existing .csv or .jsonl file, got {str(path)!r}")
    default_time = now or dt.datetime.now(dt.timezone.utc)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            records = [(f"{path.name} line {i + 2}", row) for i, row in enumerate(csv.DictReader(handle))]
    elif suffix in (".jsonl", ".ndjson"):
        records = [(f"{path.name} line {number}", row) for number, row in json_lines(path)]
    else:
        raise ValueError(f"path: expected a file ending in .csv or .jsonl, got {path.name!r}")
    postings = _unique((posting_from_record(row, where=where, default_time=default_time) for where, row in records), source=path.name)
    return Corpus(postings, path.name, None)


def load_bundled_corpus() -> Corpus:
    """The network-jobs-data snapshot (about 17k real postings), deduplicated by id.

    Recency is measured from its newest posting, since the snapshot is frozen.
    """
    import network_jobs_data

    root = pathlib.Path(next(iter(network_jobs_data.__path__)))
    postings = []
    for manifest_path in sorted(root.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for entry in manifest["categories"].values():
            source = manifest_path.parent / entry["file"]
            for row in json.loads(source.read_text(encoding="utf-8")):
                salary = row.get("salary") or {}
                first_seen = parse_time(row["firstSeen"], name=f"{source.name}: firstSeen")
                record = {
                    "id": row["id"], "title": row["title"], "company": row["company"], "location": row["location"],
                    "company_domain": row.get("companyDomain"), "department": row.get("department"),
                    "category": row.get("category"), "url": row.get("url"), "posted_at": row.get("postedAt") or first_seen,
                    "salary_min": salary.get("min"), "salary_max": salary.get("max"),
                }
                postings.append(posting_from_record(record, where=f"{source.name} id {row['id']}", default_time=first_seen))
    # The same listing can appear under two advisors' folders; keep the first copy.
    first: dict[int, Posting] = {}
    for posting in postings:
        first.setdefault(posting.id, posting)
    unique = tuple(first.values())
    return Corpus(unique, "network-jobs-data", max(p.posted_at for p in unique))


_POSTING_FIELDS = tuple(f.name for f in fields(Posting))  # in the order Posting takes them


def corpus_to_data(corpus: Corpus) -> dict:
    """A corpus as JSON-serialisable columns (times as ISO 8601 text, so they round-trip exactly); see :func:`corpus_from_data`.

    Example:
        >>> small = load_bundled_corpus().head(3)
        >>> corpus_from_data(corpus_to_data(small)) == small
        True
    """
    columns = {name: [getattr(p, name) for p in corpus.postings] for name in _POSTING_FIELDS}
    columns["posted_at"] = [t.isoformat() for t in columns["posted_at"]]
    return {"name": corpus.name, "reference_time": corpus.reference_time.isoformat() if corpus.reference_time else None, "columns": columns}


def corpus_from_data(data: dict) -> Corpus:
    """The corpus :func:`corpus_to_data` wrote."""
    columns = data["columns"]
    columns = {**columns, "posted_at": [dt.datetime.fromisoformat(t) for t in columns["posted_at"]]}
    postings = tuple(Posting(*row) for row in zip(*(columns[name] for name in _POSTING_FIELDS), strict=True))
    reference = data["reference_time"]
    return Corpus(postings, str(data["name"]), dt.datetime.fromisoformat(reference) if reference else None)


def corpus_digest(corpus: Corpus) -> str:
    """A hash of every posting's fields: two corpora with the same digest hold the same postings."""
    import hashlib

    return hashlib.sha256(json.dumps(corpus_to_data(corpus), ensure_ascii=False).encode()).hexdigest()[:16]


def bundled_corpus_key() -> str:
    """Identifies the installed network-jobs-data files by name, size and modification time (as Python
    checks its own bytecode caches), without reading them."""
    import hashlib

    import network_jobs_data

    root = pathlib.Path(next(iter(network_jobs_data.__path__)))
    stats = [(path.relative_to(root).as_posix(), path.stat().st_size, path.stat().st_mtime_ns)
             for path in sorted(root.rglob("*.json"))]
    return hashlib.sha256(json.dumps([str(root), stats]).encode()).hexdigest()[:16]
