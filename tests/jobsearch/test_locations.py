import json
from importlib import resources

import pytest

from flatsearch.jobsearch.gazetteer import METRO_ID_BASE
from flatsearch.jobsearch.locations import parse_location, work_mode_of

SEATTLE, SAN_FRANCISCO, NYC, LONDON, BENGALURU, MENLO_PARK = 5809844, 5391959, 5128581, 2643743, 1277333, 5372223
US, WASHINGTON_STATE, CANADA, TORONTO = 6252001, 5815135, 6251999, 6167865


@pytest.mark.parametrize("text, city_ids, mode", [
    ("New York, NEW YORK", [NYC], "unknown"),
    ("New York City", [NYC], "unknown"),
    ("New York, New York, United States", [NYC], "unknown"),
    ("San Francisco, CA • New York, NY • United States", [SAN_FRANCISCO, NYC], "unknown"),
    ("London, undefined", [LONDON], "unknown"),
    ("Bangalore, India", [BENGALURU], "unknown"),
    ("US-CA-Menlo Park", [MENLO_PARK], "unknown"),
    ("Seattle, WA - Remote", [SEATTLE], "remote"),
    ("San Francisco; Hybrid", [SAN_FRANCISCO], "hybrid"),
    ("NYC, SF, Seattle", [NYC, SAN_FRANCISCO, SEATTLE], "unknown"),
    ("Toronto, Ontario, Canada", [TORONTO], "unknown"),
])
def test_messy_city_strings(gazetteer, text, city_ids, mode):
    parsed = parse_location(text, gazetteer)
    assert [p.id for p in parsed.places if p.kind == "city"] == city_ids
    assert parsed.work_mode == mode


@pytest.mark.parametrize("text, place_id, kind, mode", [
    ("Remote - US", US, "country", "remote"),
    ("United States - Remote", US, "country", "remote"),
    ("Remote Canada", CANADA, "country", "remote"),
    ("Bay Area, CA, United States of America", METRO_ID_BASE + 1, "metro", "unknown"),
    ("Texas, USA, Remote", 4736286, "state", "remote"),
])
def test_regions_and_remote(gazetteer, text, place_id, kind, mode):
    parsed = parse_location(text, gazetteer)
    assert parsed.places[0].id == place_id and parsed.places[0].kind == kind
    assert parsed.work_mode == mode


def test_pure_work_mode_strings(gazetteer):
    for text, mode in (("Remote", "remote"), ("Hybrid", "hybrid"), ("In-Office", "onsite"), ("Distributed", "remote")):
        parsed = parse_location(text, gazetteer)
        assert parsed.places == () and parsed.work_mode == mode == work_mode_of(text)


def test_tags_hold_state_country_continent_and_metros(gazetteer):
    tags = set(parse_location("Seattle, WA", gazetteer).tags(gazetteer))
    seattle_metro = gazetteer.metro_alias("seattle metro").id
    assert {SEATTLE, WASHINGTON_STATE, US, 6255149, seattle_metro} <= tags
    sunnyvale = set(parse_location("Sunnyvale, CA", gazetteer).tags(gazetteer))
    assert gazetteer.metro_alias("silicon valley").id in sunnyvale and gazetteer.metro_alias("bay area").id in sunnyvale
    assert gazetteer.metro_alias("silicon valley").id not in set(parse_location("San Francisco, CA", gazetteer).tags(gazetteer))


def test_curated_metro_table_uses_real_city_ids(gazetteer):
    table = json.loads(resources.files("flatsearch.jobsearch").joinpath("data/metros.json").read_text())
    for metro in table["metros"]:
        assert metro["id"] >= METRO_ID_BASE
        for city in metro["cities"]:
            place = gazetteer.place(city["id"])
            assert place is not None and place.kind == "city" and place.name == city["name"], (metro["name"], city)
            assert place.country == metro["country"]


def test_location_must_be_text(gazetteer):
    with pytest.raises(TypeError, match="text: expected a location string"):
        parse_location(None, gazetteer)


def _catalog_of(gazetteer, locations):
    import datetime as dt

    from flatsearch.jobsearch.catalog import JobCatalog
    from flatsearch.jobsearch.corpus import Corpus, Posting

    when = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    postings = tuple(Posting(i, f"Analyst {i}", "Acme", text, when) for i, text in enumerate(locations, start=1))
    return JobCatalog(Corpus(postings, when), gazetteer)


def test_a_shared_city_name_written_alone_is_the_one_the_corpus_names_with_its_region(gazetteer):
    # Springfield, MO is the most populous; the postings name Springfield, IL with its state, so a bare "Springfield" is that one.
    catalog = _catalog_of(gazetteer, ["Springfield, IL", "Springfield, Illinois - Hybrid", "Springfield", "Aurora"])
    illinois, missouri = 4250542, 4409896
    assert illinois in catalog.records[3].geo_ids and missouri not in catalog.records[3].geo_ids
    assert 5412347 in catalog.records[4].geo_ids  # no region names Aurora anywhere: the most populous (Colorado)
    assert parse_location("Springfield", gazetteer).places[0].id == missouri  # read alone, without the corpus
    assert parse_location("Springfield", gazetteer, prefer={"springfield": illinois}).places[0].id == illinois


def test_a_preferred_city_much_smaller_than_the_largest_of_its_name_is_not_taken(gazetteer):
    portland_or, portland_tx = 5746545, 4720131
    assert parse_location("Portland", gazetteer, prefer={"portland": portland_tx}).places[0].id == portland_or


def test_a_region_of_another_country_than_the_city_is_no_place(gazetteer):
    # "Pacific Centre" is a building in Vancouver, not the Centre region of Burkina Faso; a region of the city's country stays.
    assert [p.name for p in parse_location("Pacific Centre, Vancouver", gazetteer).places] == ["Vancouver"]
    assert [p.kind for p in parse_location("Calgary, Alberta", gazetteer).places] == ["city", "subdivision"]


@pytest.mark.parametrize("text, city", [("IN-Hyderabad", "Hyderabad"), ("IN-Chennai-Office", "Chennai"), ("DE-Munich", "Munich")])
def test_a_country_code_before_a_city_abroad_is_the_country_not_a_state(gazetteer, text, city):
    # "IN" alone is Indiana and "DE" Delaware, as postings write states; before a city of India or Germany it is the country.
    parsed = parse_location(text, gazetteer)
    assert [p.name for p in parsed.places] == [city]
    assert all(p.kind != "state" for p in parsed.places)


def test_a_state_code_before_a_city_in_it_stays_the_state(gazetteer):
    parsed = parse_location("IN-Indianapolis", gazetteer)
    assert [p.name for p in parsed.places] == ["Indianapolis"] and parsed.places[0].country == "US"


def test_place_alias_table_names_real_places(gazetteer):
    """Every entry of data/places.json points at a place the gazetteer knows, so a typo in the table fails here."""
    import pycountry

    from flatsearch.jobsearch.gazetteer import fold, place_aliases
    from flatsearch.jobsearch.lexicon import translations

    table = place_aliases()
    assert set(table["_keys"]) == {k for k in table if not k.startswith("_")}, "every part of the table is described in _keys"
    for alias, city_id in table["cities"].items():
        assert gazetteer.place(city_id) is not None and gazetteer.place(city_id).kind == "city", (alias, city_id)
    for alias, code in table["countries"].items():
        assert gazetteer.country(alias) is not None and gazetteer.country(alias).country == code, (alias, code)
    for name, english in table["country_endonyms"].items():
        assert gazetteer.country(fold(english)) is not None, (name, english)
        assert translations()[fold(name)] == english  # translated before the query is read
    for nickname, name in table["city_nicknames"].items():
        assert gazetteer.cities_named(name) or gazetteer.metro_alias(name, in_query=True), (nickname, name)
    curated = {p.name: p for p in gazetteer._places.values() if p.kind in ("metro", "region", "area")}
    for part in ("curated", "curated_in_query"):
        for alias, name in table[part].items():
            assert name in curated, (part, alias, name)  # the name of a place in metros.json
            assert gazetteer.metro_alias(fold(alias), in_query=True) is curated[name], (part, alias, name)
    for alias, code in table["subdivisions"].items():
        assert any(p.admin1 == code for p in gazetteer.subdivisions_named(fold(alias))), (alias, code)
    for abbreviation, name in table["state_abbreviations"].items():
        assert gazetteer.state(name) is not None, (abbreviation, name)
    for short in table["short_place_names"]:
        assert gazetteer.metro_alias(short, in_query=True) or gazetteer.cities_named(short), short
    admin1_in_use = {(p.country, p.admin1) for p in gazetteer._places.values() if p.kind == "city"}
    iso = {s.code for s in pycountry.subdivisions}
    for code, admin1 in table["region_admin1"].items():
        country = code.split("-")[0]
        assert code in iso and (country, admin1) in admin1_in_use, (code, admin1)
        assert gazetteer.region_code(code.split("-")[1].lower()) == (country, admin1)
    assert len({(c.split("-")[0], a) for c, a in table["region_admin1"].items()}) == len(table["region_admin1"]), "one admin1 per code"
    assert set(table["region_codes_upper_only"]) <= {c.split("-")[1].lower() for c in table["region_admin1"]}


@pytest.mark.parametrize("code, city, country", [("bc", "vancouver", "CA"), ("on", "toronto", "CA"), ("qc", "montreal", "CA"),
                                                 ("ab", "calgary", "CA"), ("nsw", "sydney", "AU"), ("vic", "melbourne", "AU"),
                                                 ("wa", "perth", "AU"), ("qld", "brisbane", "AU")])
def test_region_code_holds_its_main_city(gazetteer, code, city, country):
    """A postal code's GeoNames admin1 is the one its best-known city lies in (the mapping is hand-made: checked here)."""
    biggest = next(c for c in gazetteer.cities_named(city) if c.country == country)
    assert gazetteer.region_code(code) == (country, biggest.admin1)
