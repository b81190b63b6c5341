"""Pay phrases in a query -> a yearly USD bound.

Reads amounts written with ``k`` / ``K`` / ``thousand`` / ``grand`` / ``m`` / ``million``,
"six figures", currency symbols and codes ($ USD, € EUR, £ GBP, C$ CAD, A$ AUD, ₹ INR, CHF),
ranges ("150-200k", "between 100k and 150k"), comparisons ("at least", "over", "above",
"under", "below", "up to", "+", "or more") and periods ("/hr", "an hour", "a month", "a year").

Conversions (documented, fixed -- the corpus stores yearly USD):

* hourly x ``HOURS_PER_YEAR`` (2080 = 40 h x 52 weeks, the same factor the corpus loader uses),
  weekly x 52, monthly x 12;
* currencies at the fixed rates in ``USD_PER_UNIT`` (approximate early-2026 rates; a pay filter is a
  coarse bound, so the rate only needs to be in the right place, and it is printed in the plan).

A bare amount with no comparison word and no pay word ("150k") is read as a floor only when it sits
next to a pay word or a "+"; a number such as "3 days" or "100 engineers" is never pay.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .corpus import HOURS_PER_YEAR

USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CAD": 0.73, "AUD": 0.66, "INR": 0.012, "CHF": 1.13, "SGD": 0.75, "JPY": 0.0067}
PERIOD_FACTORS = {"hour": HOURS_PER_YEAR, "week": 52, "month": 12, "year": 1}
MIN_YEARLY = 1_000.0
MAX_YEARLY = 10_000_000.0
# An amount before an hour word from here up is a count of hours, not a rate: bare amounts below 1,000 are read as hourly
# rates (see _period), so 1,000 or more per hour is no rate a query means.
MAX_HOURLY = 1_000.0

_CURRENCY_BEFORE = r"(?P<cur>C\$|CA\$|A\$|AU\$|S\$|US\$|\$|€|£|₹|¥|(?:USD|EUR|GBP|CAD|AUD|INR|CHF|SGD|JPY)\s?)"
_CURRENCY_AFTER = r"(?:\s?(?P<cur2>USD|EUR|GBP|CAD|AUD|INR|CHF|SGD|JPY|dollars|euros?|pounds|rupees|bucks))"
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SCALE = r"(?:\s?(?P<scale>k|K|thousand|grand|m|M|mm|million)\b)"
_PERIOD = (r"(?:\s*(?:/|per|an?|each|every)\s*(?P<period>hour|hr|h|week|wk|month|mo|year|yr|annum|annually|yearly)\b|"
           r"\s+(?P<period2>hourly|weekly|monthly|annually|yearly))")
AMOUNT = re.compile(rf"(?:{_CURRENCY_BEFORE}\s?)?{_NUMBER}{_SCALE}?{_CURRENCY_AFTER}?{_PERIOD}?", re.IGNORECASE)
_SIX_FIGURES = re.compile(r"\b(?P<n>six|seven|6|7)[- ]figures?\b(?:\s+(?:salary|pay|income))?", re.IGNORECASE)
_FLOOR_WORDS = re.compile(r"(?:\b(?:at\s+least|minimum(?:\s+of)?|min\.?|over|above|more\s+than|greater\s+than|higher\s+than|starting\s+(?:at|from)|"
                          r"from|no\s+less\s+than|not\s+less\s+than|upwards\s+of|north\s+of|>=?|exceeding)\s*)$", re.IGNORECASE)
_CEILING_WORDS = re.compile(r"(?:\b(?:at\s+most|under|below|less\s+than|up\s+to|no\s+more\s+than|maximum(?:\s+of)?|max\.?|<=?|lower\s+than|"
                            r"south\s+of|not\s+over)\s*)$", re.IGNORECASE)
# "$25+/hr or more": a "+" and "or more" after it say the same floor once, and both are the pay phrase.
_FLOOR_AFTER = re.compile(r"^\s*(?:\+(?:\s*(?:or|and)\s+(?:more|up|above|higher|over)\b)?|(?:or|and)\s+(?:more|up|above|higher|over)\b|plus\b|"
                          r"minimum\b|min\b|at\s+least\b)", re.IGNORECASE)
_CEILING_AFTER = re.compile(r"^\s*(?:or\s+(?:less|below|under|lower)\b|max(?:imum)?\b|at\s+most\b)", re.IGNORECASE)
_PERIOD_AFTER_PLUS = re.compile(r"\s*\+" + _PERIOD, re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:-|–|—|to|and)\s*", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s*$", re.IGNORECASE)
_PAY_WORDS = re.compile(r"\b(?:pay(?:s|ing)?|paid|salary|salaries|comp(?:ensation)?|base|income|wages?|earn(?:ing)?|ote|tc|total\s+comp|"
                        r"rate|per\s+hour|an\s+hour|a\s+year|hourly|annual(?:ly)?|yearly)\b", re.IGNORECASE)
# "40+ hours per week", "3 days": a count of time or people. "401k", "403(b)": a retirement plan, a benefit of the job.
_NOT_PAY_AFTER = re.compile(r"^\s*(?:\+\s*)?(?:years?|yrs?|days?|weeks?|months?|shifts?|people|employees|engineers|"
                            r"person|%|percent|miles?|mi|km|minutes?|min\b|ago|"
                            # "$5000 sign-on bonus", "$2k relocation stipend": a one-off sum beside the pay, not the pay
                            r"(?:(?:sign(?:ing)?[- ]?on|signing|referral|retention|relocation|annual|performance)\s+)?(?:bonus(?:es)?|stipends?|allowances?)|"
                            r"relocation|tuition)\b", re.IGNORECASE)
# "40 hours", "12 hour shifts", "40+ hours per week": a count of hours, unless a currency sign makes the amount a rate
# ("$40 hour nurse", "rn $60 hr", "$45 hour night shift", "$22 hrs"). After a sign, a singular hour right before a shift or a
# workweek is its length ("$12 hour shifts"), and a plural before per / a / each week, day or shift is a count ("$20 hours a week").
_HOURS_AFTER = re.compile(r"^\s*(?:\+\s*)?(?P<word>hours?|hrs?)\b", re.IGNORECASE)
_SIGNED_HOUR_COUNT = re.compile(r"^\s*(?:\+\s*)?(?:(?:hour|hr)\s*[-/]?\s*(?:shifts?|workweeks?)|"
                                r"(?:hours|hrs)\s*(?:/\s*|(?:per|a|an|each|every)\s+)(?:weeks?|wk|days?|shifts?|nights?|months?))\b",
                                re.IGNORECASE)
_RETIREMENT_PLAN = re.compile(r"(?:401|403|457)\s*(?:\(\s*[kb]\s*\)|[kb]\b)", re.IGNORECASE)


@dataclass(frozen=True)
class PayBound:
    """A pay constraint: ``op`` is "gte" (a floor) or "lte" (a ceiling); ``yearly_usd`` the bound.

    A range ("150-200k") is a floor with ``ceiling_usd`` set to its upper end: a job fits when its pay
    range overlaps the one asked for.
    """

    op: str
    yearly_usd: float
    start: int
    end: int
    note: str = ""
    ceiling_usd: float | None = None


def _currency(match: re.Match) -> str:
    raw = (match.group("cur") or match.group("cur2") or "").strip().upper()
    return {"$": "USD", "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "S$": "SGD", "€": "EUR", "£": "GBP",
            "₹": "INR", "¥": "JPY", "DOLLARS": "USD", "BUCKS": "USD", "EURO": "EUR", "EUROS": "EUR", "POUNDS": "GBP",
            "RUPEES": "INR"}.get(raw, raw or "USD")


def _value(match: re.Match) -> float:
    number = match.group("num")
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", number) and not match.group("scale"):
        number = number.replace(".", "")  # "€60.000": a dot between groups of three digits separates thousands
    amount = float(number.replace(",", ""))
    scale = (match.group("scale") or "").lower()
    if scale in ("k", "thousand", "grand"):
        amount *= 1_000
    elif scale in ("m", "mm", "million"):
        amount *= 1_000_000
    return amount


def _period(match: re.Match, amount: float) -> str:
    raw = (match.group("period") or match.group("period2") or "").lower()
    if raw in ("hour", "hr", "h", "hourly"):
        return "hour"
    if raw in ("week", "wk", "weekly"):
        return "week"
    if raw in ("month", "mo", "monthly"):
        return "month"
    if raw:
        return "year"
    # No period written: amounts below this are hourly rates ("$45+"), as the corpus loader reads them.
    return "hour" if amount < 1_000 else "year"


def _yearly(amount: float, period: str, currency: str) -> tuple[float, str]:
    """An amount in a period and currency as yearly USD, with the conversion written out for the plan."""
    yearly = amount * PERIOD_FACTORS[period] * USD_PER_UNIT.get(currency, 1.0)
    parts = []
    if period != "year":
        parts.append(f"{period}ly x {PERIOD_FACTORS[period]:,}" if period != "hour" else f"hourly x {HOURS_PER_YEAR:,} h")
    if currency != "USD":
        parts.append(f"{currency} at {USD_PER_UNIT[currency]} USD")
    return yearly, ", ".join(parts)


def parse_pay(text: str, free=lambda start, end: True) -> PayBound | None:
    """The first pay bound written in ``text`` (characters for which ``free`` is False are skipped).

    Example:
        >>> parse_pay("data jobs paying at least 120k").yearly_usd
        120000.0
        >>> bound = parse_pay("over $50/hr")
        >>> bound.op, bound.yearly_usd
        ('gte', 104000.0)
        >>> parse_pay("six figures").yearly_usd, parse_pay("under 80k salary").op
        (100000.0, 'lte')
        >>> parse_pay("150-200k").yearly_usd, parse_pay("150-200k").ceiling_usd, parse_pay("3 days a week") is None
        (150000.0, 200000.0, True)
        >>> parse_pay("no less than 90k").op, round(parse_pay("€60.000 or more").yearly_usd)
        ('gte', 64800)
        >>> parse_pay("40+ hours per week") is None, parse_pay("401k match") is None, parse_pay("$5000 sign-on bonus") is None
        (True, True, True)
        >>> parse_pay("$40 hour nurse").yearly_usd, parse_pay("12 hour shifts") is None, parse_pay("$12 hour shifts") is None
        (83200.0, True, True)
        >>> parse_pay("$45 hour night shift").yearly_usd, parse_pay("$22 hrs").yearly_usd, parse_pay("$20 hours a week") is None
        (93600.0, 45760.0, True)
        >>> parse_pay("$2000 hours of flight time") is None, parse_pay("$30+/hr or more").end == len("$30+/hr or more")
        (True, True)
        >>> text = "$20 hour minimum warehouse"
        >>> text[parse_pay(text).end:]
        ' warehouse'
    """
    six = _SIX_FIGURES.search(text)
    if six and free(six.start(), six.end()):
        floor = _FLOOR_WORDS.search(text[:six.start()])  # "at least six figures": the floor words are part of the phrase
        start = floor.start() if floor and free(floor.start(), six.start()) else six.start()
        return PayBound("gte", 1_000_000.0 if six.group("n").lower() in ("seven", "7") else 100_000.0, start, six.end())
    for match in AMOUNT.finditer(text):
        if not free(match.start(), match.end()) or not match.group("num"):
            continue
        before, after = text[:match.start()], text[match.end():]
        if _NOT_PAY_AFTER.match(after) or re.search(r"\d[\d,.]*\s*$|[A-Za-z]$", before):
            continue
        if not match.group("cur") and _RETIREMENT_PLAN.match(text, match.start()):
            continue
        has_currency = bool(match.group("cur") or match.group("cur2"))
        has_scale = bool(match.group("scale"))
        has_period = bool(match.group("period") or match.group("period2"))
        hours = None if has_period else _HOURS_AFTER.match(after)
        if hours and (not has_currency or has_scale or _SIGNED_HOUR_COUNT.match(after) or _value(match) >= MAX_HOURLY):
            continue  # "$2000 hours": no hourly rate is that high, so the number counts hours (the sign a slip)
        offset = match.end()  # where ``after`` starts in ``text``: every end below is offset + an end within ``after``
        if hours:  # "$40 hour": a rate per hour, the word its period
            after, offset = after[hours.end():], offset + hours.end()
        floor_before, ceiling_before = _FLOOR_WORDS.search(before), _CEILING_WORDS.search(before)
        # "no less than 90k" is a floor and "no more than 90k" a ceiling: the longer phrase, which starts first, decides.
        if floor_before and ceiling_before:
            if floor_before.start() < ceiling_before.start():
                ceiling_before = None
            else:
                floor_before = None
        near = text[max(0, match.start() - 30):match.end() + 30]
        start, end = match.start(), match.end()
        yearly, note = _yearly(_value(match), _period(match, _value(match)), _currency(match))
        if hours:
            yearly, note = _yearly(_value(match), "hour", _currency(match))
            has_period, end = True, offset
        late = None if has_period else _PERIOD_AFTER_PLUS.match(after)
        if late:
            # "$25+/hr", "60k+ a year": the period written after the "+" is the amount's.
            yearly, note = _yearly(_value(match), _period(late, _value(match)), _currency(match))
            # The "+" is put back before the rest for the comparison words below; it stands where the period ended.
            has_period, end, after, offset = True, offset + late.end(), "+" + after[late.end():], offset + late.end() - 1
        # A range "150-200k" / "between 100k and 150k": the floor is the lower end.
        joined = _RANGE_JOIN.match(after)
        if joined:
            second = AMOUNT.match(after, joined.end())
            second_hours = None
            if second and second.group("num") and not (second.group("period") or second.group("period2")):
                second_hours = _HOURS_AFTER.match(after[second.end():])  # "$20 hour - $25 hour": the second hour ends the range
                if second_hours and _SIGNED_HOUR_COUNT.match(after[second.end():]):
                    second = None  # "$20 hour to 40 hours a week": the second number counts hours
            if second and second.group("num") and (second.group("scale") or second.group("cur") or second.group("cur2") or has_scale or has_currency):
                low = _value(match)
                if not match.group("scale") and second.group("scale"):
                    low *= _value(second) / float(second.group("num").replace(",", ""))  # "150-200k": both are thousands
                # The period and currency written after the second amount apply to both ("$40-50/hr", "80-90k EUR").
                currency = _currency(second) if second.group("cur2") or second.group("cur") else _currency(match)
                period = "hour" if second_hours else _period(second, _value(second))
                yearly, note = _yearly(low, period, currency)
                high, _ = _yearly(_value(second), period, currency)
                end = offset + second.end() + (second_hours.end() if second_hours else 0)
                between = _BETWEEN.search(before)
                if between:
                    start = between.start()
                if yearly >= MIN_YEARLY:
                    # "100-150k" asks for that band: a range starting above its top end is no fit either.
                    ceiling = min(high, MAX_YEARLY) if high > yearly else None
                    return PayBound("gte", min(yearly, MAX_YEARLY), start, end, note, ceiling)
        if not (has_currency or has_scale or has_period):
            if not (_PAY_WORDS.search(near) and (floor_before or ceiling_before)) and not _FLOOR_AFTER.match(after):
                continue
            if yearly < MIN_YEARLY and not has_period:
                continue
        elif not has_currency and not has_scale and not _PAY_WORDS.search(near) and not (
                has_period and (floor_before or ceiling_before or _FLOOR_AFTER.match(after) or _CEILING_AFTER.match(after))):
            continue  # "at least 45/hr" is pay without a "$": a rate with a comparison
        if not (has_currency or has_scale) and not _PAY_WORDS.search(near) and not (floor_before or ceiling_before or _FLOOR_AFTER.match(after)):
            continue
        op = "gte"
        tail = _FLOOR_AFTER.match(after) or _CEILING_AFTER.match(after)
        if ceiling_before or _CEILING_AFTER.match(after):
            op = "lte"
        if floor_before and not ceiling_before:
            start = floor_before.start()
        elif ceiling_before:
            start = ceiling_before.start()
        if tail:
            end = max(end, offset + tail.end())
        if yearly < MIN_YEARLY:
            continue
        return PayBound(op, min(yearly, MAX_YEARLY), start, end, note)
    return None


_UNIT_WORDS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                                           "sixteen seventeen eighteen nineteen".split())}
_TENS_WORDS = {w: 10 * n for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_NUMBER_WORD = "(?:" + "|".join(sorted([*_UNIT_WORDS, *_TENS_WORDS, "hundred"], key=len, reverse=True)) + ")"
_SPELLED_AMOUNT = re.compile(rf"\b(?:a\s+(?=hundred))?{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*\b"
                             r"(?=\s*(?:dollars?|bucks|grand|thousand|k\b|(?:an?|per)\s+h(?:ou)?r\b|/\s*h|euros?|pounds?|quid))", re.IGNORECASE)


def spell_out_amounts(text: str) -> str:
    """Amounts written in words before a pay unit, as digits ("fifteen dollars an hour" -> "15 dollars an hour").

    Only number words right before a pay unit change, so "one of the top two teams" stays as written.

    Example:
        >>> spell_out_amounts("support jobs above fifteen dollars an hour, or ninety-five thousand a year")
        'support jobs above 15 dollars an hour, or 95 thousand a year'
        >>> spell_out_amounts("a hundred and twenty grand"), spell_out_amounts("one of two teams")
        ('120 grand', 'one of two teams')
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a string, got {type(text).__name__}")

    def value(match: re.Match) -> str:
        total = 0
        for word in re.findall(r"[a-z]+", match.group(0).lower()):
            if word == "hundred":
                total = max(total, 1) * 100
            elif word in _UNIT_WORDS or word in _TENS_WORDS:
                total += _UNIT_WORDS.get(word, _TENS_WORDS.get(word, 0))
        return str(total)

    return _SPELLED_AMOUNT.sub(value, text)
