"""The whole loop end to end with the smallest configuration."""
import json

import numpy as np
import pytest

from flatsearch.jobsearch.relevance.config import get_config
from flatsearch.jobsearch.relevance.dataset import JUDGMENT_FIELDS, read_jsonl
from flatsearch.jobsearch.relevance.experiment import GRADE_ALONE, SYSTEMS, UPPER_BOUND, run_experiment
from flatsearch.jobsearch.relevance.reranker import load_student_reranker


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("relevance-run")
    config = get_config("tiny").replace(corpus_size=None, queries=24)
    report = run_experiment(config, output_dir=output, cache_dir=tmp_path_factory.mktemp("cache"), corpus=corpus,
                            install_student_to=output / "installed", progress=False, log=lambda line: None)
    return config, output, report


def test_it_writes_data_models_and_report(run):
    config, output, report = run
    for name in ("queries.jsonl", "judgments.jsonl", "validation_judgments.jsonl", "test_judgments.jsonl", "report.json"):
        assert (output / name).is_file()
    for folder in (f"student-{config.student_layers}-layers", f"student-{config.pruned_layers}-layers", "biencoder", "installed"):
        assert (output / folder / "config.json").is_file()
    assert json.loads((output / "report.json").read_text())["table"] == report["table"]
    assert set(report["table"]) == {*SYSTEMS, UPPER_BOUND, GRADE_ALONE}  # the tiny config adds the retrieval score
    for system in report["table"]:
        for values in report["table"][system].values():
            assert all(0.0 <= v <= 1.0 for v in values.values())
    assert "NDCG@10" in report["markdown"] and set(report["targets"]) and report["latency_ms"]


def test_validation_and_test_queries_are_never_trained_on(run):
    _, output, report = run
    queries = read_jsonl(output / "queries.jsonl")
    train_rows = read_jsonl(output / "judgments.jsonl", required=JUDGMENT_FIELDS)
    assert train_rows and {r["split"] for r in train_rows} == {"train"}
    for split in ("validation", "test"):
        held_ids = {q["query_id"] for q in queries if q["split"] == split}
        held_texts = {q["query"].lower() for q in queries if q["split"] == split}
        assert held_ids, f"no {split} queries were generated"
        assert not {r["query_id"] for r in train_rows} & held_ids
        assert not {r["query"].lower() for r in train_rows} & held_texts
        assert {r["query_id"] for r in read_jsonl(output / f"{split}_judgments.jsonl")} <= held_ids
        assert report["splits"][split]["counts"]["overall"] >= 1
    assert report["evaluated_on"] == "test" and report["table"] == report["splits"]["test"]["table"]


def test_a_tuning_run_computes_nothing_on_the_test_queries(corpus, tmp_path):
    config = get_config("tiny").replace(corpus_size=None, queries=16, rounds=1)
    report = run_experiment(config, output_dir=tmp_path / "run", cache_dir=tmp_path / "cache", corpus=corpus,
                            evaluate_on=("validation",), progress=False, log=lambda line: None)
    assert report["evaluated_on"] == "validation" and list(report["splits"]) == ["validation"]
    assert not (tmp_path / "run" / "test_judgments.jsonl").exists()
    assert "test queries (" not in report["markdown"] and "validation queries (" in report["markdown"]


def test_evaluate_on_is_checked(corpus, tmp_path):
    config = get_config("tiny")
    for bad in ("test", (), ("train",), ("validation", "holdout")):
        with pytest.raises(ValueError, match="evaluate_on"):
            run_experiment(config, output_dir=tmp_path, corpus=corpus, evaluate_on=bad, progress=False, log=lambda line: None)
    with pytest.raises(ValueError, match="validation_fraction"):
        run_experiment(config.replace(validation_fraction=0.0), output_dir=tmp_path, corpus=corpus, evaluate_on=("validation",),
                       progress=False, log=lambda line: None)
    assert not any(tmp_path.iterdir())


def test_reranking_inside_the_retrieved_list_keeps_recall(run):
    _, _, report = run
    table = report["table"]
    for group, values in table["fine-tuned"].items():
        for system in (*SYSTEMS[2:], UPPER_BOUND, GRADE_ALONE):
            assert table[system][group]["recall@100-l3"] == pytest.approx(values["recall@100-l3"])


def test_installed_student_is_the_full_one_and_agrees_with_the_report(run, catalog):
    config, output, report = run
    reranker = load_student_reranker(output / "installed", catalog=catalog)
    assert reranker.student.num_layers == config.student_layers
    assert (reranker.top_k, reranker.retrieval_weight) == (config.rerank_k, config.retrieval_weight)
    agreement = report["agreement"][f"student ({config.student_layers} layers)"]
    assert agreement["pairs"] > 0 and 0 <= agreement["exact"] <= agreement["within_one"] <= 1


def test_biencoder_was_trained(run):
    from sentence_transformers import SentenceTransformer

    from flatsearch.jobsearch.embedding import default_model_path

    _, output, report = run
    texts = ["software engineer", "Data Scientist, Growth. Lyft. San Francisco, CA"]
    tuned = SentenceTransformer(str(output / "biencoder"), device="cpu").encode(texts)
    base = SentenceTransformer(default_model_path(), device="cpu").encode(texts)
    assert not np.allclose(tuned, base)
    assert all(np.isfinite(step["total"]) for step in report["biencoder_loss"])
