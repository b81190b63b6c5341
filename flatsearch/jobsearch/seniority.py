"""Seniority levels read from job titles.

Levels, lowest first (their position is the stored code): intern, junior, mid,
senior (senior, sr), staff (staff/principal/distinguished/fellow), manager (manager,
lead, supervisor), director (director, head of), vp (VP, vice president, SVP, EVP),
executive (C-level, founder, president, partner, general manager). A title without
any marker is "mid": a level is only read when the title says it, so a seeker who
asks for "senior" or "principal" sees that word in every title.
"""
from __future__ import annotations

import re

LEVELS = ("intern", "junior", "mid", "senior", "staff", "manager", "director", "vp", "executive")
# Levels that manage people (what "individual contributor" / "not management" excludes).
MANAGEMENT_LEVELS = ("manager", "director", "vp", "executive")
LEVEL_CODES = {name: code for code, name in enumerate(LEVELS)}

# Checked in this order: the first pattern that matches decides.
_TITLE_RULES = (
    ("executive", r"\b(chief|cto|ceo|cfo|coo|cmo|cro|ciso|cpo|founder|co-founder|(?<!vice )president|general manager|managing director|"
                  r"(?:managing|general|founding) partner)\b"),
    ("vp", r"\b(vp|vice president|svp|evp)\b"),
    ("director", r"\b(director|head of)\b"),
    ("intern", r"\b(intern|internship|co-?op|apprentice|trainee|working student)\b"),
    ("staff", r"\b(staff|principal|distinguished|fellow)\b"),
    # Managers of people, also when senior ("Senior Engineering Manager"); product, program and account
    # managers manage work, not people, so they fall through to senior or mid.
    ("manager", r"\b(?<!product )(?<!program )(?<!project )(?<!account )(?<!success )(?<!partner )(?<!community )(?<!marketing )"
                r"(?<!content )(?<!relationship )(?<!territory )(?<!case )(?<!practice )(manager|mgr)\b|\b(supervisor|team lead|lead|leader)\b"),
    ("senior", r"\b(senior|sr\.?|snr)\b"),
    ("junior", r"\b(junior|jr\.?|entry[- ]level|associate|graduate|new grad|early career|i)\b"),
)
_COMPILED = tuple((level, re.compile(pattern, re.IGNORECASE)) for level, pattern in _TITLE_RULES)

# Words a seeker uses for each level in a query.
QUERY_WORDS = {
    "intern": r"\b(intern|internship|internships)\b",
    # "my first developer job": only "my first" is the level, the role words stay the topic; "first-line", "first aid",
    # "first grade teacher" are no level; a bootcamp is one only for who comes out of it ("coding bootcamp instructor" is a role).
    "junior": r"\b(junior|jr|entry[- ]level|new[- ]grads?|(?:recent\s+|college\s+|university\s+|bootcamp\s+|fresh\s+)?grad(?:uate)?s?(?!\s+(?:school|students?|admissions?))|"
              r"early[- ]career|(?:coding\s+)?bootcamp\s+students?|freshers?|(?:fresh\s+)?out\s+of\s+(?:a\s+)?(?:college|school|university|uni|(?:coding\s+)?bootcamp)|"
              r"just\s+graduated|career\s+starters?|starting\s+out|(?:no|zero|little)\s+(?:prior\s+|work\s+)?experience|"
              r"(?:my|a|your)\s+first(?:[\s-]+ever)?(?=(?:[\s-]+(?!(?:line|aid|responders?|shift|officers?|mates?|grade|class|tier|time|chair|base|team|call)\b)"
              r"[a-z][\w-]*){0,2}\s+(?:jobs?|roles?|positions?|gigs?)\b)|"
              r"associate(?!\s+(?:director|vice|vp|partner|general|dean|principal|professor)))\b",
    "mid": r"\b(mid[- ]level|mid[- ]career|intermediate)\b",
    "senior": r"\b(senior|sr)\b",
    "staff": r"(?<!chief of )\b(staff|principal|distinguished)\b",  # "chief of staff" is a role, not two levels
    # "mgmt", "mngmt", "mgr": the short forms seekers type ("no mgmt roles"), read as the words they stand for.
    "manager": r"\b(people\s+(?:manag(?:ers?|ement)|mgmt|mgrs?)|managers?|management|managerial|people lead|mgmt|mngmt|mgmnt|mgrs?)\b",
    "director": r"\b(directors?|head of)\b",
    "vp": r"\b(vps?|vice presidents?|svp|evp)\b",
    # "account executive" and "executive assistant" are job titles, not a seniority level.
    "executive": r"\b(?<!account )(?<!acct )(?<!acct\. )(?<!sales )executive\b(?! assistant)|\b(c-level|chief)\b(?!\s+of\s+staff)|"
                 r"(?<!account )(?<!acct )(?<!acct\. )(?<!sales )\bexecs?\b(?!\s+assistant)",
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
