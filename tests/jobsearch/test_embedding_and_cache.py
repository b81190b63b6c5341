import os
import re

import numpy as np
import pytest

from flatsearch.jobsearch import embedding
from flatsearch.jobsearch.cache import QueryPlanCache
from flatsearch.jobsearch.embedding import EmbeddingCache, Encoder, _model_key
from flatsearch.jobsearch.plan import QueryPlan


def test_disk_cache_skips_known_texts(encoder, tmp_path, monkeypatch):
    fresh = Encoder(cache_dir=tmp_path, model=encoder.model, backend=encoder.backend, quantized=encoder.quantized)  # no second load
    texts = ["Data Engineer. Acme. Boston, MA", "Line Cook. Diner. Austin, TX"]
    first = fresh.encode(texts)
    assert first.shape == (2, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.allclose(first @ first.T, (first @ first.T).T)
    reopened = EmbeddingCache(tmp_path, fresh.model_key)
    assert len(reopened) == 2 and np.array_equal(reopened.get(texts[1]), first[1])

    calls = []
    monkeypatch.setattr(fresh.model, "encode", lambda *a, **k: calls.append(a) or np.zeros((0, 384), np.float32))
    again = Encoder(cache_dir=tmp_path, model=fresh.model, backend=encoder.backend, quantized=encoder.quantized)
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
    cache = QueryPlanCache(maxsize=2, ttl_s=10, personal_maxsize=2, personal_ttl_s=5, timer=clock)
    public = QueryPlan("Data jobs", semantic_text="data")
    personal = QueryPlan("Data jobs", semantic_text="data for m001", member_id="m001")
    cache.put(public, now=None)
    cache.put(personal, now=None)
    assert cache.get("Data  jobs", None, now=None).semantic_text == "data"  # spacing is no part of the key; case is
    assert cache.get("data jobs", None, now=None) is None
    assert cache.get("Data jobs", "m001", now=None).semantic_text == "data for m001"
    assert cache.get("Data jobs", "m002", now=None) is None
    clock.now = 6
    assert cache.get("Data jobs", "m001", now=None) is None  # personal TTL passed
    assert cache.get("Data jobs", None, now=None) is not None
    clock.now = 11
    assert cache.get("Data jobs", None, now=None) is None
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
        QueryPlanCache(**kwargs)


def fake_model_dir(folder, weights: bytes, pooling: str = "mean"):
    """The files of a sentence-transformers folder, with made-up weights."""
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "modules.json").write_text('[{"idx": 0, "path": "", "type": "Transformer"}]')
    (folder / "1_Pooling" / "config.json").write_text(f'{{"pooling_mode": "{pooling}"}}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_model_key_follows_the_weights_not_the_folder_name(tmp_path):
    original = _model_key(fake_model_dir(tmp_path / "a" / "model", b"\x01" * 64))
    assert re.fullmatch(r"sha256-[0-9a-f]{24}", original)
    # Fine-tuned weights of the same size saved under the same folder name: a new key.
    assert _model_key(fake_model_dir(tmp_path / "b" / "model", b"\x01" * 63 + b"\x02")) != original
    # The same files elsewhere, under another name: the same key, so the vectors are reused.
    assert _model_key(fake_model_dir(tmp_path / "copy-of-minilm", b"\x01" * 64)) == original
    assert _model_key(fake_model_dir(tmp_path / "c" / "model", b"\x01" * 64, pooling="cls")) != original


def test_model_key_ignores_files_the_model_does_not_read(tmp_path):
    folder = fake_model_dir(tmp_path / "model", b"\x01" * 64)
    before = _model_key(folder)
    (folder / "README.md").write_text("# a model card")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("lock")
    (folder / "onnx").mkdir()
    (folder / "onnx" / "model.onnx").write_bytes(b"\x00" * 128)
    assert _model_key(folder) == before


def test_model_key_reads_every_byte_and_frames_each_file(tmp_path):
    size = 2 * embedding.HASH_CHUNK_BYTES + 1
    first = fake_model_dir(tmp_path / "first", bytes(size))
    second = fake_model_dir(tmp_path / "second", bytes(size - 1) + b"\x01")  # differs in the last chunk only
    assert _model_key(first) != _model_key(second)
    # The same bytes split differently between two files are another model.
    (first / "model.safetensors").write_bytes(b"ab")
    (first / "vocab.txt").write_bytes(b"c")
    (second / "model.safetensors").write_bytes(b"a")
    (second / "vocab.txt").write_bytes(b"bc")
    assert _model_key(first) != _model_key(second)


class FakeModel:
    """Stands in for a SentenceTransformer: 4-d vectors that depend on the text and on a per-model seed."""

    def __init__(self, seed: int):
        self.seed = seed
        self.calls: list[list[str]] = []

    def get_sentence_embedding_dimension(self):
        return 4

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        vectors = np.array([[len(t), self.seed, 1.0, sum(map(ord, t)) % 7] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_fine_tuned_model_under_the_same_name_does_not_reuse_stale_vectors(tmp_path):
    texts = ["Data Engineer", "Line Cook"]
    old = Encoder(str(fake_model_dir(tmp_path / "v1" / "model", b"\x01" * 64)), cache_dir=tmp_path / "cache", model=FakeModel(1))
    old_vectors = old.encode(texts)
    tuned_model = FakeModel(2)
    tuned = Encoder(str(fake_model_dir(tmp_path / "v2" / "model", b"\x02" * 64)), cache_dir=tmp_path / "cache", model=tuned_model)
    assert tuned.model_key != old.model_key
    assert np.array_equal(tuned.encode(texts), FakeModel(2).encode(texts)) and tuned_model.calls == [texts]
    assert not np.array_equal(old_vectors, FakeModel(2).encode(texts))


@pytest.fixture()
def cache_writes(monkeypatch):
    """Counts the renames that put a new cache file in place."""
    writes = []
    rename = os.replace

    def counting(source, target):
        writes.append(str(target))
        rename(source, target)

    monkeypatch.setattr(embedding.os, "replace", counting)
    return writes


def test_encode_writes_the_cache_once_per_call_and_encodes_each_text_once(tmp_path, cache_writes):
    model = FakeModel(1)
    encoder = Encoder(str(fake_model_dir(tmp_path / "model", b"\x01" * 64)), cache_dir=tmp_path / "cache", model=model, batch_size=4)
    texts = [f"posting {i}" for i in range(70)]
    vectors = encoder.encode(texts + texts[:10])  # three chunks of 8 batches of 4; the repeated texts are encoded once
    assert [len(call) for call in model.calls] == [32, 32, 6]
    assert np.array_equal(vectors[70:], vectors[:10]) and np.array_equal(vectors[:70], FakeModel(1).encode(texts))
    assert len(cache_writes) == 1 and len(EmbeddingCache(tmp_path / "cache", encoder.model_key)) == 70
    encoder.encode(texts[:5])
    assert len(cache_writes) == 1 and len(model.calls) == 3  # nothing new: no encoding, no write


def test_a_long_encode_saves_as_it_goes(tmp_path, cache_writes):
    encoder = Encoder(str(fake_model_dir(tmp_path / "model", b"\x01" * 64)), cache_dir=tmp_path / "cache", model=FakeModel(1), batch_size=4)
    encoder.save_interval_s = 0.0
    encoder.encode([f"posting {i}" for i in range(70)])
    assert len(cache_writes) == 3  # after each chunk; the end of the call finds nothing left to write


TEXTS = ["Senior Data Engineer. Stripe. Seattle, WA - Remote", "Line Cook. Diner. Austin, TX", "kindergarten teacher",
         "Staff Software Engineer, Payments Infrastructure. Waymo. Mountain View, CA - Hybrid. " * 3]


@pytest.fixture(scope="module")
def torch_model():
    from sentence_transformers import SentenceTransformer

    from flatsearch.jobsearch.embedding import default_model_path

    return SentenceTransformer(default_model_path(), device="cpu")


def test_the_float_onnx_export_computes_the_torch_models_vectors(cache_dir, torch_model):
    onnx = Encoder(cache_dir=cache_dir, backend="onnx", quantized=False)
    reference = torch_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = onnx.encode(TEXTS)  # batched together: the shorter texts are padded
    assert got.shape == reference.shape == (4, 384)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    np.testing.assert_allclose(onnx.encode_query(TEXTS[2]), reference[2], atol=1e-5)
    # The same function, so the torch backend reads the vectors the float export cached (and the other way round).
    assert onnx.model_key == Encoder(cache_dir=cache_dir, backend="torch", model=torch_model).model_key
    assert (cache_dir / f"onnx-{onnx.model_key}" / "onnx" / "model.onnx").is_file()


def test_the_int8_export_is_close_and_keyed_apart(cache_dir, encoder, torch_model):
    assert encoder.backend == "onnx" and encoder.quantized  # the default where onnxruntime is installed
    float_key = Encoder(cache_dir=None, backend="onnx", quantized=False).model_key
    assert encoder.model_key.startswith(float_key + "-qint8-") and encoder.model_key != float_key
    reference = torch_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    cosine = (encoder.encode(TEXTS) * reference).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
    with pytest.raises(ValueError, match="quantized: int8 models run on the onnx backend"):
        Encoder(cache_dir=None, backend="torch", quantized=True)
    with pytest.raises(ValueError, match="backend: expected one of onnx, torch"):
        Encoder(cache_dir=None, backend="tensorflow")


@pytest.mark.parametrize("preset", ["avx2", "avx512_vnni"])
def test_each_int8_preset_writes_the_file_it_is_read_from(cache_dir, torch_model, preset):
    # The presets quantise weights to different types (unsigned for avx2, signed for avx512_vnni), so
    # the machine's own preset alone would not show that the name read back matches the one written.
    from flatsearch.jobsearch.embedding import default_model_path
    from flatsearch.jobsearch.onnx_model import OnnxSentenceModel, export_onnx, quantized_file

    folder = export_onnx(default_model_path(), cache_dir / "onnx-every-preset", quantisation_config=preset)
    assert (folder / quantized_file(preset)).is_file() and (folder / quantized_file(None)).is_file()
    assert not list(folder.parent.glob(".onnx-every-preset-*"))  # no staging folder left behind
    model = OnnxSentenceModel(folder, file_name=quantized_file(preset))
    reference = torch_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    cosine = (model.encode(TEXTS) * reference).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
