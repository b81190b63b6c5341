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
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .corpus import Corpus, Posting, bundled_corpus_key, corpus_digest, corpus_from_data, corpus_to_data, load_bundled_corpus
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
        for posting in corpus.postings:
            if posting.location not in parsed:
                parsed[posting.location] = parse_location(posting.location, gazetteer)
        # A city name that several places share, written alone ("Pasadena"), is the city of that name that the postings
        # name with a region ("Pasadena, CA") most often; the most populous when none does.
        named = Counter(pair for location in parsed.values() for pair in location.qualified)
        prefer: dict[str, int] = {}
        for (name, city), _ in sorted(named.items(), key=lambda item: (-item[1], item[0])):
            prefer.setdefault(name, city)
        # A name that is also a subdivision elsewhere ("San Jose", a province of Costa Rica; "Ontario", a city in California)
        # is the city only when the postings name the city with its region more often than the subdivision beside a place of
        # its country ("Toronto, Ontario", "Ontario, Canada").
        beside = Counter(fold(place.name) for location in parsed.values() for place in location.places
                         if place.kind == "subdivision" and any(other.kind in ("city", "country") and other.country == place.country
                                                                for other in location.places))
        for name in [name for name in prefer if gazetteer.subdivisions_named(name)]:
            if named[(name, prefer[name])] <= beside[name]:
                del prefer[name]
        for text, location in parsed.items():
            if any(name in prefer for name in location.guessed):
                parsed[text] = parse_location(text, gazetteer, prefer=prefer)
        self.records: dict[int, JobRecord] = {}
        for posting in corpus.postings:
            location = parsed[posting.location]
            self.records[posting.id] = JobRecord(posting, location, tuple(location.tags(gazetteer)), seniority_of(posting.title),
                                                 staffing.is_staffing(posting.company, posting.company_domain))
        self._set_tables(sorted({t for p in corpus.postings for t in title_terms(p.title)}), anchor_time)

    def _set_tables(self, terms: list[str], anchor_time: dt.datetime | None) -> None:
        corpus = self.corpus
        companies = sorted({p.company for p in corpus.postings}, key=str.casefold)
        self.company_ids = {name: number for number, name in enumerate(companies, start=1)}
        self.company_names = {number: name for name, number in self.company_ids.items()}
        self.title_term_ids = {term: number for number, term in enumerate(terms, start=1)}
        categories = sorted({p.category for p in corpus.postings if p.category})
        self.category_ids = {name: number for number, name in enumerate(categories, start=1)}
        # The prior is stored relative to a fixed anchor so the column never changes as time passes.
        self.anchor_time = anchor_time or corpus.reference_time or max(p.posted_at for p in corpus.postings)
        self.cache_key: str | None = None  # the start-up cache entry it was read from or saved as (see load_catalog)
        self.cache_dir = None              # and the folder it is in
        self._digest: str | None = None

    # -- start-up cache ---------------------------------------------------------------------------
    def to_data(self, *, with_postings: bool) -> dict:
        """Everything derived from the postings as JSON-serialisable data (:meth:`from_data` reads it back);
        ``with_postings`` also stores the postings themselves."""
        table: dict[str, int] = {}  # one parsed location per distinct location text, as the constructor parses them
        rows = []
        for posting in self.corpus.postings:
            record = self.records[posting.id]
            index = table.setdefault(posting.location, len(table))
            if index == len(rows):  # the tags are those of the parsed location, the same for every posting that writes it
                rows.append([[p.id for p in record.location.places], record.location.work_mode, list(record.location.unresolved),
                             list(record.geo_ids)])
        ordered = [self.records[p.id] for p in self.corpus.postings]
        return {"format": 1, "anchor_time": self.anchor_time.isoformat(), "digest": self.content_digest(),
                "corpus": corpus_to_data(self.corpus) if with_postings else None, "locations": rows,
                "seniority": [r.seniority for r in ordered], "is_staffing": [r.is_staffing for r in ordered],
                "title_terms": list(self.title_term_ids)}

    @classmethod
    def from_data(cls, data: dict, gazetteer: Gazetteer, *, corpus: Corpus | None = None) -> "JobCatalog":
        """The catalog :meth:`to_data` described (``corpus``: the postings, when they were not stored with it).
        Raises ValueError when the data does not fit the corpus or the gazetteer."""
        self = cls.__new__(cls)
        self.corpus = corpus if corpus is not None else corpus_from_data(data["corpus"])
        self.gazetteer = gazetteer
        postings = self.corpus.postings
        if not (len(data["seniority"]) == len(data["is_staffing"]) == len(postings)) or not set(data["seniority"]) <= LEVEL_CODES.keys():
            raise ValueError(f"catalog data: expected levels and staffing flags of {len(postings)} postings, got {len(data['seniority'])}")
        parsed: dict[str, tuple[ParsedLocation, tuple[int, ...]]] = {}
        rows = iter(data["locations"])
        self.records = {}
        for posting, seniority, staffing in zip(postings, data["seniority"], data["is_staffing"]):
            known = parsed.get(posting.location)
            if known is None:
                ids, mode, unresolved, geo = next(rows)
                found = tuple(gazetteer.place(i) for i in ids)
                if None in found or mode not in WORK_MODE_CODES:
                    raise ValueError(f"catalog data: a place or the work mode of {posting.location!r} is unknown here")
                known = parsed[posting.location] = (ParsedLocation(found, mode, tuple(unresolved)), tuple(geo))
            self.records[posting.id] = JobRecord(posting, known[0], known[1], seniority, bool(staffing))
        self._set_tables(data["title_terms"], dt.datetime.fromisoformat(data["anchor_time"]))
        self._digest = data["digest"]
        return self

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

    def content_digest(self) -> str:
        """A hash of the postings and their derived columns (computed once; :func:`~.churn.add_postings` resets it)."""
        if self._digest is None:
            digest = hashlib.sha256(json.dumps([SCHEMA_VERSION, ATTRIBUTES], sort_keys=True).encode())
            digest.update(str(self.anchor_time.timestamp()).encode())
            for record in self.records.values():
                digest.update(posting_text(record.posting).encode())
                digest.update(json.dumps([record.posting.id, record.geo_ids, record.work_mode, record.seniority, record.is_staffing,
                                          record.posting.posted_at.timestamp(), record.posting.salary_min,
                                          record.posting.salary_max]).encode())
            self._digest = digest.hexdigest()
        return self._digest

    def fingerprint(self, model_key: str) -> str:
        """Changes whenever the postings, their derived columns or the model change: the index cache key."""
        return hashlib.sha256(f"{model_key}\0{self.content_digest()}".encode()).hexdigest()[:16]

    def changed(self) -> None:
        """Forget what was derived from the whole catalog, after postings were added or removed (see churn.py)."""
        self._digest = None


def load_catalog(corpus: Corpus | None, gazetteer: Gazetteer, *, cache_dir=None) -> JobCatalog:
    """The catalog of ``corpus`` (the bundled corpus when None), read from the start-up cache under ``cache_dir``
    when an entry built from the same postings, place table and code exists, else built and saved there.

    Caches only with a gazetteer from :func:`~.gazetteer.load_gazetteer` (whose data has a key); the bundled
    postings are stored with the entry and keyed by their files' names, sizes and times, other corpora by content.

    Example:
        >>> import tempfile
        >>> from flatsearch.jobsearch.gazetteer import load_gazetteer
        >>> folder = tempfile.mkdtemp()
        >>> corpus = load_bundled_corpus().head(40)
        >>> built = load_catalog(corpus, load_gazetteer(folder), cache_dir=folder)
        >>> read = load_catalog(corpus, load_gazetteer(folder), cache_dir=folder)
        >>> read.records == built.records and read.title_term_ids == built.title_term_ids and read.cache_key == built.cache_key
        True
    """
    from .cache import cached_json, entry_key, source_key

    places = getattr(gazetteer, "cache_key", None)
    if cache_dir is None or places is None:
        return JobCatalog(corpus if corpus is not None else load_bundled_corpus(), gazetteer)
    key = entry_key(bundled_corpus_key() if corpus is None else corpus_digest(corpus), places, source_key())
    built: list[JobCatalog] = []

    def build() -> dict:
        built.append(JobCatalog(corpus if corpus is not None else load_bundled_corpus(), gazetteer))
        return built[0].to_data(with_postings=corpus is None)

    data = cached_json(cache_dir, "catalog", key, build)
    if not built:
        try:
            built.append(JobCatalog.from_data(data, gazetteer, corpus=corpus))
        except (KeyError, ValueError, TypeError, IndexError, StopIteration) as error:
            import logging
            import pathlib

            logging.getLogger(__name__).warning("catalog cache entry %s is unusable (%s); rebuilding it", key, error)
            (pathlib.Path(cache_dir) / f"catalog-{key}.json").unlink(missing_ok=True)
            cached_json(cache_dir, "catalog", key, build)
    built[0].cache_key, built[0].cache_dir = key, cache_dir
    return built[0]
