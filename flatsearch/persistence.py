"""Saving and loading an Index: one safetensors file with a JSON manifest in its header.

The file is written to a temporary name in the same directory, flushed to disk
and renamed over the target, so a crash mid-save leaves the previous file whole.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

FORMAT_NAME = "flatsearch.index"
FORMAT_VERSION = 1


def save_index(path: Any, config: dict, ids: torch.Tensor, vectors: torch.Tensor, columns: dict[str, torch.Tensor]) -> None:
    path = _check_path(path)
    manifest = {"config": config, "rows": int(len(ids)), "columns": sorted(columns)}
    metadata = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "manifest": json.dumps(manifest)}
    tensors = {"ids": ids.cpu().contiguous(), "vectors": vectors.cpu().contiguous()}
    tensors.update({f"attribute.{name}": column.cpu().contiguous() for name, column in columns.items()})
    directory = path.parent if str(path.parent) else Path(".")
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


def load_index(path: Any) -> tuple[dict, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no index file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            _check_metadata(metadata, path)
            manifest = json.loads(metadata["manifest"])
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"path: {str(path)!r} is not a readable flatsearch index file ({error})") from None
    config = manifest["config"]
    columns = {name: tensors[f"attribute.{name}"] for name in manifest["columns"]}
    ids, vectors = tensors["ids"], tensors["vectors"]
    if len(ids) != manifest["rows"] or vectors.shape != (manifest["rows"], config["dim"]):
        raise ValueError(f"path: {str(path)!r} is damaged: the manifest says {manifest['rows']} rows of dim "
                         f"{config['dim']}, the file holds ids {tuple(ids.shape)} and vectors {tuple(vectors.shape)}")
    return config, ids, vectors, columns


def _check_metadata(metadata: dict, path: Path) -> None:
    if metadata.get("format") != FORMAT_NAME or "manifest" not in metadata:
        raise ValueError(f"path: {str(path)!r} is a safetensors file but not a flatsearch index")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ValueError(f"path: {str(path)!r} has index format version {metadata.get('format_version')!r}; "
                         f"this flatsearch reads version {FORMAT_VERSION}")


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
    return Path(path)
