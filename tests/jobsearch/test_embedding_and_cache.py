import numpy as np
import pytest

from flatsearch.jobsearch.cache import PlanCache
from flatsearch.jobsearch.embedding import EmbeddingCache, Encoder
from flatsearch.jobsearch.plan import QueryPlan


def test_disk_cache_skips_known_texts(encoder, tmp_path, monkeypatch):
    fresh = Encoder(cache_dir=tmp_path, model=encoder.model)  # same weights, no second load
    texts = ["Data Engineer. Acme. Boston, MA", "Line Cook. Diner. Austin, TX"]
    first = fresh.encode(texts)
    assert first.shape == (2, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.allclose(first @ first.T, (first @ first.T).T)
    reopened = EmbeddingCache(tmp_path, fresh.model_key)
    assert len(reopened) == 2 and np.array_equal(reopened.get(texts[1]), first[1])

    calls = []
    monkeypatch.setattr(fresh.model, "encode", lambda *a, **k: calls.append(a) or np.zeros((0, 384), np.float32))
    again = Encoder(cache_dir=tmp_path, model=fresh.model)
    assert np.array_equal(again.encode(texts), first) and calls == []  # served from disk
    assert EmbeddingCache(tmp_path, "another-model").get(texts[0]) is None  # keyed by model too


def test_query_vectors_are_cached(encoder):
    vector = encoder.encode_query("kindergarten teacher")
    assert encoder.encode_query("kindergarten teacher") is vector
    with pytest.raises(TypeError, match="text: expected a string"):
        encoder.encode_query(None)
    with pytest.raises(TypeError, match="texts: expected a list of strings"):
        encoder.encode("one string")


def test_missing_model_directory(tmp_path):
    with pytest.raises(ValueError, match="model_path: expected a sentence-transformers model directory"):
        Encoder(str(tmp_path / "no-model"))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plan_cache_separates_people_and_expires():
    clock = Clock()
    cache = PlanCache(maxsize=2, ttl_s=10, personal_maxsize=2, personal_ttl_s=5, timer=clock)
    public = QueryPlan("Data jobs", semantic_text="data")
    personal = QueryPlan("Data jobs", semantic_text="data for m001", member_id="m001")
    cache.put(public, now=None)
    cache.put(personal, now=None)
    assert cache.get("data  JOBS", None, now=None).semantic_text == "data"
    assert cache.get("data jobs", "m001", now=None).semantic_text == "data for m001"
    assert cache.get("data jobs", "m002", now=None) is None
    clock.now = 6
    assert cache.get("data jobs", "m001", now=None) is None  # personal TTL passed
    assert cache.get("data jobs", None, now=None) is not None
    clock.now = 11
    assert cache.get("data jobs", None, now=None) is None
    for i in range(5):
        cache.put(QueryPlan(f"q{i}"), now=None)
    assert len(cache.public) == 2  # bounded
    copy = cache.get("q4", None, now=None)
    copy.notes.append("edited")
    assert cache.get("q4", None, now=None).notes == []  # callers get copies


@pytest.mark.parametrize("kwargs, message", [({"maxsize": 0}, "maxsize: expected a positive int"),
                                             ({"ttl_s": -1}, "ttl_s: expected a positive number")])
def test_plan_cache_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlanCache(**kwargs)
