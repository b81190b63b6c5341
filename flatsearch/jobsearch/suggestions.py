"""Suggestions around a search.

* Before the search, for broad queries: facet values mined offline from the postings
  (categories, seniority levels, work modes, departments and common title phrases) are
  embedded and kept in a small flatsearch index; the query embedding retrieves the
  closest ones (retrieval-augmented suggestions).
* After the search: refinements from the facets of the matching jobs, with counts.
* When strict filters leave fewer than k jobs: which single clause to relax, and how
  many jobs there would be without it.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

import flatsearch as fs

from .catalog import JobCatalog
from .gazetteer import fold
from .locations import WORK_MODE_CODES, WORK_MODES
from .seniority import LEVEL_CODES, LEVELS

FACETS = ("category", "seniority", "work_mode", "department", "specialty")
MIN_FACET_COUNT = 5
MAX_DEPARTMENTS = 300
MAX_SPECIALTIES = 300
_TITLE_STOP = frozenset("of and the for to in with a an at on or senior junior staff lead principal manager ii iii i sr jr".split())


class FacetSuggester:
    """Facet values of the catalog in a small flatsearch index, looked up by query embedding.

    Example (``encoder`` is an :class:`~flatsearch.jobsearch.embedding.Encoder`):
        >>> FacetSuggester(catalog, encoder).suggest(encoder.encode_query("project management"))  # doctest: +SKIP
    """

    def __init__(self, catalog: JobCatalog, encoder, *, progress: bool = False):
        self.values: list[dict] = []
        records = list(catalog.records.values())
        for name, count in Counter(r.posting.category for r in records if r.posting.category).items():
            if count >= MIN_FACET_COUNT:
                self.values.append({"facet": "category", "value": name, "count": count,
                                    "filter": {"category": {"eq": catalog.category_ids[name]}}})
        for name, count in Counter(r.seniority for r in records).items():
            self.values.append({"facet": "seniority", "value": name, "count": count, "filter": {"seniority": {"eq": LEVEL_CODES[name]}}})
        for name, count in Counter(r.work_mode for r in records).items():
            if name != "unknown":
                self.values.append({"facet": "work_mode", "value": name, "count": count, "filter": {"work_mode": {"eq": WORK_MODE_CODES[name]}}})
        departments = Counter(" ".join(r.posting.department.split()) for r in records if r.posting.department)
        for name, count in departments.most_common(MAX_DEPARTMENTS):
            if count >= MIN_FACET_COUNT:
                self.values.append({"facet": "department", "value": name, "count": count, "filter": None})
        phrases = Counter()
        for record in records:
            words = [w for w in re.findall(r"[a-z][a-z+#&-]+", fold(record.posting.title))]
            phrases.update({f"{a} {b}" for a, b in zip(words, words[1:]) if a not in _TITLE_STOP and b not in _TITLE_STOP})
        for name, count in phrases.most_common(MAX_SPECIALTIES):
            if count >= MIN_FACET_COUNT:
                self.values.append({"facet": "specialty", "value": name, "count": count, "filter": None})
        texts = [f"{v['facet'].replace('_', ' ')}: {v['value']}" for v in self.values]
        vectors = encoder.encode(texts, progress=progress, description="facets")
        self.index = fs.Index(vectors.shape[1], metric="ip", attributes={"facet": "int"}, partition_size=4096)
        self.index.add(np.arange(len(self.values)), vectors, {"facet": np.array([FACETS.index(v["facet"]) for v in self.values])})

    def suggest(self, query_vector: np.ndarray, *, per_facet: int = 2, exclude_facets: tuple[str, ...] = ()) -> list[dict]:
        """The closest facet values to the query, ``per_facet`` of each facet type, best first."""
        wanted = [FACETS.index(f) for f in FACETS if f not in exclude_facets]
        if not wanted:
            return []
        filters = [{"facet": {"eq": code}} for code in wanted]
        found = self.index.search(np.tile(query_vector, (len(wanted), 1)), per_facet, filter=filters)
        out = []
        for row in range(len(wanted)):
            for value_score, value_id in zip(found.scores[row].tolist(), found.ids[row].tolist()):
                if value_id >= 0:
                    out.append({"kind": "facet", **self.values[value_id], "similarity": round(value_score, 4)})
        return sorted(out, key=lambda s: -s["similarity"])


def refinements(catalog: JobCatalog, records: list, *, top: int = 3) -> list[dict]:
    """Facet counts over the matching jobs: the top companies, places and work modes."""
    out = []
    companies = Counter(r.posting.company for r in records)
    for name, count in companies.most_common(top):
        out.append({"kind": "refine", "facet": "company", "value": name, "count": count,
                    "filter": {"company": {"eq": catalog.company_ids[name]}}})
    places = Counter(p for r in records for p in {place for place in r.location.places if place.kind in ("city", "metro")})
    for place, count in places.most_common(top):
        out.append({"kind": "refine", "facet": "location", "value": place.label(), "count": count, "filter": {"geo": {"in": [place.id]}}})
    modes = Counter(r.work_mode for r in records if r.work_mode != "unknown")
    for mode, count in sorted(modes.items(), key=lambda item: -item[1]):
        out.append({"kind": "refine", "facet": "work_mode", "value": mode, "count": count,
                    "filter": {"work_mode": {"eq": WORK_MODE_CODES[mode]}}})
    return out


def relaxations(plan, count_matches, k: int) -> list[dict]:
    """For each strict clause, how many jobs match when only that clause is dropped (up to k).

    ``count_matches(filters)`` takes a list of filter dicts (None for no filter) and returns
    the number of jobs passing each, capped at k, so one batched scan answers all of them.
    """
    clauses = [e for e in plan.explanations if e.filter is not None and not e.soft]
    if not clauses:
        return []
    alternatives = []
    for dropped in clauses:
        rest = [e.filter for e in clauses if e is not dropped]
        alternatives.append({"and": rest} if rest else None)
    out = []
    counts = count_matches(alternatives + [plan.filters])
    current = int(counts[-1])
    for dropped, matches in zip(clauses, counts[:-1]):
        added = int(matches) - current
        out.append({"kind": "relax", "phrase": dropped.phrase, "meaning": dropped.meaning, "filter": dropped.filter, "count": int(matches),
                    "adds": max(added, 0), "count_is_lower_bound": matches >= k,
                    "message": f"without \"{dropped.phrase}\" ({dropped.meaning}) {matches}{'+' if matches >= k else ''} jobs match"
                               + (f", {added}{'+' if matches >= k else ''} more" if added > 0 else "")})
    return sorted(out, key=lambda s: -s["count"])


def _allowed_values(plan) -> dict[str, tuple[set | None, set]]:
    """Per column, (values a strict clause requires or None, values a strict clause excludes), read from
    the plan's simple clauses ({col: {eq|in}}, {"not": {col: ...}}, and the place side of "X or remote")."""
    required: dict[str, set] = {}
    excluded: dict[str, set] = {}

    def values(condition: dict) -> set:
        if "eq" in condition:
            return {condition["eq"]}
        return set(condition.get("in", ()))

    for clause in plan.clauses:
        negated = set(clause) == {"not"}
        body = clause["not"] if negated else clause
        if "or" in body and not negated and body["or"] and isinstance(body["or"][0], dict) and "geo" in body["or"][0]:
            body = body["or"][0]  # the place branch of "Chicago or remote"
        if len(body) != 1:
            continue
        column, condition = next(iter(body.items()))
        if not isinstance(condition, dict) or not ({"eq", "in"} & set(condition)):
            continue
        if negated:
            excluded.setdefault(column, set()).update(values(condition))
        else:
            required[column] = values(condition) if column not in required else required[column] & values(condition)
    return {column: (required.get(column), excluded.get(column, set())) for column in set(required) | set(excluded)}


def consistent_with_plan(plan, suggestions: list[dict], gazetteer) -> list[dict]:
    """Drop every suggestion whose value the plan already rules out: a place outside the requested places or
    inside excluded ones ("refine location: Seattle" under a Chicago filter, which a posting listing both
    cities would otherwise offer), an excluded company, a work mode, seniority or category the plan's
    clauses exclude.

    Example:
        >>> from flatsearch.jobsearch.plan import QueryPlan
        >>> plan = QueryPlan("data jobs"); plan.add_clause("remote", "remote", {"work_mode": {"eq": 3}})
        >>> [s["value"] for s in consistent_with_plan(plan, [{"kind": "refine", "value": "hybrid", "filter": {"work_mode": {"eq": 2}}},
        ...                                                  {"kind": "refine", "value": "remote", "filter": {"work_mode": {"eq": 3}}}], None)]
        ['remote']
    """
    allowed = _allowed_values(plan)
    out = []
    for suggestion in suggestions:
        condition = suggestion.get("filter")
        if suggestion.get("kind") not in ("facet", "refine") or not isinstance(condition, dict) or len(condition) != 1:
            out.append(suggestion)
            continue
        column, test = next(iter(condition.items()))
        required, excluded = allowed.get(column, (None, set()))
        offered = set(test.get("in", ())) | ({test["eq"]} if "eq" in test else set())
        if column == "geo" and gazetteer is not None:
            # A place is inside the requested places when its own tags (it and what contains it) meet them.
            tags = set().union(*(gazetteer.tags_for(p) for i in offered if (p := gazetteer.place(i)) is not None)) or offered
            if (required is not None and not tags & required) or tags & excluded:
                continue
        elif (required is not None and not offered & required) or offered & excluded:
            continue
        out.append(suggestion)
    return out


__all__ = ["FacetSuggester", "refinements", "relaxations", "consistent_with_plan", "FACETS", "LEVELS", "WORK_MODES"]
