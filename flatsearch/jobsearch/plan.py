"""The query plan: what a planner makes of a query, as plain JSON-serialisable data.

``filters`` is flatsearch's filter dict form (``{"and": [clause, ...]}``), every
clause strict: each returned job satisfies all of them. ``preferences`` are soft
clauses that add ``PREFERENCE_WEIGHT`` to a job's score instead of excluding others.
``explanations`` say which words became which clause; ``notes`` tell the user what
could not be honoured (an unknown place, a personal phrase without a member).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

INTENTS = ("job_search", "not_job_search", "empty")


@dataclass
class Explanation:
    """One understood phrase: the words, what they mean, and the clause they became (None for
    phrases that only shape the semantic text)."""

    phrase: str
    meaning: str
    filter: dict | None = None
    soft: bool = False


@dataclass
class QueryPlan:
    """A typed plan; ``to_dict()``/``from_dict()`` round-trip through JSON.

    Example:
        >>> plan = QueryPlan("data jobs", intent="job_search", semantic_text="data")
        >>> plan.add_clause("in Boston", "located in Boston, MA", {"geo": {"in": [4930956]}})
        >>> plan.filters
        {'and': [{'geo': {'in': [4930956]}}]}
        >>> QueryPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
        True
    """

    query: str
    intent: str = "job_search"
    semantic_text: str = ""
    boost: dict[str, float] = field(default_factory=dict)
    explanations: list[Explanation] = field(default_factory=list)
    suggestions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    member_id: str | None = None
    profile_weight: float = 0.0
    planner: str = "rules"

    @property
    def clauses(self) -> list[dict]:
        """The strict clauses, in the order they were found."""
        return [e.filter for e in self.explanations if e.filter is not None and not e.soft]

    @property
    def preferences(self) -> list[dict]:
        return [e.filter for e in self.explanations if e.filter is not None and e.soft]

    @property
    def filters(self) -> dict | None:
        """All strict clauses combined with "and", in flatsearch's dict form, or None."""
        clauses = self.clauses
        return {"and": clauses} if clauses else None

    def add_clause(self, phrase: str, meaning: str, clause: dict | None, *, soft: bool = False) -> None:
        self.explanations.append(Explanation(phrase, meaning, clause, soft))

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "intent": self.intent, "filters": self.filters, "semantic_text": self.semantic_text,
            "boost": dict(self.boost), "explanations": [asdict(e) for e in self.explanations],
            "preferences": self.preferences, "suggestions": list(self.suggestions), "notes": list(self.notes),
            "member_id": self.member_id, "profile_weight": self.profile_weight, "planner": self.planner,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueryPlan":
        if not isinstance(data, dict):
            raise TypeError(f"plan: expected a dict, got {type(data).__name__}")
        if data.get("intent", "job_search") not in INTENTS:
            raise ValueError(f"plan.intent: expected one of {', '.join(INTENTS)}, got {data.get('intent')!r}")
        explanations = []
        for i, item in enumerate(data.get("explanations", [])):
            if not isinstance(item, dict) or "phrase" not in item or "meaning" not in item:
                raise ValueError(f"plan.explanations[{i}]: expected an object with phrase and meaning, got {item!r}")
            explanations.append(Explanation(str(item["phrase"]), str(item["meaning"]), item.get("filter"), bool(item.get("soft", False))))
        return cls(
            query=str(data.get("query", "")), intent=data.get("intent", "job_search"), semantic_text=str(data.get("semantic_text", "")),
            boost={str(k): float(v) for k, v in dict(data.get("boost") or {}).items()}, explanations=explanations,
            suggestions=list(data.get("suggestions") or []), notes=[str(n) for n in data.get("notes") or []],
            member_id=data.get("member_id"), profile_weight=float(data.get("profile_weight") or 0.0),
            planner=str(data.get("planner", "rules")))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
