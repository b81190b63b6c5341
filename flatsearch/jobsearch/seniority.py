"""Seniority levels read from job titles.

Levels, lowest first (their position is the stored code): intern, junior, mid,
senior, staff (staff/principal/distinguished/architect), manager (manager, lead,
head of a team), director (director, head of, VP), executive (C-level, founder,
partner, general manager). A title without any marker is "mid".
"""
from __future__ import annotations

import re

LEVELS = ("intern", "junior", "mid", "senior", "staff", "manager", "director", "executive")
LEVEL_CODES = {name: code for code, name in enumerate(LEVELS)}

# Checked in this order: the first pattern that matches decides.
_TITLE_RULES = (
    ("executive", r"\b(chief|cto|ceo|cfo|coo|cmo|cro|ciso|cpo|founder|co-founder|president|general manager|managing director|partner)\b"),
    ("director", r"\b(director|vp|vice president|head of|svp|evp)\b"),
    ("intern", r"\b(intern|internship|co-?op|apprentice|trainee|working student)\b"),
    ("staff", r"\b(staff|principal|distinguished|fellow|architect)\b"),
    ("senior", r"\b(senior|sr\.?|snr|iii|iv|expert)\b"),
    # Product, program and account managers manage work, not people.
    ("mid", r"\b(product|program|project|account|success|partner|community|marketing|content|relationship|territory) manager\b"),
    ("manager", r"\b(manager|mgr|supervisor|team lead|lead|leader)\b"),
    ("junior", r"\b(junior|jr\.?|entry[- ]level|associate|graduate|new grad|early career|i)\b"),
)
_COMPILED = tuple((level, re.compile(pattern, re.IGNORECASE)) for level, pattern in _TITLE_RULES)

# Words a seeker uses for each level in a query.
QUERY_WORDS = {
    "intern": r"\b(intern|internship|internships)\b",
    "junior": r"\b(junior|jr|entry[- ]level|new grad|graduate|early[- ]career)\b",
    "mid": r"\b(mid[- ]level|mid[- ]senior|intermediate)\b",
    "senior": r"\b(senior|sr)\b",
    "staff": r"\b(staff|principal)\b",
    "manager": r"\b(manager|management|managerial|people lead)\b",
    "director": r"\b(director|vp|vice president|head of)\b",
    # "account executive" and "executive assistant" are job titles, not a seniority level.
    "executive": r"\b(?<!account )(?<!sales )executive\b(?! assistant)|\b(c-level|chief)\b",
}


def seniority_of(title: str) -> str:
    """The seniority level a title states.

    Example:
        >>> seniority_of("Sr. Software Engineer"), seniority_of("Staff Data Scientist"), seniority_of("Account Executive")
        ('senior', 'staff', 'mid')
    """
    if not isinstance(title, str):
        raise TypeError(f"title: expected a string, got {type(title).__name__}")
    for level, pattern in _COMPILED:
        if pattern.search(title):
            return level
    return "mid"
