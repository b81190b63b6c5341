"""Evaluation through ranx, checked against the metric definitions computed by hand."""
import math

import numpy as np
import pytest

from flatsearch.jobsearch.relevance.evaluate import OVERALL, agreement, evaluate, format_table, qrels_dict, run_dict


def ndcg_at_10(ranking, grades):
    dcg = sum(grades.get(job, 0) / math.log2(position + 2) for position, job in enumerate(ranking[:10]))
    ideal = sorted(grades.values(), reverse=True)[:10]
    return dcg / sum(g / math.log2(position + 2) for position, g in enumerate(ideal))


def recall_at_100_good(ranking, grades):
    relevant = {job for job, g in grades.items() if g >= 3}
    return len(relevant & set(ranking[:100])) / len(relevant)


def test_metrics_match_their_definitions():
    rng = np.random.default_rng(7)
    graded = {f"q{i}": {int(j): int(g) for j, g in zip(rng.choice(500, 60, replace=False), rng.integers(0, 5, 60))} for i in range(6)}
    for grades in graded.values():
        grades[999] = 4  # every query has a relevant job
    rankings = {q: [int(j) for j in rng.permutation(list(grades) + list(range(1000, 1100)))[:120]] for q, grades in graded.items()}
    types = {q: ("role" if i % 2 else "place") for i, q in enumerate(graded)}
    table = evaluate(qrels_dict(graded), {"system": run_dict(rankings)}, types)
    expected_ndcg = {q: ndcg_at_10(rankings[q], {j: g for j, g in graded[q].items() if g > 0}) for q in graded}
    expected_recall = {q: recall_at_100_good(rankings[q], graded[q]) for q in graded}
    assert table["system"][OVERALL]["ndcg@10"] == pytest.approx(np.mean(list(expected_ndcg.values())), abs=1e-6)
    assert table["system"][OVERALL]["recall@100-l3"] == pytest.approx(np.mean(list(expected_recall.values())), abs=1e-6)
    roles = [q for q in graded if types[q] == "role"]
    assert table["system"]["role"]["ndcg@10"] == pytest.approx(np.mean([expected_ndcg[q] for q in roles]), abs=1e-6)


def test_run_scores_follow_the_ranking_and_empty_rankings_count_as_misses():
    assert run_dict({"q1": [5, 3, 9]}) == {"q1": {"5": 3.0, "3": 2.0, "9": 1.0}}
    table = evaluate({"q1": {"5": 4}}, {"none": run_dict({"q1": []})}, {"q1": "role"})
    assert table["none"][OVERALL] == {"ndcg@10": 0.0, "recall@100-l3": 0.0}


def test_bad_input():
    with pytest.raises(KeyError, match="missing 'q2'"):
        evaluate({"q1": {"5": 4}, "q2": {"6": 4}}, {"s": {"q1": {"5": 1.0}}}, {"q1": "role", "q2": "role"})
    with pytest.raises(ValueError, match="qrels"):
        evaluate({}, {}, {})
    with pytest.raises(ValueError, match="student"):
        agreement(np.eye(5)[[0, 1]], np.eye(5)[[0]])


def test_agreement_and_table():
    result = agreement(np.eye(5)[[0, 1, 4, 3]], np.eye(5)[[0, 2, 2, 3]])
    assert result == {"exact": 0.5, "within_one": 0.75, "pairs": 4}
    table = {"a": {"role": {"ndcg@10": 0.5, "recall@100-l3": 1.0}, OVERALL: {"ndcg@10": 0.5, "recall@100-l3": 1.0}}}
    text = format_table(table, counts={"role": 1, OVERALL: 1})
    assert text.splitlines()[0] == "| query type | queries | NDCG@10 a | Recall@100 a |"
    assert text.splitlines()[-1] == "| overall | 1 | 0.500 | 1.000 |"
