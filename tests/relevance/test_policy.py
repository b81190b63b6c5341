"""The policy grader against the written policy: hard clauses, function and title, adjustments."""
import numpy as np
import pytest

from flatsearch.jobsearch.plan import QueryPlan
from flatsearch.jobsearch.relevance import policy
from flatsearch.jobsearch.relevance.cases import QueryCase
from flatsearch.jobsearch.relevance.grades import hard_grade

SWE_SEATTLE_HYBRID, SWE_REMOTE, SWE_OLD, KEYHOLDER = 9_100_002, 9_100_003, 9_100_005, 9_100_006
SWE_STAFFING, DATA_SCIENTIST, DATA_ENGINEER = 9_100_001, 9_100_007, 9_100_008


def test_rows_are_distributions_in_job_order(teacher, make_case):
    case = make_case("software engineer jobs")
    ids = [KEYHOLDER, SWE_REMOTE, DATA_ENGINEER]
    grades = teacher.grade(case, ids)
    assert grades.shape == (3, 5)
    np.testing.assert_allclose(grades.sum(axis=1), 1.0, atol=1e-9)
    reversed_grades = teacher.grade(case, ids[::-1])
    np.testing.assert_allclose(reversed_grades[::-1], grades, atol=1e-6)


def test_same_function_and_title_is_excellent_and_unrelated_is_bad(teacher, make_case):
    case = make_case("software engineer jobs")
    grades = hard_grade(teacher.grade(case, [SWE_REMOTE, KEYHOLDER]))
    assert grades.tolist() == [4, 0]


def test_neighbouring_function_sits_between(teacher, make_case):
    case = make_case("data scientist jobs")
    factors = teacher.factors(case, [DATA_SCIENTIST, DATA_ENGINEER, KEYHOLDER])
    assert factors["function"].tolist() == [1.0, 0.5, 0.0]
    points = factors["points"]
    assert points[0] > points[1] > points[2]


def test_breaking_a_strict_clause_is_bad_whatever_the_match(teacher, make_case):
    case = make_case("remote software engineer jobs")
    factors = teacher.factors(case, [SWE_REMOTE, SWE_SEATTLE_HYBRID])
    assert factors["passes_filters"].tolist() == [True, False]
    assert factors["points"][1] == 0.0
    assert hard_grade(teacher.grade(case, [SWE_SEATTLE_HYBRID])).tolist() == [0]


def test_old_posting_and_staffing_agency_lose_points(teacher, make_case):
    case = make_case("software engineer jobs")
    factors = teacher.factors(case, [SWE_REMOTE, SWE_OLD, SWE_STAFFING])
    assert factors["age"].tolist() == [0.0, -policy.AGE_PENALTIES[0][1], 0.0]
    assert factors["staffing"].tolist() == [0.0, 0.0, -policy.STAFFING_PENALTY]
    excluded = make_case("software engineer jobs but not from staffing agencies")
    assert teacher.factors(excluded, [SWE_STAFFING])["passes_filters"].tolist() == [False]


def test_hybrid_loses_points_for_mostly_remote(teacher, make_case):
    case = make_case("software engineer jobs that are mostly remote")
    factors = teacher.factors(case, [SWE_REMOTE, SWE_SEATTLE_HYBRID])
    assert factors["passes_filters"].all()
    assert factors["work_mode"].tolist() == [0.0, -policy.HYBRID_FOR_REMOTE_PENALTY]


def test_a_met_preference_adds_the_bonus(teacher, make_case, catalog):
    plain = make_case("software engineer jobs")
    stripe = catalog.company_ids["Stripe"]
    preferring = QueryCase("q2", plain.query, "connections", None, QueryPlan.from_dict(plain.plan.to_dict()))
    preferring.plan.add_clause("ideally at Stripe", "prefer Stripe", {"company": {"in": [stripe]}}, soft=True)
    before = teacher.factors(plain, [SWE_REMOTE, 9_100_004])
    after = teacher.factors(preferring, [SWE_REMOTE, 9_100_004])
    assert after["preference"].tolist() == [policy.PREFERENCE_BONUS, 0.0]
    assert after["points"][0] >= before["points"][0]


def test_member_level_distance_costs_points(teacher, make_case):
    # m006 is an intern: a senior role is far from their level, a plain engineer role one step or more.
    case = make_case("software engineer jobs that fit my background", member_id="m006")
    factors = teacher.factors(case, [SWE_STAFFING, SWE_REMOTE])
    assert factors["seniority"][0] == -policy.SENIORITY_FAR_PENALTY
    assert factors["seniority"][0] < factors["seniority"][1] or factors["seniority"][1] == -policy.SENIORITY_FAR_PENALTY


def test_bad_input(teacher, make_case):
    case = make_case("software engineer jobs")
    with pytest.raises(KeyError, match="unknown id 123456789"):
        teacher.grade(case, [123456789])
    with pytest.raises(TypeError, match="QueryCase"):
        teacher.grade("software engineer jobs", [SWE_REMOTE])
    assert teacher.grade(case, []).shape == (0, 5)
