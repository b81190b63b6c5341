"""Postings turned into index columns: ids for companies and categories, seniority,
GeoNames tags, work mode, times, pay, staffing flag and the engagement prior.

Columns of the job index (``ATTRIBUTES``):

============  =====  ==============================================================
column        kind   value
============  =====  ==============================================================
geo           tags   GeoNames ids of each place plus its state, country, continent
                     and curated metros (see :mod:`flatsearch.jobsearch.gazetteer`)
work_mode     int    0 unknown, 1 onsite, 2 hybrid, 3 remote
company       int    company id (``JobCatalog.company_ids``)
category      int    category id (``JobCatalog.category_ids``)
seniority     int    level code (:mod:`flatsearch.jobsearch.seniority`)
posted_at     time   postedAt, else first seen
salary_min    float  yearly USD, null when unknown
salary_max    float  yearly USD, null when unknown
salary_mid    float  (min + max) / 2, null when unknown
is_staffing   bool   staffing/sourcing agency (:mod:`flatsearch.jobsearch.staffing`)
engagement    float  engagement prior at the anchor time (:mod:`flatsearch.jobsearch.scoring`)
title_terms   tags   ids of the title's words and two-word phrases (``JobCatalog.title_term_ids``),
                     so a query can exclude titles by word ("anything but sales")
============  =====  ==============================================================
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from .corpus import Corpus, Posting
from .gazetteer import Gazetteer, fold
from .locations import WORK_MODE_CODES, ParsedLocation, parse_location
from .scoring import stored_engagement
from .seniority import LEVEL_CODES, seniority_of
from .staffing import StaffingRules
from .text import posting_text

ATTRIBUTES = {
    "geo": "tags", "work_mode": "int", "company": "int", "category": "int", "seniority": "int", "posted_at": "time",
    "salary_min": "float", "salary_max": "float", "salary_mid": "float", "is_staffing": "bool", "engagement": "float",
    "title_terms": "tags",
}
SCHEMA_VERSION = 2  # part of the index fingerprint: bump when a column's meaning changes


def title_terms(title: str) -> set[str]:
    """Folded words and adjacent word pairs of a title ("Senior Account Executive" -> senior, account,
    executive, "senior account", "account executive").

    Example:
        >>> sorted(title_terms("Sales Engineer, EMEA"))
        ['emea', 'engineer', 'engineer emea', 'sales', 'sales engineer']
    """
    words = re.findall(r"[a-z0-9][a-z0-9+#&]*", fold(title))
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


@dataclass(frozen=True)
class JobRecord:
    """A posting with everything derived from it."""

    posting: Posting
    location: ParsedLocation
    geo_ids: tuple[int, ...]
    seniority: str
    is_staffing: bool

    @property
    def work_mode(self) -> str:
        return self.location.work_mode


class JobCatalog:
    """All postings of a corpus with their derived attributes and id tables.

    Example:
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> catalog = JobCatalog(load_bundled_corpus().head(50), Gazetteer())
        >>> columns = catalog.columns()
        >>> sorted(columns) == sorted(ATTRIBUTES) and len(columns["geo"]) == 50
        True
    """

    def __init__(self, corpus: Corpus, gazetteer: Gazetteer, *, staffing: StaffingRules | None = None,
                 anchor_time: dt.datetime | None = None):
        if not corpus.postings:
            raise ValueError("corpus: expected at least one posting, got none")
        staffing = staffing or StaffingRules()
        self.corpus = corpus
        self.gazetteer = gazetteer
        parsed: dict[str, ParsedLocation] = {}
        self.records: dict[int, JobRecord] = {}
        for posting in corpus.postings:
            location = parsed.get(posting.location)
            if location is None:
                location = parsed[posting.location] = parse_location(posting.location, gazetteer)
            self.records[posting.id] = JobRecord(posting, location, tuple(location.tags(gazetteer)), seniority_of(posting.title),
                                                 staffing.is_staffing(posting.company, posting.company_domain))
        companies = sorted({p.company for p in corpus.postings}, key=str.casefold)
        self.company_ids = {name: number for number, name in enumerate(companies, start=1)}
        self.company_names = {number: name for name, number in self.company_ids.items()}
        terms = sorted({t for p in corpus.postings for t in title_terms(p.title)})
        self.title_term_ids = {term: number for number, term in enumerate(terms, start=1)}
        categories = sorted({p.category for p in corpus.postings if p.category})
        self.category_ids = {name: number for number, name in enumerate(categories, start=1)}
        # The prior is stored relative to a fixed anchor so the column never changes as time passes.
        self.anchor_time = anchor_time or corpus.reference_time or max(p.posted_at for p in corpus.postings)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[int]:
        return list(self.records)

    def title_term_ids_for(self, terms) -> list[int]:
        """Ids of those title terms (words or two-word phrases) that some title holds."""
        ids = set()
        for term in terms:
            key = " ".join(re.findall(r"[a-z0-9][a-z0-9+#&]*", fold(term)))
            if key in self.title_term_ids:
                ids.add(self.title_term_ids[key])
            if not key.endswith("s") and f"{key}s" in self.title_term_ids:
                ids.add(self.title_term_ids[f"{key}s"])
        return sorted(ids)

    def default_now(self) -> dt.datetime:
        """The time "recent" is measured from: the snapshot's newest posting, or the current time for live data."""
        return self.corpus.reference_time or dt.datetime.now(dt.timezone.utc)

    def texts(self, ids: list[int] | None = None) -> list[str]:
        return [posting_text(self.records[i].posting) for i in (ids if ids is not None else self.ids)]

    def columns(self, ids: list[int] | None = None) -> dict[str, object]:
        """Index columns for these postings (all by default), in the order given."""
        records = [self.records[i] for i in (ids if ids is not None else self.ids)]
        anchor = self.anchor_time.timestamp()

        def pay(values):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        low = pay([r.posting.salary_min for r in records])
        high = pay([r.posting.salary_max for r in records])
        # A posting that gives one bound is treated as a point salary.
        low, high = np.where(np.isnan(low), high, low), np.where(np.isnan(high), low, high)
        return {
            "geo": [list(r.geo_ids) for r in records],
            "work_mode": np.array([WORK_MODE_CODES[r.work_mode] for r in records], dtype=np.int64),
            "company": np.array([self.company_ids[r.posting.company] for r in records], dtype=np.int64),
            "category": np.array([self.category_ids.get(r.posting.category, 0) for r in records], dtype=np.int64),
            "seniority": np.array([LEVEL_CODES[r.seniority] for r in records], dtype=np.int64),
            "posted_at": np.array([int(r.posting.posted_at.timestamp()) for r in records], dtype=np.int64),
            "salary_min": low, "salary_max": high, "salary_mid": (low + high) / 2,
            "is_staffing": np.array([r.is_staffing for r in records], dtype=bool),
            "engagement": np.array([stored_engagement(r.posting.posted_at.timestamp(), anchor) for r in records], dtype=np.float64),
            "title_terms": [sorted(self.title_term_ids[t] for t in title_terms(r.posting.title)) for r in records],
        }

    def fingerprint(self, model_key: str) -> str:
        """Changes whenever the postings, their derived columns or the model change: the index cache key."""
        digest = hashlib.sha256(model_key.encode())
        digest.update(json.dumps([SCHEMA_VERSION, ATTRIBUTES], sort_keys=True).encode())
        digest.update(str(self.anchor_time.timestamp()).encode())
        for record in self.records.values():
            digest.update(posting_text(record.posting).encode())
            digest.update(json.dumps([record.posting.id, record.geo_ids, record.work_mode, record.seniority, record.is_staffing,
                                      record.posting.posted_at.timestamp(), record.posting.salary_min,
                                      record.posting.salary_max]).encode())
        return digest.hexdigest()[:16]
