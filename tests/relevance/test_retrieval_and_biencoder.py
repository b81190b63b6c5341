"""Retrieval through flatsearch (filters, upsert) and the bi-encoder trainer."""
import numpy as np
import pytest
import torch

from flatsearch.jobsearch.relevance.biencoder import (BiEncoderTrainer, BiEncoderTraining, DistributedContext, TrainingList,
                                                      autocast_for, distributed_context, encode_texts)
from flatsearch.jobsearch.relevance.retrieval import JobIndex


def test_passing_matches_the_catalog_columns(catalog, base_vectors):
    jobs = JobIndex(catalog, base_vectors)
    stripe = catalog.company_ids["Stripe"]
    columns = catalog.columns()
    ids = np.array(catalog.ids)
    expected = np.sort(ids[(columns["company"] == stripe) & (columns["work_mode"] == 3)])
    found = jobs.passing({"and": [{"company": {"eq": stripe}}, {"work_mode": {"eq": 3}}]})
    assert found.tolist() == expected.tolist() and len(found) >= 2
    assert jobs.passing(None, [9_100_003, 9_100_006]).tolist() == [9_100_003, 9_100_006]


def test_search_applies_each_plans_filters_and_upsert_replaces_vectors(catalog, base_vectors, base_encode, network, planner):
    from .conftest import REFERENCE

    jobs = JobIndex(catalog, base_vectors)
    plans = [planner.plan("remote software engineer jobs", now=REFERENCE), planner.plan("data scientist jobs", now=REFERENCE),
             planner.plan("software engineer jobs that fit my background", "m001", now=REFERENCE)]
    hits = jobs.search(plans, jobs.query_vectors(plans, base_encode, network), 5)
    remote = set(jobs.passing(plans[0].filters).tolist())
    assert len(hits[0][0]) and set(hits[0][0].tolist()) <= remote
    assert all(np.all(np.diff(scores) <= 1e-6) for _, scores in hits)
    before = len(jobs.index)
    rng = np.random.default_rng(0)
    replaced = rng.normal(size=base_vectors.shape).astype(np.float32)
    replaced /= np.linalg.norm(replaced, axis=1, keepdims=True)
    jobs.replace_vectors(replaced)
    assert len(jobs.index) == before
    row = catalog.ids.index(9_100_003)
    ids, scores = jobs.search(plans[:1], replaced[row][None], 1)[0]
    assert ids.tolist() == [9_100_003]  # the query equal to a row's new vector finds that row
    assert jobs.index.get([9_100_003]).attributes["company"] == [catalog.company_ids["Stripe"]]
    with pytest.raises(ValueError, match="expected shape"):
        jobs.replace_vectors(replaced[:3])
    with pytest.raises(ValueError, match="one row per posting"):
        JobIndex(catalog, base_vectors[:3])


def test_trainer_moves_scores_towards_the_teacher(base_model):
    import copy

    model = copy.deepcopy(base_model)
    lists = [TrainingList("data engineer", ("Data Engineer. Lyft", "Data Analyst. Lyft", "Keyholder. Warby Parker"),
                          (4.0, 2.0, 0.0), (4, 2, 0), (0.6, 0.6, 0.1)),
             TrainingList("marketing manager", ("Growth Marketing Manager. Airbnb", "Product Manager. Airbnb", "Data Engineer. Lyft"),
                          (4.0, 1.0, 0.0), (4, 1, 0), (0.6, 0.5, 0.1))]

    def gap():
        q = encode_texts(model, ["data engineer", "marketing manager"])
        d = encode_texts(model, ["Data Engineer. Lyft", "Data Analyst. Lyft", "Growth Marketing Manager. Airbnb", "Product Manager. Airbnb"])
        return float(q[0] @ d[0] - q[0] @ d[1] + q[1] @ d[2] - q[1] @ d[3])

    start = gap()
    embeddings = model.transformers_model.get_input_embeddings().weight.detach().clone()
    trainer = BiEncoderTrainer(model, training=BiEncoderTraining(steps=6, batch_queries=2, list_size=3, learning_rate=1e-4,
                                                                 warmup_fraction=0.0), total_steps=6)
    history = trainer.train(lists)
    assert len(history) == 6 and all(set(h) == {"contrastive", "listnet", "kl_to_frozen", "calibration", "total"} for h in history)
    assert gap() > start
    assert torch.equal(model.transformers_model.get_input_embeddings().weight, embeddings)  # frozen by default
    assert trainer.schedule.get_last_lr()[0] < 1e-4  # the cosine schedule decays


def test_long_lists_keep_their_best_document(base_model):
    trainer = BiEncoderTrainer(base_model, training=BiEncoderTraining(steps=1, list_size=2), total_steps=1)
    item = TrainingList("q", ("a", "b", "c", "d"), (1.0, 3.9, 0.0, 2.0), (1, 4, 0, 2), (0.1, 0.2, 0.3, 0.4))
    for _ in range(5):
        batch = trainer._batch([item])
        assert batch["mask"].tolist() == [[True, True]] and "b" in batch["documents"] and batch["gains"][0, 0] == pytest.approx(3.9)


def test_configuration_and_context():
    assert distributed_context() == DistributedContext(0, 1)  # no torchrun, no GPUs: one process, nothing sharded
    assert not DistributedContext().sharded and DistributedContext(0, 2).sharded
    assert not torch.is_autocast_enabled("cpu")
    with autocast_for(torch.device("cpu"), "auto"):
        assert not torch.is_autocast_enabled("cpu")  # bf16 autocast only where the device supports it well
    with autocast_for(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="precision"):
        BiEncoderTraining(precision="fp8")
    with pytest.raises(ValueError, match="document_texts"):
        TrainingList("q", (), (), (), ())
    with pytest.raises(ValueError, match="grades: expected 2 values"):
        TrainingList("q", ("a", "b"), (1.0, 2.0), (1,), (0.1, 0.2))
