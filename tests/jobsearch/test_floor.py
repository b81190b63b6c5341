"""The honest relevance floor: which jobs passing the filters are close matches, and the message when none is."""
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from flatsearch.jobsearch.lexical import LexicalIndex, close_threshold, floor_message, fuse, split_close

QUERY = np.array([1.0, 0.0], dtype=np.float32)
BEST = 0.65  # the corpus's best similarity in these cases: plain bar 0.45, strict bar 0.50, nameless bar 0.60


def _at(similarity: float) -> np.ndarray:
    return np.array([similarity, np.sqrt(1 - similarity ** 2)], dtype=np.float32)


@dataclass(frozen=True)
class _C:
    id: int
    score: float
    vector: np.ndarray
    record: object


def _job(title, department="", category="other", company="Example"):
    return SimpleNamespace(posting=SimpleNamespace(title=title, department=department, category=category, company=company))


@pytest.fixture(scope="module")
def lexical(catalog):
    return LexicalIndex(catalog)


@pytest.mark.parametrize("text, other_title, unrelated", [
    # "HR business partner" is the role the table calls HRBP, whose other title is "People Partner".
    ("HR (human resources) business partner", _job("People Partner", "People", "people"), _job("Administrative Business Partner", "Administrative")),
    ("human resources business partner", _job("People Partner", "People", "people"), _job("Partner Business Manager", "Sales", "sales")),
    # "talent acquisition" is the role the table calls TA, which recruiters do.
    ("talent acquisition", _job("Senior Recruiter, Corporate", "Talent", "people"), _job("Talent & Influencer Marketing Manager", "Brand")),
])
def test_a_role_written_out_is_met_by_the_other_titles_of_its_abbreviation(lexical, text, other_title, unrelated):
    # Both are below the plain bar (0.45 for best 0.65): only naming the role makes a job close here.
    ranked = [_C(1, 0.0, _at(0.42), other_title), _C(2, 0.0, _at(0.44), unrelated)]
    close, rest = split_close(ranked, QUERY, BEST, lexical, text)
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # The share that weighs the BM25 part reads it too.
    assert lexical.slot_shares(text, {1: other_title.posting})[1] == 1.0


def test_a_role_written_out_adds_ways_to_match_and_removes_none(lexical):
    text = "HR (human resources) business partner"
    assert lexical.title_covers(text, "HR Business Partner") and lexical.title_covers(text, "Senior HRBP")
    assert not lexical.title_covers(text, "Business Partner, Finance")
    own, *written = lexical.coverage(text)
    assert len(own) == 3 and written  # the query's own three slots stay one alternative
    # The words around the role stay slots of the written-out alternative: "lyft data science" still asks for Lyft.
    intern = SimpleNamespace(title="Data Science Intern - Summer 2026", department="", category="data", company="Bandwidth")
    lyft = SimpleNamespace(title="Data Scientist, Algorithms - Lyft Ads", department="", category="data", company="Lyft")
    shares = lexical.slot_shares("lyft data science", {1: intern, 2: lyft})
    assert shares[2] == 1.0 and shares[1] < 1.0


def test_an_or_query_whose_role_exists_keeps_jobs_naming_none_of_it_out(lexical):
    # "HRBP or talent acq" in a city: a talent partner in People names the first alternative, an account executive
    # as similar to the words names nothing; the corpus's nearest posting is an HRBP (the role exists).
    text = "HRBP (human resources business partner) or talent acq"
    named = _C(1, 0.0, _at(0.47), _job("Talent Management Partner, Performance", "People", "people"))
    nothing = _C(2, 0.0, _at(0.55), _job("Manager, SMB Account Executives", "Account Executives", "sales"))
    close, rest = split_close([nothing, named], QUERY, BEST, lexical, text, best_posting=_job("HRBP Intern").posting)
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # Similar enough to be close on its own (best - NAMELESS_MARGIN), it still is.
    nearer = _C(3, 0.0, _at(0.62), _job("Manager, SMB Account Executives", "Account Executives", "sales"))
    assert [c.id for c in split_close([nearer, named], QUERY, BEST, lexical, text, best_posting=_job("HRBP Intern").posting)[0]] == [3, 1]


def test_the_employer_every_candidate_has_is_no_query_word(lexical):
    text = "stripe backend"
    manager = _job("Product Manager, Stripe Infrastructure", "Core Tech Product", company="Stripe")
    engineer = _job("Backend Engineer, Link", "Consumer Network", company="Stripe")
    shares = lexical.slot_shares(text, {1: manager.posting, 2: engineer.posting})
    assert shares == {1: 0.0, 2: 1.0}  # "Stripe" in the title names the employer, not the work
    fused = fuse([_C(1, 0.80, None, manager), _C(2, 0.78, None, engineer)], {1: 4.25, 2: 2.39}, shares)
    assert [c.id for c in fused] == [2, 1]
    # Where the candidates' employers differ, the word is a query word like any other.
    elsewhere = _job("Backend Engineer", "Platform", company="Acme")
    assert lexical.slot_shares(text, {1: manager.posting, 3: elsewhere.posting})[1] == 0.5


def test_nothing_relevant_passing_the_filters_gets_the_honest_floor(lexical):
    # "nurse" in a city without nurses: the jobs there name none of it and none is similar enough.
    ranked = [_C(1, 0.0, _at(0.35), _job("Fire Safety Technician", "General Business")),
              _C(2, 0.0, _at(0.34), _job("Recruiting Coordinator", "Recruiting", "people", company="Kaiser")),
              _C(3, 0.0, _at(0.30), _job("Pharmacy Technician", "Pharmacy", "operations", company="Kaiser"))]
    close, rest = split_close(ranked, QUERY, 0.62, lexical, "nurse", best_posting=_job("Case Management Nurse").posting)
    assert close == [] and [c.id for c in rest] == [1, 2, 3]
    message = floor_message("nurse", len(rest), close_threshold(0.62))
    assert message.startswith('No close matches for "nurse"') and "0.42" in message and "labelled as nearest" in message
