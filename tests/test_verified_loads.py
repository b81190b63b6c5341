"""Loads trust nothing in the file: crafted, corrupted and swapped files are ValueErrors naming the path."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import flatsearch as fs
from flatsearch import persistence
from flatsearch.sharded import ShardedIndex

KINDS = {"city": "int", "pay": "float", "remote": "bool", "geo": "tags"}


def small_index(metric: str = "ip") -> fs.Index:
    index = fs.Index(4, metric=metric, attributes=KINDS, partition_size=32)
    index.add([1, 2, 3], torch.eye(4)[:3] + 0.5, {"city": [1, 2, 1], "pay": [1.0, None, 3.0],
                                                   "remote": [True, False, None], "geo": [[5], [], [5, 6]]})
    return index


def read_back(path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}


def forge(path, target, *, tensors=None, manifest=None, recompute_digest=True):
    """Rewrite a saved file with changed tensors or manifest, optionally with a matching checksum."""
    metadata, stored = read_back(path)
    stored.update(tensors or {})
    parsed = json.loads(metadata["manifest"])
    parsed.update(manifest or {})
    if recompute_digest:
        parsed["sha256"] = persistence.payload_digest(stored)
    save_file(stored, str(target), metadata={**metadata, "manifest": json.dumps(parsed)})
    return target


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "index.fsx"
    small_index().save(path)
    return path


@pytest.mark.parametrize("case, tensors, manifest, words", [
    ("repeated_id", {"ids": torch.tensor([1, 2, 1])}, None, "id 1 is stored more than once"),
    ("negative_id", {"ids": torch.tensor([1, -1, 3])}, None, "expected non-negative ids, got -1"),
    ("nan_vector", {"vectors": torch.tensor([[1.0, 0, 0, 0], [0, float("nan"), 0, 0], [0, 0, 1, 0]])}, None,
     "vector row 1 holds NaN or Inf"),
    ("huge_vector", {"vectors": torch.tensor([[1.0, 0, 0, 0], [0, 3e38, 0, 0], [0, 0, 1, 0]])}, None,
     "squared norm"),
    ("float_ids", {"ids": torch.tensor([1.0, 2.0, 3.0])}, None, "expected ids int64"),
    ("vector_dtype", {"vectors": torch.eye(4)[:3].double()}, None, "expected vectors of the configured dtype"),
    ("column_dtype", {"attribute.city": torch.tensor([1.0, 2.0, 1.0])}, None, "attribute 'city' \\(kind int\\)"),
    ("column_shape", {"attribute.pay": torch.tensor([1.0, 2.0])}, None, "attribute 'pay'"),
    ("bool_values", {"attribute.remote": torch.tensor([1, 5, 0], dtype=torch.int8)}, None, "-1 \\(null\\), 0 or 1"),
    ("extra_tensor", {"payload": torch.zeros(3)}, None, "expected tensors"),
    ("unknown_config_key", None, {"config": {**small_index().config(), "__class__": "os.system"}},
     "config keys must come from"),
    ("bad_config_value", None, {"config": {**small_index().config(), "metric": "dot"}},
     "configuration cannot build an index"),
    ("rows", None, {"rows": 4}, "ids int64 of shape \\(4,\\)"),
])
def test_crafted_files_are_rejected_naming_the_path(saved, tmp_path, case, tensors, manifest, words):
    """Repro: a crafted .fsx with a repeated id or id -1 loaded and then answered wrongly."""
    crafted = forge(saved, tmp_path / f"{case}.fsx", tensors=tensors, manifest=manifest)
    with pytest.raises(ValueError, match=words) as error:
        fs.Index.load(crafted)
    assert f"{case}.fsx" in str(error.value)


def test_a_changed_payload_fails_the_checksum(saved, tmp_path):
    crafted = forge(saved, tmp_path / "changed.fsx", tensors={"attribute.city": torch.tensor([1, 9, 1])},
                    recompute_digest=False)
    with pytest.raises(ValueError, match="SHA-256 of its tensors does not match"):
        fs.Index.load(crafted)


def test_forty_corrupted_files_are_all_rejected(saved, tmp_path):
    """Repro: 12 of 40 corrupted files loaded silently as garbage."""
    original = saved.read_bytes()
    rng = np.random.default_rng(0)
    header = int.from_bytes(original[:8], "little") + 8
    positions = np.concatenate([rng.integers(8, header, 20), rng.integers(header, len(original), 20)])
    loaded = []
    for number, position in enumerate(positions):
        damaged = bytearray(original)
        damaged[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"damaged-{number}.fsx"
        path.write_bytes(bytes(damaged))
        try:
            fs.Index.load(path)
            loaded.append(int(position))
        except ValueError as error:
            assert "damaged-" in str(error)
    assert not loaded, f"corruptions at bytes {loaded} loaded"


def test_index_pickles_through_the_bytes_of_a_saved_file():
    index = small_index(metric="cosine")
    copy = pickle.loads(pickle.dumps(index))
    assert copy.config() == index.config() and len(copy) == 3
    assert torch.equal(copy.get([1, 2, 3]).vectors, index.get([1, 2, 3]).vectors)
    assert copy.get([1, 2, 3]).attributes == index.get([1, 2, 3]).attributes
    query = torch.tensor([1.0, 0.5, 0.0, 0.2])
    a, b = index.search(query, 3, filter=fs.col("geo").isin([5])), copy.search(query, 3, filter=fs.col("geo").isin([5]))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="pickled index"):
        fs.index._index_from_bytes(b"\x08" + b"\0" * 7 + b"{not json")


# -- sharded manifests -------------------------------------------------------------------------


@pytest.fixture
def sharded_save(tmp_path):
    index = ShardedIndex(4, shards=3, attributes={"city": "int"})
    index.add(np.arange(30), np.random.default_rng(1).normal(size=(30, 4)), {"city": np.arange(30) % 3})
    folder = tmp_path / "saved"
    index.save(folder)
    return folder, json.loads((folder / "manifest.json").read_text())


def write_manifest(folder, manifest):
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("name", ["../outside.fsx", "/etc/passwd", "generation-x/../../outside.fsx"])
def test_shard_paths_outside_the_folder_are_rejected(sharded_save, name):
    """Repro: a manifest naming "../x.fsx" or an absolute path read files outside its folder."""
    folder, manifest = sharded_save
    shutil.copy(folder / manifest["shard_files"][0], folder.parent / "outside.fsx")
    write_manifest(folder, {**manifest, "shard_files": [name] + manifest["shard_files"][1:]})
    with pytest.raises(ValueError, match="inside the saved folder"):
        ShardedIndex.load(folder)


def test_swapped_shard_files_are_rejected(sharded_save):
    """Repro: swapped shard files loaded; then delete removed nothing and duplicates appeared."""
    folder, manifest = sharded_save
    files = manifest["shard_files"]
    write_manifest(folder, {**manifest, "shard_files": [files[1], files[0], files[2]], "rows": [
        manifest["rows"][1], manifest["rows"][0], manifest["rows"][2]]})
    for shards in (None, 2):
        with pytest.raises(ValueError, match="belong to shard"):
            ShardedIndex.load(folder, shards=shards)


@pytest.mark.parametrize("change, words", [
    ({"index_kwargs": {"attributes": {"city": "int"}, "loader": "pickle"}}, "index_kwargs keys must come from"),
    ({"dim": 5}, "dim 4"),
    ({"devices": ["cpu"]}, "one device per shard file"),
    ({"rows": [1, 2]}, "one row count per shard file"),
    ({"shard_files": "generation-x/shard-0000.fsx"}, "shard_files"),
])
def test_damaged_manifests_are_value_errors(sharded_save, change, words):
    folder, manifest = sharded_save
    write_manifest(folder, {**manifest, **change})
    with pytest.raises(ValueError, match=words) as error:
        ShardedIndex.load(folder)
    assert "manifest.json" in str(error.value) or str(folder) in str(error.value)


CRASH_LOOP = """
import sys, numpy as np
from flatsearch.sharded import ShardedIndex
index = ShardedIndex(16, shards=2)
index.add(np.arange(40_000), np.ones((40_000, 16), dtype=np.float32))
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


def test_a_crash_loop_leaves_nothing_behind_after_the_next_save(tmp_path):
    """Repro: 30 kills mid-save left orphan temporaries and generation folders (GBs)."""
    folder = tmp_path / "saved"
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-c", CRASH_LOOP, str(folder)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait()
    index = ShardedIndex(16, shards=2)
    index.add(np.arange(10), np.ones((10, 16), dtype=np.float32))
    if (folder / "manifest.json").exists():
        assert len(ShardedIndex.load(folder)) == 40_000  # the last complete save survived every kill
    index.save(folder)
    left = sorted(entry.name for entry in folder.iterdir())
    assert len([name for name in left if name.startswith("generation-")]) == 1
    assert [name for name in left if not name.startswith("generation-")] == [".flatsearch.lock", "manifest.json"]
    generation = next(folder.glob("generation-*"))
    assert sorted(name for name in os.listdir(generation) if not name.endswith(".lock")) == [
        "shard-0000.fsx", "shard-0001.fsx"]
    assert len(ShardedIndex.load(folder)) == 10
