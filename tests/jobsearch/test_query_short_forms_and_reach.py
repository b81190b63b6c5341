"""Readings of short forms and of where a job may be: "mgmt" and "mgr" ruled out as management is, remote open worldwide,
well-known employers listed together without postings, counts of hours and "1099" beside numbers, "+ or more", a state
code that is also a word in a title-cased query, and the last item of a ruled-out list joined by "and"."""
import datetime as dt
import json

import pytest

from flatsearch.jobsearch.pay import parse_pay
from flatsearch.jobsearch.planner_rules import NO_COMPANY_ID
from flatsearch.jobsearch.seniority import LEVEL_CODES, MANAGEMENT_LEVELS

NOW = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)
MANAGEMENT = sorted(LEVEL_CODES[level] for level in MANAGEMENT_LEVELS)


def plan_of(planner, query):
    return planner.plan(query, now=NOW)


def _management_ruled_out(plan) -> bool:
    return any(json.dumps({"not": {"seniority": {"in": MANAGEMENT}}}) in json.dumps(clause) for clause in plan.clauses)


@pytest.mark.parametrize("query", ["data analyst roles in boston, no mgmt", "backend developer, nothing in mngmt",
                                   "qa tester jobs, not mgmt.", "support engineer, no mgr or mgmt positions"])
def test_short_forms_of_management_rule_it_out_as_the_word_does(planner, query):
    plan = plan_of(planner, query)
    assert _management_ruled_out(plan), plan.clauses
    spelled = plan_of(planner, query.replace("mngmt", "management").replace("mgmt", "management").replace("mgr", "manager"))
    assert _management_ruled_out(spelled)
    assert "mgmt" not in plan.semantic_text and "management" not in plan.semantic_text


@pytest.mark.parametrize("query", ["product mgmt jobs in denver", "store mgr jobs"])
def test_a_short_form_inside_a_role_is_the_role(planner, query):
    plan = plan_of(planner, query)
    assert not any("seniority" in json.dumps(clause) for clause in plan.clauses)
    assert "mg" in plan.semantic_text


def _worldwide(plan):
    return [clause for clause in plan.clauses if set(clause) == {"not"} and "geo" in clause["not"]]


@pytest.mark.parametrize("query", ["remote designer roles, worldwide", "fully remote backend work, any country",
                                   "globally remote support jobs", "work from anywhere in the world as a copywriter",
                                   "remote analyst, location doesn't matter"])
def test_remote_open_worldwide_keeps_postings_that_name_no_country(planner, engine, query):
    plan = plan_of(planner, query)
    assert len(_worldwide(plan)) == 1 and {"work_mode": {"eq": 3}} in plan.clauses, plan.clauses
    assert any("name no country or region" in note for note in plan.notes)
    assert "world" not in plan.semantic_text and "country" not in plan.semantic_text
    response = engine.search(query, k=10)
    assert response.results, response.message
    for job in response.results:
        assert job.remote == "remote" and not job.geo_ids, (job.location, job.geo_ids)


@pytest.mark.parametrize("query", ["nurse jobs, location doesn't matter", "remote jobs in canada or worldwide", "work from anywhere design jobs"])
def test_without_remote_or_beside_a_place_worldwide_adds_no_place_filter(planner, query):
    # The words say the place does not matter ("nurse jobs, location doesn't matter"), a place named is the filter, and
    # "work from anywhere" alone is the remote work mode.
    assert not _worldwide(plan_of(planner, query))


def _absent(planner, name):
    return planner._absent_employers is not None and planner._absent_employers.fullmatch(name) is not None


def test_well_known_employers_listed_in_lower_case_are_all_asked_for(planner, engine):
    if not (_absent(planner, "microsoft") and _absent(planner, "netflix")):
        pytest.skip("one of the employers has postings in this catalog")
    query = "microsoft or netflix software engineer jobs in seattle"
    plan = plan_of(planner, query)
    assert {"company": {"in": [NO_COMPANY_ID]}} in plan.clauses
    assert "microsoft" not in plan.semantic_text and "netflix" not in plan.semantic_text
    response = engine.search(query, k=5)
    # Rightly empty, and the answer says why and what the same search finds at other companies.
    assert not response.results
    assert "No postings from microsoft or netflix" in response.message
    relax = [s for s in response.suggestions if s.get("kind") == "relax" and s["filter"] == {"company": {"in": [NO_COMPANY_ID]}}]
    assert relax and relax[0]["count"] > 0 and relax[0]["phrase"] == "microsoft, netflix"
    dropped = engine.search(query, k=5, drop=[relax[0]["phrase"]])
    assert dropped.results and all("Seattle" in job.location or "WA" in job.location for job in dropped.results)


def test_a_lower_case_employer_alone_before_a_role_word_stays_a_word(planner):
    plan = plan_of(planner, "google docs admin assistant")
    assert not any("company" in json.dumps(clause) for clause in plan.clauses)


@pytest.mark.parametrize("text", ["$2000 hours", "cdl driver, $1500 hours logged", "$1,200 hours of flight time"])
def test_a_signed_count_of_hours_is_no_pay(text):
    assert parse_pay(text) is None


@pytest.mark.parametrize("text, yearly", [("$25+/hr or more", 52_000.0), ("cook $18+ an hour and up", 37_440.0), ("$40 hour nurse", 83_200.0)])
def test_a_floor_said_twice_is_one_floor_and_one_phrase(text, yearly):
    bound = parse_pay(text)
    assert bound.op == "gte" and bound.yearly_usd == yearly
    assert not any(w in text[bound.end:] for w in ("more", " up"))


@pytest.mark.parametrize("query", ["1099 contractor driver jobs", "1099 courier work in dallas", "1099-contractor bookkeeper"])
def test_1099_is_a_contract_job_word_not_a_number(planner, query):
    plan = plan_of(planner, query)
    assert "1099" not in plan.semantic_text
    assert not any("salary" in json.dumps(clause) for clause in plan.clauses)
    assert any("employment type" in note for note in plan.notes)


@pytest.mark.parametrize("query, state", [("Nurse Jobs In Me", 4971068), ("Warehouse Jobs In Or", 5744337), ("Cna Jobs In Ok", 4544379)])
def test_a_title_cased_code_that_is_a_word_ends_the_query_after_in_as_the_state(planner, query, state):
    plan = plan_of(planner, query)
    assert {"geo": {"in": [state]}} in plan.clauses, plan.clauses


@pytest.mark.parametrize("query", ["Teaching Jobs In Me Please", "Jobs For Me In Boston", "nurse jobs in me"])
def test_a_code_that_is_a_word_elsewhere_is_the_word(planner, query):
    plan = plan_of(planner, query)
    assert not any(json.dumps({"geo": {"in": [4971068]}}) in json.dumps(clause) for clause in plan.clauses)


@pytest.mark.parametrize("query, last", [("no labor like moving, cleaning and painting jobs in Portland", "painting"),
                                         ("no physical work like lifting, packing and roofing roles in Denver", "roofing")])
def test_the_last_item_of_a_ruled_out_list_joined_by_and_is_ruled_out(planner, query, last):
    plan = plan_of(planner, query)
    assert last not in plan.semantic_text
    assert any("geo" in json.dumps(clause) for clause in plan.clauses)  # the place after the list is still read


def test_a_comma_before_a_job_still_begins_a_new_clause(planner):
    plan = plan_of(planner, "no store jobs like optician or keyholder, nurse jobs in Boston")
    assert "nurse" in plan.semantic_text


def test_a_kind_said_to_be_fine_is_not_ruled_out(planner):
    plan = plan_of(planner, "stocker or cashier, but warehouse is fine")
    assert not any(set(clause) == {"not"} for clause in plan.clauses)
