"""Recency phrases in a query -> the earliest posting time they allow.

Relative windows ("today", "in the last 3 days", "within 48 hours", "past week", "this month",
"recent") are read with patterns; absolute dates ("since January 5", "after 2025-12-20",
"posted from Dec 1", "posted on Jan 8": that day, "posted before Christmas": an end only) are read with dateparser, relative to ``now`` and never in the future
("since January 5" on 2026-01-11 means 2026-01-05). "This week" means the last 7 days, not the calendar
week, so a Monday query still finds Friday's postings; "this month" / "this year" mean since the 1st of the month / January
(the stricter reading: every posting since then is also in the last 30 / 365 days). A named month ("posted in
December") is that whole calendar month, the latest one not in the future: the only phrase with an end.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

RECENT_DAYS = 14
MAX_DAYS = 3650
_UNITS = {"hour": 1 / 24, "hr": 1 / 24, "h": 1 / 24, "day": 1, "week": 7, "wk": 7, "month": 30, "year": 365}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "fourteen": 14, "thirty": 30, "couple": 2, "few": 3}
_LEAD = r"(?:(?:posted|added|listed|published|opened|new|created|up)\s+)?(?:(?:in|within|during|over|from)\s+)?(?:the\s+)?"
_COUNT = r"(?P<n>\d{1,4}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|fourteen|thirty|couple(?:\s+of)?|few)"
_RELATIVE = re.compile(
    rf"\b{_LEAD}(?:(?:last|past|previous|recent)\s+)?{_COUNT}\s*(?P<unit>hour|hr|h|day|week|wk|month|year)s?(?:\s+ago)?\b", re.IGNORECASE)
# An age limit: "no older than 10 days", "less than a week old", "up to 3 days old".
_AGE = re.compile(rf"\b(?:(?:posted\s+)?(?:no|not)\s+older\s+than\s+{_COUNT}\s*(?P<unit>hour|hr|h|day|week|wk|month|year)s?(?:\s+old)?|"
                  rf"(?:less\s+than|under|up\s+to|at\s+most)\s+{_COUNT.replace('?P<n>', '?P<n2>')}\s*(?P<unit2>hour|hr|h|day|week|wk|month|year)s?\s+old)\b",
                  re.IGNORECASE)
# "This month" / "this year": since the calendar month or year began, the stricter of the two readings people mean (the
# last 30 days also holds every posting since the 1st), so no reading of it is broken.
_CALENDAR = re.compile(rf"\b{_LEAD}this\s+(?P<unit>month|year)(?:'?s)?\b", re.IGNORECASE)
_WINDOWS = (
    (re.compile(r"\b(?:posted\s+)?(?:this\s+(?:morning|afternoon|evening)|tonight)\b", re.IGNORECASE), 1),
    (re.compile(rf"\b{_LEAD}(?:today|(?:last|past)\s+24\s*(?:hours|hrs|h)|(?:last|past)\s+day)\b|\b(?:posted|added|listed)\s+today\b", re.IGNORECASE), 1),
    (re.compile(rf"\b{_LEAD}(?:yesterday)\b", re.IGNORECASE), 2),
    (re.compile(rf"\b{_LEAD}(?:this|last|past|previous)\s+(?:week|7\s+days)\b|\bthis\s+week'?s\b", re.IGNORECASE), 7),
    (re.compile(rf"\b{_LEAD}(?:this|last|past|previous)\s+(?:fortnight|two\s+weeks)\b", re.IGNORECASE), 14),
    (re.compile(rf"\b{_LEAD}(?:this|last|past|previous)\s+month\b", re.IGNORECASE), 30),
    (re.compile(rf"\b{_LEAD}(?:this|last|past|previous)\s+(?:quarter)\b", re.IGNORECASE), 90),
    (re.compile(rf"\b{_LEAD}(?:this|last|past|previous)\s+year\b", re.IGNORECASE), 365),
    (re.compile(r"\b(?:posted|added|listed|published)\s+recently\b|\brecently\s+(?:posted|added|listed|published)\b|\b(?:most\s+)?recent\b|"
                r"\bnewly\s+(?:posted|listed)\b|\blatest\b|\bnewest\b|\bfresh\b(?!\s+(?:out|off|from|grads?|graduates?))|\bnew\s+(?:postings?|listings?|openings?)\b|\bjust\s+posted\b",
                re.IGNORECASE), RECENT_DAYS),
)
_DATE = (r"(?P<date>(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?|"
                    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?(?:,?\s+\d{4})?|"
                    r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?|(?:last\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
                    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*(?:\s+\d{4})?|new\s+year'?s?(?:\s+day)?|"
                    r"christmas(?:\s+day)?|xmas|(?:the\s+)?(?:start|beginning)\s+of\s+(?:the|this)\s+(?:year|month)))\b")
_SINCE = re.compile(r"\b(?:(?:posted|added|listed|published)\s+)?(?:since|after|from|on\s+or\s+after|starting)\s+" + _DATE, re.IGNORECASE)
# "posted on January 8": that day alone; "posted before Christmas", "listed prior to Dec 1": an end, no start.
_ON = re.compile(r"\b(?:posted|added|listed|published|opened)\s+on\s+(?!or\b)" + _DATE, re.IGNORECASE)
_BEFORE = re.compile(r"\b(?:posted|added|listed|published|opened)\s+(?:before|prior\s+to|until|no\s+later\s+than)\s+" + _DATE,
                     re.IGNORECASE)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_IN_MONTH = re.compile(r"\b(?:(?P<verb>posted|added|listed|published|opened)\s+)?(?:in|during)\s+(?:the\s+month\s+of\s+)?"
                       r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
                       r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b(?:\s+(?P<year>20\d\d))?", re.IGNORECASE)


@dataclass(frozen=True)
class Recency:
    """The earliest allowed posting time and the words that said so."""

    since: dt.datetime
    start: int
    end: int
    description: str
    spans: tuple[tuple[int, int], ...] = ()
    until: dt.datetime | None = None  # the end (exclusive) of a named month, a day or a "before"; None: up to now
    bounded_below: bool = True  # False for "posted before X": ``since`` is only the oldest time looked at (MAX_DAYS back)


def parse_recency(text: str, now: dt.datetime, free=lambda start, end: True) -> Recency | None:
    """The first recency constraint in ``text``.

    Example:
        >>> import datetime as dt
        >>> now = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)
        >>> parse_recency("sales jobs posted since January 5", now).since.date()
        datetime.date(2026, 1, 5)
        >>> parse_recency("product roles posted within 48 hours", now).since == now - dt.timedelta(days=2)
        True
        >>> parse_recency("data jobs from the last 3 days", now).description
        'posted in the 3 day(s) before 2026-01-11'
        >>> found = parse_recency("roles posted in December", now)
        >>> found.since.date(), found.until.date()
        (datetime.date(2025, 12, 1), datetime.date(2026, 1, 1))
        >>> found = parse_recency("jobs posted on January 8", now)
        >>> found.since.date(), found.until.date()
        (datetime.date(2026, 1, 8), datetime.date(2026, 1, 9))
        >>> found = parse_recency("roles posted before Christmas", now)
        >>> found.bounded_below, found.until.date()
        (False, datetime.date(2025, 12, 25))
    """
    month = _IN_MONTH.search(text)
    if month and free(month.start(), month.end()) and (month.group("verb") or len(month.group("month")) > 3
                                                        and month.group("month").lower() not in ("may", "march")):
        number = _MONTHS.index(month.group("month").lower()[:3]) + 1
        year = int(month.group("year")) if month.group("year") else (now.year if number <= now.month else now.year - 1)
        start = dt.datetime(year, number, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=dt.timezone.utc)
        if start <= now:
            return Recency(start, month.start(), month.end(), f"posted in {start:%B %Y} ({start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d})",
                           ((month.start(), month.end()),), until=end if end <= now else None)
    day = _ON.search(text)
    if day and free(day.start(), day.end()):
        moment = _absolute(day.group("date"), now)
        if moment is not None:
            return Recency(moment, day.start(), day.end(), f"posted on {moment:%Y-%m-%d}", ((day.start(), day.end()),),
                           until=moment + dt.timedelta(days=1))
    before = _BEFORE.search(text)
    if before and free(before.start(), before.end()):
        moment = _absolute(before.group("date"), now)
        if moment is not None:
            return Recency(now - dt.timedelta(days=MAX_DAYS), before.start(), before.end(), f"posted before {moment:%Y-%m-%d}",
                           ((before.start(), before.end()),), until=moment, bounded_below=False)
    since = _SINCE.search(text)
    if since and free(since.start(), since.end()):
        moment = _absolute(since.group("date"), now)
        if moment is not None:
            return Recency(moment, since.start(), since.end(), f"posted on or after {moment:%Y-%m-%d}", ((since.start(), since.end()),))
    found: list[Recency] = []
    for match in _AGE.finditer(text):
        if free(match.start(), match.end()):
            count = (match.group("n") or match.group("n2")).lower().split()[0]
            number = int(count) if count.isdigit() else _NUMBER_WORDS[count]
            found.append(_window(number * _UNITS[(match.group("unit") or match.group("unit2")).lower()], match, now))
    for match in _RELATIVE.finditer(text):
        if any(r.start < match.end() and match.start() < r.end for r in found):
            continue
        if not free(match.start(), match.end()):
            continue
        count = match.group("n").lower().split()[0]
        number = int(count) if count.isdigit() else _NUMBER_WORDS[count]
        days = number * _UNITS[match.group("unit").lower()]
        before = text[:match.start()].lower()
        phrase = match.group(0).lower()
        # "3 years of experience", "2 days a week in office": durations that are not about posting time.
        if not re.search(r"\b(last|past|previous|within|posted|added|listed|ago|in the)\b", phrase) and not re.search(r"\b(posted|added|listed)\s*$", before):
            continue
        if re.match(r"\s+(?:of\s+experience|experience|a\s+week|per\s+week|in\s+office|on\s*site)", text[match.end():], re.IGNORECASE):
            continue
        found.append(_window(days, match, now))
    for match in _CALENDAR.finditer(text):
        if free(match.start(), match.end()) and not any(r.start < match.end() and match.start() < r.end for r in found):
            start = dt.datetime(now.year, now.month if match.group("unit").lower() == "month" else 1, 1, tzinfo=now.tzinfo or dt.timezone.utc)
            found.append(Recency(start, match.start(), match.end(), f"posted this {match.group('unit').lower()} (on or after {start:%Y-%m-%d})"))
    for pattern, days in _WINDOWS:
        for match in pattern.finditer(text):
            if free(match.start(), match.end()) and not any(r.start < match.end() and match.start() < r.end for r in found):
                found.append(_window(days, match, now))
    if not found:
        return None
    # Several windows ("yesterday or today") are alternatives: the widest one holds them all.
    widest = min(found, key=lambda r: r.since)
    return Recency(widest.since, widest.start, widest.end, widest.description, tuple((r.start, r.end) for r in found))


def _window(days: float, match: re.Match, now: dt.datetime) -> Recency:
    days = max(1 / 24, min(days, MAX_DAYS))
    shown = f"{days:g} day(s)" if days >= 1 else f"{round(days * 24)} hour(s)"
    # Whole days are counted back from ``now``: "today" is the last 24 hours, "48 hours" two days.
    return Recency(now - dt.timedelta(days=max(days, 1) if days >= 1 else days), match.start(), match.end(),
                   f"posted in the {shown} before {now:%Y-%m-%d}")


def _absolute(phrase: str, now: dt.datetime) -> dt.datetime | None:
    import dateparser

    words = " ".join(phrase.lower().split())
    if re.fullmatch(r"christmas(?:\s+day)?|xmas", words):
        year = now.year if (now.month, now.day) >= (12, 25) else now.year - 1
        return dt.datetime(year, 12, 25, tzinfo=dt.timezone.utc)
    if re.fullmatch(r"new\s+year'?s?(?:\s+day)?|(?:the\s+)?(?:start|beginning)\s+of\s+(?:the|this)\s+year", words):
        return dt.datetime(now.year, 1, 1, tzinfo=dt.timezone.utc)
    if re.fullmatch(r"(?:the\s+)?(?:start|beginning)\s+of\s+(?:the|this)\s+month", words):
        return dt.datetime(now.year, now.month, 1, tzinfo=dt.timezone.utc)

    moment = dateparser.parse(phrase, settings={"RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "past",
                                                "RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DAY_OF_MONTH": "first"})
    if moment is None:
        return None
    moment = moment.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=dt.timezone.utc)
    if moment > now:
        moment = moment.replace(year=moment.year - 1)
    return moment
