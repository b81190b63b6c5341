"""The LLM grader against a loopback OpenAI-compatible stub."""
import math
import re

import numpy as np
import pytest

from flatsearch.jobsearch.relevance.llm_grader import RUBRIC, GraderError, LLMGrader

from .openai_stub import GradeStub

ENGINEER, KEYHOLDER = 9_100_003, 9_100_006


def by_title(body):
    """Excellent-leaning logprobs for engineering jobs, Bad-leaning for anything else."""
    prompt = body["messages"][1]["content"]
    job = re.search(r"^Job: (.*)$", prompt, re.MULTILINE).group(1)
    if "Engineer" in job:
        return "4", [("4", math.log(0.7)), ("3", math.log(0.2)), (" Good", math.log(0.05)), ("x", math.log(0.05))]
    return "0", [("0", math.log(0.9)), ("1", math.log(0.1))]


def test_distribution_comes_from_logprobs_in_job_order(catalog, network, make_case):
    case = make_case("remote software engineer jobs", member_id="m001")
    with GradeStub(by_title) as stub:
        grader = LLMGrader(base_url=stub.url, model="grader", catalog=catalog, members=network, concurrency=2)
        grades = grader.grade(case, [ENGINEER, KEYHOLDER, ENGINEER])
    # Tokens "4" and "3" plus " Good" (the word for grade 3); the unknown token is ignored and the rest renormalised.
    expected_engineer = np.array([0, 0, 0, 0.25, 0.7]) / 0.95
    np.testing.assert_allclose(grades[0], expected_engineer, atol=1e-6)
    np.testing.assert_allclose(grades[1], [0.9, 0.1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(grades[2], expected_engineer, atol=1e-6)
    body = stub.requests[0]
    assert body["messages"][0] == {"role": "system", "content": RUBRIC}
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 1 and body["temperature"] == 0
    prompt = body["messages"][1]["content"]
    assert "Query: remote software engineer jobs" in prompt and "Requirements: work mode is remote" in prompt
    assert "Member: Senior Software Engineer" in prompt


def test_without_logprobs_the_answered_grade_gets_all_the_mass(catalog, make_case):
    case = make_case("software engineer jobs")
    with GradeStub(lambda body: ("3", None)) as stub:
        grades = LLMGrader(base_url=stub.url, model="grader", catalog=catalog).grade(case, [ENGINEER])
    assert grades.tolist() == [[0.0, 0.0, 0.0, 1.0, 0.0]]


def test_an_answer_that_is_no_grade_is_an_error(catalog, make_case):
    case = make_case("software engineer jobs")
    with GradeStub(lambda body: ("maybe", None)) as stub:
        with pytest.raises(GraderError, match="answered 'maybe'.*digit from 0 to 4"):
            LLMGrader(base_url=stub.url, model="grader", catalog=catalog).grade(case, [ENGINEER])


def test_a_failing_endpoint_is_an_error_naming_the_pair(catalog, make_case):
    case = make_case("software engineer jobs")
    with GradeStub(by_title, status=500) as stub:
        grader = LLMGrader(base_url=stub.url, model="grader", catalog=catalog, max_retries=0)
        with pytest.raises(GraderError, match=f"job {ENGINEER}"):
            grader.grade(case, [ENGINEER])


def test_bad_configuration_and_ids(catalog, make_case):
    with pytest.raises(ValueError, match="base_url"):
        LLMGrader(base_url="localhost:8000", model="m", catalog=catalog)
    with pytest.raises(ValueError, match="model"):
        LLMGrader(base_url="http://127.0.0.1:1/v1", model="", catalog=catalog)
    with pytest.raises(ValueError, match="concurrency"):
        LLMGrader(base_url="http://127.0.0.1:1/v1", model="m", catalog=catalog, concurrency=0)
    grader = LLMGrader(base_url="http://127.0.0.1:1/v1", model="m", catalog=catalog)
    with pytest.raises(KeyError, match="unknown id 5"):
        grader.prompt(make_case("software engineer jobs"), 5)
    assert grader.grade(make_case("software engineer jobs"), []).shape == (0, 5)
