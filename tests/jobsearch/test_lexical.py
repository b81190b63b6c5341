"""BM25 retrieval under a filter, the fusion rule and the closeness floor."""
from dataclasses import dataclass

import numpy as np
import pytest

from flatsearch.jobsearch.lexical import LEXICAL_WEIGHT, LexicalIndex, close_threshold, fuse, normalise, split_close


@pytest.fixture(scope="module")
def lexical(catalog):
    return LexicalIndex(catalog)


def test_top_matches_only_passing_ids_and_finds_exact_titles(lexical, catalog):
    ids = catalog.ids
    hits = lexical.top("software engineer", ids, 5)
    assert hits and all("engineer" in normalise(catalog.records[i].posting.title) for i, _ in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    allowed = ids[::3]
    assert {i for i, _ in lexical.top("software engineer", allowed, 50)} <= set(allowed)
    assert lexical.top("zzzqqq", ids, 5) == [] and lexical.top("software engineer", [], 5) == []


def test_scores_agree_with_a_brute_force_count(lexical, catalog):
    # Every job with a positive BM25 score shares a word with the query, and every job sharing one has a positive score.
    scores = lexical.scores("nurse practitioner")
    for row, job_id in enumerate(lexical.ids):
        posting = catalog.records[int(job_id)].posting
        words = set(normalise(f"{posting.title} {posting.department} {posting.category}"))
        assert (scores[row] > 0) == bool(words & {"nurse", "practitioner"})


@dataclass(frozen=True)
class _C:
    id: int
    score: float
    vector: np.ndarray = None
    record: object = None


def test_fusion_rule_is_the_documented_weighted_sum():
    ranked = [_C(1, 0.50), _C(2, 0.45), _C(3, 0.40)]
    fused = fuse(ranked, {3: 4.0, 2: 2.0})
    assert [c.id for c in fused] == [3, 2, 1]
    assert fused[0].score == pytest.approx(0.40 + LEXICAL_WEIGHT) and fused[1].score == pytest.approx(0.45 + LEXICAL_WEIGHT / 2)
    assert [c.score for c in fuse(ranked, {})] == [0.50, 0.45, 0.40]


def test_floor_separates_close_from_nearest(lexical, catalog):
    record = catalog.records[catalog.ids[0]]
    vector = np.array([1.0, 0.0], dtype=np.float32)
    near, far = _C(1, 0.0, np.array([0.9, 0.1], np.float32), record), _C(2, 0.0, np.array([0.2, 0.9], np.float32), record)
    close, rest = split_close([near, far], vector, 0.95, lexical, "qqqzzz")
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    assert close_threshold(0.95) == pytest.approx(0.75) and close_threshold(0.2) == pytest.approx(0.3)
