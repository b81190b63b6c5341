"""The student cross-encoder: loss, pruning, training, persistence, and the pipeline reranker."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from flatsearch.jobsearch.plan import QueryPlan
from flatsearch.jobsearch.relevance.reranker import StudentReranker, load_student_reranker, rerank_scores, save_student_reranker
from flatsearch.jobsearch.relevance.student import StudentCrossEncoder, StudentTraining, distillation_loss, prune_layers
from flatsearch.jobsearch.relevance.texts import job_side_text, query_side_text
from flatsearch.jobsearch.rerank import Candidate, Reranker

PAIRS = [("software engineer jobs", "Software Engineer, Backend. Stripe. Seattle, WA | hybrid | posted 2 days ago"),
         ("software engineer jobs", "Keyholder, Part-Time. Warby Parker. Seattle, WA | posted 1 day ago"),
         ("data scientist jobs", "Data Scientist, Growth. Lyft. San Francisco, CA | posted 2 days ago"),
         ("data scientist jobs", "Growth Marketing Manager. Airbnb. New York, NY | posted 2 days ago")]
TEACHER = np.array([[0, 0, 0.05, 0.25, 0.7], [0.9, 0.1, 0, 0, 0], [0, 0, 0.1, 0.3, 0.6], [0.7, 0.25, 0.05, 0, 0]])


@pytest.fixture(scope="module")
def trained():
    student = StudentCrossEncoder.from_base(num_layers=2, max_length=48, seed=0)
    history = student.fit(PAIRS, TEACHER, training=StudentTraining(epochs=6, batch_size=4, learning_rate=2e-4, warmup_fraction=0.0))
    return student, history


def test_distillation_loss_is_kl_plus_weighted_cross_entropy():
    logits = torch.tensor([[0.1, 0.2, 0.3, 1.0, 2.0], [2.0, 0.5, 0.0, -1.0, -1.0]])
    teacher = torch.tensor(TEACHER[:2], dtype=torch.float32)
    log_p = F.log_softmax(logits, -1)
    kl = (teacher * (torch.log(teacher.clamp_min(1e-30)) - log_p)).where(teacher > 0, torch.zeros(())).sum(-1).mean()
    ce = -(log_p[0, 4] + log_p[1, 0]) / 2
    assert float(distillation_loss(logits, teacher, kl_weight=1.0, ce_weight=0.5)) == pytest.approx(float(kl + 0.5 * ce), rel=1e-5)


def test_training_lowers_the_loss_and_learns_the_order(trained):
    student, history = trained
    assert history[-1] < history[0]
    scores = student.score(PAIRS)
    assert scores[0] > scores[1] and scores[2] > scores[3]


def test_save_and_load_keep_predictions_and_layers(trained, tmp_path):
    student, _ = trained
    student.save(tmp_path / "student")
    loaded = StudentCrossEncoder.load(tmp_path / "student")
    assert loaded.num_layers == 2
    np.testing.assert_allclose(loaded.predict_logits(PAIRS), student.predict_logits(PAIRS), atol=1e-5)


def test_pruning_keeps_the_first_layers():
    full = StudentCrossEncoder.from_base(seed=0)
    cut = StudentCrossEncoder.from_base(num_layers=3, seed=0)
    assert (full.num_layers, cut.num_layers) == (6, 3)
    for kept, original in zip(cut.cross_encoder.model.bert.encoder.layer, full.cross_encoder.model.bert.encoder.layer[:3]):
        for a, b in zip(kept.parameters(), original.parameters()):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match="num_layers: expected an int from 1 to 3"):
        prune_layers(cut.cross_encoder.model, 4)
    with pytest.raises(TypeError, match="BERT-style"):
        prune_layers(torch.nn.Linear(2, 2), 1)


def test_bad_training_input(trained):
    student, _ = trained
    with pytest.raises(ValueError, match="one distribution per pair"):
        student.fit(PAIRS, TEACHER[:3])
    with pytest.raises(ValueError, match="summing to 1"):
        student.fit(PAIRS[:1], np.array([[0.5, 0.5, 0.5, 0, 0]]))
    with pytest.raises(TypeError, match="pairs"):
        student.predict(["just a string"])
    with pytest.raises(ValueError, match="epochs"):
        StudentTraining(epochs=0)
    with pytest.raises(ValueError, match="config.json"):
        StudentCrossEncoder.load("/nonexistent/student")


def test_reranker_orders_pipeline_candidates_by_expected_grade(trained, catalog, tmp_path):
    student, _ = trained
    reranker = StudentReranker(student, catalog=catalog)
    assert isinstance(reranker, Reranker)
    ids = [9_100_006, 9_100_002, 9_100_004]
    candidates = [Candidate(i, catalog.records[i], np.zeros(384, np.float32), 1.0, False, 1.0 - n / 10) for n, i in enumerate(ids)]
    plan = QueryPlan("software engineer jobs", semantic_text="software engineer")
    ranked = reranker.rerank(plan.query, plan, None, candidates)
    assert sorted(c.id for c in ranked) == sorted(ids)
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    assert ranked[-1].id == 9_100_006  # the keyholder posting
    assert reranker.rerank(plan.query, plan, None, []) == []
    assert load_student_reranker(tmp_path / "nothing", catalog=catalog) is None
    student.save(tmp_path / "student")
    loaded = load_student_reranker(tmp_path / "student", catalog=catalog)
    assert loaded.description.startswith("student cross-encoder (2 layers) from ")
    assert [c.id for c in loaded.rerank(plan.query, plan, None, candidates)] == [c.id for c in ranked]
    assert dataclasses.replace(ranked[0]).score == ranked[0].score
    only_two = StudentReranker(student, catalog=catalog, top_k=2).rerank(plan.query, plan, None, candidates)
    assert only_two[-1].id == 9_100_004 and only_two[-1].score < min(c.score for c in only_two[:2])  # beyond top_k: kept last
    with pytest.raises(ValueError, match="top_k"):
        StudentReranker(student, catalog=catalog, top_k=0)


def test_the_retrieval_score_is_added_with_its_saved_weight(trained, catalog, tmp_path):
    student, _ = trained
    ids = [9_100_006, 9_100_002, 9_100_004]
    retrieval = [0.2, 0.9, 0.5]
    candidates = [Candidate(i, catalog.records[i], np.zeros(384, np.float32), 1.0, False, r) for i, r in zip(ids, retrieval)]
    plan = QueryPlan("software engineer jobs", semantic_text="software engineer")
    grades = student.score([(query_side_text(plan, None, catalog), job_side_text(catalog.records[i], catalog.default_now())) for i in ids])
    for weight in (0.0, 3.0, 1000.0):
        ranked = StudentReranker(student, catalog=catalog, retrieval_weight=weight).rerank(plan.query, plan, None, candidates)
        expected = grades + weight * np.array(retrieval)
        assert [c.id for c in ranked] == [ids[i] for i in np.argsort(-expected, kind="stable")]
        assert [c.score for c in ranked] == pytest.approx(sorted(expected, reverse=True))
    # A huge weight leaves the retrieval order: the retrieval score decides.
    assert [c.id for c in ranked] == [9_100_002, 9_100_004, 9_100_006]
    save_student_reranker(student, tmp_path / "fused", top_k=2, retrieval_weight=1000.0)
    loaded = load_student_reranker(tmp_path / "fused", catalog=catalog)
    assert (loaded.top_k, loaded.retrieval_weight) == (2, 1000.0)
    assert loaded.description.endswith("top 2, + 1000 x retrieval score")
    assert load_student_reranker(tmp_path / "fused", catalog=catalog, top_k=3).top_k == 3
    for bad in (-1.0, float("nan"), True, "2"):
        with pytest.raises(ValueError, match="retrieval_weight"):
            StudentReranker(student, catalog=catalog, retrieval_weight=bad)
    (tmp_path / "fused" / "reranker.json").write_text("{not json")
    with pytest.raises(ValueError, match="reranker.json"):
        load_student_reranker(tmp_path / "fused", catalog=catalog)
    with pytest.raises(ValueError, match="retrieval_scores"):
        rerank_scores(np.zeros(2), np.zeros(3), 1.0)
