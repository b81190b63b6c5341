"""The tools both planners use: location resolver, company lookup, graph lookup,
profile lookup and salary statistics.

Each tool is a plain method returning JSON-serialisable data, so the rule planner
calls them directly and the LLM planner exposes them as OpenAI-style function
tools (:data:`TOOL_SCHEMAS`, :meth:`PlannerTools.call`).
"""
from __future__ import annotations

import json
import re
import statistics
from typing import Any

from .catalog import JobCatalog
from .gazetteer import Gazetteer, Place, fold
from .members import ConnectionGraph, MemberStore, former_colleagues
from .lexicon import common_words
from .seniority import LEVELS

MIN_COMPARABLE = 5
# Short names people use for catalog companies.
_COMPANY_ALIASES = {"nyt": "The New York Times", "nytimes": "The New York Times", "ny times": "The New York Times",
                    "nbc": "NBCUniversal", "nbc universal": "NBCUniversal", "trade desk": "The Trade Desk", "coreweave": "CoreWeave",
                    "copy.ai": "CopyAI", "regal": "Regal.io", "cockroachdb": "Cockroach Labs",
                    "browser company": "The Browser Company"}

TOOL_SCHEMAS = [
    {"type": "function", "function": {
        "name": "resolve_location",
        "description": "Resolve a place name (city, metro area such as 'Silicon Valley', US state, country or region) to GeoNames ids for the 'geo' filter.",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}},
    {"type": "function", "function": {
        "name": "lookup_company",
        "description": "Find company ids for the 'company' filter by (approximate) company name.",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}},
    {"type": "function", "function": {
        "name": "graph_lookup",
        "description": "Companies where the current member's connections work. relation 'worked_with' keeps only people who shared an employer with the member; 'connection' keeps everyone they know.",
        "parameters": {"type": "object", "properties": {"relation": {"type": "string", "enum": ["worked_with", "connection"]}},
                       "required": ["relation"]}}},
    {"type": "function", "function": {
        "name": "profile_lookup",
        "description": "The current member's profile: title, skills, summary, location and past employers.",
        "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {
        "name": "salary_statistics",
        "description": "Median and quartiles of yearly pay (USD) over comparable postings with known pay, chosen by title keywords and optional seniority.",
        "parameters": {"type": "object", "properties": {"keywords": {"type": "string"},
                                                        "seniority": {"type": "string", "enum": list(LEVELS)}}}}},
]


# Legal forms written after a company's name ("Tekion Corp", "Stripe, Inc."), as regular expressions.
LEGAL_FORMS = ("inc", "incorporated", "llc", r"l\.l\.c", "ltd", "limited", "corp", "corporation", "co", "gmbh", "plc")


class PlannerTools:
    """Tools bound to one catalog, member store and connection graph.

    Example:
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> from flatsearch.jobsearch.members import SampleNetwork
        >>> tools = PlannerTools(JobCatalog(load_bundled_corpus().head(200), Gazetteer()), SampleNetwork(), SampleNetwork())
        >>> tools.resolve_location("Silicon Valley")["places"][0]["kind"]
        'metro'
    """

    def __init__(self, catalog: JobCatalog, members: MemberStore, graph: ConnectionGraph):
        self.catalog = catalog
        self.gazetteer: Gazetteer = catalog.gazetteer
        self.members = members
        self.graph = graph
        self.refresh_companies()

    def refresh_companies(self) -> None:
        """Rebuild the company lookups from the catalog's live postings: a company is found while it has at
        least one posting (churn.py calls this after postings are added or removed)."""
        catalog = self.catalog
        live = {record.posting.company for record in list(catalog.records.values())}
        companies = {name: number for name, number in list(catalog.company_ids.items()) if name in live}
        # Names as people write them: "Palantir" for "Palantir Technologies", "NYT" for "The New York Times".
        variants = {fold(name): number for name, number in companies.items()}
        words = common_words()
        for name, number in companies.items():
            key = fold(name)
            short = re.sub(r"\s+(?:technologies|technology|labs|" + "|".join(LEGAL_FORMS) + r")\.?$", "", key)
            short = re.sub(r"^the\s+", "", short)
            # "open ai" for "OpenAI", "door dash" for "DoorDash": a name written as one word is often typed as its parts.
            parts = fold(re.sub(r"(?<=[a-z])(?=[A-Z][a-z]|[A-Z]{2,}$)", " ", name))
            split = parts if all(len(p) >= 2 for p in parts.split()) else key
            if split == key and " " not in key:
                # "door dash" for "Doordash": a one-word name that is two ordinary words run together.
                halves = [f"{key[:i]} {key[i:]}" for i in range(3, len(key) - 2) if key[:i] in words and key[i:] in words]
                split = halves[0] if len(halves) == 1 else key
            for variant in {short, key.replace(" ", ""), short.replace(" ", ""), short.replace(".io", ""), split}:  # "tradedesk"
                if len(variant) >= 2:
                    variants.setdefault(variant, number)
        for alias, name in _COMPANY_ALIASES.items():
            if name in companies:
                variants.setdefault(alias, companies[name])
        pattern = re.compile(
            r"(?<![\w&-])(?:" + "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)) + r")(?![\w&-])",
            re.IGNORECASE) if variants else None
        self._companies = (variants, pattern)  # one assignment: a search running meanwhile sees the old pair or the new one

    @property
    def _company_variants(self) -> dict[str, int]:
        return self._companies[0]

    # -- location -----------------------------------------------------------------------------
    def place_by_name(self, name: str) -> Place | None:
        """The single best place for a name as a seeker writes it ("Seattle" means its metro)."""
        key = " ".join(fold(name).replace(",", " ").split())
        return (self.gazetteer.metro_alias(key, in_query=True) or self.gazetteer.country(key)
                or self.gazetteer.state(key) or next(iter(self.gazetteer.cities_named(key)), None))

    def resolve_location(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name: expected a place name, got {name!r}")
        place = self.place_by_name(name)
        if place is None:
            from .locations import parse_location

            places = list(parse_location(name, self.gazetteer).places)
        else:
            places = [place]
        return {"query": name, "places": [self.describe_place(p) for p in places], "found": bool(places)}

    def describe_place(self, place: Place) -> dict[str, Any]:
        country = self.gazetteer.country_of(place)
        return {"ids": self.gazetteer.filter_ids(place), "name": place.name, "kind": place.kind, "label": place.label(),
                "country_ids": [country.id] if country else []}

    # -- companies ------------------------------------------------------------------------------
    def lookup_company(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name: expected a company name, got {name!r}")
        key = " ".join(fold(name).split())
        variants = self._company_variants
        exact = variants.get(key)
        if exact is not None:
            ids = [exact]
        else:
            from rapidfuzz import fuzz, process

            ids = list(dict.fromkeys(variants[k] for k, _, _ in process.extract(
                key, list(variants), scorer=fuzz.WRatio, score_cutoff=80, limit=3)))
        return {"query": name, "matches": [{"id": number, "name": self.catalog.company_names[number]} for number in ids]}

    def fuzzy_company(self, name: str, *, cutoff: float = 88) -> int | None:
        """The company id whose name is closest to ``name`` (rapidfuzz ratio at least ``cutoff``), or None."""
        from rapidfuzz import fuzz, process

        key = " ".join(fold(name).split())
        if len(key) < 4:
            return None
        variants = self._company_variants
        found = process.extractOne(key, list(variants), scorer=fuzz.ratio, score_cutoff=cutoff)
        return variants[found[0]] if found else None

    def company_mentions(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, company id) of every catalog company name (or common variant) written in free text,
        in any case; whether an ordinary word ("Block", "better") means the company is the planner's call.

        Example:
            >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
            >>> from flatsearch.jobsearch.members import SampleNetwork
            >>> tools = PlannerTools(JobCatalog(load_bundled_corpus().head(200), Gazetteer()), SampleNetwork(), SampleNetwork())
            >>> name = next(iter(tools.catalog.company_ids))
            >>> [tools.catalog.company_names[c] for _, _, c in tools.company_mentions(f"roles at {name.lower()}")] == [name]
            True
        """
        variants, pattern = self._companies
        if pattern is None:
            return []
        return [(m.start(), m.end(), variants[" ".join(fold(m.group(0)).split())])
                for m in pattern.finditer(text) if " ".join(fold(m.group(0)).split()) in variants]

    # -- people ---------------------------------------------------------------------------------
    def graph_lookup(self, member_id: str, relation: str = "worked_with") -> dict[str, Any]:
        if relation not in ("worked_with", "connection"):
            raise ValueError(f"relation: expected 'worked_with' or 'connection', got {relation!r}")
        member = self.members.get(member_id)
        people = former_colleagues(member, self.graph) if relation == "worked_with" else self.graph.connections(member_id)
        known = sorted({p.current_employer for p in people if p.current_employer in self.catalog.company_ids})
        return {"member_id": member_id, "relation": relation, "people": len(people),
                "companies": [{"id": self.catalog.company_ids[name], "name": name} for name in known],
                "companies_without_postings": sorted({p.current_employer for p in people if p.current_employer and p.current_employer not in known})}

    def profile_lookup(self, member_id: str) -> dict[str, Any]:
        member = self.members.get(member_id)
        return {"member_id": member.id, "title": member.title, "skills": list(member.skills), "summary": member.summary,
                "location": member.location, "past_employers": list(member.past_employers),
                "current_employer": member.current_employer, "preferences": dict(member.preferences)}

    # -- pay ------------------------------------------------------------------------------------
    def salary_statistics(self, keywords: str = "", seniority: str | None = None, places: list[int] | None = None) -> dict[str, Any]:
        """Median and quartiles of yearly pay over comparable postings (``places``: only postings tagged with one of these ids)."""
        if seniority is not None and seniority not in LEVELS:
            raise ValueError(f"seniority: expected one of {', '.join(LEVELS)}, got {seniority!r}")
        words = [w for w in re.findall(r"[a-z0-9+#]+", fold(keywords or "")) if len(w) > 1]
        everything = list(self.catalog.records.values())  # the live postings (a copy: churn may change the catalog meanwhile)
        paid = [r for r in everything if r.posting.salary_min is not None or r.posting.salary_max is not None]
        if places:
            wanted = set(places)
            local = [r for r in paid if wanted.intersection(r.geo_ids)]
            if len(local) >= MIN_COMPARABLE:
                paid = local
        if not words and seniority is None:  # no title words to compare by: the postings of the requested places, or all
            tiers = [("all postings" + (" in the requested places" if places and len(paid) < len(everything) else ""), paid)]
        else:
            tiers = [
                (f"titles containing '{' '.join(words)}'" + (f" at {seniority} level" if seniority else ""),
                 [r for r in paid if all(w in fold(r.posting.title) for w in words) and (seniority is None or r.seniority == seniority)]),
                (f"titles containing '{' '.join(words)}'", [r for r in paid if all(w in fold(r.posting.title) for w in words)]),
                (f"titles containing any of '{' '.join(words)}'", [r for r in paid if any(w in fold(r.posting.title) for w in words)]),
                ("all postings" + (" in the requested places" if places and len(paid) < len(everything) else ""), paid),
            ]
        for basis, records in tiers:
            if len(records) >= MIN_COMPARABLE or (basis.startswith("all postings") and records):
                mids = sorted(_mid(r.posting.salary_min, r.posting.salary_max) for r in records)
                quartiles = statistics.quantiles(mids, n=4) if len(mids) > 1 else [mids[0]] * 3
                return {"basis": basis, "count": len(mids), "median": statistics.median(mids),
                        "p25": quartiles[0], "p75": quartiles[2]}
        return {"basis": "no postings with pay", "count": 0, "median": None, "p25": None, "p75": None}

    # -- LLM tool dispatch -----------------------------------------------------------------------
    def call(self, name: str, arguments: str | dict, *, member_id: str | None) -> dict[str, Any]:
        """Run a tool named in an LLM tool call; bad arguments come back as an error object."""
        try:
            args = json.loads(arguments) if isinstance(arguments, str) else dict(arguments or {})
            if not isinstance(args, dict):
                raise TypeError(f"arguments: expected a JSON object, got {type(args).__name__}")
            if name in ("graph_lookup", "profile_lookup"):
                if member_id is None:
                    return {"error": "no member is signed in; personal phrases cannot be resolved"}
                return getattr(self, name)(member_id, **args)
            if name in ("resolve_location", "lookup_company", "salary_statistics"):
                return getattr(self, name)(**args)
            return {"error": f"unknown tool {name!r}; expected one of {', '.join(t['function']['name'] for t in TOOL_SCHEMAS)}"}
        except (TypeError, ValueError, KeyError, json.JSONDecodeError) as error:
            return {"error": f"{type(error).__name__}: {error}"}


def _mid(low: float | None, high: float | None) -> float:
    low = high if low is None else low
    high = low if high is None else high
    return (low + high) / 2
