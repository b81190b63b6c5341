"""A query to grade: its text, type, member and the plan the planner made of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan import QueryPlan


@dataclass(frozen=True)
class QueryCase:
    """One synthetic (or logged) query with everything a grader or a model needs to read it.

    Example:
        >>> case = QueryCase("q1", "data jobs", "role", None, QueryPlan("data jobs", semantic_text="data"))
        >>> QueryCase.from_dict(case.to_dict()) == case
        True
    """

    query_id: str
    query: str
    query_type: str
    member_id: str | None
    plan: QueryPlan
    split: str = "train"

    def to_dict(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "query": self.query, "query_type": self.query_type, "member_id": self.member_id,
                "split": self.split, "plan": self.plan.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueryCase":
        missing = [key for key in ("query_id", "query", "query_type", "plan") if key not in data]
        if missing:
            raise KeyError(f"query record: missing field(s) {', '.join(missing)}")
        return cls(str(data["query_id"]), str(data["query"]), str(data["query_type"]), data.get("member_id"),
                   QueryPlan.from_dict(data["plan"]), str(data.get("split", "train")))
