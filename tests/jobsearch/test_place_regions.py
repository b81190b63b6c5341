"""Named parts of a state ("Northeast Ohio", "Hampton Roads", "Upstate NY"), a city with its province ("Victoria BC"), the
UK's nations, names written with their own letters ("Łódź", "København") and lone codes that are a state's and a
country's ("Remote, IL"), in queries and in posting locations."""
import datetime as dt

import pytest

from flatsearch.jobsearch.gazetteer import fold
from flatsearch.jobsearch.locations import parse_location

NOW = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)
NEW_YORK_CITY, MANHATTAN, VICTORIA_BC, JERSEY_ISLAND = 5128581, 5125771, 6174041, 3042142


def _geo_ids(node) -> list[int]:
    """Every id of a positive geo clause in a plan's filter."""
    if isinstance(node, dict):
        if "geo" in node:
            return list(node["geo"]["in"])
        return [i for key, value in node.items() if key != "not" for i in _geo_ids(value)]
    if isinstance(node, list):
        return [i for value in node for i in _geo_ids(value)]
    return []


def _city(gazetteer, name, admin1):
    return next(c for c in gazetteer.cities_named(fold(name)) if c.admin1 == admin1)


@pytest.mark.parametrize("query, metro, cities", [
    ("software engineer jobs in northeast ohio", "Northeast Ohio", [("Cleveland", "OH"), ("Akron", "OH"), ("Canton", "OH"), ("Youngstown", "OH")]),
    ("accountant hampton roads", "Hampton Roads", [("Norfolk", "VA"), ("Virginia Beach", "VA"), ("Chesapeake", "VA"), ("Newport News", "VA"),
                                                   ("Hampton", "VA"), ("Portsmouth", "VA"), ("Suffolk", "VA")]),
    ("nurse jobs upstate ny", "Upstate New York", [("Buffalo", "NY"), ("Albany", "NY"), ("Syracuse", "NY"), ("Binghamton", "NY")]),
    ("jobs in north jersey", "North Jersey", [("Newark", "NJ"), ("Hoboken", "NJ"), ("Morristown", "NJ")]),
    ("jobs in southeast michigan", "Southeast Michigan", [("Detroit", "MI"), ("Ann Arbor", "MI")]),
    ("jobs in western new york", "Western New York", [("Buffalo", "NY"), ("Rochester", "NY")]),
    ("jobs in long island", "Long Island", [("Hempstead", "NY"), ("Melville", "NY")]),
    ("engineer in the triangle", "Research Triangle", [("Raleigh", "NC"), ("Durham", "NC")]),
    ("warehouse jobs inland empire", "Inland Empire", [("Riverside", "CA")]),
    ("jobs in the twin cities", "Twin Cities", [("Minneapolis", "MN")]),
])
def test_a_named_part_of_a_state_is_its_metro(planner, gazetteer, query, metro, cities):
    # Not the Northeast (New England to Pennsylvania) plus Ohio, nor Hampton alone, nor the island of Jersey.
    place = gazetteer.metro_alias(fold(metro))
    assert place is not None and place.kind == "metro", metro
    assert _geo_ids(planner.plan(query, now=NOW).filters) == [place.id], query
    for name, state in cities:
        city = _city(gazetteer, name, state)
        assert city.id in place.contains and place.id in gazetteer.tags_for(city), (metro, name)


@pytest.mark.parametrize("query, metro", [
    ("jobs near yonkers", "new york metro area"), ("jobs near white plains", "new york metro area"),
    ("jobs near edison nj", "new york metro area"), ("jobs near cleveland", "northeast ohio"), ("jobs near norfolk", "hampton roads"),
])
def test_near_a_city_is_its_commuting_metro_before_a_part_of_its_state(planner, gazetteer, query, metro):
    # Yonkers lies in Westchester County too, but the area around it is the New York metro; Cleveland has no commuting metro.
    assert _geo_ids(planner.plan(query, now=NOW).filters) == [gazetteer.metro_alias(metro).id], query


def test_a_posting_in_a_city_is_tagged_with_its_metro_and_the_part_of_its_state(gazetteer):
    tags = parse_location("Yonkers, NY", gazetteer).tags(gazetteer)
    assert {gazetteer.metro_alias("new york metro area").id, gazetteer.metro_alias("westchester county").id} <= set(tags)


def test_the_golden_triangle_of_texas_is_beaumont_port_arthur_and_orange(planner, gazetteer):
    (place_id,) = _geo_ids(planner.plan("jobs in golden triangle texas", now=NOW).filters)
    assert sorted(gazetteer.place(c).name for c in gazetteer.place(place_id).contains) == ["Beaumont", "Orange", "Port Arthur"]


def test_upstate_new_york_leaves_out_the_new_york_metro_and_long_island(gazetteer):
    upstate = gazetteer.metro_alias("upstate ny")
    downstate = {c for name in ("new york metro area", "long island", "westchester county") for c in gazetteer.metro_alias(name).contains}
    assert not downstate & set(upstate.contains)
    assert NEW_YORK_CITY not in upstate.contains and _city(gazetteer, "Hempstead", "NY").id not in upstate.contains
    # A posting that names only the region is in New York state, as one in Buffalo is.
    tags = parse_location("Upstate NY", gazetteer).tags(gazetteer)
    assert upstate.id in tags and gazetteer.state("new york").id in tags


def test_a_posting_that_names_a_part_of_a_state_is_tagged_with_it_and_the_state(gazetteer):
    for text, metro, state in (("Hampton Roads, VA", "hampton roads", "virginia"), ("Northeast Ohio", "northeast ohio", "ohio"),
                               ("North Jersey", "north jersey", "new jersey"), ("Long Island, NY", "long island", "new york")):
        tags = parse_location(text, gazetteer).tags(gazetteer)
        assert gazetteer.metro_alias(metro).id in tags and gazetteer.state(state).id in tags, text
        assert JERSEY_ISLAND not in tags, text


@pytest.mark.parametrize("query", ["data analyst in lower manhattan", "jobs in downtown manhattan", "jobs in midtown"])
def test_parts_of_manhattan_are_manhattan(planner, query):
    ids = _geo_ids(planner.plan(query, now=NOW).filters)
    assert MANHATTAN in ids and NEW_YORK_CITY in ids, query  # postings that name only New York City may be there


@pytest.mark.parametrize("text", ["Midtown Manhattan - Hybrid", "Midtown Manhattan, NY", "Lower Manhattan, NY"])
def test_a_posting_in_a_part_of_manhattan_is_in_manhattan_and_its_metro(gazetteer, text):
    tags = parse_location(text, gazetteer).tags(gazetteer)
    assert {MANHATTAN, NEW_YORK_CITY, gazetteer.metro_alias("new york metro area").id, gazetteer.state("new york").id} <= set(tags), text


def test_midtown_of_another_city_is_that_city(planner, gazetteer):
    assert _geo_ids(planner.plan("jobs in midtown atlanta", now=NOW).filters) == [_city(gazetteer, "Atlanta", "GA").id]


@pytest.mark.parametrize("query", ["nurse jobs victoria bc", "nurse jobs in Victoria, BC", "jobs in victoria british columbia"])
def test_victoria_bc_is_the_city_in_british_columbia(planner, query):
    assert _geo_ids(planner.plan(query, now=NOW).filters) == [VICTORIA_BC], query


def test_victoria_australia_is_the_state(planner, gazetteer):
    victoria = gazetteer.subdivision_by_code("AU-VIC")
    for query in ("jobs in victoria australia", "nurse jobs in Victoria, Australia"):
        assert _geo_ids(planner.plan(query, now=NOW).filters) == [victoria.id], query


@pytest.mark.parametrize("query, name, country", [
    ("jobs in london ontario", "London", "CA"), ("software engineer cambridge ma", "Cambridge", "US"),
    ("software engineer cambridge uk", "Cambridge", "GB"), ("jobs in cambridge ontario", "Cambridge", "CA"),
    ("jobs in halifax, nova scotia", "Halifax", "CA"), ("jobs in saskatoon sk", "Saskatoon", "CA"),
])
def test_a_city_with_its_province_or_country(planner, gazetteer, query, name, country):
    (place_id,) = _geo_ids(planner.plan(query, now=NOW).filters)
    place = gazetteer.place(place_id)
    assert (place.name, place.country) == (name, country), query


@pytest.mark.parametrize("query, nation", [
    ("jobs in scotland", "Scotland"), ("jobs in wales", "Wales"), ("jobs in northern ireland", "Northern Ireland"),
    ("jobs in england", "England"),
])
def test_the_uks_nations_in_a_query(planner, gazetteer, query, nation):
    # The nation, not all of the UK (nor Wales, a village in England).
    (place_id,) = _geo_ids(planner.plan(query, now=NOW).filters)
    place = gazetteer.place(place_id)
    assert (place.name, place.kind, place.country) == (nation, "subdivision", "GB"), query


@pytest.mark.parametrize("text, nation", [
    ("Edinburgh, Scotland", "Scotland"), ("Glasgow, Scotland, United Kingdom", "Scotland"), ("Cardiff, UK", "Wales"),
    ("Belfast", "Northern Ireland"), ("London, England", "England"), ("Remote - Scotland", "Scotland"), ("Wales", "Wales"),
])
def test_the_uks_nations_in_a_posting(gazetteer, text, nation):
    tags = parse_location(text, gazetteer).tags(gazetteer)
    assert gazetteer.subdivisions_named(fold(nation))[0].id in tags and gazetteer.country("uk").id in tags, text


@pytest.mark.parametrize("text, nations", [
    ("Remote - UK", ["England", "Northern Ireland", "Scotland", "Wales"]), ("United Kingdom", ["England", "Northern Ireland", "Scotland", "Wales"]),
    ("London, UK", ["England"]), ("Edinburgh, Scotland, United Kingdom", ["Scotland"]), ("Greater London, UK", ["England"]),
    ("Paris, France; United Kingdom", ["England", "Northern Ireland", "Scotland", "Wales"]),
])
def test_a_posting_that_names_only_the_uk_may_be_in_any_nation(gazetteer, text, nations):
    # "jobs in Scotland" matches "Remote - UK" (it may be there), not "London, UK".
    tags = set(parse_location(text, gazetteer).tags(gazetteer))
    assert sorted(p.name for p in gazetteer.parts_of_country(gazetteer.country("uk")) if p.id in tags) == nations, text


def test_a_city_is_tagged_with_its_province_or_state_abroad(gazetteer):
    for name, region in (("toronto", "ontario"), ("vancouver", "british columbia"), ("melbourne", "victoria"), ("sydney", "new south wales")):
        assert gazetteer.subdivisions_named(region)[0].id in gazetteer.tags_for(gazetteer.cities_named(name)[0]), name
    # Greater London's cities all lie in England
    assert gazetteer.subdivisions_named("england")[0].id in gazetteer.tags_for(gazetteer.metro_alias("greater london"))


def test_letters_without_a_decomposition_are_written_out():
    assert [fold(name) for name in ("Łódź", "Tromsø", "Straße", "Kazanımı")] == ["lodz", "tromso", "strasse", "kazanimi"]


@pytest.mark.parametrize("text, name, country", [
    ("København, Denmark", "Copenhagen", "DK"), ("Łódź, Poland", "Łódź", "PL"), ("Kraków, Polska", "Kraków", "PL"),
    ("München, Deutschland", "Munich", "DE"), ("Zürich, CH", "Zürich", "CH"), ("São Paulo, Brasil", "São Paulo", "BR"),
    ("Bogotá, Colombia - Remote", "Bogotá", "CO"),
])
def test_native_names_in_a_posting(gazetteer, text, name, country):
    parsed = parse_location(text, gazetteer)
    assert [(p.name, p.country) for p in parsed.places] == [(name, country)] and not parsed.unresolved, text


def test_a_country_written_in_another_language_in_a_posting(gazetteer):
    assert [p.name for p in parse_location("États-Unis, Canada", gazetteer).places] == ["United States", "Canada"]
    assert [p.name for p in parse_location("Remote - Deutschland", gazetteer).places] == ["Germany"]


@pytest.mark.parametrize("text, places", [
    ("Nederland", ["Nederland, TX"]), ("Nederland, TX", ["Nederland, TX"]), ("Nederland, CO", ["Colorado"]),
    ("Italia, TX", ["Texas"]), ("Remote (Deutschland)", ["Germany"]), ("Kraków, Polska", ["Kraków, PL"]), ("Italia", ["Italy"]),
])
def test_a_countrys_own_name_gives_way_to_a_town_or_a_state(gazetteer, text, places):
    # Not the Netherlands or Italy beside a US state, nor where a town has the name.
    assert [p.label() if p.kind == "city" else p.name for p in parse_location(text, gazetteer).places] == places, text


@pytest.mark.parametrize("query, name", [
    ("jobs in zürich", "Zürich"), ("jobs in münchen", "Munich"), ("jobs in kraków", "Kraków"), ("jobs in são paulo", "São Paulo"),
    ("jobs in bogotá", "Bogotá"), ("jobs in olomouc", "Olomouc"), ("jobs in brno", "Brno"),
])
def test_native_names_in_a_query(planner, gazetteer, query, name):
    (place_id,) = _geo_ids(planner.plan(query, now=NOW).filters)
    assert gazetteer.place(place_id).name == name, query


@pytest.mark.parametrize("text", ["Olomouc, Olomouc Region - Remote", "Brno, South Moravian Region", "Prague, undefined"])
def test_czech_cities_are_in_europe_and_emea(gazetteer, text):
    tags = parse_location(text, gazetteer).tags(gazetteer)
    assert gazetteer.metro_alias("emea").id in tags and gazetteer.metro_alias("europe").id in tags, text


@pytest.mark.parametrize("text, name", [
    ("Remote - IL", "Illinois"), ("IL-Remote", "Illinois"), ("Remote, IL", "Illinois"), ("IL - Remote", "Illinois"),
    ("Chicago, IL; Remote - IL", "Illinois"), ("Remote, Israel", "Israel"), ("Tel Aviv, Israel; Remote, IL", "Israel"),
    ("Toronto, ON, CA; Remote, CA", "Canada"), ("Berlin, Germany; Remote - DE", "Germany"), ("Remote, CA", "California"),
    ("Panama City, Panama; Remote, PA", "Panama"), ("Jakarta, Indonesia; Remote, ID", "Indonesia"),
    ("Casablanca, Morocco; Remote, MA", "Morocco"), ("Boston, MA; Remote, MA", "Massachusetts"),
])
def test_a_lone_code_of_a_state_and_a_country(gazetteer, text, name):
    # A state as postings write states, unless every other place of the text lies in the country of that code.
    assert name in [p.name for p in parse_location(text, gazetteer).places], text
    assert not ({"Illinois", "California", "Delaware", "Pennsylvania", "Idaho", "Massachusetts"} - {name}) & {p.name for p in parse_location(text, gazetteer).places}, text


def test_livingston_nj_is_in_new_jersey(gazetteer):
    (place,) = parse_location("Livingston, NJ", gazetteer).places
    assert (place.name, place.country, place.admin1) == ("Livingston", "US", "NJ")


@pytest.mark.parametrize("text, names", [
    ("CA-Ontario-Toronto", ["Ontario", "Toronto"]), ("CA-Quebec-Montreal", ["Quebec", "Montréal"]),
    ("AU-Victoria-Melbourne", ["Victoria", "Melbourne"]), ("US-CA-Ontario", ["Ontario"]),
])
def test_a_subdivision_before_its_city_in_one_part(gazetteer, text, names):
    # Not Ontario, California (nor the Inland Empire) for a Canadian posting; a US one still is.
    places = parse_location(text, gazetteer).places
    assert [p.name for p in places] == names, text
    assert {p.country for p in places} == {"US" if text.startswith("US") else text[:2]}, text


def test_a_query_name_of_a_metro_with_its_state_in_a_posting(gazetteer):
    # No town of New York is called Westchester (those of Illinois and Florida are): the county's metro.
    assert [p.name for p in parse_location("Westchester, NY", gazetteer).places] == ["Westchester County"]
    assert [(p.name, p.admin1) for p in parse_location("Westchester, IL", gazetteer).places] == [("Westchester", "IL")]
