"""The job search pipeline: plan -> embed -> exact filtered retrieval -> rerank -> suggestions.

Retrieval is one call to flatsearch's public API::

    index.search(q + PROFILE_WEIGHT * p, k, filter=plan.filters, boost=plan.boost)

which scores every job passing the strict filters with the formula of
:mod:`flatsearch.jobsearch.scoring`. BM25 matches that pass the filters join the
candidates and add to the score, and jobs that pass the filters but are not close to the
semantic text are left out and counted in the response's message, or shown labelled as
the nearest when nothing is close (rules in :mod:`flatsearch.jobsearch.lexical`). Soft preferences add a constant to the jobs
that meet them; the pipeline gets the exact top-k of that by also searching with
the preference clause added and merging (a job in the true top-k is either in the
top-k of the jobs that meet the preference or in the top-k of all jobs). A work mode asked for
("in-office") is met first by the postings that state it, and by those that state no mode only when none
of the stated ones is close (:func:`_stated_mode_plan`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pathlib
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

import flatsearch as fs

from .cache import QueryPlanCache
from .catalog import ATTRIBUTES, load_catalog
from .corpus import Corpus
from .embedding import Encoder
from .gazetteer import load_gazetteer
from .lexical import LEXICAL_POOL, LexicalIndex, close_threshold, floor_message, fuse, split_close
from .members import ConnectionGraph, Member, MemberStore, SampleNetwork, UnknownMemberError
from .plan import QueryPlan
from .planner_llm import LLMPlanner
from .planner_rules import NO_COMPANY_ID, RulePlanner
from .rerank import Candidate, Reranker, ScoreReranker, describe_reranker
from .scoring import PREFERENCE_WEIGHT, fold_profile
from .settings import default_cache_dir
from .student import default_student_path, load_student_reranker
from .suggestions import FacetSuggester, consistent_with_plan, refinements, relaxations
from .tools import PlannerTools

logger = logging.getLogger(__name__)

MAX_K = 1000
MIN_SIMILARITY = 0.25  # cosine between the semantic text and a job below which the job is off-topic
POOL_SIZE = 100
PARTITION_SIZE = 8192


@dataclass
class JobResult:
    """One ranked job as shown to the user (``to_dict`` is the ``--json`` result schema)."""

    id: int
    title: str
    company: str
    location: str
    geo_ids: list[int]
    remote: str
    salary_min: float | None
    salary_max: float | None
    posted_at: str
    is_staffing: bool
    score: float
    url: str = ""
    close_match: bool = True  # False: one of the nearest jobs, shown because nothing close passes the filters (the message says so)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "company": self.company, "location": self.location, "geo_ids": self.geo_ids,
                "remote": self.remote, "salary_min": self.salary_min, "salary_max": self.salary_max, "posted_at": self.posted_at,
                "is_staffing": self.is_staffing, "score": round(self.score, 6), "close_match": self.close_match}


@dataclass
class SearchResponse:
    """The outcome of one search; ``message`` explains an empty or refused answer."""

    query: str
    plan: QueryPlan
    suggestions: list[dict] = field(default_factory=list)
    results: list[JobResult] = field(default_factory=list)
    message: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    ranked_by: str = ""

    def to_dict(self) -> dict:
        plan = self.plan.to_dict()
        return {"query": self.query,
                "plan": {key: plan[key] for key in ("intent", "filters", "semantic_text", "boost", "explanations", "preferences", "notes", "planner")},
                "suggestions": self.suggestions, "results": [r.to_dict() for r in self.results], "message": self.message,
                "ranked_by": self.ranked_by}


class JobSearch:
    """Natural-language job search over an exact flatsearch index of postings.

    The first construction for a corpus and model encodes every posting (with a progress
    bar) and saves the index under ``cache_dir``; later ones load it.

    Example:
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> search = JobSearch(corpus=load_bundled_corpus().head(200), progress=False)  # doctest: +SKIP
        >>> response = search.search("remote data jobs", k=3)  # doctest: +SKIP
        >>> [job.title for job in response.results]  # doctest: +SKIP
    """

    def __init__(self, *, corpus: Corpus | None = None, cache_dir: str | os.PathLike | None = None, model_path: str | None = None,
                 encoder: Encoder | None = None, members: MemberStore | None = None, graph: ConnectionGraph | None = None,
                 reranker: Reranker | None = None, llm_url: str | None = None, llm_model: str | None = None,
                 llm_timeout_s: float = 20.0, plan_cache: QueryPlanCache | None = None, progress: bool = True, gazetteer=None):
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.gazetteer = gazetteer or load_gazetteer(self.cache_dir)
        self.catalog = load_catalog(corpus, self.gazetteer, cache_dir=self.cache_dir)
        self.lexical = LexicalIndex(self.catalog, cache_dir=self.cache_dir)  # BM25 beside the dense index, loading on its own thread (lexical.py)
        self.encoder = encoder or Encoder(model_path, cache_dir=self.cache_dir)
        # The query model loads on the other core while the catalog and the index load (a failure resurfaces on first use).
        threading.Thread(target=_load_quietly, args=(self.encoder,), name="load-query-model", daemon=True).start()
        network = SampleNetwork() if members is None or graph is None else None
        self.members: MemberStore = members or network
        self.graph: ConnectionGraph = graph or network
        self.tools = PlannerTools(self.catalog, self.members, self.graph)
        self.rules = RulePlanner(self.tools)
        if (llm_url is None) != (llm_model is None):
            raise ValueError(f"llm_url and llm_model: expected both or neither, got llm_url={llm_url!r}, llm_model={llm_model!r}")
        self.planner = (LLMPlanner(self.tools, base_url=llm_url, model=llm_model, fallback=self.rules, timeout_s=llm_timeout_s)
                        if llm_url else self.rules)
        # A trained student cross-encoder, when one is installed in the cache, reranks; else the documented score.
        self.reranker: Reranker = (reranker or load_student_reranker(default_student_path(self.cache_dir), catalog=self.catalog)
                                   or ScoreReranker())
        self.plan_cache = plan_cache or QueryPlanCache()
        self.index = self._load_or_build_index(progress=progress)
        self.suggester = FacetSuggester(self.catalog, self.encoder, progress=progress)  # a first run encodes its texts too
        self._prune_cache()

    def _prune_cache(self) -> None:
        """Remove start-up entries built from older postings, places or code (rules in :func:`.cache.prune_cache`)."""
        from .cache import prune_cache

        in_use = [self.cache_dir / f"jobs-{self.catalog.fingerprint(self.encoder.model_key)}.fsx", self.lexical.path]
        if self.catalog.cache_key is not None:
            in_use += [self.cache_dir / f"catalog-{self.catalog.cache_key}.json", self.cache_dir / f"planner-{self.catalog.cache_key}.json"]
        if getattr(self.gazetteer, "cache_key", None):
            in_use.append(self.cache_dir / f"{self.gazetteer.cache_key}.sqlite")
        removed = prune_cache(self.cache_dir, in_use)
        if removed:
            logger.info("removed %d stale cache entries: %s", len(removed), ", ".join(p.name for p in removed))

    # -- index ------------------------------------------------------------------------------------
    def _load_or_build_index(self, *, progress: bool) -> fs.Index:
        path = self.cache_dir / f"jobs-{self.catalog.fingerprint(self.encoder.model_key)}.fsx"
        if path.is_file():
            try:
                index = fs.Index.load(path)
                if len(index) == len(self.catalog):
                    return index
            except (ValueError, TypeError, KeyError, OSError) as error:
                logger.warning("cached index %s is unreadable (%s); rebuilding it", path, error)
        ids = self.catalog.ids
        vectors = self.encoder.encode(self.catalog.texts(ids), progress=progress, description="encoding postings")  # one bar, on stderr
        index = fs.Index(vectors.shape[1], metric="ip", attributes=ATTRIBUTES, partition_size=PARTITION_SIZE)
        index.add(np.array(ids, dtype=np.int64), vectors, self.catalog.columns(ids))
        index.save(path)
        return index

    # -- search -----------------------------------------------------------------------------------
    def plan(self, query: str, *, member_id: str | None = None, now: dt.datetime | None = None) -> QueryPlan:
        """The plan for a query, from the cache when the same query was planned recently."""
        cached = self.plan_cache.get(query, member_id, now=now)
        if cached is not None:
            return cached
        plan = self.planner.plan(query, member_id, now=now)
        self.plan_cache.put(plan, now=now)
        return plan

    def warm_up(self) -> None:
        """Loads what the first searches would otherwise load on the way: the query model, the date parser, the tables the
        planner builds on first use (misspelt multi-word places, posting cities) and the index's first scan. A server calls
        it before taking requests; a CLI query does not need it.

        Example:
            >>> engine = JobSearch(progress=False)  # doctest: +SKIP
            >>> engine.warm_up()  # doctest: +SKIP
        """
        self.encoder.encode_query("warm up")
        for phrase in ("analyst jobs posted since March 3 in san fransisco", "remote nurse roles paying 80k", "designer jobs santa barbra"):
            self.rules.plan(phrase, now=self.catalog.default_now())  # the rules, never an LLM endpoint
        self.search("software engineer jobs", k=1)

    def search(self, query: str, *, member_id: str | None = None, k: int = 10, now: dt.datetime | str | None = None,
               drop: tuple[str, ...] = (), refine: tuple[dict, ...] = ()) -> SearchResponse:
        """Plan, retrieve exactly, rank and suggest. Bad input gives a response with a message
        (or TypeError/ValueError for wrong argument types), never a half-done search.

        ``drop``: phrases of the plan whose strict filters are left out (a removed chip, a relax hint);
        ``refine``: suggestions (``{"facet", "value", "filter"}`` dicts from ``suggestions``) added as strict filters.
        """
        if not isinstance(query, str):
            raise TypeError(f"query: expected a string, got {type(query).__name__}")
        if member_id is not None and not isinstance(member_id, str):
            raise TypeError(f"member_id: expected a string such as 'm001' or None, got {type(member_id).__name__}")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k: expected an int from 1 to {MAX_K}, got {k!r}")
        now = _as_time(now)
        started = time.perf_counter()
        try:
            plan = self.plan(query, member_id=member_id, now=now)
        except UnknownMemberError as error:
            return SearchResponse(query, QueryPlan(query, intent="empty", member_id=member_id), message=str(error))
        if drop or refine:
            plan = _adjusted(plan, drop, refine)
        planned = time.perf_counter()
        if plan.intent != "job_search":
            return SearchResponse(query, plan, message=" ".join(plan.notes) or "Nothing to search for.",
                                  timings_ms={"plan": 1000 * (planned - started)})
        member = self.members.get(member_id) if member_id is not None else None
        # Each text is encoded once per search; the vectors are passed on to every step that needs them.
        semantic = self.encoder.encode_query(plan.semantic_text)
        profile = self.encoder.encode_query(member.profile_text()) if member is not None and plan.profile_weight else None
        query_vector = fold_profile(semantic, profile, weight=plan.profile_weight)
        embedded = time.perf_counter()
        nearest_anywhere = self.index.search(semantic[None, :], 1)
        best = float(nearest_anywhere.scores[0, 0])
        best_record = self.catalog.records.get(int(nearest_anywhere.ids[0, 0]))
        best_posting = best_record.posting if best_record is not None else None
        stated = _stated_mode_plan(plan)
        ranked = relevant = nearest = None
        if stated is not None:
            # A work mode asked for ("in-office") is met first by the postings that state it; only when none of those
            # is close are the postings that state no mode (mostly office jobs) searched too.
            ranked, relevant, nearest, timing = self._rank(query, stated, member, query_vector, semantic, (best, best_posting), k)
            if relevant:
                plan = stated
            else:
                ranked = None
        if ranked is None:
            ranked, relevant, nearest, timing = self._rank(query, plan, member, query_vector, semantic, (best, best_posting), k)
        retrieved, reranked = timing
        results = [self._result(c) for c in _distinct(relevant)[:k]]
        suggestions = self._suggestions(plan, relevant, k, semantic)
        finished = time.perf_counter()
        message = None if results else _nothing_matches(suggestions, plan)
        if not results and nearest:
            results = [replace(self._result(c), close_match=False) for c in _distinct(nearest)[:k]]
            message = floor_message(plan.semantic_text, len(results), close_threshold(best))
        elif nearest and len(results) < k:
            message = (f"{len(nearest)} more job(s) pass every filter but are not close to \"{plan.semantic_text[:80]}\" "
                       f"(similarity below {close_threshold(best):.2f}); they are not shown.")
        return SearchResponse(query, plan, suggestions, results, message, ranked_by=describe_reranker(self.reranker), timings_ms={
            "plan": 1000 * (planned - started), "embed": 1000 * (embedded - planned), "search": 1000 * (retrieved - embedded),
            "rerank": 1000 * (reranked - retrieved), "suggest": 1000 * (finished - reranked), "total": 1000 * (finished - started)})

    def _rank(self, query: str, plan: QueryPlan, member, query_vector: np.ndarray, semantic: np.ndarray, best: tuple, k: int):
        """(ranked pool, close matches, the rest, (retrieved, reranked) times) for one plan; ``best`` is (the similarity of
        the corpus's nearest posting to the semantic text, that posting)."""
        # Hybrid retrieval and the honest floor (rules in lexical.py): BM25 candidates that pass the filters join the pool,
        # the final score adds the normalised BM25 score, and only close matches are shown as matches. Their rows are read
        # with the scan's in one call.
        lexical = dict(self.lexical.top(plan.semantic_text, self.index.ids(filter=plan.filters).numpy(), LEXICAL_POOL))
        pool = self._retrieve(plan, query_vector, max(k, POOL_SIZE), also=list(lexical))
        retrieved = time.perf_counter()
        ranked = self.reranker.rerank(query, plan, member, pool)
        if isinstance(self.reranker, ScoreReranker):
            shares = self.lexical.slot_shares(plan.semantic_text, {c.id: c.record.posting for c in ranked if c.id in lexical})
            ranked = fuse(ranked, lexical, shares)  # a cross-encoder reads the words itself and keeps its own grades
        reranked = time.perf_counter()
        relevant, nearest = split_close(ranked, semantic, best[0], self.lexical, plan.semantic_text, best_posting=best[1])
        return ranked, relevant, nearest, (retrieved, reranked)

    def _retrieve(self, plan: QueryPlan, query_vector: np.ndarray, k: int, *, also: list[int] = ()) -> list[Candidate]:
        """The k best postings of the scan that pass the plan's filters, then the postings of ``also`` (found another way)
        that the scan did not return, with the score the scan gives them; one read of the stored rows for both."""
        filters = plan.filters
        searches = [filters]
        if plan.preferences:
            searches.append({"and": [*(filters["and"] if filters else []), *plan.preferences]})
        # One scan answers both: per-query filters in one batch.
        found = self.index.search(np.tile(query_vector, (len(searches), 1)), k, filter=searches, boost=plan.boost)
        hits: dict[int, tuple[float, bool]] = {}
        for row, bonus in enumerate((0.0, PREFERENCE_WEIGHT)[:len(searches)]):
            for value, job_id in zip(found.scores[row].tolist(), found.ids[row].tolist()):
                if job_id >= 0:
                    hits[job_id] = (value + bonus, bool(bonus))
        # A posting removed while this search ran (see churn.py) is skipped, not an error.
        top = [i for i in sorted(hits, key=lambda i: (-hits[i][0], i)) if i in self.catalog.records][:k]
        chosen = set(top)
        extra = [i for i in dict.fromkeys(also) if i not in chosen and i in self.catalog.records]
        rows, kept = self._fetch_rows(top + extra)
        if not kept:
            return []
        vectors = rows.vectors.cpu().numpy()
        engagement = rows.attributes["engagement"]
        query = query_vector.astype(np.float32)
        out = []
        for row, job_id, record in kept:
            boost = float(engagement[row] or 0.0)
            if job_id in chosen:
                score, preferred = hits[job_id][0], hits[job_id][1]
            else:  # found only by the lexical index: the score the scan gives it, computed here for these rows alone
                score = float(vectors[row].astype(np.float32) @ query
                              + np.float32(plan.boost.get("engagement", 0.0)) * np.float32(boost))
                preferred = False
            out.append(Candidate(job_id, record, vectors[row], boost, preferred, score))
        return out

    def _fetch_rows(self, ids: list[int]):
        """Stored rows of these ids and (row, id, record) for each still present: postings removed while this search ran (see churn.py) are skipped."""
        while ids:
            try:
                rows = self.index.get(ids)
                break
            except KeyError:
                ids = [i for i, live in zip(ids, self.index.contains(ids).tolist()) if live and i in self.catalog.records]
        else:
            return None, []
        # The catalog entry goes after the index row on removal: read each record once, skip any already gone.
        records = [(row, job_id, self.catalog.records.get(job_id)) for row, job_id in enumerate(ids)]
        return rows, [entry for entry in records if entry[2] is not None]

    def _suggestions(self, plan: QueryPlan, ranked: list[Candidate], k: int, semantic: np.ndarray) -> list[dict]:
        out: list[dict] = []
        if len(plan.clauses) <= 1 and len(plan.semantic_text.split()) <= 4:
            used = tuple(f for f in ("work_mode", "seniority") if any(f in str(c) for c in plan.clauses))
            out.extend(self.suggester.suggest(semantic, exclude_facets=used))
        out.extend(refinements(self.catalog, [c.record for c in ranked]))
        if len(ranked) < k and plan.clauses:
            def count(filter_dicts: list[dict | None]) -> list[int]:
                # How many jobs pass each, up to k: the filters alone answer it, no scan of the vectors is needed.
                return [min(k, len(self.index.ids(filter=f))) if f is not None else min(k, len(self.index)) for f in filter_dicts]

            out.extend(relaxations(plan, count, k))
        return consistent_with_plan(plan, out, self.gazetteer)  # never a value the plan already rules out

    def _result(self, candidate: Candidate) -> JobResult:
        record = candidate.record
        posting = record.posting
        return JobResult(id=posting.id, title=posting.title, company=posting.company, location=posting.location,
                         geo_ids=list(record.geo_ids), remote=record.work_mode, salary_min=posting.salary_min, salary_max=posting.salary_max,
                         posted_at=posting.posted_at.isoformat().replace("+00:00", "Z"), is_staffing=record.is_staffing,
                         score=candidate.score, url=posting.url)

    def member_list(self) -> list[Member]:
        return self.members.all()


def _load_quietly(encoder: Encoder) -> None:
    try:
        encoder.model
    except Exception:  # noqa: BLE001 - the next use of encoder.model loads again and raises where it is handled
        logger.debug("loading the query model in the background failed", exc_info=True)


def _nothing_matches(suggestions: list[dict], plan: QueryPlan | None = None) -> str:
    """The answer when no job passes every filter, with what dropping each filter would find (its relax count).
    A company asked for that has no postings here is said first: that, not the other filters, is why nothing matches.

    Example:
        >>> _nothing_matches([{"kind": "relax", "message": 'without "remote" (work mode is remote) 4 jobs match'}])
        'No job matches every filter; without "remote" (work mode is remote) 4 jobs match.'
    """
    relaxed = [s["message"] for s in suggestions if s.get("kind") == "relax"][:3]
    absent = [note.split(";")[0].split(", so")[0] for note in (plan.notes if plan is not None else ())
              if note.startswith("No postings from") and "so no job matches" in note]
    lead = "".join(f"{note}. " for note in absent)
    # The employers asked for have no postings here: that, not the other filters, is why nothing matches, so the answer says
    # what the same role and place find at other companies (dropping the other filters would still find none of theirs).
    elsewhere = [s for s in suggestions if s.get("kind") == "relax" and s.get("filter") == {"company": {"in": [NO_COMPANY_ID]}}]
    if absent and elsewhere:
        hint = elsewhere[0]
        rest = [e.meaning.removeprefix("located in ") for e in plan.explanations
                if e.filter is not None and not e.soft and e.phrase != hint["phrase"]]
        filters = f" ({'; '.join(rest)})" if rest else ""
        found = f"{hint['count']}{'+' if hint.get('count_is_lower_bound') else ''}"
        if hint["count"]:
            return (lead.replace(" are in this corpus.", " are in this corpus, so none of their jobs can be shown.")
                    + f"At other companies {found} job(s) " + (f"pass the other filters{filters}" if rest else "are listed") + f": drop \"{hint['phrase']}\" to search "
                      f"\"{plan.semantic_text}\" there.")
        return lead + f"No job at other companies passes the other filters{filters} either; see the suggestions for which one to relax."
    if not relaxed:
        return lead + "No job matches every filter; see the suggestions for which one to relax."
    return lead + "No job matches every filter; " + "; ".join(relaxed) + "."


def _distinct(ranked: list[Candidate]) -> list[Candidate]:
    """Drop repeats of the same title, company and location text: employers often post one
    opening several times under different ids."""
    seen, out = set(), []
    for candidate in ranked:
        posting = candidate.record.posting
        key = (posting.title.casefold().strip(), posting.company, posting.location.casefold().strip())
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def _stated_mode_plan(plan: QueryPlan) -> QueryPlan | None:
    """The plan with its work-mode clause narrowed to the postings that state the mode asked for, or None.

    The planner reads "in-office" / "on-site" as the mode asked for *or not stated* (most office jobs do not
    say so) and offers the narrower filter as a ``stricter`` suggestion. A seeker who asks for a mode expects
    postings that say it, so the pipeline searches with the narrower filter first and keeps it when it finds a
    close match; a negation ("not remote or hybrid") asks for no mode and keeps the postings that state none.
    """
    stricter = next((s for s in plan.suggestions if s.get("kind") == "stricter" and "work_mode" in json.dumps(s.get("filter"))), None)
    if stricter is None:
        return None
    narrowed = QueryPlan.from_dict(plan.to_dict())
    for explanation in narrowed.explanations:
        if (not explanation.soft and explanation.filter is not None and "work_mode" in explanation.filter
                and explanation.phrase.startswith(stricter["phrase"])):
            explanation.filter = stricter["filter"]
            explanation.meaning = f"work mode is stated: {stricter['message']}"
            break
    else:
        return None  # the phrase was dropped
    narrowed.suggestions = [s for s in narrowed.suggestions if s is not stricter and s != stricter]
    narrowed.notes = [n for n in narrowed.notes if "do not state a work mode" not in n]
    narrowed.notes.append(f"Only postings that say {stricter['message'].removeprefix('only postings that say ')} are shown, as some match; "
                          "postings that state no work mode (most office jobs) are left out: ask for \"not remote or hybrid\" to see them too.")
    return narrowed


def _adjusted(plan: QueryPlan, drop, refine) -> QueryPlan:
    """The plan without the strict filters of the phrases in ``drop`` and with the suggestions in ``refine`` as strict filters."""
    if isinstance(drop, str) or not all(isinstance(phrase, str) for phrase in drop):
        raise TypeError("drop: expected a list of phrases (strings)")
    known = {e.phrase for e in plan.explanations if e.filter is not None and not e.soft}
    unknown = [phrase for phrase in drop if phrase not in known]
    if unknown:
        raise ValueError(f"drop: {unknown[0]!r} is not a filter phrase of this query; its filter phrases are {sorted(known)}")
    for i, item in enumerate(refine):
        if not isinstance(item, dict) or not isinstance(item.get("filter"), dict) or not {"facet", "value"} <= set(item):
            raise ValueError(f"refine[{i}]: expected a suggestion with facet, value and a filter object, got {item!r}")
    adjusted = QueryPlan.from_dict(plan.to_dict())
    adjusted.explanations = [e for e in adjusted.explanations if e.soft or e.filter is None or e.phrase not in drop]
    for item in refine:
        adjusted.add_clause(f"{item['facet']}: {item['value']}", f"refined to {item['facet'].replace('_', ' ')} {item['value']}",
                            item["filter"])
    return adjusted


def _as_time(now: dt.datetime | str | None) -> dt.datetime | None:
    if now is None or isinstance(now, dt.datetime):
        return now if now is None or now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    if isinstance(now, str):
        from .corpus import parse_time

        return parse_time(now, name="now")
    raise TypeError(f"now: expected an ISO 8601 string or datetime, got {type(now).__name__}")
