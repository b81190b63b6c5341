"""The default planner: deterministic rules, no model needed.

It reads a query in passes, each turning the words it understands into a strict
clause (or a soft preference) and marking those words as used: staffing
exclusions, work mode, recency, companies, people ("where I have a connection"),
the member's background, seniority, places, and pay (last, because "above median
pay" compares with postings like the rest of the query). What is left, minus filler
words, is the semantic text that gets embedded.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from .gazetteer import Place, fold
from .locations import WORK_MODE_CODES
from .plan import QueryPlan
from .scoring import ENGAGEMENT_WEIGHT, PROFILE_WEIGHT, engagement_boost
from .seniority import LEVEL_CODES, QUERY_WORDS
from .tools import PlannerTools

MAX_QUERY_CHARS = 2000
RECENT_DAYS = 14

_JOB_WORDS = re.compile(r"\b(jobs?|roles?|positions?|openings?|careers?|hiring|vacanc(?:y|ies)|internships?|gigs?|"
                        r"opportunit(?:y|ies)|employment|work(?:ing)?|postings?|listings?)\b", re.IGNORECASE)
_FILLER = frozenset("""a an the and or but nor so to of in on at for from by with without within into that which who whom
whose this these those is are be been being am was were i i'm im me my we our you your it its please find show search
get give list want wanted would like need needs looking look seeking seek interested any some all only just also
really very ideally preferably something anything can could should jobs job roles role positions position openings
opening posted posting postings listing listings that's there where when what how have has had do does using use as""".split())
_STOP_PLACE_WORDS = frozenset("""remote hybrid marketing sales data design product security energy mobile nice reading bath
orange industry commerce university media people home office union normal independence liberty victoria florence jobs
job engineer manager lead senior software it us our my best good great new early late mission environment climate
health green golden hope paradise enterprise eagle""".split())
_PLACE_CUE_WORDS = r"\b(?:in|near|around|based in|located in|close to|from|within)"
_PLACE_CUE = re.compile(_PLACE_CUE_WORDS + r"\s+$", re.IGNORECASE)
# Wider than the cue only for marking words as used: "near the Seattle area" leaves no "near" behind, while
# "the" alone is not evidence enough to read a small town's name as a place.
_PLACE_LEAD = re.compile(_PLACE_CUE_WORDS + r"(?:\s+the)?\s+$", re.IGNORECASE)
# "the Boston area": the trailing noun belongs to the place, not to the role.
_PLACE_TAIL = re.compile(r"\s+(?:metro(?:politan)?\s+)?(?:area|region)\b", re.IGNORECASE)
_SOFT_CUE = re.compile(r"\b(ideally|preferably|if possible|bonus if|nice to have|would be nice|optionally|hopefully)\b[\w\s']{0,30}$",
                       re.IGNORECASE)
_STAFFING = re.compile(
    r"\b(?:but\s+)?(?:not|no|excluding|exclude|except|without|avoid(?:ing)?)\s+(?:from\s+|by\s+|through\s+|via\s+)?(?:any\s+)?"
    r"(?:(?:sourcing|staffing|recruiting|recruitment|headhunting|temp|outsourcing)(?:\s*(?:/|,|or|and|&)\s*)?)+"
    r"(?:\s+(?:compan(?:y|ies)|firms?|agenc(?:y|ies)|recruiters?|shops?))?"
    r"|\b(?:no|not from|not through|without|excluding)\s+(?:recruiters|agencies|headhunters|staffing agencies)\b",
    re.IGNORECASE)
_WORK_MODES = (
    (re.compile(r"\b(?:mostly|mainly|largely|primarily|partly|partially|mostly\s+or\s+fully)\s+remote\b|\bremote[- ](?:first|friendly)\b|"
                r"\bremote\s+or\s+hybrid\b|\bhybrid\s+or\s+remote\b", re.IGNORECASE), ("remote", "hybrid")),
    # "remote sensing" is a field of work, not a work mode.
    (re.compile(r"\b(?:fully|100%|completely|entirely|all)\s+remote\b|\bremote\b(?![- ]sensing\b)|"
                r"\bwork(?:ing)? from home\b|\bwfh\b", re.IGNORECASE), ("remote",)),
    (re.compile(r"\bhybrid\b", re.IGNORECASE), ("hybrid",)),
    (re.compile(r"\b(?:on[- ]?site|in[- ]office|in[- ]person|at the office)\b", re.IGNORECASE), ("onsite",)),
)
_RECENCY = (
    (re.compile(r"\b(?:posted\s+|added\s+|listed\s+)?(?:in\s+the\s+)?(?:last|past)\s+24\s*(?:hours|hrs|h)\b|\b(?:posted\s+)?today\b", re.IGNORECASE), lambda m: 1),
    (re.compile(r"\b(?:posted\s+|added\s+|listed\s+)?(?:in\s+the\s+|within\s+the\s+)?(?:last|past)\s+(\d{1,3})\s+(day|week|month)s?\b", re.IGNORECASE),
     lambda m: int(m.group(1)) * {"day": 1, "week": 7, "month": 30}[m.group(2).lower()]),
    (re.compile(r"\b(?:posted\s+)?(?:this|last|past)\s+week\b", re.IGNORECASE), lambda m: 7),
    (re.compile(r"\b(?:posted\s+)?(?:this|last|past)\s+month\b", re.IGNORECASE), lambda m: 30),
    (re.compile(r"\b(?:posted|added|listed|published)\s+recently\b|\brecently\s+posted\b|\brecent\b|\bnewly\s+posted\b|\blatest\b|\bfresh\b",
                re.IGNORECASE), lambda m: RECENT_DAYS),
)
_MEDIAN_PAY = re.compile(
    r"\b(?:with\s+)?(?:at\s+or\s+)?(?:above|over|better\s+than|higher\s+than|more\s+than|beyond)[- ](?:the\s+)?"
    r"(?:median|average|typical|market)(?:\s+(?:pay|salary|salaries|compensation|comp|wages?))?\b|\b(?:well[- ]paid|high[- ]paying|top[- ]paying)\b",
    re.IGNORECASE)
_PAY_FLOOR = re.compile(
    r"(?:\b(?:with\s+)?(?:pay(?:ing)?|salary|comp(?:ensation)?)\s+)?(?:\b(?:at\s+least|minimum(?:\s+of)?|min\.?|over|above|more\s+than|starting\s+at|from)\s+)?"
    r"\$\s?(\d[\d,]*(?:\.\d+)?)\s*([kK])?\s*(\+|\s*(?:or\s+more|and\s+up|plus)\b)?"
    r"|\b(\d{2,3})\s*[kK]\s*(\+|\s*(?:or\s+more|and\s+up|plus)\b)", re.IGNORECASE)
_WORKED_WITH = re.compile(
    r"(?:\b(?:working|work)\s+with\s+)?\b(?:people|folks|someone|colleagues|coworkers|co-workers|those|the\s+people|teammates)\s+"
    r"(?:that\s+|who\s+|whom\s+)?i(?:'ve|\s+have|ve)?\s+(?:already\s+)?worked\s+with(?:\s+before|\s+in\s+the\s+past|\s+previously)?"
    r"|(?:\b(?:working|work)\s+with\s+)?\b(?:former|old|previous|ex-?)\s*(?:colleagues|coworkers|co-workers|teammates)\b", re.IGNORECASE)
_CONNECTION = re.compile(
    r"\b(?:at\s+)?(?:companies\s+|places\s+)?where\s+i\s+(?:have|know)\s+(?:a\s+|some\s+)?(?:connections?|someone|somebody|people|friends?|contacts?)\b"
    r"|\b(?:through|via|in|at\s+companies\s+in)?\s*my\s+(?:network|connections|contacts)\b|\bpeople\s+i\s+know\b", re.IGNORECASE)
_PROFILE = re.compile(
    r"\b(?:using|use|with|leverag(?:e|ing)|based\s+on|given|matching|that\s+fits?|that\s+match(?:es)?|for|fit(?:ting)?)?\s*"
    r"\bmy\s+(?:(\w+(?:\s+\w+)?)\s+)?(background|experience|skills|skill\s+set|profile|expertise|resume|cv)\b", re.IGNORECASE)
# ``head`` is the negation itself ("but not at"); the rest lets earlier names of a list sit between ("not at Airbnb or ").
_COMPANY_EXCLUDE_CUE = re.compile(r"\b(?P<head>(?:not|no|except|excluding|exclude|other\s+than|avoid(?:ing)?|besides|but\s+not|never)\s+"
                                  r"(?:at\s+|from\s+|with\s+|for\s+)?)(?:[\w&.'-]+(?:\s+[\w&.'-]+)?\s*(?:,|\bor\b|\band\b|\bnor\b)\s*){0,3}$",
                                  re.IGNORECASE)
# Only the negations ignore case ("Not at Google, ..."): a title-case "For" or "With" says little.
_COMPANY_CUE = re.compile(r"\b(?:(?P<negated>(?i:(?:but\s+)?not\s+at|except|excluding|other\s+than(?:\s+at)?))|at|for|with|from)\s+"
                          r"(?P<name>[A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,2})")
# "with 150k+ salary": the noun after an amount belongs to the pay clause.
_PAY_TAIL = re.compile(r"\s+(?:base\s+)?(?:salary|pay|compensation|comp)\b", re.IGNORECASE)
_PUNCTUATION_WORD = re.compile(r"\W+")
_QUESTION = re.compile(r"^\s*(?:what|who|whom|when|why|how|where|which|is|are|can|could|do|does|did|tell\s+me|explain|write)\b", re.IGNORECASE)


def add_ranking_terms(plan: QueryPlan, catalog, member, now: dt.datetime) -> None:
    """The parts of a plan that come from the scoring formula, not from the query's words."""
    plan.boost = {"engagement": engagement_boost(now.timestamp(), catalog.anchor_time.timestamp(), weight=ENGAGEMENT_WEIGHT)}
    if member is not None:
        plan.profile_weight = PROFILE_WEIGHT
        plan.add_clause(f"member {member.id}", f"ranking adds how well jobs fit {member.name}'s profile ({member.title})", None)


class _Text:
    """The query with a mask of characters already turned into plan parts."""

    def __init__(self, text: str):
        self.text = text
        self.used = [False] * len(text)

    def free(self, start: int, end: int) -> bool:
        return not any(self.used[start:end])

    def take(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.used[i] = True

    def matches(self, pattern: re.Pattern) -> list[re.Match]:
        return [m for m in pattern.finditer(self.text) if m.group(0).strip() and self.free(m.start(), m.end())]

    def residual(self) -> str:
        return "".join(ch if not used else "\x00" for ch, used in zip(self.text, self.used))


class RulePlanner:
    """Turns a query (and optionally a member id) into a QueryPlan with deterministic rules.

    Example:
        >>> from flatsearch.jobsearch.catalog import JobCatalog
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> from flatsearch.jobsearch.gazetteer import Gazetteer
        >>> from flatsearch.jobsearch.members import SampleNetwork
        >>> catalog = JobCatalog(load_bundled_corpus().head(300), Gazetteer())
        >>> planner = RulePlanner(PlannerTools(catalog, SampleNetwork(), SampleNetwork()))
        >>> plan = planner.plan("remote data jobs in Seattle")
        >>> plan.semantic_text, [e.phrase for e in plan.explanations]
        ('data', ['remote', 'Seattle'])
    """

    name = "rules"

    def __init__(self, tools: PlannerTools):
        self.tools = tools
        self.catalog = tools.catalog
        words = Counter(w for r in self.catalog.records.values()
                        for w in re.findall(r"[a-z][a-z+#-]{2,}", fold(f"{r.posting.title} {r.posting.department} {r.posting.category}")))
        self.vocabulary = {w for w, n in words.items() if n >= 2 and w not in _FILLER}

    def plan(self, query: str, member_id: str | None = None, *, now: dt.datetime | None = None) -> QueryPlan:
        if not isinstance(query, str):
            raise TypeError(f"query: expected a string, got {type(query).__name__}")
        if member_id is not None and not isinstance(member_id, str):
            raise TypeError(f"member_id: expected a string such as 'm001' or None, got {type(member_id).__name__}")
        now = now or self.catalog.default_now()
        plan = QueryPlan(query=query, member_id=member_id, planner=self.name)
        text = " ".join(query.split())
        if not text:
            plan.intent = "empty"
            plan.notes.append("The query is empty: describe the job you want, e.g. \"remote data engineer jobs in Boston\".")
            return plan
        if len(text) > MAX_QUERY_CHARS:
            cut = text.rfind(" ", 0, MAX_QUERY_CHARS)
            text = text[:cut if cut > MAX_QUERY_CHARS // 2 else MAX_QUERY_CHARS]
            plan.notes.append(f"The query was {len(query):,} characters long; only the first {len(text):,} were read.")
        member = None
        if member_id is not None:
            member = self.tools.members.get(member_id)  # raises UnknownMemberError with the valid ids
        state = _Text(text)
        work_modes = self._work_mode(state, plan)
        self._staffing(state, plan)
        self._recency(state, plan, now)
        self._people(state, plan, member)
        background = self._profile(state, plan, member)
        self._companies(state, plan)
        self._seniority(state, plan)
        self._places(state, plan, work_modes)
        pay_span = self._find_pay(state)
        semantic = self._semantic(state)
        self._pay(plan, pay_span, semantic)
        words = set(re.findall(r"[a-z][a-z+#-]{2,}", fold(semantic))) - _FILLER
        job_like = bool(_JOB_WORDS.search(text)) or bool(words & self.vocabulary) or bool(background)
        if not job_like or (_QUESTION.search(text) and not _JOB_WORDS.search(text)):
            plan.intent = "not_job_search"
            plan.explanations.clear()
            plan.notes.append("This does not look like a job search. Try describing a role, e.g. \"senior product designer jobs in Austin\".")
            return plan
        fallback = f"{member.title}, {', '.join(member.skills)}" if member is not None else text
        plan.semantic_text = "; ".join(part for part in (semantic, background) if part) or fallback
        add_ranking_terms(plan, self.catalog, member, now)
        return plan

    # -- passes -----------------------------------------------------------------------------------
    def _work_mode(self, state: _Text, plan: QueryPlan) -> tuple[str, ...]:
        for pattern, modes in _WORK_MODES:
            found = state.matches(pattern)
            if found:
                for match in found:
                    state.take(match.start(), match.end())
                codes = [WORK_MODE_CODES[m] for m in modes]
                clause = {"work_mode": {"in": codes}} if len(codes) > 1 else {"work_mode": {"eq": codes[0]}}
                plan.add_clause(found[0].group(0), "work mode is " + " or ".join(modes), clause)
                return modes
        return ()

    def _staffing(self, state: _Text, plan: QueryPlan) -> None:
        for match in state.matches(_STAFFING)[:1]:
            state.take(match.start(), match.end())
            plan.add_clause(match.group(0).strip(), "exclude staffing, sourcing and recruiting agencies", {"is_staffing": {"eq": False}})

    def _recency(self, state: _Text, plan: QueryPlan, now: dt.datetime) -> None:
        for pattern, days_of in _RECENCY:
            found = state.matches(pattern)
            if found:
                days = max(1, min(days_of(found[0]), 3650))
                for match in found:
                    state.take(match.start(), match.end())
                since = now - dt.timedelta(days=days)
                plan.add_clause(found[0].group(0).strip(), f"posted since {since:%Y-%m-%d %H:%M} UTC (the {days} day(s) before {now:%Y-%m-%d})",
                                {"posted_at": {"gte": int(since.timestamp())}})
                return

    def _people(self, state: _Text, plan: QueryPlan, member) -> None:
        for pattern, relation, label in ((_WORKED_WITH, "worked_with", "people you have worked with"),
                                         (_CONNECTION, "connection", "people you know")):
            for match in state.matches(pattern)[:1]:
                start = match.start()
                soft = _SOFT_CUE.search(state.text[:start])
                if soft:
                    start = soft.start()
                state.take(start, match.end())
                phrase = state.text[start:match.end()].strip()
                if member is None:
                    plan.notes.append(f"\"{phrase}\" needs a member profile (--member ID); it was ignored.")
                    continue
                found = self.tools.graph_lookup(member.id, relation)
                ids = [c["id"] for c in found["companies"]]
                if not ids:
                    plan.notes.append(f"None of the companies where {label} work has postings; \"{phrase}\" was ignored.")
                    continue
                names = ", ".join(c["name"] for c in found["companies"])
                meaning = f"company is one where {label} work: {names}"
                plan.add_clause(phrase, ("prefer jobs where " if soft else "") + meaning if soft else meaning,
                                {"company": {"in": ids}}, soft=bool(soft))

    def _profile(self, state: _Text, plan: QueryPlan, member) -> str:
        for match in state.matches(_PROFILE)[:1]:
            state.take(match.start(), match.end())
            field = (match.group(1) or "").strip()
            if member is None:
                plan.notes.append(f"\"{match.group(0).strip()}\" refers to a member profile (--member ID); only the words were used.")
                return field
            profile = self.tools.profile_lookup(member.id)
            skills = [s for s in profile["skills"] if not field or any(w in fold(s) for w in fold(field).split())] or profile["skills"]
            background = f"{field + ' ' if field else ''}background: {profile['title']}, {', '.join(skills)}"
            plan.add_clause(match.group(0).strip(), f"semantic text adds the profile of {member.id}: {profile['title']}; {', '.join(skills)}", None)
            return background
        return ""

    def _companies(self, state: _Text, plan: QueryPlan) -> None:
        include, exclude = [], []
        for start, end, company in self.tools.company_mentions(state.text):
            if not state.free(start, end):
                continue
            cue = _COMPANY_EXCLUDE_CUE.search(state.text[:start])
            (exclude if cue else include).append((company, state.text[start:end]))
            state.take(start, end)
            if cue:
                # The negation is part of the clause; left free, "not" would be embedded as a topic word.
                state.take(cue.start("head"), cue.end("head"))
        for match in state.matches(_COMPANY_CUE):
            name = match.group("name")
            key = fold(name)
            if key in self.vocabulary or key in _FILLER or key in _STOP_PLACE_WORDS:
                continue
            # After a negation a name must not become a place: places have no exclusion, so "excluding Google"
            # would turn into "only in Topeka" (GeoNames lists Google as an alternate name of Topeka).
            if not match.group("negated") and self._place(name, cue=False, lowercase_query=False):
                continue
            plan.notes.append(f"No postings from a company called \"{name}\" are in the index; it was not used as a filter.")
            state.take(match.start(), match.end())
        if include:
            ids = sorted({c for c, _ in include})
            plan.add_clause(", ".join(n for _, n in include), "company is " + " or ".join(self.catalog.company_names[c] for c in ids),
                            {"company": {"in": ids}})
        if exclude:
            ids = sorted({c for c, _ in exclude})
            plan.add_clause("not " + ", ".join(n for _, n in exclude), "company is not " + " or ".join(self.catalog.company_names[c] for c in ids),
                            {"not": {"company": {"in": ids}}})

    def _seniority(self, state: _Text, plan: QueryPlan) -> None:
        levels, phrases = [], []
        for level, pattern in QUERY_WORDS.items():
            if level == "manager":
                continue  # "marketing manager" names a job, not a level
            for match in state.matches(re.compile(pattern, re.IGNORECASE))[:1]:
                levels.append(level)
                phrases.append(match.group(0))
        if levels:
            plan.add_clause(", ".join(phrases), "seniority is " + " or ".join(levels), {"seniority": {"in": [LEVEL_CODES[l] for l in levels]}})

    def _places(self, state: _Text, plan: QueryPlan, work_modes: tuple[str, ...]) -> None:
        words = [m for m in re.finditer(r"[A-Za-z][A-Za-z.'\-]*", state.text) if state.free(m.start(), m.end())]
        lowercase_query = state.text == state.text.lower()
        places: list[tuple[str, Place]] = []
        i = 0
        while i < len(words):
            for n in range(min(4, len(words) - i), 0, -1):
                span = words[i:i + n]
                if any(words[j + 1].start() - words[j].end() > 2 for j in range(i, i + n - 1)):
                    continue  # the words must be adjacent ("Silicon Valley", not "Silicon ... Valley")
                phrase = state.text[span[0].start():span[-1].end()].rstrip(".")
                place = self._place(phrase, cue=bool(_PLACE_CUE.search(state.text[:span[0].start()])), lowercase_query=lowercase_query)
                if place is not None:
                    places.append((phrase, place))
                    self._take_place(state, span[0].start(), span[-1].end())
                    i += n
                    break
            else:
                self._unknown_place(state, words[i], plan)
                i += 1
        if not places:
            return
        ids = sorted({pid for _, p in places for pid in self.tools.gazetteer.filter_ids(p)})
        labels = " or ".join(self._label(p) for _, p in places)
        clause = {"geo": {"in": ids}}
        meaning = f"located in {labels}"
        if "remote" in work_modes and any(p.kind != "country" for _, p in places):
            countries = sorted({c.id for _, p in places if (c := self.tools.gazetteer.country_of(p)) is not None})
            if countries:
                clause = {"or": [clause, {"and": [{"work_mode": {"eq": WORK_MODE_CODES["remote"]}}, {"geo": {"in": countries}}]}]}
                names = ", ".join(sorted({self.tools.gazetteer.place(c).name for c in countries}))
                meaning += f", or fully remote within {names}"
        plan.add_clause(" or ".join(phrase for phrase, _ in places), meaning, clause)

    @staticmethod
    def _take_place(state: _Text, start: int, end: int) -> None:
        """Marks a place as used together with its cue ("near") and tail ("area"), which mean nothing without it."""
        lead = _PLACE_LEAD.search(state.text[:start])
        tail = _PLACE_TAIL.match(state.text, end)
        state.take(lead.start() if lead else start, tail.end() if tail else end)

    def _label(self, place: Place) -> str:
        if place.kind == "metro":
            cities = [self.tools.gazetteer.place(c).name for c in place.contains[:4] if self.tools.gazetteer.place(c)]
            return f"{place.name} ({', '.join(cities)}, ...)"
        return place.label()

    def _place(self, phrase: str, *, cue: bool, lowercase_query: bool) -> Place | None:
        key = " ".join(fold(phrase).split())
        gazetteer = self.tools.gazetteer
        if phrase.rstrip(".") in ("US", "USA", "U.S", "UK", "U.K"):
            return gazetteer.country(key.rstrip("."))
        single = " " not in key
        if single and (key in _STOP_PLACE_WORDS or key in _FILLER or len(key) < 3):
            return None
        if key in self.tools.catalog.category_ids:
            return None
        capitalised = phrase[:1].isupper() or lowercase_query
        if not capitalised and single:
            return None
        region = gazetteer.metro_alias(key, in_query=True) or gazetteer.country(key) or gazetteer.state(key)
        cities = gazetteer.cities_named(key)
        if region is not None:
            # "New York" means the city; "Georgia" and "Washington" mean the state.
            big_city = next((c for c in cities if c.population >= 1_000_000 and region.kind == "state"
                             and c.country == "US" and c.admin1 == region.admin1), None)
            return big_city or region
        if single and key in self.vocabulary and not phrase[:1].isupper():
            return None  # "marketing", "security": job words, not towns
        if cities and (cities[0].population >= 100_000 or cue or not single):
            return cities[0]
        return None

    def _unknown_place(self, state: _Text, word: re.Match, plan: QueryPlan) -> None:
        """A capitalised word right after "in"/"near" that is no known place nor job word."""
        if not word.group(0)[:1].isupper() or not _PLACE_CUE.search(state.text[:word.start()]):
            return
        key = fold(word.group(0))
        if key in self.vocabulary or key in _FILLER or key in _STOP_PLACE_WORDS:
            return
        plan.notes.append(f"No place called \"{word.group(0)}\" is known; no location filter was applied for it.")
        self._take_place(state, word.start(), word.end())

    def _find_pay(self, state: _Text) -> tuple[str, float | None] | None:
        for match in state.matches(_MEDIAN_PAY)[:1]:
            state.take(match.start(), match.end())
            return match.group(0).strip(), None
        for match in state.matches(_PAY_FLOOR)[:1]:
            if match.group(1):
                amount = float(match.group(1).replace(",", "")) * (1000 if match.group(2) else 1)
                if not (match.group(3) or re.search(r"least|minimum|min|over|above|more|starting|from", match.group(0), re.IGNORECASE)):
                    continue
            else:
                amount = float(match.group(4)) * 1000
            if amount < 1000:
                continue
            tail = _PAY_TAIL.match(state.text, match.end())
            end = tail.end() if tail and state.free(match.end(), tail.end()) else match.end()
            state.take(match.start(), end)
            return state.text[match.start():end].strip(), amount
        return None

    def _pay(self, plan: QueryPlan, pay: tuple[str, float | None] | None, semantic: str) -> None:
        if pay is None:
            return
        phrase, amount = pay
        if amount is not None:
            plan.add_clause(phrase, f"pay range reaches at least ${amount:,.0f} a year (postings without pay are left out)",
                            {"salary_max": {"gte": amount}})
            return
        keywords = " ".join(w for w in semantic.split() if fold(w) in self.vocabulary)
        stats = self.tools.salary_statistics(keywords)
        if stats["median"] is None:
            plan.notes.append(f"\"{phrase}\": no postings state their pay, so it was ignored.")
            return
        plan.add_clause(phrase, f"mid-point of the pay range at or above ${stats['median']:,.0f}, the median of {stats['count']} "
                                f"postings with {stats['basis']} (postings without pay are left out)",
                        {"salary_mid": {"gte": float(stats["median"])}})

    def _semantic(self, state: _Text) -> str:
        fragments = []
        for fragment in re.split(r"[\x00,;:.!?()\[\]\"]+", state.residual()):
            words = [w for w in fragment.split() if not _JOB_WORDS.fullmatch(w)]
            # Dashes and slashes left between two clauses ("jobs - not at X") are no topic words.
            while words and (fold(words[0]).strip("'") in _FILLER or _PUNCTUATION_WORD.fullmatch(words[0])):
                words.pop(0)
            while words and (fold(words[-1]).strip("'") in _FILLER or _PUNCTUATION_WORD.fullmatch(words[-1])):
                words.pop()
            if words:
                fragments.append(" ".join(words))
        return ", ".join(fragments)
