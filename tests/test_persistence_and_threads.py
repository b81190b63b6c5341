"""Saving, loading and concurrent use."""
from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import flatsearch as fs
from flatsearch import persistence

KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags", "posted": "time"}


def filled_index(dtype=torch.float32, n=500):
    generator = np.random.default_rng(0)
    index = fs.Index(8, metric="cosine", dtype=dtype, attributes=KINDS, partition_by="city", partition_size=64)
    index.add(np.arange(n) * 3, generator.standard_normal((n, 8)).astype(np.float32), {
        "city": generator.integers(0, 5, n), "pay": [None if i % 7 == 0 else float(i) for i in range(n)],
        "remote": generator.random(n) < 0.5, "geo": [[i % 11, i % 13] if i % 4 else [] for i in range(n)],
        "posted": generator.integers(0, 10**9, n)})
    index.delete(np.arange(0, 3 * n, 9))
    return index


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_save_load_round_trip_is_exact(tmp_path, dtype):
    index = filled_index(dtype)
    path = tmp_path / "index.fsx"
    index.save(path)
    loaded = fs.Index.load(path)
    assert loaded.config() == index.config() and len(loaded) == len(index)
    queries = torch.randn(4, 8)
    expr = fs.col("geo").isin([3, 4]) | (fs.col("pay") > 100.0)
    for kwargs in ({}, {"filter": expr, "boost": {"pay": 1e-3}}):
        a, b = index.search(queries, 20, **kwargs), loaded.search(queries, 20, **kwargs)
        assert torch.equal(a.ids, b.ids) and torch.equal(a.scores, b.scores)
    some = [3, 6, 30]
    assert index.get(some).attributes == loaded.get(some).attributes
    assert torch.equal(index.get(some).vectors, loaded.get(some).vectors)


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "index.fsx"
    first = filled_index()
    first.save(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        filled_index(n=100).save(path)
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == [".index.fsx.lock", "index.fsx"]
    assert len(fs.Index.load(path)) == len(first)


def test_load_rejects_truncated_foreign_and_future_files(tmp_path):
    path = tmp_path / "index.fsx"
    filled_index().save(path)
    truncated = tmp_path / "truncated.fsx"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable flatsearch index"):
        fs.Index.load(truncated)
    garbage = tmp_path / "garbage.fsx"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a readable flatsearch index"):
        fs.Index.load(garbage)
    foreign = tmp_path / "model.safetensors"
    save_file({"weight": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a flatsearch index"):
        fs.Index.load(foreign)
    future = tmp_path / "future.fsx"
    manifest = json.dumps({"config": {}, "rows": 0, "columns": []})
    save_file({"ids": torch.zeros(0, dtype=torch.int64)}, str(future),
              metadata={"format": persistence.FORMAT_NAME, "format_version": "99", "manifest": manifest})
    with pytest.raises(ValueError, match="version '99'"):
        fs.Index.load(future)
    with pytest.raises(FileNotFoundError):
        fs.Index.load(tmp_path / "missing.fsx")
    with pytest.raises(TypeError, match="path"):
        filled_index().save(42)


def test_empty_index_round_trips(tmp_path):
    index = fs.Index(3, attributes={"geo": "tags"})
    index.save(tmp_path / "empty.fsx")
    loaded = fs.Index.load(tmp_path / "empty.fsx")
    assert len(loaded) == 0
    assert loaded.search(torch.ones(3), 2).ids.tolist() == [[-1, -1]]


def test_searches_during_mutations_see_whole_batches():
    """Each batch adds 50 rows equal to the query direction: a search sees a multiple of 50."""
    index = fs.Index(4, partition_size=64)
    index.add(np.arange(1000), np.tile([0.0, 1.0, 0.0, 0.0], (1000, 1)).astype(np.float32))
    errors, counts = [], []
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            result = index.search(np.array([1.0, 0, 0, 0], dtype=np.float32), 2000)
            hits = int((result.scores[0] > 0.5).sum())
            counts.append(hits)
            if hits % 50:
                errors.append(hits)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for batch in range(20):
        ids = np.arange(10_000 + 50 * batch, 10_000 + 50 * (batch + 1))
        index.add(ids, np.tile([1.0, 0, 0, 0], (50, 1)).astype(np.float32))
        if batch % 3 == 2:
            index.delete(ids)
        if batch % 5 == 4:
            index.compact()
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors[:5]
    assert counts  # the searchers ran


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_index_matches_cpu_index():
    index = filled_index()
    gpu = index.to("cuda")
    queries = torch.randn(3, 8)
    expr = fs.col("city") == 2
    for backend_index in (gpu,):
        a, b = index.search(queries, 15, filter=expr), backend_index.search(queries, 15, filter=expr)
        assert torch.equal(a.ids, b.ids.cpu())
