import datetime as dt
import json

import pytest

from flatsearch.jobsearch.locations import WORK_MODE_CODES
from flatsearch.jobsearch.members import UnknownMemberError
from flatsearch.jobsearch.plan import QueryPlan
from flatsearch.jobsearch.planner_rules import MAX_QUERY_CHARS

QUERY_ONE = ("Find software engineer jobs in Silicon Valley or Seattle that are mostly remote but not from sourcing companies, "
             "posted recently, with above median pay.")
QUERY_TWO = ("I want to make a difference in the environment using my marketing background, ideally working with people "
             "I've worked with before.")
NOW = dt.datetime(2026, 1, 10, 22, 52, 24, tzinfo=dt.timezone.utc)


def clause_for(plan, column):
    return [e for e in plan.explanations if e.filter is not None and column in json.dumps(e.filter)]


def test_first_example_query(planner, gazetteer):
    plan = planner.plan(QUERY_ONE, now=NOW)
    assert plan.intent == "job_search"
    assert plan.semantic_text == "software engineer"
    geo = clause_for(plan, "geo")[0].filter
    silicon_valley, seattle = gazetteer.metro_alias("silicon valley").id, gazetteer.metro_alias("seattle", in_query=True).id
    assert geo["or"][0] == {"geo": {"in": sorted([silicon_valley, seattle])}}
    assert geo["or"][1] == {"and": [{"work_mode": {"eq": WORK_MODE_CODES["remote"]}}, {"geo": {"in": [6252001]}}]}
    assert {"work_mode": {"in": sorted([WORK_MODE_CODES["remote"], WORK_MODE_CODES["hybrid"]])}} in plan.clauses
    assert {"is_staffing": {"eq": False}} in plan.clauses
    assert {"posted_at": {"gte": int((NOW - dt.timedelta(days=14)).timestamp())}} in plan.clauses
    pay = clause_for(plan, "salary_mid")[0]
    assert pay.filter["salary_mid"]["gte"] > 0 and "median" in pay.meaning
    assert plan.boost["engagement"] > 0 and plan.profile_weight == 0


def test_second_example_query_with_member(planner, tools):
    plan = planner.plan(QUERY_TWO, "m002", now=NOW)
    assert plan.intent == "job_search"
    assert "environment" in plan.semantic_text and "Marketing Manager" in plan.semantic_text
    assert plan.clauses == []  # "ideally" makes the network a preference, not a requirement
    expected = sorted(c["id"] for c in tools.graph_lookup("m002", "worked_with")["companies"])
    assert plan.preferences == [{"company": {"in": expected}}]
    assert plan.profile_weight > 0


def test_second_example_query_without_member_says_so(planner):
    plan = planner.plan(QUERY_TWO, now=NOW)
    assert plan.intent == "job_search" and plan.preferences == []
    assert any("needs a member profile" in note for note in plan.notes)
    assert any("refers to a member profile" in note for note in plan.notes)


def test_strict_network_and_connections(planner, tools):
    plan = planner.plan("data jobs at companies where I have a connection", "m003", now=NOW)
    companies = sorted(c["id"] for c in tools.graph_lookup("m003", "connection")["companies"])
    assert {"company": {"in": companies}} in plan.clauses


@pytest.mark.parametrize("phrase, days", [("posted recently", 14), ("posted this week", 7), ("from the last 24 hours", 1),
                                          ("posted in the last 3 days", 3), ("posted in the past 2 weeks", 14)])
def test_recency_phrases(planner, phrase, days):
    plan = planner.plan(f"designer jobs {phrase}", now=NOW)
    assert {"posted_at": {"gte": int((NOW - dt.timedelta(days=days)).timestamp())}} in plan.clauses


@pytest.mark.parametrize("phrase, modes", [("mostly remote", ["remote", "hybrid"]), ("fully remote", ["remote"]),
                                           ("hybrid", ["hybrid"]), ("on-site", ["onsite", "unknown"]), ("remote-first", ["remote", "hybrid"]),
                                           ("work from anywhere", ["remote"]), ("WFH", ["remote"]), ("in office", ["onsite", "unknown"])])
def test_work_modes(planner, phrase, modes):
    # On-site keeps postings that state no mode: most office jobs do not say so.
    clause = clause_for(planner.plan(f"{phrase} accountant jobs", now=NOW), "work_mode")[0].filter
    codes = sorted(WORK_MODE_CODES[m] for m in modes)
    assert clause == ({"work_mode": {"in": codes}} if len(codes) > 1 else {"work_mode": {"eq": codes[0]}})


@pytest.mark.parametrize("phrase, amount", [("$150k+", 150_000), ("at least $120,000", 120_000), ("180k+", 180_000),
                                            ("paying over $200k", 200_000)])
def test_pay_floor(planner, phrase, amount):
    assert {"salary_max": {"gte": float(amount)}} in planner.plan(f"nurse jobs {phrase}", now=NOW).clauses


def test_companies_included_and_excluded(planner, catalog):
    ids = catalog.company_ids
    plan = planner.plan("backend roles at Stripe or Waymo", now=NOW)
    assert {"company": {"in": sorted([ids["Stripe"], ids["Waymo"]])}} in plan.clauses
    plan = planner.plan("marketing jobs not at Airbnb or Stripe", now=NOW)
    assert {"not": {"company": {"in": sorted([ids["Airbnb"], ids["Stripe"]])}}} in plan.clauses
    plan = planner.plan("designer jobs at Initech", now=NOW)
    assert any("Initech" in note for note in plan.notes)


def test_places_states_countries(planner, gazetteer):
    plan = planner.plan("sales jobs in Texas or Canada", now=NOW)
    assert {"geo": {"in": sorted([4736286, 6251999])}} in plan.clauses
    plan = planner.plan("nurse jobs in New York", now=NOW)
    assert {"geo": {"in": [5128581]}} in plan.clauses


def test_seniority(planner):
    plan = planner.plan("senior or staff backend engineer roles", now=NOW)
    assert clause_for(plan, "seniority")[0].filter == {"seniority": {"in": [3, 4]}}


@pytest.mark.parametrize("query", ["account executive jobs", "sales executive roles", "executive assistant jobs"])
def test_job_titles_with_executive_are_not_a_seniority_filter(planner, query):
    assert not clause_for(planner.plan(query, now=NOW), "seniority")


def test_executive_level_is_still_understood(planner):
    plan = planner.plan("executive roles in marketing", now=NOW)
    assert clause_for(plan, "seniority")[0].filter == {"seniority": {"in": [8]}}


@pytest.mark.parametrize("query, intent, note", [
    ("", "empty", "The query is empty"),
    ("   \n\t ", "empty", "The query is empty"),
    ("asdkjh qwe zzzx vbnm", "not_job_search", "does not look like a job search"),
    ("What's the weather in Paris?", "not_job_search", "does not look like a job search"),
    ("How do I bake sourdough bread?", "not_job_search", "does not look like a job search"),
])
def test_bad_queries_get_a_clear_plan(planner, query, intent, note):
    plan = planner.plan(query, now=NOW)
    assert plan.intent == intent and plan.filters is None
    assert any(note in n for n in plan.notes)


def test_nonexistent_place(planner):
    plan = planner.plan("software jobs in Zzyzxville", now=NOW)
    assert plan.intent == "job_search" and plan.filters is None
    assert any('No place called "Zzyzxville"' in n for n in plan.notes)
    assert "Zzyzxville" not in plan.semantic_text


def test_very_long_query_is_cut(planner):
    plan = planner.plan("data engineer jobs in Boston " * 400, now=NOW)
    assert len(plan.query) > 10_000 and plan.intent == "job_search"
    assert any("only the first" in n for n in plan.notes)
    assert len(plan.semantic_text) <= MAX_QUERY_CHARS


def test_unknown_member_and_bad_types(planner):
    with pytest.raises(UnknownMemberError, match="unknown member 'm404'"):
        planner.plan("data jobs", "m404", now=NOW)
    with pytest.raises(TypeError, match="query: expected a string"):
        planner.plan(None)
    with pytest.raises(TypeError, match="member_id: expected a string"):
        planner.plan("data jobs", 3)


def test_plan_round_trips_through_json(planner):
    plan = planner.plan(QUERY_ONE, now=NOW)
    again = QueryPlan.from_dict(json.loads(plan.to_json()))
    assert again == plan and again.filters == plan.filters
    with pytest.raises(ValueError, match="plan.intent: expected one of"):
        QueryPlan.from_dict({"intent": "shopping"})


@pytest.mark.parametrize("query, semantic", [
    ("optometrist jobs near Boston", "optometrist"),
    ("software engineer jobs not at Stripe", "software engineer"),
    ("software engineer roles excluding Stripe", "software engineer"),
    ("marketing jobs not at Airbnb or Stripe", "marketing"),
    ("data engineer jobs in Boston but not at Stripe", "data engineer"),
    ("product manager roles other than at Stripe", "product manager"),
    ("software engineer jobs - not at Stripe", "software engineer"),
    ("software engineer jobs not at Initech", "software engineer"),
    ("software engineer jobs but not from staffing agencies", "software engineer"),
    ("software engineer roles near Seattle", "software engineer"),
    ("find me software engineer work in Seattle", "software engineer"),
    ("software engineer roles in Seattle, not from staffing agencies", "software engineer"),
    ("software engineer jobs that are mostly remote", "software engineer"),
    ("nurse jobs close to Boston", "nurse"),
    ("nurse jobs based in Boston", "nurse"),
    ("nurse jobs near the Seattle metro area", "nurse"),
    ("nurse jobs near Zzyzxville", "nurse"),
    ("software engineer roles with 150k+ salary", "software engineer"),
    ("I want to work as a software engineer", "software engineer"),
    ("not-for-profit marketing jobs", "not-for-profit marketing"),
    ("marketing manager jobs at a not-for-profit", "marketing manager at a not-for-profit"),
    ("remote sensing engineer jobs", "remote sensing engineer"),
    ("near field communication engineer jobs", "near field communication engineer"),
])
def test_semantic_text_keeps_only_topic_words(planner, query, semantic):
    # The cue words of a recognised clause ("not at", "near", "excluding") belong to that clause, not to the topic.
    assert planner.plan(query, now=NOW).semantic_text == semantic


def test_clauses_behind_the_cue_words_are_still_read(planner, catalog, gazetteer):
    plan = planner.plan("optometrist jobs near Boston", now=NOW)
    # "near" a city means the metro around it.
    assert plan.clauses == [{"geo": {"in": [gazetteer.metro_alias("greater boston").id]}}] and plan.explanations[0].phrase == "Boston"
    assert planner.plan("optometrist jobs close to Boston", now=NOW).clauses == plan.clauses
    plan = planner.plan("data engineer jobs in Boston but not at Stripe", now=NOW)
    assert {"not": {"company": {"in": [catalog.company_ids["Stripe"]]}}} in plan.clauses
    plan = planner.plan("software engineer roles with 150k+ salary", now=NOW)
    assert plan.clauses == [{"salary_max": {"gte": 150_000.0}}] and plan.explanations[0].phrase == "with 150k+ salary"
    assert planner.plan("remote sensing engineer jobs", now=NOW).clauses == []


@pytest.mark.parametrize("query", ["software engineer jobs not at Google", "software engineer roles excluding Google"])
def test_an_excluded_unknown_name_is_no_place(planner, query):
    # GeoNames lists "Google" as an alternate name of Topeka; after a negation it must not become a location filter.
    plan = planner.plan(query, now=NOW)
    assert plan.clauses == [] and plan.semantic_text == "software engineer"
    assert any("Google" in note and "corpus" in note for note in plan.notes)
