import numpy as np
import pytest

from flatsearch.jobsearch.relevance.functions import function_match, job_function, role_words, title_coverage
from flatsearch.jobsearch.relevance.grades import check_distribution, expected_grade, grade_distribution, hard_grade


def test_distribution_is_normalised_and_peaks_at_the_nearest_grade():
    points = np.array([0.0, 0.4, 1.6, 2.5001, 3.9, 4.0])
    distribution = grade_distribution(points)
    np.testing.assert_allclose(distribution.sum(axis=1), 1.0, atol=1e-12)
    assert hard_grade(distribution).tolist() == [0, 0, 2, 3, 4, 4]
    # Symmetric around an integer grade, so the expectation of an interior grade is that grade.
    np.testing.assert_allclose(expected_grade(grade_distribution(np.array([2.0]))), [2.0], atol=1e-9)


def test_smaller_spread_means_more_confidence():
    wide, narrow = grade_distribution(np.array([3.0]), spread=1.0), grade_distribution(np.array([3.0]), spread=0.3)
    assert narrow[0, 3] > wide[0, 3]


@pytest.mark.parametrize("bad, message", [
    (np.ones((2, 4)) / 4, "shape"), (np.array([[0.5, 0.5, 0.5, 0, 0]]), "summing to 1"),
    (np.array([[-0.1, 0.6, 0.5, 0, 0]]), "non-negative"), (np.array([[np.nan, 1, 0, 0, 0]]), "finite")])
def test_check_distribution_rejects_bad_rows(bad, message):
    with pytest.raises(ValueError, match=message):
        check_distribution(bad)


def test_grade_distribution_rejects_bad_points():
    with pytest.raises(ValueError, match="1-d"):
        grade_distribution(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        grade_distribution(np.array([np.inf]))
    with pytest.raises(ValueError, match="spread"):
        grade_distribution(np.array([1.0]), spread=0)


@pytest.mark.parametrize("title, function", [
    ("Senior Software Engineer, Backend", "software_engineering"), ("Product Marketing Manager", "marketing"),
    ("Engineering Manager, Payments", "software_engineering"), ("Senior Product Designer", "design"),
    ("Staff Data Engineer", "data_engineering"), ("Data Scientist II", "data_science"), ("Sales Engineer", "solutions_engineering"),
    ("Account Executive, Enterprise", "sales"), ("Site Reliability Engineer", "infrastructure"), ("Keyholder - Mall", "retail"),
    ("Recruiter, Engineering", "people"), ("Senior Product Manager, Growth", "product_management")])
def test_titles_map_to_functions(title, function):
    assert job_function(title) == function


def test_function_match_levels():
    assert function_match("data_science", "data_science") == 1.0
    assert function_match("data_science", "machine_learning") == 0.5
    assert function_match("data_science", "retail") == 0.0
    assert function_match("data_science", None) == 0.0
    assert function_match(None, "retail") is None


def test_role_words_and_coverage():
    words = role_words("Senior Data Engineering jobs in the platform team")
    assert words == {"data", "engineer", "platform"}
    assert title_coverage(frozenset({"data", "engineer"}), "Staff Data Engineer") == 1.0
    assert title_coverage(frozenset({"data", "engineer"}), "Data Analyst") == 0.5
    assert title_coverage(frozenset(), "Data Analyst") is None
    with pytest.raises(TypeError, match="text"):
        job_function(None)
