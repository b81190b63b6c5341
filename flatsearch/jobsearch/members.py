"""Members (job seekers), their profiles and their professional network.

Two small interfaces, so a real profile service or graph service can replace the
bundled sample:

* :class:`MemberStore` -- ``get(member_id) -> Member`` and ``all() -> list[Member]``;
* :class:`ConnectionGraph` -- ``connections(member_id) -> list[Person]``.

"People I've worked with before" are connections whose employment history shares
an employer with the member's (past or current); "people I know" are all
connections. :class:`SampleNetwork` implements both interfaces from the small,
fixed sample in ``data/members.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Person:
    """Anyone in the network: an id, a name, where they work now and where they worked before."""

    id: str
    name: str
    current_employer: str = ""
    past_employers: tuple[str, ...] = ()

    def employers(self) -> set[str]:
        return {e.casefold() for e in (self.current_employer, *self.past_employers) if e}


@dataclass(frozen=True)
class Member(Person):
    """A job seeker's profile: title, skills, location and preferences."""

    title: str = ""
    skills: tuple[str, ...] = ()
    location: str = ""
    summary: str = ""
    preferences: dict = field(default_factory=dict, hash=False, compare=False)

    def profile_text(self) -> str:
        """The text whose embedding stands for the member in the qualification (value) term."""
        parts = [self.title, ", ".join(self.skills), self.summary]
        if self.past_employers:
            parts.append("previously at " + ", ".join(self.past_employers))
        return ". ".join(part for part in parts if part)


class UnknownMemberError(KeyError):
    """Raised for a member id the store does not know; the message lists how to see valid ids."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


@runtime_checkable
class MemberStore(Protocol):
    def get(self, member_id: str) -> Member: ...

    def all(self) -> list[Member]: ...


@runtime_checkable
class ConnectionGraph(Protocol):
    def connections(self, member_id: str) -> list[Person]: ...


def former_colleagues(member: Member, graph: ConnectionGraph) -> list[Person]:
    """Connections who share an employer with the member, now or in the past."""
    mine = member.employers()
    return [person for person in graph.connections(member.id) if person.employers() & mine]


class SampleNetwork:
    """The bundled sample: a few seekers, the people they know, and who works where.

    Example:
        >>> network = SampleNetwork()
        >>> member = network.get("m002")
        >>> member.title
        'Marketing Manager'
        >>> sorted({p.current_employer for p in former_colleagues(member, network)})[:2]
        ['Delivery Hero', 'KoBold Metals']
    """

    def __init__(self, data: dict | None = None):
        if data is None:
            data = json.loads(resources.files(__package__).joinpath("data/members.json").read_text(encoding="utf-8"))
        self._members = {}
        for row in data["members"]:
            self._members[row["id"]] = Member(
                id=row["id"], name=row["name"], current_employer=row.get("current_employer", ""),
                past_employers=tuple(row.get("past_employers", ())), title=row["title"], skills=tuple(row.get("skills", ())),
                location=row.get("location", ""), summary=row.get("summary", ""), preferences=dict(row.get("preferences", {})))
        self._people = {row["id"]: Person(row["id"], row["name"], row.get("current_employer", ""), tuple(row.get("past_employers", ())))
                        for row in data["people"]}
        self._people.update(self._members)
        self._edges: dict[str, list[str]] = {}
        for a, b in data["connections"]:
            for left, right in ((a, b), (b, a)):
                if left not in self._people or right not in self._people:
                    raise ValueError(f"members.json: connection ({a}, {b}) names an unknown person")
                self._edges.setdefault(left, []).append(right)

    def get(self, member_id: str) -> Member:
        if not isinstance(member_id, str):
            raise TypeError(f"member_id: expected a string such as 'm001', got {type(member_id).__name__}")
        if member_id not in self._members:
            raise UnknownMemberError(
                f"member_id: unknown member {member_id!r}; known members are {', '.join(sorted(self._members))} "
                "(see --list-members)")
        return self._members[member_id]

    def all(self) -> list[Member]:
        return [self._members[key] for key in sorted(self._members)]

    def connections(self, member_id: str) -> list[Person]:
        self.get(member_id)
        return [self._people[other] for other in self._edges.get(member_id, [])]
