"""Synthetic job-search queries made from the postings and the member profiles.

Each query starts from a seed posting (or a member) so that matching jobs exist:
the seed's role words, place, work mode, pay, age, level and company fill
templates of one query type, and several phrasings per type give paraphrases.
Generation is deterministic given the seed, and every query gets a split (train,
validation or test) from a hash of its text, so the same words never land in two
splits. Validation queries are carved out of what would otherwise be training
queries: settings are chosen on them, and the test queries are evaluated once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass

from ..catalog import JobCatalog, JobRecord
from ..members import ConnectionGraph, MemberStore, former_colleagues
from .functions import job_function

QUERY_TYPES = ("role", "place", "remote", "pay", "recency", "seniority", "exclusion", "connections", "background", "combined")
MEMBER_TYPES = frozenset({"connections", "background"})

_TEMPLATES = {
    "role": ("{role} jobs", "looking for a {role} position", "open {role} roles", "{role} openings", "I want to work as a {role}"),
    "place": ("{role} jobs in {place}", "{role} roles near {place}", "{place} {role} openings", "find me {role} work in {place}"),
    "remote": ("remote {role} jobs", "{role} roles, fully remote", "work from home {role} positions", "{role} jobs that are mostly remote"),
    "pay": ("{role} jobs paying at least ${pay}k", "{role} roles with {pay}k+ salary", "{role} jobs with above median pay"),
    "recency": ("{role} jobs posted this week", "recently posted {role} roles", "{role} openings from the last 30 days"),
    "seniority": ("{level} {role} jobs", "{level} {role} positions", "looking for a {level} {role} role"),
    "exclusion": ("{role} jobs not at {company}", "{role} roles excluding {company}", "{role} jobs but not from staffing agencies"),
    "connections": ("{role} jobs where I have a connection", "{role} roles with people I've worked with before",
                    "{role} jobs, ideally working with people I've worked with before"),
    "background": ("{role} jobs that fit my background", "roles that use my {field} experience",
                   "I want to make a difference in {domain} using my background"),
    "combined": ("remote {role} jobs posted this week", "{level} {role} jobs in {place}", "{role} roles in {place}, not from staffing agencies",
                 "recently posted {role} jobs in {place}"),
}
_LEVEL_WORDS = {"intern": "intern", "junior": "entry-level", "senior": "senior", "staff": "staff"}
# The staff level's title words: a seeker who names one wants a title that says it, so the seed's own word is used.
_STAFF_WORD = re.compile(r"\b(staff|principal|distinguished)\b", re.IGNORECASE)
_RECENT_WORDS = re.compile(r"this week|recently|last 30 days")
_DOMAINS = ("climate", "healthcare", "education", "fintech", "AI", "payments", "e-commerce", "mobility", "security", "developer tools")
_CUT = re.compile(r"\s*(?:,|\s-\s|\s–\s|\(|\||/|:|\bat\b)\s*")
_LEVEL = re.compile(r"\b(senior|sr\.?|snr|staff|principal|lead|junior|jr\.?|associate|distinguished|entry[- ]level|intern|"
                    r"internship|head of|i{1,3}|iv|[0-9]+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SyntheticQuery:
    """A generated query before planning: words, type, optional member and its split."""

    query: str
    query_type: str
    member_id: str | None
    split: str
    seed_job_id: int | None = None


def role_of(title: str) -> str | None:
    """The role words of a title: the part before any comma or dash, without level words, lower case.

    Example:
        >>> role_of("Senior Software Engineer, Backend"), role_of("Staff Data Scientist II"), role_of("Keyholder - Grand Blvd")
        ('software engineer', 'data scientist', 'keyholder')
    """
    head = _CUT.split(title, maxsplit=1)[0]
    words = [w for w in _LEVEL.sub(" ", head).lower().split() if re.search(r"[a-z]", w)]
    if not 1 <= len(words) <= 4 or not all(re.fullmatch(r"[a-z&+#.-]+", w) for w in words):
        return None
    return " ".join(words)


SPLITS = ("train", "validation", "test")


def split_of(text: str, *, seed: int, test_fraction: float, validation_fraction: float = 0.0) -> str:
    """The split of a query text, stable under case and spacing.

    The text's hash, read as a number in [0, 1), picks 'test' below ``test_fraction``,
    'validation' in the next ``validation_fraction`` and 'train' above, so adding a
    validation split never moves a test query.

    Example:
        >>> split_of("Data Engineer  jobs", seed=3, test_fraction=0.3) == split_of("data engineer jobs", seed=3, test_fraction=0.3)
        True
    """
    check_split_fractions(test_fraction, validation_fraction)
    digest = hashlib.sha256(f"{seed}:{' '.join(text.lower().split())}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    return "validation" if position < test_fraction + validation_fraction else "train"


def check_split_fractions(test_fraction: float, validation_fraction: float) -> None:
    """Raise ValueError unless both fractions are valid and leave queries to train on."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")
    if (isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float))
            or not 0 <= validation_fraction < 1 - test_fraction):
        raise ValueError(f"validation_fraction: expected a number in [0, {1 - test_fraction:g}) so that training queries remain, "
                         f"got {validation_fraction!r}")


class QueryGenerator:
    """Makes queries of every type in :data:`QUERY_TYPES` from a catalog and the member sample.

    Example:
        >>> generator = QueryGenerator(catalog, tools, members, graph, seed=0)  # doctest: +SKIP
        >>> [q.query_type for q in generator.generate(20)][:3]  # doctest: +SKIP
        ['role', 'place', 'remote']
    """

    def __init__(self, catalog: JobCatalog, place_names: dict[int, str], members: MemberStore, graph: ConnectionGraph, *,
                 seed: int = 0, test_fraction: float = 0.25, validation_fraction: float = 0.0, min_role_postings: int = 3):
        check_split_fractions(test_fraction, validation_fraction)
        self.catalog = catalog
        self.place_names = place_names
        self.members = members
        self.graph = graph
        self.seed = seed
        self.test_fraction = test_fraction
        self.validation_fraction = validation_fraction
        self.roles = {job_id: role_of(r.posting.title) for job_id, r in catalog.records.items()}
        counts = Counter(role for role in self.roles.values() if role and job_function(role))
        self.common_roles = {role for role, n in counts.items() if n >= min_role_postings}
        self.seeds = sorted(job_id for job_id, role in self.roles.items() if role in self.common_roles)
        self.by_role: dict[str, list[int]] = {}
        for job_id in self.seeds:
            self.by_role.setdefault(self.roles[job_id], []).append(job_id)
        if not self.seeds:
            raise ValueError(f"catalog: expected postings whose role appears at least {min_role_postings} times, got none")

    def generate(self, count: int) -> list[SyntheticQuery]:
        """``count`` distinct queries, cycling through the query types in order."""
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"count: expected a positive int, got {count!r}")
        rng = random.Random(self.seed)
        made: dict[str, SyntheticQuery] = {}
        for number in range(count * 3):
            if len(made) == count:
                break
            query_type = QUERY_TYPES[number % len(QUERY_TYPES)]
            # Some types fit few seeds (pay needs a stated salary), so each gets many tries.
            for _ in range(50):
                built = self._build(query_type, rng)
                if built is None:
                    continue
                text, member_id, seed_job = built
                key = " ".join(text.lower().split()) + f"|{member_id}"
                if key not in made:
                    made[key] = SyntheticQuery(text, query_type, member_id,
                                               split_of(text, seed=self.seed, test_fraction=self.test_fraction,
                                                        validation_fraction=self.validation_fraction), seed_job)
                    break
        return list(made.values())

    # -- one query ----------------------------------------------------------------------------------
    def _build(self, query_type: str, rng: random.Random) -> tuple[str, str | None, int | None] | None:
        template = rng.choice(_TEMPLATES[query_type])
        member_id = None
        if query_type in MEMBER_TYPES:
            member = rng.choice(self.members.all())
            member_id = member.id
            candidates = self._member_seeds(member, query_type)
            if not candidates:
                return None
            record = self.catalog.records[rng.choice(candidates)]
            if query_type == "background":
                role = role_of(member.title) or member.title.lower()
                fields = {"role": role, "field": (job_function(member.title) or role).replace("_", " "),
                          "domain": rng.choice(_DOMAINS)}
                return template.format(**fields), member_id, None
        else:
            record = self.catalog.records[rng.choice(self.seeds)]
        fields = self._fields(record, rng)
        needed = set(re.findall(r"{(\w+)}", template))
        if any(fields.get(name) is None for name in needed):
            return None
        if "mostly remote" in template:
            if record.work_mode not in ("remote", "hybrid"):
                return None
        elif ("remote" in template or "work from home" in template) and record.work_mode != "remote":
            return None
        if _RECENT_WORDS.search(template) and fields["recent"] is None:
            return None
        if "staffing" in template and record.is_staffing:
            return None
        return template.format(**{name: fields[name] for name in needed}), member_id, record.posting.id

    def _member_seeds(self, member, query_type: str) -> list[int]:
        if query_type == "connections":
            companies = {p.current_employer for p in (former_colleagues(member, self.graph) + self.graph.connections(member.id))}
            return [job_id for job_id in self.seeds if self.catalog.records[job_id].posting.company in companies]
        return self.seeds

    @staticmethod
    def _level_word(record) -> str | None:
        """How a seeker names the seed's level ("principal" for a Principal title, "staff level" for a Fellow)."""
        if record.seniority != "staff":
            return _LEVEL_WORDS.get(record.seniority)
        named = _STAFF_WORD.search(record.posting.title)
        return named.group(1).lower() if named else "staff level"

    def _fields(self, record: JobRecord, rng: random.Random) -> dict[str, str | None]:
        posting = record.posting
        place = next((self.place_names.get(p.id) for p in record.location.places if p.id in self.place_names), None)
        pay = posting.salary_max or posting.salary_min
        # Excluding a company that hires for the same role makes the exclusion matter.
        others = sorted({self.catalog.records[j].posting.company for j in self.by_role[self.roles[posting.id]]} - {posting.company})
        age = self.catalog.default_now() - posting.posted_at
        return {
            "role": self.roles[posting.id],
            "place": place,
            "pay": str(int(pay * 0.8 // 10000 * 10)) if pay and pay >= 50000 else None,
            "level": self._level_word(record),
            "company": rng.choice(others) if others else None,
            "recent": "yes" if age <= dt.timedelta(days=7) else None,
        }


def resolvable_place_names(catalog: JobCatalog, resolve) -> dict[int, str]:
    """Place id -> a name that ``resolve`` (e.g. ``PlannerTools.place_by_name``) maps back to the same place.

    Only such names are put in queries, so the planner reads the place the seed posting is in.
    """
    names: dict[int, str] = {}
    for record in catalog.records.values():
        for place in record.location.places:
            if place.id not in names and place.kind in ("city", "state", "country", "metro"):
                found = resolve(place.name)
                if found is not None and found.id == place.id:
                    names[place.id] = place.name
    return names
