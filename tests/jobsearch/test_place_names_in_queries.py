"""Place names in queries written with letters outside ASCII, common words that name a city when its region follows, and a
compass part of a state."""
import datetime as dt

import pytest

NOW = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)


def geo_places(planner, gazetteer, query):
    plan = planner.plan(query, now=NOW)
    ids = [pid for clause in plan.clauses if "geo" in clause for pid in clause["geo"]["in"]]
    return [(p.kind, p.name, p.country, p.admin1) for p in map(gazetteer.place, ids)], plan


@pytest.mark.parametrize("query, place", [("jobs in panamá", ("country", "Panama", "PA", "")),
                                          ("jobs in tromsø", ("city", "Tromsø", "NO", "18")),
                                          ("jobs in łódź", ("city", "Łódź", "PL", "74")),
                                          ("sales jobs in malmö", ("city", "Malmö", "SE", "27"))])
def test_a_name_that_ends_or_starts_with_a_letter_outside_ascii_is_one_word(planner, gazetteer, query, place):
    places, plan = geo_places(planner, gazetteer, query)
    assert places == [place], plan.to_dict()


@pytest.mark.parametrize("query, place", [("nurse jobs victoria tx", ("city", "Victoria", "US", "TX")),
                                          ("jobs in reading, pa", ("city", "Reading", "US", "PA")),
                                          ("victoria bc jobs", ("city", "Victoria", "CA", "02"))])
def test_a_common_word_names_the_city_in_the_region_written_after_it(planner, gazetteer, query, place):
    places, plan = geo_places(planner, gazetteer, query)
    assert places == [place], plan.to_dict()


@pytest.mark.parametrize("query, place", [("jobs in southeast georgia", ("state", "Georgia", "US", "GA")),
                                          ("warehouse jobs northwest arkansas", ("state", "Arkansas", "US", "AR"))])
def test_a_compass_part_of_a_state_is_the_state(planner, gazetteer, query, place):
    places, plan = geo_places(planner, gazetteer, query)
    assert places == [place], plan.to_dict()
