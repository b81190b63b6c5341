"""Saving and loading an Index: one safetensors file with a JSON manifest in its header.

The file is written to a temporary name in the same directory, flushed to disk
and renamed over the target, so a crash mid-save leaves the previous file whole.
Saves to one path run one at a time (a lock file ``.NAME.lock`` beside it), and
a successful save removes the temporaries that interrupted saves left behind.

A load trusts nothing in the file: the header keys, the configuration (keys from
an allow-list, values checked by the Index constructor), the SHA-256 of the
tensor payload recorded at save time, the dtype and shape of every tensor
against the schema, unique non-negative ids and finite vectors. Anything wrong
is a ValueError naming the file and what was wrong.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from filelock import FileLock
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from safetensors.torch import save_file

from .schema import KINDS, stored_column_problem

FORMAT_NAME = "flatsearch.index"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 files carry no checksum; everything else is checked
CONFIG_KEYS = ("dim", "metric", "dtype", "device", "partition_size", "attributes", "partition_by", "backend")
VECTOR_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

Loaded = tuple[dict, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]


def save_index(path: Any, config: dict, ids: torch.Tensor, vectors: torch.Tensor,
               columns: dict[str, torch.Tensor]) -> None:
    """Write one index file atomically (see the module docstring)."""
    path = _check_path(path)
    tensors, metadata = _payload(config, ids, vectors, columns)
    directory = path.parent if str(path.parent) else Path(".")
    with FileLock(str(directory / f".{path.name}.lock")):
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        os.close(handle)
        try:
            save_file(tensors, temporary, metadata=metadata)
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        # Temporaries of saves that were killed before their rename; no other save
        # to this path runs while the lock is held.
        for stale in directory.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def index_bytes(config: dict, ids: torch.Tensor, vectors: torch.Tensor, columns: dict[str, torch.Tensor]) -> bytes:
    """The bytes of an index file, for pickling."""
    tensors, metadata = _payload(config, ids, vectors, columns)
    return save_bytes(tensors, metadata=metadata)


def load_index(path: Any) -> Loaded:
    """Read and verify an index file: ``(config, ids, vectors, columns)``."""
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no index file at {str(path)!r}")
    where = f"path: {str(path)!r}"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            _check_metadata(metadata, where)
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not a readable flatsearch index file ({error})") from None
    return _verified(metadata, tensors, where)


def load_index_bytes(data: bytes, *, where: str = "data") -> Loaded:
    """Read and verify the bytes written by :func:`index_bytes`."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{where}: expected bytes, got {type(data).__name__}")
    try:
        (header_size,) = struct.unpack("<Q", bytes(data[:8]))
        header = json.loads(bytes(data[8:8 + header_size]))
        metadata = header.get("__metadata__") or {} if isinstance(header, dict) else {}
        _check_metadata(metadata, where)
        tensors = load_bytes(bytes(data))
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, SafetensorError, AttributeError) as error:
        raise ValueError(f"{where} is not a readable flatsearch index ({error})") from None
    return _verified(metadata, tensors, where)


# -- writing -----------------------------------------------------------------------------------


def _payload(config: dict, ids: torch.Tensor, vectors: torch.Tensor, columns: Mapping[str, torch.Tensor]
             ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {"ids": ids.cpu().contiguous(), "vectors": vectors.cpu().contiguous()}
    tensors.update({f"attribute.{name}": column.cpu().contiguous() for name, column in columns.items()})
    manifest = {"config": config, "rows": int(len(ids)), "columns": sorted(columns),
                "sha256": payload_digest(tensors)}
    metadata = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "manifest": json.dumps(manifest)}
    return tensors, metadata


def payload_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        if tensor.numel():
            digest.update(memoryview(tensor.view(torch.uint8).numpy()) if tensor.dim() else
                          memoryview(tensor.reshape(1).view(torch.uint8).numpy()))
    return digest.hexdigest()


# -- reading -----------------------------------------------------------------------------------


def _check_metadata(metadata: Any, where: str) -> None:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME or "manifest" not in metadata:
        raise ValueError(f"{where} is a safetensors file but not a flatsearch index")
    version = metadata.get("format_version")
    if version not in {str(number) for number in READABLE_VERSIONS}:
        raise ValueError(f"{where} has index format version {version!r}; this flatsearch reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")


def _verified(metadata: Mapping[str, str], tensors: dict[str, torch.Tensor], where: str) -> Loaded:
    try:
        manifest = json.loads(metadata["manifest"])
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{where} is damaged: its manifest is not JSON ({error})") from None
    if not isinstance(manifest, dict) or set(manifest) - {"config", "rows", "columns", "sha256"}:
        raise ValueError(f"{where} is damaged: unexpected manifest {str(manifest)[:200]}")
    config = manifest.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{where} is damaged: expected a config dict in its manifest, got {str(config)[:100]}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown or "dim" not in config:
        raise ValueError(f"{where} is damaged: config keys must come from {', '.join(CONFIG_KEYS)} and include dim, "
                         f"got {sorted(config)}")
    dim, rows = config["dim"], manifest.get("rows")
    if not _is_count(dim) or dim == 0 or not _is_count(rows):
        raise ValueError(f"{where} is damaged: expected positive dim and a row count, got dim={dim!r} rows={rows!r}")
    attributes = config.get("attributes") or {}
    if not isinstance(attributes, dict) or any(kind not in KINDS for kind in attributes.values()):
        raise ValueError(f"{where} is damaged: attributes must map names to one of {', '.join(KINDS)}, "
                         f"got {str(attributes)[:200]}")
    if manifest.get("columns") != sorted(attributes):
        raise ValueError(f"{where} is damaged: columns {manifest.get('columns')!r} do not match the attributes "
                         f"{sorted(attributes)}")
    expected = {"ids", "vectors"} | {f"attribute.{name}" for name in attributes}
    if set(tensors) != expected:
        raise ValueError(f"{where} is damaged: expected tensors {sorted(expected)}, got {sorted(tensors)}")
    if metadata.get("format_version") != "1":
        recorded = manifest.get("sha256")
        if not isinstance(recorded, str) or payload_digest(tensors) != recorded:
            raise ValueError(f"{where} is damaged: the SHA-256 of its tensors does not match the one saved with it")
    ids, vectors = tensors["ids"], tensors["vectors"]
    _check_ids(ids, rows, where)
    _check_vectors(vectors, rows, dim, config.get("dtype"), where)
    columns = {name: tensors[f"attribute.{name}"] for name in sorted(attributes)}
    for name, column in columns.items():
        _check_column(name, attributes[name], column, rows, where)
    return config, ids, vectors, columns


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_ids(ids: torch.Tensor, rows: int, where: str) -> None:
    if ids.dtype != torch.int64 or tuple(ids.shape) != (rows,):
        raise ValueError(f"{where} is damaged: expected ids int64 of shape ({rows},), got {ids.dtype} "
                         f"{tuple(ids.shape)}")
    # numpy, single-threaded: torch's parallel sort stalls when another process keeps a core busy.
    array = ids.contiguous().numpy()
    if rows and int(array.min()) < 0:
        raise ValueError(f"{where} is damaged: expected non-negative ids, got {int(array.min())}")
    ordered = np.sort(array)
    repeated = ordered[1:] == ordered[:-1]
    if bool(repeated.any()):
        raise ValueError(f"{where} is damaged: id {int(ordered[1:][repeated][0])} is stored more than once")


def _check_vectors(vectors: torch.Tensor, rows: int, dim: int, dtype: Any, where: str) -> None:
    if dtype not in VECTOR_DTYPES or vectors.dtype != VECTOR_DTYPES[dtype]:
        raise ValueError(f"{where} is damaged: expected vectors of the configured dtype "
                         f"({', '.join(VECTOR_DTYPES)}), got config dtype {dtype!r} and stored {vectors.dtype}")
    if tuple(vectors.shape) != (rows, dim):
        raise ValueError(f"{where} is damaged: the manifest says {rows} rows of dim {dim}, the file holds vectors "
                         f"{tuple(vectors.shape)}")
    # min and max propagate NaN and Inf: one pass and no (rows, dim) mask unless a value is bad.
    if vectors.numel() and all(bool(torch.isfinite(bound)) for bound in torch.aminmax(vectors)):
        return
    finite = torch.isfinite(vectors).all(dim=1)
    if not bool(finite.all()):
        raise ValueError(f"{where} is damaged: vector row {int((~finite).nonzero()[0])} holds NaN or Inf")


def _check_column(name: str, kind: str, column: torch.Tensor, rows: int, where: str) -> None:
    problem = stored_column_problem(kind, column, rows)
    if problem:
        raise ValueError(f"{where} is damaged: attribute {name!r} (kind {kind}): {problem}")


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
    return Path(path)

