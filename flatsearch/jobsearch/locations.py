"""Messy posting locations -> GeoNames places and a work mode.

Postings write places in many ways: "New York, NEW YORK", "Bay Area, CA, United
States of America", "US-CA-Menlo Park", "Remote - US", "London, undefined",
"San Francisco, CA | New York City, NY". :func:`parse_location` splits the text
into alternatives, reads each as "city, state, country" (in any order, with
commas or dashes), and returns every place it found plus the work mode.

Work modes are stored as small ints so a filter can ask for several at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .gazetteer import COUNTRY_ALIASES, Gazetteer, Place, fold, place_aliases, to_ascii

WORK_MODES = ("unknown", "onsite", "hybrid", "remote")
WORK_MODE_CODES = {name: code for code, name in enumerate(WORK_MODES)}

_REMOTE = re.compile(r"\b(remote|distributed|anywhere|work from home|wfh|virtual|telecommute)\b")
_HYBRID = re.compile(r"\bhybrid\b")
_ONSITE = re.compile(r"\b(in[- ]office|on[- ]?site|in[- ]person|office based)\b")
# Words that carry no place: work-mode words and filler seen in the corpus.
# A time zone written out ("Pacific Time", "Eastern Standard Time Zone"): where the hours are kept, not a place (also read
# in queries, planner_rules._TIME_ZONE).
TIME_ZONE_NAME = r"(?:pacific|eastern|central|mountain|atlantic)\s+(?:standard\s+|daylight\s+)?time(?:\s*zones?)?"
_NOISE = re.compile(
    r"\b(remote[- ]friendly|travel[- ]required|remote|distributed|anywhere|work from home|wfh|virtual|telecommute|hybrid|"
    r"in[- ]office|on[- ]?site|in[- ]person|office|offices|undefined|hq|headquarters|only|opportunity|based|preferred|"
    r"flexible|multiple locations|locations|location|global|worldwide|city of|n/a|"
    # "Remote - US, Pacific Time": not Pacific, MO, nor Time, Norway
    + TIME_ZONE_NAME + r"|time\s*zones?)\b",
    re.IGNORECASE,
)
_LEADING_IN = re.compile(r"^(in the|in)\s+", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"[;|/•\n()\[\]]|\s+(?:or|and)\s+(?=[A-Za-z])|&|\s{2,}", re.IGNORECASE)
# A town this small named right before a city ten times its size in another country is a neighbourhood of that city.
NEIGHBOURHOOD_TOWN_MAX = 60_000
_WASHINGTON_DC = re.compile(r"washington,?\s*d\.?\s*c\b\.?", re.IGNORECASE)
# Two-letter country codes read as countries when written alone; other codes collide with
# state codes and abbreviations ("TO" in "Tokyo-TO").
# Countries' own names ("Deutschland", "Polska") that differ from their English names: read as the country only where
# nothing else in the text says otherwise (see _endonyms_are_countries).
_ENDONYMS = frozenset(fold(name) for name, english in place_aliases()["country_endonyms"].items()
                      if fold(name) != fold(english) and fold(name) not in COUNTRY_ALIASES)
COUNTRY_CODES = frozenset("US UK GB CA IN DE FR IE AU NZ MX BR JP KR SG NL ES IT IL PL SE CH AE AR CO PT DK NO FI".split())


@dataclass(frozen=True)
class ParsedLocation:
    """What a posting's location text says: the places (most specific found) and the work mode."""

    places: tuple[Place, ...] = ()
    work_mode: str = "unknown"
    unresolved: tuple[str, ...] = field(default=(), compare=False)
    # Names of cities that several places share, as read: with their region ("Pasadena, CA": name, id) or without one.
    qualified: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    guessed: tuple[str, ...] = field(default=(), compare=False)

    def tags(self, gazetteer: Gazetteer) -> list[int]:
        """All ids to store for this posting (each place and what contains it); a posting that names the UK and no place
        in it ("Remote - UK") may be in any of its nations and carries them all (see Gazetteer.parts_of_country)."""
        ids: set[int] = set()
        for place in self.places:
            ids |= gazetteer.tags_for(place)
            if not any(other.country == place.country and other.kind != "country" for other in self.places):
                ids.update(part.id for part in gazetteer.parts_of_country(place))
        return sorted(ids)


def work_mode_of(text: str) -> str:
    """The most remote-friendly mode the text offers ("SF or Remote" -> "remote").

    Example:
        >>> work_mode_of("London, UK - Remote"), work_mode_of("Hybrid"), work_mode_of("Austin, TX")
        ('remote', 'hybrid', 'unknown')
    """
    folded = fold(text)
    if _REMOTE.search(folded):
        return "remote"
    if _HYBRID.search(folded):
        return "hybrid"
    if _ONSITE.search(folded):
        return "onsite"
    return "unknown"


@dataclass
class _Token:
    raw: str         # as written (accents removed), for upper-case code checks
    group: int       # index of the comma-separated part it came from

    @property
    def text(self) -> str:
        return self.raw.lower()


def _clean(text: str) -> str:
    text = _NOISE.sub(" ", to_ascii(text))
    text = re.sub(r"\s+", " ", text).strip(" .-\t")
    return _LEADING_IN.sub("", text).strip(" .-")


def _tokens(segment: str, gazetteer: Gazetteer) -> list[_Token]:
    tokens = []
    for group, raw_part in enumerate(segment.split(",")):
        part = _clean(raw_part)
        if not part:
            continue
        for piece in _pieces(part, gazetteer):
            tokens.append(_Token(piece, group))
    return tokens


def _pieces(part: str, gazetteer: Gazetteer) -> list[str]:
    """Split one comma-separated part into known names: "US-CA-Menlo Park", "Austin TX",
    "Belgium - Brussels" hold several names; "Winston-Salem" is one."""
    for whole in (part, part.replace("-", " ")):
        if _known(whole, gazetteer):
            return [whole]
    pieces = [_clean(p) for p in re.split(r"\s*-\s*", part) if _clean(p)]
    if len(pieces) > 1:
        return [sub for piece in pieces for sub in _pieces(piece, gazetteer)]
    words = part.split()
    # Longest known run of words from the left: "US TX Austin" -> US, TX, Austin.
    out, start = [], 0
    while start < len(words):
        for stop in range(len(words), start, -1):
            if _known(" ".join(words[start:stop]), gazetteer):
                out.append(" ".join(words[start:stop]))
                start = stop
                break
        else:
            return [part]
    return out


def _known(text: str, gazetteer: Gazetteer) -> bool:
    folded = text.lower()
    is_code = len(text) == 2 and text.isupper()
    return bool(gazetteer.metro_alias(folded) or gazetteer.state(folded, allow_code=is_code)
                or gazetteer.country(folded, allow_code=is_code and text in COUNTRY_CODES)
                or (not is_code and (gazetteer.cities_named(folded) or gazetteer.subdivisions_named(folded))))


def _qualifier(token: _Token, gazetteer: Gazetteer, *, endonyms: bool = True) -> tuple[Place | None, Place | None]:
    """(state, country) that the token names, accepting two-letter codes only when written in capitals.
    A province or other first-level subdivision outside the US ("Ontario") qualifies as its country. A country's own
    name ("Nederland") names it only with ``endonyms``."""
    is_code = len(token.raw) == 2 and token.raw.isupper()
    state, country = gazetteer.state(token.text, allow_code=is_code), gazetteer.country(token.text, allow_code=is_code and token.raw in COUNTRY_CODES)
    if not endonyms and token.text in _ENDONYMS:
        country = None
    # A compass word ("Western Sydney", "Birmingham, West Midlands") names no subdivision abroad, so no country either.
    if state is None and country is None and not is_code and not gazetteer.compass_word(token.text):
        subdivisions = gazetteer.subdivisions_named(token.text)
        if subdivisions:
            country = gazetteer.country_of(subdivisions[0])
    return state, country


def _code_region(token: _Token, gazetteer: Gazetteer) -> tuple[str, str | None] | None:
    """(country, GeoNames admin1) that a code in capitals names: a Canadian province's or Australian state's postal code
    ("VIC", "WA": ("AU", "08")), or (country, None) for an ISO 3166-1 alpha-3 country code ("CAN"). Such a code only
    says which of a name's cities is meant ("Perth, WA"; "Seattle, WA" is Washington as before); it never vetoes a city
    ("Cape Town, SA", "BLR - Bengaluru": the airport code, not Belarus)."""
    if not (2 <= len(token.raw) <= 3 and token.raw.isupper()):
        return None
    found = gazetteer.region_code(token.text)
    if found:
        return found
    country = gazetteer.country_by_alpha3(token.raw)
    return (country.country, None) if country is not None else None


def _in_code_region(city: Place, region: tuple[str, str | None] | None) -> bool:
    return region is not None and city.country == region[0] and region[1] in (None, city.admin1)


def _coded_subdivision(token: _Token, gazetteer: Gazetteer) -> Place | None:
    """The Canadian province or Australian state whose postal code the token is, written in capitals ("BC", "VIC")."""
    region = _code_region(token, gazetteer)
    return gazetteer.subdivision_by_code(f"{region[0]}-{token.raw}") if region is not None and region[1] is not None else None


def _subdivision(token: _Token, gazetteer: Gazetteer) -> Place | None:
    is_code = len(token.raw) == 2 and token.raw.isupper()
    if is_code or gazetteer.state(token.text) or gazetteer.country(token.text):
        return None
    return next(iter(gazetteer.subdivisions_named(token.text)), None)


def _endonyms_are_countries(token_lists: list[list[_Token]], gazetteer: Gazetteer) -> bool:
    """Whether a country's own name in the text ("Deutschland", "Polska") names the country: only where the text names
    no US state and no other country, and no city has the name ("Nederland, TX", "Italia, TX", "Nederland": towns of Texas)."""
    countries = set()
    for tokens in token_lists:
        for token in tokens:
            if token.text in _ENDONYMS:
                if gazetteer.cities_named(token.text):
                    return False
                countries.add(gazetteer.country(token.text).country)
    if not countries:
        return False
    for tokens in token_lists:
        for token in tokens:
            state, country = _qualifier(token, gazetteer, endonyms=False)
            if state is not None or (country is not None and country.country not in countries):
                return False
    return True


def _resolve_segment(tokens: list[_Token], gazetteer: Gazetteer, *, us_context: bool, prefer=None,
                     seen: list | None = None, endonyms: bool = True) -> tuple[list[Place], list[str]]:
    places: list[Place] = []
    unresolved: list[str] = []
    used = [False] * len(tokens)
    qualifiers = [_qualifier(token, gazetteer, endonyms=endonyms) for token in tokens]
    placed_from: dict[int, int] = {}  # token index -> index in places of the state or country read from it alone
    last_city: tuple[int, int, bool] | None = None  # (index in places, token group, read with a region) of the last city
    for i, token in enumerate(tokens):
        if used[i]:
            continue
        metro = gazetteer.metro_alias(token.text)
        if metro is not None:
            places.append(metro)
            used[i] = True
            continue
        state, country = qualifiers[i]
        is_code = len(token.raw) == 2 and token.raw.isupper()
        # Two capitals are a code ("TOKYO-TO": the prefecture's suffix, not Tô, Burkina Faso); a city only through the
        # alias table ("SF", "DC").
        # Three capitals that are a country's code ("CAN") or a province's ("VIC") are no town ("Çan", "Vic").
        coded = len(token.raw) == 3 and token.raw.isupper() and _code_region(token, gazetteer) is not None
        candidates = ([] if (is_code and (state or country or not gazetteer.city_alias(token.text))) or coded
                      else gazetteer.cities_named(token.text))
        inner = _subdivision(token, gazetteer) if candidates and not is_code else None
        if inner is not None and i + 1 < len(tokens) and tokens[i + 1].group == token.group and any(
                gazetteer.subdivision_of(c) == inner for c in gazetteer.cities_named(tokens[i + 1].text)):
            # "CA-Ontario-Toronto": a subdivision's name (and towns' elsewhere) before a city of it in the same part is the
            # subdivision, as "US-CA-Menlo Park" is a state and then its city.
            candidates = []
        if candidates and gazetteer.compass_word(token.text):
            # "Central US", "Central Harlem, NY": a part of the place; "Central, LA", "Sur, Oman" are the towns their region holds.
            candidates = [c for c in candidates if any(tokens[j].group == token.group + 1 and _fits(c, qualifiers[j])
                                                       for j in range(i + 1, len(tokens)))]
        if state is not None and candidates and all(c.population < 100_000 for c in candidates if c.country == "US"):
            # "Washington, USA", "Virginia, USA": the state, not a small town of that name (nor one abroad).
            candidates = [c for c in candidates if c.country != "US"]
        # A name that is also a state or country qualifies the city before it
        # ("Albany, New York"); it is a city only when it comes first ("New York, NY").
        if candidates and (state or country) and places and places[-1].kind == "city" and tokens[i - 1].group < token.group:
            candidates = []
        if candidates:
            chosen, consumed = _pick_city(candidates, tokens, qualifiers, i, used, gazetteer, prefer)
            if seen is not None and chosen is not None and len(candidates) > 1:
                seen.append((token.text, chosen.id if consumed else None))
            # A bare state or country name beats a same-named city elsewhere ("Costa Rica",
            # "Georgia") but not the city inside it ("New York", "Singapore").
            # A subdivision elsewhere is not such a region when ``prefer`` names the city ("San Jose": the postings write
            # "San Jose, CA", not the province of Costa Rica).
            bare_region = (state or country) and not is_code and not consumed and chosen is not None and not (
                (state and chosen.country == "US" and chosen.admin1 == state.admin1) or (country and chosen.country == country.country)
                or (state is None and prefer and prefer.get(token.text) == chosen.id and gazetteer.country(token.text) is None))
            if chosen is not None and not bare_region:
                # A code read on its own before the city ("IN-Mumbai": Indiana, as codes usually are states) is the
                # other region of that code when the city lies there: the city's country, not a state it is not in.
                for j in consumed:
                    if j in placed_from and not _contains(places[placed_from[j]], chosen):
                        places[placed_from.pop(j)] = None
                previous = last_city
                if (previous is not None and previous[1] == token.group - 1 and not previous[2] and places[previous[0]] is not None
                        and places[previous[0]].population < NEIGHBOURHOOD_TOWN_MAX and places[previous[0]].population * 10 <= chosen.population
                        and places[previous[0]].country != chosen.country):
                    # "Newbury, Boston": a neighbourhood, then its city, not a small town of that name abroad. Within one
                    # country a small town before a big city is as often an office list ("Menlo Park, Seattle"): kept.
                    places[previous[0]] = None
                last_city = (len(places), token.group, bool(consumed))  # a city read with its region is no neighbourhood
                places.append(chosen)
                for j in (i, *consumed):
                    used[j] = True
                    subdivision = _subdivision(tokens[j], gazetteer) if j != i else None
                    if subdivision is None and j != i and _in_code_region(chosen, _code_region(tokens[j], gazetteer)):
                        subdivision = _coded_subdivision(tokens[j], gazetteer)  # "Perth, WA": Western Australia; "Seattle, WA": none
                    if subdivision is not None and subdivision.country == chosen.country:
                        places.append(subdivision)  # "Toronto, Ontario": the posting is in Ontario too
                continue
        subdivision = _subdivision(token, gazetteer)
        if subdivision is not None and not (places and places[-1].kind == "city" and places[-1].country != subdivision.country
                                            and tokens[i - 1].group < token.group and candidates):
            # A code read before it as a state is the subdivision's country when the code is its country's ("CA-Alberta":
            # Canada, not California), as with a city ("IN-Mumbai").
            for j, k in placed_from.items():
                if tokens[j].raw == subdivision.country and places[k] is not None and places[k].kind == "state":
                    places[k] = gazetteer.country(tokens[j].text, allow_code=True) or places[k]
            places.append(subdivision)
            used[i] = True
            continue
        if state is not None or country is not None:
            # "Georgia": the US state when the text is about the US, else the country; a bare two-letter
            # code that is both ("CA", "IN") is the state, since postings write states as codes and countries in full.
            # A name that is both (Georgia) is the state unless the text names something else in that country.
            placed_from[i] = len(places)
            places.append(state if state is not None and (country is None or us_context or is_code or not places) else country)
            used[i] = True
            continue
        metro = gazetteer.metro_alias(token.text, in_query=True)
        next_state = qualifiers[i + 1][0] if i + 1 < len(tokens) else None
        if (metro is not None and metro.kind == "metro" and metro.country == "US" and next_state is not None
                and {getattr(gazetteer.place(c), "admin1", None) for c in metro.contains} == {next_state.admin1}):
            # "Westchester, NY": a name that no town of that state has, but a query's name of a metro there (in a query
            # "Westchester" is the county's metro; in a posting it is a town only where one of that name fits).
            places.append(metro)
            used[i] = True
            continue
        coded = _coded_subdivision(token, gazetteer)
        if coded is not None:
            places.append(coded)  # "NSW", "VIC" alone ("Remote (ON, AB, BC)"); beside a city abroad it is dropped below
            used[i] = True
            continue
        unresolved.append(token.raw)
    # A region of another country than every city named with it is a word of a street or a building ("Pacific Centre,
    # Vancouver": not Centre, Burkina Faso); beside a state or country it is one more place ("Remote (California, Ontario)").
    # One named by a compass word is read only beside its country ("Remote - West", "Western Canada", "Remote (EST)": not
    # Cameroon, Ghana, Burkina Faso).
    places = [p for p in places if p is not None]
    city_countries = {p.country for p in places if p.kind == "city"}
    named_countries = {p.country for p in places if p.kind in ("city", "state", "country")}
    places = [p for p in places if p.kind != "subdivision"
              or (p.country in named_countries if gazetteer.needs_its_country(p) else not city_countries or p.country in city_countries)]
    return _most_specific(places, gazetteer), unresolved


def _most_specific(places: list[Place], gazetteer: Gazetteer) -> list[Place]:
    """Drop a state or country that a city or metro in the same list already implies (a province or nation named with its
    city is kept: "Toronto, Ontario" reads as both)."""
    implied: set[int] = set()
    for place in places:
        if place.kind in ("city", "metro"):
            implied |= gazetteer.tags_for(place) - {place.id}
    return [p for p in places if p.id not in implied or p.kind in ("city", "metro", "subdivision")]


def _contains(region: Place, city: Place) -> bool:
    """Whether a state or country read from a qualifier holds the city (other kinds are kept as read)."""
    if region.kind == "state":
        return city.country == "US" and city.admin1 == region.admin1
    if region.kind == "country":
        return city.country == region.country
    return True


def _fits(city: Place, qualifier: tuple[Place | None, Place | None]) -> bool:
    state, country = qualifier
    return (state is not None and city.country == "US" and city.admin1 == state.admin1) or (
        country is not None and city.country == country.country)


def _pick_city(candidates: list[Place], tokens: list[_Token], qualifiers: list, i: int, used: list[bool],
               gazetteer: Gazetteer, prefer=None) -> tuple[Place | None, list[int]]:
    """Choose among same-named cities using the state/country tokens right after token i
    ("Paris, Ile-de-France, France", "Toronto, Ontario, Canada", "Perth, WA") or before it in the same
    part ("CA - San Francisco"); without any, the one ``prefer`` names for the name, else the most populous."""
    group = tokens[i].group
    codes = [_code_region(token, gazetteer) for token in tokens]

    def qualifies(j: int) -> bool:
        return qualifiers[j] != (None, None) or codes[j] is not None

    def fits(city: Place, j: int) -> bool:
        return _fits(city, qualifiers[j]) or _in_code_region(city, codes[j])

    after = []
    for j in range(i + 1, len(tokens)):
        if not qualifies(j) and not after and tokens[j].group == group + 1:
            continue  # an unknown region name: "Bengaluru, Karnataka, India"
        if not qualifies(j) or tokens[j].group > group + 2:
            break
        after.append(j)
    # Qualifiers before the name in the same part ("US-CA-Dublin") count even when already read as places.
    before = [j for j in range(i) if tokens[j].group == group and qualifies(j)]
    nearby = before + after
    if not nearby:
        wanted = (prefer or {}).get(tokens[i].text)
        # Only a city not much smaller than the largest of the name: a bare "Paris" stays the capital.
        return next((c for c in candidates if c.id == wanted and c.population * 20 >= candidates[0].population), candidates[0]), []
    best, best_hits = None, []
    for city in candidates:  # most populous first
        hits = [j for j in nearby if fits(city, j)]
        if len(hits) > len(best_hits):
            best, best_hits = city, hits
    states = [j for j in nearby if qualifiers[j][0] is not None]
    if states and (best is None or not any(_fits(best, (qualifiers[j][0], None)) for j in states)):
        # A city that has the name as another of its names, in the US state named ("Saint Louis, MO": GeoNames calls
        # St. Louis so, and Saint Louis, MI by its primary name); a country alone is too loose ("Washington, USA").
        for city in gazetteer.cities_also_named(tokens[i].text):
            if any(_fits(city, (qualifiers[j][0], None)) for j in states):
                best, best_hits = city, [j for j in nearby if fits(city, j)]
                break
    if best is not None:
        return best, best_hits
    if any(not gazetteer.cities_named(tokens[j].text) and codes[j] is None for j in nearby):
        # Every same-named city contradicts a plain state or country: trust that, not the name. A code is weaker than
        # the name ("Cape Town, SA": South Africa as people write it, not South Australia; "Bengaluru, BLR").
        return None, []
    return candidates[0], []


def parse_location(text: str, gazetteer: Gazetteer, *, prefer: dict[str, int] | None = None) -> ParsedLocation:
    """Read a posting's free-text location.

    A city name that several places share is the one its region names ("Pasadena, CA"); written alone, the one
    ``prefer`` maps the lower-case name to (the catalog passes the city that the corpus's postings name with a
    region most often), else the most populous.

    Example:
        >>> g = Gazetteer()
        >>> parsed = parse_location("Seattle, WA - Remote", g)
        >>> [p.name for p in parsed.places], parsed.work_mode
        (['Seattle'], 'remote')
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a location string, got {type(text).__name__}")
    places: list[Place] = []
    unresolved: list[str] = []
    seen: list[tuple[str, int | None]] = []
    text = _WASHINGTON_DC.sub("Washington DC", text)
    folded = fold(text)
    us_context = bool(re.search(r"\b(us|usa|u\.s\.?|united states|america)\b", folded)) or bool(
        re.search(r",\s*[A-Z]{2}\b", text))
    coded: dict[int, Place | None] = {}  # index in places of a state read from a lone code that is a country's code too
    segments = [_tokens(segment, gazetteer) for segment in _ALTERNATIVES.split(text) if segment and segment.strip()]
    endonyms = _endonyms_are_countries(segments, gazetteer)
    for tokens in segments:
        found, missing = _resolve_segment(tokens, gazetteer, us_context=us_context, prefer=prefer, seen=seen, endonyms=endonyms)
        if (len(tokens) == 1 and len(tokens[0].raw) == 2 and tokens[0].raw.isupper() and [p.kind for p in found] == ["state"]
                and found[0] not in places):
            coded[len(places)] = gazetteer.country(tokens[0].text, allow_code=True)
        places.extend(p for p in found if p not in places)
        unresolved.extend(missing)
    # "Toronto, ON; Remote, CA", "Tel Aviv, Israel; Remote - IL": a lone code that names a state and a country is the country
    # where every other place of the text lies in that country ("Remote, IL" alone, or beside Chicago, is Illinois).
    others = {p.country for i, p in enumerate(places) if i not in coded}
    for i, country in coded.items():
        if country is not None and others == {country.country}:
            places[i] = country
    places = list(dict.fromkeys(places))
    if not any(p.kind == "city" for p in places):
        # A country's alpha-3 code left over is that country where the text names no city ("Remote (US & CAN)"); beside a
        # city it is as likely an airport ("Philadelphia, PA (PHL)").
        countries = [gazetteer.country_by_alpha3(raw) for raw in unresolved]
        places.extend(c for c in dict.fromkeys(countries) if c is not None and c not in places)
        unresolved = [raw for raw, c in zip(unresolved, countries) if c is None]
    return ParsedLocation(tuple(places), work_mode_of(text), tuple(unresolved), qualified=tuple((n, c) for n, c in seen if c is not None),
                          guessed=tuple(dict.fromkeys(n for n, c in seen if c is None)))
