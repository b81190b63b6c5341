"""Readings of phrasing classes that look like filters and are not: a make or product before a role, visa and relocation
wishes, a start date after a student level, degrees, hours and benefits beside numbers, sales roles named for where they
sell, capitalised kinds of workplace, a negated list's word families and code a user pasted."""
import datetime as dt
import json
import re

import pytest

from flatsearch.jobsearch.planner_rules import NO_COMPANY_ID

NOW = dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc)


def plan_of(planner, query):
    return planner.plan(query, now=NOW)


def _absent(planner, name):
    return planner._absent_employers is not None and planner._absent_employers.fullmatch(name) is not None


@pytest.mark.parametrize("query, brand", [("honda technician jobs", "honda"), ("Honda Technician jobs", "Honda"), ("Samsung technician jobs", "Samsung"),
                                          ("Apple Genius jobs", "Apple"), ("toyota service advisor", "toyota"), ("BMW technician near Denver", "BMW"),
                                          ("Salesforce developer jobs", "Salesforce"), ("Oracle DBA", "Oracle")])
def test_a_make_or_product_before_a_role_is_searched_as_a_word(planner, query, brand):
    if not _absent(planner, brand):
        pytest.skip(f"{brand} has postings in this catalog: a company filter is right")
    plan = plan_of(planner, query)
    assert not any("company" in json.dumps(c) for c in plan.clauses), plan.clauses
    assert brand in plan.semantic_text
    assert any(brand in note for note in plan.notes) or not brand[:1].isupper()  # in lower case it was never a company filter
    assert not any("geo" in json.dumps(c) for c in plan.clauses if "Denver" not in query)  # Toyota is a city in Japan too


@pytest.mark.parametrize("query, brand", [("Apple engineer jobs", "Apple"), ("Tesla engineer", "Tesla"), ("Tesla mechanic jobs", "Tesla"),
                                          ("Salesforce account executive", "Salesforce"), ("Rivian technician", "Rivian")])
def test_a_role_that_works_for_a_maker_keeps_the_employer_reading(planner, query, brand):
    if not _absent(planner, brand):
        pytest.skip(f"{brand} has postings in this catalog")
    plan = plan_of(planner, query)
    assert {"company": {"in": [NO_COMPANY_ID]}} in plan.clauses and brand not in plan.semantic_text, (plan.semantic_text, plan.clauses)


@pytest.mark.parametrize("query", ["Honda jobs", "jobs at Tesla in Austin", "Tesla remote jobs", "Google software engineer jobs"])
def test_a_brand_asked_for_as_the_employer_still_matches_nothing(planner, query):
    if not _absent(planner, query.split()[-3] if "at" in query else query.split()[0]):
        pytest.skip("the company has postings in this catalog")
    assert {"company": {"in": [NO_COMPANY_ID]}} in plan_of(planner, query).clauses


@pytest.mark.parametrize("query, words", [("jobs with visa sponsorship", "visa sponsorship"), ("Visa sponsorship software jobs", "Visa sponsorship"),
                                          ("nurse jobs that sponsor visas", "sponsor visas"), ("jobs with paid relocation", "paid relocation"),
                                          ("engineer jobs with relocation package", "relocation package")])
def test_visa_and_relocation_support_are_words_of_the_search(planner, query, words):
    plan = plan_of(planner, query)
    assert plan.clauses == [] and words in plan.semantic_text


@pytest.mark.parametrize("query", ["new grad roles this year", "intern this year", "this year's new grad software jobs",
                                   "graduate nurse jobs starting next year", "summer internships this year"])
def test_a_year_beside_a_student_level_is_a_start_not_a_posting_window(planner, query):
    plan = plan_of(planner, query)
    assert not any("posted_at" in json.dumps(c) for c in plan.clauses), plan.clauses
    assert any("starts" in note for note in plan.notes)


@pytest.mark.parametrize("query", ["internships posted this year", "marketing jobs this year"])
def test_posted_this_year_is_still_a_posting_window(planner, query):
    assert any("posted_at" in json.dumps(c) for c in plan_of(planner, query).clauses)


@pytest.mark.parametrize("query, topic", [("BA in economics", "economics"), ("BS in CS", "CS (computer science)"), ("MS in EE", "EE (electrical engineering)"),
                                          ("entry level jobs with a BA in psychology", "psychology"), ("master's degree in nursing jobs", "nursing"),
                                          ("PhD in chemistry", "chemistry"), ("MS/PhD in ML", "ML (machine learning)"),
                                          ("BS or MS in computer science", "computer science")])
def test_a_degree_is_no_title_and_its_field_is_the_topic(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic
    assert not any("geo" in json.dumps(c) for c in plan.clauses) and any("degree" in note for note in plan.notes)


def test_a_bare_ba_is_still_a_business_analyst(planner):
    assert plan_of(planner, "BA jobs").semantic_text == "BA (business analyst)"


@pytest.mark.parametrize("query", ["40+ hours per week", "401k match", "nurse 12+ hour shifts", "warehouse jobs with 403b and 40 hours",
                                   "3 days a week", "30 days PTO"])
def test_hours_and_benefits_are_no_pay_or_date(planner, query):
    clauses = json.dumps(plan_of(planner, query).clauses)
    assert "salary" not in clauses and "posted_at" not in clauses, clauses


def test_pay_beside_hours_is_still_pay(planner):
    assert plan_of(planner, "30+ hours a week at $25/hr").clauses == [{"salary_max": {"gte": 52000.0}}]


@pytest.mark.parametrize("query", ["new grad roles since this year", "internships from this year", "intern jobs posted since this year",
                                   "new grad jobs from this year"])
def test_since_or_from_before_the_year_keeps_the_posted_since_window(planner, query):
    assert any("posted_at" in json.dumps(c) for c in plan_of(planner, query).clauses)


@pytest.mark.parametrize("query, floor", [("$40 hour nurse", 83200.0), ("$18 hour", 37440.0), ("rn $60 hr", 124800.0),
                                          ("$50 hr welder", 104000.0), ("$30 hour, 12 hour shifts", 62400.0)])
def test_an_amount_with_a_currency_sign_before_hour_is_an_hourly_rate(planner, query, floor):
    plan = plan_of(planner, query)
    assert plan.clauses == [{"salary_max": {"gte": floor}}], plan.clauses
    assert not plan.semantic_text.lower().startswith(("hour", "hr")), plan.semantic_text


@pytest.mark.parametrize("query", ["40+ hours per week", "12 hour shifts nurse", "welder 40 hrs", "nurse 36 hours a week",
                                   "cna $20 hours a week"])
def test_a_count_of_hours_is_no_pay(planner, query):
    assert not any("salary" in json.dumps(c) for c in plan_of(planner, query).clauses)


@pytest.mark.parametrize("query", ["40 hours a week", "12 hour shifts", "40+ hours per week", "$12 hour shifts", "nurse $40 hours per week",
                                   "$12 hrs each shift", "$40 hour workweek", "cna $20 hours a week"])
def test_a_count_of_hours_stays_a_word_of_the_search(planner, query):
    plan = plan_of(planner, query)
    assert not any("salary" in json.dumps(c) for c in plan.clauses), plan.clauses
    assert re.search(r"\b(?:hours?|hrs?)\b", plan.semantic_text), plan.semantic_text


_RANGE_20_25 = [{"salary_max": {"gte": 41600.0}}, {"salary_min": {"lte": 52000.0}}]


@pytest.mark.parametrize("query, clauses", [("$20 hour minimum warehouse", [{"salary_max": {"gte": 41600.0}}]),
                                            ("$20 hour and up warehouse", [{"salary_max": {"gte": 41600.0}}]),
                                            ("$20 hr or higher warehouse", [{"salary_max": {"gte": 41600.0}}]),
                                            ("$20 hour or more warehouse", [{"salary_max": {"gte": 41600.0}}]),
                                            ("$20 hour to $25 warehouse", _RANGE_20_25), ("$20 hour - $25 hour warehouse", _RANGE_20_25),
                                            ("$20 hr to $25 hr warehouse", _RANGE_20_25), ("$20-25 hour warehouse", _RANGE_20_25)])
def test_the_whole_pay_phrase_after_an_hour_word_leaves_the_search(planner, query, clauses):
    plan = plan_of(planner, query)
    assert plan.clauses == clauses, plan.clauses
    assert plan.semantic_text == "warehouse", plan.semantic_text


@pytest.mark.parametrize("query, floor, words", [("$45 hour night shift", 93600.0, "night shift"), ("$20 hour day shift", 41600.0, "day shift"),
                                                 ("$25 hour days", 52000.0, "days"), ("$28 hour nights rn", 58240.0, "nights rn"),
                                                 ("rn $50 hour nights", 104000.0, "nights"), ("$22 hrs", 45760.0, ""),
                                                 ("$22 hours", 45760.0, ""), ("$20 hours minimum", 41600.0, ""),
                                                 ("warehouse $18 hrs nights", 37440.0, "warehouse")])
def test_after_a_currency_sign_hour_before_a_day_or_night_and_a_bare_plural_are_the_rate(planner, query, floor, words):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search", plan.intent
    assert plan.clauses == [{"salary_max": {"gte": floor}}], plan.clauses
    assert "$" not in plan.semantic_text and not re.search(r"\b(?:hours?|hrs?|nimum)\b", plan.semantic_text), plan.semantic_text
    assert words in plan.semantic_text, plan.semantic_text


@pytest.mark.parametrize("query, topic", [("outside sales jobs", "outside sales"), ("inside sales", "inside sales"),
                                          ("Outside Sales Representative in Denver", "Outside Sales Representative"),
                                          ("outside plant technician", "outside plant technician")])
def test_a_sales_role_named_for_where_it_sells_is_no_negation(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.semantic_text == topic and not any("not" in c for c in plan.clauses), plan.clauses


@pytest.mark.parametrize("query", ["anything outside sales", "outside sales outside texas"])
def test_outside_before_a_place_or_after_anything_still_negates(planner, query):
    assert any("not" in json.dumps(c) for c in plan_of(planner, query).clauses)


@pytest.mark.parametrize("query, role", [("no outside sales", "outside sales"), ("not outside sales", "outside sales"),
                                         ("avoid outside sales", "outside sales"), ("anything except outside sales", "outside sales"),
                                         ("not inside sales", "inside sales"), ("nurse jobs, no inside sales", "inside sales")])
def test_a_negated_sales_role_named_for_where_it_sells_is_ruled_out(planner, query, role):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and "sales" not in plan.semantic_text.lower(), plan.semantic_text
    ids = planner.catalog.title_term_ids_for([role])
    if ids:  # only that role's title words, not all of sales
        assert {"not": {"title_terms": {"in": ids}}} in plan.clauses, plan.clauses
    else:
        assert any(role in note for note in plan.notes), plan.notes
    assert not any("category" in json.dumps(c) for c in plan.clauses), plan.clauses


@pytest.mark.parametrize("query, topic", [("Jobs at Daycares", "Daycares"), ("Jobs At Local Hospitals", "Local Hospitals"),
                                          ("jobs at Bookstores", "Bookstores"), ("Jobs at Wineries", "Wineries")])
def test_a_plural_common_noun_after_at_is_a_kind_of_workplace(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.clauses == [] and plan.semantic_text == topic


@pytest.mark.parametrize("query, name", [("jobs at Staples", "Staples"), ("jobs at Michaels", "Michaels"), ("jobs at Lowes", "Lowes"),
                                         ("jobs at Sonos", "Sonos"), ("retail jobs at staples", "staples")])
def test_an_employer_named_as_a_plural_after_at_is_the_company(planner, query, name):
    if name.lower() in {c.lower() for c in planner.catalog.company_ids}:
        pytest.skip(f"{name} has postings in this catalog")
    plan = plan_of(planner, query)
    assert {"company": {"in": [NO_COMPANY_ID]}} in plan.clauses and name not in plan.semantic_text, (plan.semantic_text, plan.clauses)


def test_a_made_up_name_after_at_is_still_a_company(planner):
    assert plan_of(planner, "Jobs at Hooli").clauses == [{"company": {"in": [NO_COMPANY_ID]}}]


MAINE, OHIO, CALIFORNIA, INDIANA = 4971068, 5165418, 5332921, 4921868


@pytest.mark.parametrize("query, state, topic", [("IT JOBS IN ME", MAINE, "IT (information technology)"), ("REMOTE JOBS IN CA", CALIFORNIA, "jobs"),
                                                 ("NURSE JOBS IN OH", OHIO, "nurse"), ("NURSE JOBS OH", OHIO, "nurse")])
def test_a_query_in_capitals_keeps_its_state_codes_and_prepositions(planner, query, state, topic):
    plan = plan_of(planner, query)
    found = json.dumps(plan.clauses)
    assert str(state) in found and str(INDIANA) not in found, plan.clauses
    assert plan.semantic_text == topic


def _ruled_out_ids(plan):
    found = set()

    def walk(node, negated):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "title_terms" and negated:
                    found.update(value["in"])
                walk(value, negated or key == "not")
        elif isinstance(node, list):
            for item in node:
                walk(item, negated)

    walk(plan.clauses, False)
    return found


@pytest.mark.parametrize("query", ["no store jobs like optician or keyholder", "not retail (e.g. optician or keyholder), something in an office",
                                   "no shop roles such as optician, keyholder in Boston"])
def test_examples_of_ruled_out_work_are_ruled_out_with_their_family(planner, query):
    catalog = planner.catalog
    plan = plan_of(planner, query)
    ruled_out = _ruled_out_ids(plan)
    for word in ("optician", "optical", "keyholder"):
        ids = catalog.title_term_ids_for([word])
        assert not ids or set(ids) <= ruled_out, (word, plan.clauses)
    assert "optician" not in plan.semantic_text and "keyholder" not in plan.semantic_text


def test_examples_of_wanted_work_stay_the_topic(planner):
    assert "developer or analyst" in plan_of(planner, "tech jobs such as developer or analyst").semantic_text


BOSTON = 4930956


@pytest.mark.parametrize("query", ['{"role": "nurse", "city": "Boston"}', '{"title": "nurse", "location": "Boston", "remote": false}',
                                   'find me {"job": "nurse", "loc": "Boston"}'])
def test_json_a_user_pasted_is_read_as_the_words_it_holds(planner, query):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == "nurse"
    assert plan.clauses == [{"geo": {"in": [BOSTON]}}]


def test_json_keys_and_nulls_are_no_words(planner):
    assert plan_of(planner, 'nurse jobs {"filters": null, "pay_min": 0}').semantic_text == "nurse"


@pytest.mark.parametrize("query, part", [('{"title": "engineer", "not_company": "Stripe"}', "company"),
                                         ('{"title": "engineer", "excludedCompanies": ["Stripe", "Notion"]}', "company"),
                                         ('{"role": "nurse", "company_exclude": ["Stripe"]}', "company"),
                                         ('{"title": "nurse", "exclude_location": "Texas"}', "geo"),
                                         ('{"role": "nurse", "excluded_cities": ["Boston"]}', "geo"),
                                         ('{"role": "nurse", "cities_to_avoid": ["Boston", "Denver"]}', "geo")])
def test_json_keys_that_rule_out_read_as_negations(planner, query, part):
    plan = plan_of(planner, query)
    if part == "company":
        assert all('"company"' not in json.dumps(c) or "not" in c for c in plan.clauses), plan.clauses
    assert any(f'"{part}"' in json.dumps(c.get("not")) for c in plan.clauses if "not" in c), plan.clauses


@pytest.mark.parametrize("query, op", [('{"role": "nurse", "max_salary": 90000}', "lte"), ('{"role": "nurse", "salaryUpTo": "90k"}', "lte"),
                                       ('{"role": "nurse", "maximum_pay": 90000}', "lte"), ('{"role": "nurse", "salary_min": 90000}', "gte")])
def test_json_pay_keys_say_whether_the_amount_is_a_floor_or_a_cap(planner, query, op):
    clauses = json.dumps(plan_of(planner, query).clauses)
    assert f'"{op}": 90000.0' in clauses and ('"gte"' not in clauses if op == "lte" else True), clauses


@pytest.mark.parametrize("query, op", [('{"role": "engineer", "salary": "< 90000"}', "lte"), ('{"role": "engineer", "salary": "> 90000"}', "gte"),
                                       ('{"role": "engineer", "pay": "under 90k"}', "lte")])
def test_a_json_pay_string_with_its_own_comparison_says_the_bound(planner, query, op):
    plan = plan_of(planner, query)
    assert f'"{op}": 90000.0' in json.dumps(plan.clauses) and plan.semantic_text == "engineer", (plan.semantic_text, plan.clauses)


def test_a_json_key_that_only_rules_out_negates_its_value(planner):
    plan = plan_of(planner, '{"job": "nurse", "exclude": "night shift"}')
    assert plan.semantic_text == "nurse" and "night" not in plan.semantic_text


@pytest.mark.parametrize("query", ['{"role": "nurse", "pay_type": "hourly"}', '{"role": "nurse", "id": "abc123", "password": "hunter2"}',
                                   '{"role": "nurse", "user": "jdoe", "token": "x9f2"}', '{"role": "nurse", "block": "Downtown"}'])
def test_json_values_of_keys_naming_no_part_of_a_job_are_no_pay_or_words(planner, query):
    plan = plan_of(planner, query)
    assert "salary" not in json.dumps(plan.clauses) and not re.search(r"abc123|hunter2|jdoe|x9f2|paying", plan.semantic_text)
    assert plan.semantic_text.startswith("nurse") and plan.clauses == [] and "Downtown" not in plan.semantic_text


@pytest.mark.parametrize("query, topic", [("BS in Nursing", "Nursing"), ("BS in Nursing jobs in Boston", "Nursing")])
def test_a_capitalised_field_of_study_is_no_place(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic
    assert plan.clauses == ([{"geo": {"in": [BOSTON]}}] if "Boston" in query else [])


@pytest.mark.parametrize("query", ["MS in ME", "BS in ME jobs", "BS IN ME JOBS", "find me jobs with a BS in ME"])
def test_a_field_of_study_that_is_a_filler_word_keeps_its_meaning(planner, query):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and "mechanical engineering" in plan.semantic_text and plan.clauses == [], (plan.semantic_text, plan.clauses)


@pytest.mark.parametrize("query, word", [("BA in NYC", "BA"), ("BA in Chicago", "BA"), ("MS in Seattle", "MS"), ("MA in Boston", "MA"),
                                         ("bsn in texas", "bsn")])
def test_an_abbreviation_before_in_a_place_is_left_to_the_other_rules(planner, query, word):
    plan = plan_of(planner, query)
    assert plan.semantic_text.startswith(word) and len(plan.clauses) == 1 and "geo" in plan.clauses[0], (plan.semantic_text, plan.clauses)


@pytest.mark.parametrize("query", ["MBA in Boston", "PhD in Boston", "bachelor's in Chicago", "with a BA in Chicago"])
def test_a_degree_that_is_never_a_role_before_a_place_is_no_search_word(planner, query):
    plan = plan_of(planner, query)
    assert plan.semantic_text == "jobs" and len(plan.clauses) == 1 and "geo" in plan.clauses[0], (plan.semantic_text, plan.clauses)


def test_a_place_after_a_degree_is_still_the_place(planner):
    plan = plan_of(planner, "nurse with BSN in Texas")
    assert len(plan.clauses) == 1 and "geo" in plan.clauses[0] and plan.semantic_text == "nurse"


@pytest.mark.parametrize("query, near", [("honda dealership jobs", "leadership"), ("jobs at pharmacies", "pharmacist"), ("kennel jobs", "kernel")])
def test_a_kind_of_workplace_is_no_typo(query, near):
    from collections import Counter

    from flatsearch.jobsearch.lexicon import Lexicon

    assert Lexicon(Counter({near: 500, "jobs": 900})).correct(query) == (query, [])


@pytest.mark.parametrize("query", ["TN visa jobs", "H1B visa jobs", "visa-friendly employers"])
def test_a_kind_of_visa_is_no_company(planner, query):
    plan = plan_of(planner, query)
    assert not any("company" in json.dumps(c) for c in plan.clauses) and "visa" in plan.semantic_text.lower()


@pytest.mark.parametrize("query", ["$5000 sign-on bonus nurse", "$2k relocation stipend"])
def test_a_one_off_sum_is_no_pay_bound(planner, query):
    assert "salary" not in json.dumps(plan_of(planner, query).clauses)


def test_pay_beside_a_bonus_is_still_pay(planner):
    assert plan_of(planner, "nurse jobs paying $40/hr with $10k sign on bonus").clauses == [{"salary_max": {"gte": 83200.0}}]


@pytest.mark.parametrize("query, topic", [("W2 only contract roles", "W2"), ("contract positions in Austin", "jobs")])
def test_an_employment_type_takes_its_plural_job_noun(planner, query, topic):
    assert plan_of(planner, query).semantic_text == topic


def test_in_capitals_a_code_before_a_place_cue_is_the_word(planner):
    plan = plan_of(planner, "JOBS IN OR NEAR PORTLAND")
    assert len(plan.clauses) == 1 and "5744337" not in json.dumps(plan.clauses)  # Portland's area, not Oregon too
    assert "5744337" in json.dumps(plan_of(planner, "NURSE JOBS IN OR").clauses)


def test_examples_of_ruled_out_work_no_title_holds_are_no_topic(planner):
    plan = plan_of(planner, "not customer service, e.g. call center")
    assert "call center" not in plan.semantic_text and plan.clauses


@pytest.mark.parametrize("query, topic", [("tech jobs e.g. developer or analyst", "tech, developer or analyst"), ("data roles etc.", "data")])
def test_eg_and_etc_are_no_topic_words(planner, query, topic):
    assert plan_of(planner, query).semantic_text == topic


def test_json_lists_are_read_as_alternatives(planner):
    plan = plan_of(planner, '{"cities": ["Boston", "Denver"], "role": "nurse"}')
    assert plan.semantic_text == "nurse" and str(BOSTON) in json.dumps(plan.clauses) and "5419384" in json.dumps(plan.clauses)


@pytest.mark.parametrize("query", ["not technical support but help desk ok", "help desk, not technical support please",
                                   "help desk roles but no technical support thanks"])
def test_technical_support_ruled_out_before_other_words_is_ruled_out_by_its_title_words(planner, query):
    plan = plan_of(planner, query)
    ids = planner.catalog.title_term_ids_for(["technical support"])
    assert plan.semantic_text.startswith("help desk") and "technical" not in plan.semantic_text, plan.semantic_text
    assert ids and any(c.get("not", {}).get("title_terms", {}).get("in", []) and set(ids) <= set(c["not"]["title_terms"]["in"])
                       for c in plan.clauses), plan.clauses
    assert "category" not in json.dumps(plan.clauses)


@pytest.mark.parametrize("query, kind", [("no food service like server or bartender", "food service"),
                                         ("not warehouse work like picker or packer", "warehouse"),
                                         ("no healthcare like nursing or CNA", "healthcare"), ("no startups like uber", "startups"),
                                         ("nurse jobs in Boston, no hospitality like hotel front desk", "hospitality")])
def test_a_kind_of_work_ruled_out_with_examples_is_no_topic(planner, query, kind):
    plan = plan_of(planner, query)
    assert kind not in plan.semantic_text and any(kind in note and "left out" in note for note in plan.notes), (plan.semantic_text, plan.notes)
    assert "front" not in plan.semantic_text and "desk" not in plan.semantic_text  # an example of three words is one example


@pytest.mark.parametrize("query, topic", [("customer support not technical support", "customer support"),
                                          ("support jobs, not technical support", "support")])
def test_ruling_out_technical_support_keeps_the_other_support_work(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.semantic_text == topic and "category" not in json.dumps(plan.clauses)
    assert _ruled_out_ids(plan) == set(planner.catalog.title_term_ids_for(["technical support"]))


def test_non_technical_still_rules_out_tech_work(planner):
    assert "category" in json.dumps(plan_of(planner, "non-technical roles").clauses)


@pytest.mark.parametrize("query, topic", [('{"query": "data engineer", "filters": {"remote": true}}', "data engineer"),
                                          ('show me jobs {"$where": "1==1"}', "jobs")])
def test_nested_json_is_read_inside_out_and_symbols_are_no_words(planner, query, topic):
    assert plan_of(planner, query).semantic_text == topic


@pytest.mark.parametrize("name", ["databricks", "justworks", "riot games", "palo alto networks"])
def test_a_name_run_together_or_of_two_nouns_is_no_kind_of_workplace(planner, name):
    assert not planner._kind_of_workplace(name)


def test_a_retirement_plan_in_brackets_is_one_word(planner):
    plan = plan_of(planner, "jobs with 401(k) match and dental")
    assert plan.clauses == [] and plan.semantic_text == "401k match and dental"


TEXAS = 4736286


@pytest.mark.parametrize("query, states", [("IT JOBS IN OR WA", {5744337, 5815135}), ("TEACHER JOBS IN OR ID", {5744337, 5596512}),
                                           ("RN JOBS IN TX CA", {TEXAS, CALIFORNIA}), ("IT JOBS IN WA OR", {5744337, 5815135}),
                                           ("NURSE JOBS IN CA OR WA", {CALIFORNIA, 5815135}), ("TEACHER JOBS IN ME OR NH", {4971068, 5090174})])
def test_in_capitals_a_state_code_right_after_a_state_extends_the_list(planner, query, states):
    plan = plan_of(planner, query)
    assert plan.clauses == [{"geo": {"in": sorted(states)}}], plan.clauses
    assert not any(w in plan.semantic_text.split() for w in ("WA", "ID", "CA", "OR")), plan.semantic_text


@pytest.mark.parametrize("query, states", [("NURSE JOBS NOT IN TEXAS", {TEXAS}), ("NURSE JOBS NOT IN OR WA", {5744337, 5815135}),
                                           ("IT JOBS EXCEPT IN CALIFORNIA", {CALIFORNIA})])
def test_in_capitals_in_after_a_negation_is_the_word(planner, query, states):
    clauses = plan_of(planner, query).clauses
    excluded = [set(c["not"]["geo"]["in"]) for c in clauses if "geo" in c.get("not", {})]
    assert excluded == [states], clauses  # not Indiana


@pytest.mark.parametrize("query, state", [("Remote Jobs In Ca", CALIFORNIA), ("Nurse Jobs In Tx", TEXAS)])
def test_a_query_in_title_case_keeps_its_state_codes(planner, query, state):
    assert str(state) in json.dumps(plan_of(planner, query).clauses)


@pytest.mark.parametrize("query", ["Nurse Jobs In Me Or Nearby Please", "Find Me Nurse Jobs", "Jobs That Suit Me"])
def test_in_title_case_a_code_that_is_a_word_is_the_word(planner, query):
    # Right after "in" and ending the query it is the state ("Nurse Jobs In Me": test_query_short_forms_and_reach.py).
    assert plan_of(planner, query).clauses == []


DENVER = 5419384


@pytest.mark.parametrize("query, topic, ruled_out, place", [
    ("no retail like cashier or stocker, nurse jobs in Boston", "nurse", "cashier", BOSTON),
    ("no retail like cashier and nurse jobs", "nurse", "cashier", None),
    ("no call center like inbound sales or customer service, admin assistant in Denver", "admin assistant", "customer service", DENVER),
    ("no roles like sales or marketing, engineering ok", "engineering", "marketing", None),
    ("no retail like cashier, warehouse is fine", "warehouse", "cashier", None),
    ("no food service like server or bartender, nurse ok", "nurse", "bartender", None)])
def test_ruled_out_examples_end_where_a_new_clause_begins(planner, query, topic, ruled_out, place):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic, (plan.intent, plan.semantic_text)
    ids, examples = _ruled_out_ids(plan), set(planner.catalog.title_term_ids_for([ruled_out]))
    # the examples are ruled out by their title words, or, where no title in this catalog says them, noted as left out
    assert (examples and examples <= ids) or any(ruled_out in note and "left out" in note for note in plan.notes), (plan.clauses, plan.notes)
    assert not set(planner.catalog.title_term_ids_for([topic])) & ids, plan.clauses  # what the user wants is not ruled out
    assert ("geo" in json.dumps(plan.clauses)) == (place is not None)
    assert place is None or {"geo": {"in": [place]}} in plan.clauses, plan.clauses


def test_ruled_out_examples_that_run_to_the_end_stay_one_list(planner):
    plan = plan_of(planner, "nurse jobs, no retail like cashier, stocker or greeter")
    assert plan.intent == "job_search" and plan.semantic_text == "nurse" and "geo" not in json.dumps(plan.clauses)
    assert any("like cashier, stocker or" in note for note in plan.notes) or set(planner.catalog.title_term_ids_for(["cashier"])) <= _ruled_out_ids(plan)


def _asked_and_ruled_out_places(plan):
    asked, ruled_out = set(), set()
    for clause in plan.clauses:
        if "geo" in clause:
            asked |= set(clause["geo"]["in"])
        elif "not" in clause:
            inner = clause["not"]
            for branch in inner.get("or", [inner]):
                if "geo" in branch:
                    ruled_out |= set(branch["geo"]["in"])
    return asked, ruled_out


@pytest.mark.parametrize("query, places", [('{"role": "nurse", "exclude": {"city": "Boston"}}', {BOSTON}),
                                           ('{"role":"nurse","not":{"city":"Boston"}}', {BOSTON}),
                                           ('{"role":"nurse","excluded":{"locations":["Boston","Denver"]}}', {BOSTON, DENVER})])
def test_json_object_under_a_ruling_out_key_rules_its_places_out(planner, query, places):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == "nurse", (plan.intent, plan.semantic_text)
    asked, ruled_out = _asked_and_ruled_out_places(plan)
    assert not asked & places and places <= ruled_out, plan.clauses


def test_json_object_under_a_ruling_out_key_rules_its_company_out(planner):
    plan = plan_of(planner, '{"role":"engineer","avoid":{"companies":["Stripe"]}}')
    assert plan.intent == "job_search" and plan.semantic_text == "engineer", (plan.intent, plan.semantic_text)
    companies = [c for c in plan.clauses if "company" in json.dumps(c)]
    assert companies and all("not" in c for c in companies), plan.clauses


@pytest.mark.parametrize("query", ["no outside sales or retail", "avoid outside sales and retail", "not inside sales / retail"])
def test_a_ruled_out_side_role_rules_out_the_rest_of_its_list(planner, query):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == "jobs", (plan.intent, plan.semantic_text)
    assert any("category" in json.dumps(c) and "not" in c.get("and", [{}])[0] for c in plan.clauses), plan.clauses  # retail is ruled out


@pytest.mark.parametrize("query, topic, place", [("nurse jobs, no inside sales rep", "nurse", None),
                                                 ("no outside sales, nurse jobs in Boston", "nurse", BOSTON)])
def test_a_ruled_out_side_role_takes_its_nouns_and_ends_at_a_new_clause(planner, query, topic, place):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic, (plan.intent, plan.semantic_text)
    assert [c for c in plan.clauses if "geo" in json.dumps(c)] == ([{"geo": {"in": [place]}}] if place else []), plan.clauses
    assert not set(planner.catalog.title_term_ids_for([topic])) & _ruled_out_ids(plan), plan.clauses


# Notion has no postings here: it is no filter, and no word of the search either
@pytest.mark.parametrize("names, ruled_out", [(["Stripe", "Waymo"], 2), (["Stripe", "Notion"], 1)])
def test_a_negated_json_list_rules_out_each_item(planner, names, ruled_out):
    plan = plan_of(planner, json.dumps({"role": "engineer", "not_companies": names}))
    assert plan.intent == "job_search" and plan.semantic_text == "engineer", (plan.intent, plan.semantic_text)
    companies = [c for c in plan.clauses if "company" in json.dumps(c)]
    assert len(companies) == 1 and len(companies[0]["not"]["company"]["in"]) == ruled_out, plan.clauses


def test_a_negated_json_list_of_conditions_leaves_each_out_of_the_search(planner):
    plan = plan_of(planner, 'nurse jobs {"exclude": ["night shift", "weekends"]}')
    assert plan.intent == "job_search" and plan.semantic_text == "nurse", (plan.intent, plan.semantic_text)
    assert not any("geo" in json.dumps(c) or "company" in json.dumps(c) for c in plan.clauses), plan.clauses


@pytest.mark.parametrize("query, topic, place", [('{"jobs": [{"title": "nurse", "city": "Boston"}]}', "nurse", BOSTON),
                                                 ('{"searches": [{"title": "nurse"}]}', "nurse", None),
                                                 ('{"searches": [{"title": "nurse"}, {"title": "teacher", "city": "Denver"}]}',
                                                  "nurse or teacher", DENVER)])
def test_json_objects_in_a_list_are_read_as_its_items(planner, query, topic, place):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic, (plan.intent, plan.semantic_text)
    assert plan.clauses == ([{"geo": {"in": [place]}}] if place else []), plan.clauses


@pytest.mark.parametrize("query, topic, low, high", [('{"role": "teacher", "salary_min": 50000, "salary_max": 70000}', "teacher", 50000, 70000),
                                                     ('{"role": "nurse", "min_salary": "80000", "max_salary": "100000"}', "nurse", 80000, 100000),
                                                     ('{"role": "nurse", "salary": "80k-100k"}', "nurse", 80000, 100000),
                                                     ('{"role": "nurse", "salary": "80000-100000"}', "nurse", 80000, 100000)])
def test_json_pay_floor_and_cap_are_one_range(planner, query, topic, low, high):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic, (plan.intent, plan.semantic_text)  # no "paying at ..." left
    text = json.dumps(plan.clauses)
    assert f'"salary_max": {{"gte": {float(low)}}}' in text and f'"salary_min": {{"lte": {float(high)}}}' in text, plan.clauses


OHIO, INDIANA, KENTUCKY = 5165418, 4921868, 6254925


@pytest.mark.parametrize("query, states", [("JOBS IN OH IN KY", {OHIO, INDIANA, KENTUCKY}), ("JOBS IN OH IN", {OHIO, INDIANA}),
                                           ("JOBS IN OH", {OHIO})])
def test_in_capitals_a_code_after_in_and_before_a_list_of_codes_is_a_state(planner, query, states):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == "jobs", (plan.intent, plan.semantic_text)
    assert plan.clauses == [{"geo": {"in": sorted(states)}}], plan.clauses


@pytest.mark.parametrize("query", ["no office jobs like recruiter or engineer", "no office jobs like recruiter and engineer"])
def test_ruled_out_examples_in_capitals_are_read_as_in_lower_case(planner, query):
    plan, shouted = plan_of(planner, query), plan_of(planner, query.upper())
    assert shouted.intent == plan.intent == "job_search" and shouted.semantic_text == plan.semantic_text == "jobs", shouted.semantic_text
    assert shouted.clauses == plan.clauses, shouted.clauses
    assert set(planner.catalog.title_term_ids_for(["recruiter", "engineer"])) <= _ruled_out_ids(shouted), shouted.clauses


@pytest.mark.parametrize("query, topic", [("no inside sales, retail or recruiter jobs", "jobs"), ("no outside sales or retail, nurse jobs", "nurse")])
def test_a_list_after_a_ruled_out_side_role_is_ruled_out_to_its_end(planner, query, topic):
    plan = plan_of(planner, query)
    assert plan.intent == "job_search" and plan.semantic_text == topic, (plan.intent, plan.semantic_text)
    assert any("category" in json.dumps(c) for c in plan.clauses), plan.clauses  # retail is ruled out
    assert topic == "jobs" or not set(planner.catalog.title_term_ids_for([topic])) & _ruled_out_ids(plan), plan.clauses


@pytest.mark.parametrize("query, wanted, ruled_out", [
    ("no inside sales or marketing, engineering jobs", "engineering", "marketing"),
    ("no marketing, engineering jobs", "engineering", "marketing"),
    ("not inside sales or customer service, hr jobs in Dallas", "hr", "customer"),
    ("no outside sales or marketing, finance jobs", "finance", "marketing"),
])
def test_a_field_after_a_ruled_out_list_and_a_comma_is_asked_for(planner, query, wanted, ruled_out):
    # ", engineering jobs" begins a new clause: the negation of the list before it does not reach it
    plan = plan_of(planner, query)
    assert plan.intent == "job_search"
    assert wanted in plan.semantic_text.lower(), plan.semantic_text
    ruled = [e for e in plan.explanations if e.filter is not None and "not" in json.dumps(e.filter)]
    assert ruled and not any(wanted in e.phrase.lower() for e in ruled), [e.phrase for e in ruled]
    assert any(ruled_out in e.phrase.lower() for e in ruled), [e.phrase for e in ruled]


@pytest.mark.parametrize("query", ["no sales or marketing jobs", "no sales, marketing or support jobs"])
def test_a_list_of_fields_after_one_negation_is_ruled_out_whole(planner, query):
    plan = plan_of(planner, query)
    assert plan.semantic_text == "jobs", plan.semantic_text
    assert sum("marketing" in e.phrase.lower() for e in plan.explanations if e.filter is not None) == 1
