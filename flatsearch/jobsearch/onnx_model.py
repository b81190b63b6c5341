"""A sentence-transformers model run by onnxruntime, without sentence-transformers at run time.

:func:`export_onnx` converts a model folder once with sentence-transformers' ONNX
backend (``SentenceTransformer(path, backend="onnx")``, which uses optimum) and
saves the result, tokenizer included, in a folder of the cache. :class:`OnnxSentenceModel`
then loads only onnxruntime and tokenizers (a fraction of a second, against several
seconds for sentence-transformers and its imports) and computes what the model's
sentence-transformers pipeline computes for all-MiniLM-style models: the transformer's
token embeddings, mean-pooled over the attention mask, L2-normalised.
``tests/jobsearch/test_embedding_and_cache.py`` checks the vectors against the
SentenceTransformer's own.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import warnings

import numpy as np

ONNX_FILE = "onnx/model.onnx"
DEFAULT_MAX_LENGTH = 256


@contextlib.contextmanager
def quiet_model_loading():
    """Silence transformers' weight-loading bars, the hub's progress bars and export warnings while a model loads."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    loggers = [logging.getLogger(name) for name in ("transformers", "sentence_transformers", "optimum", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "transformers" in sys.modules:  # else the environment above silences it when it is imported; never import it here
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
                transformers_logging.set_verbosity_error()
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _pooling_is_mean_normalised(model_path: pathlib.Path) -> bool:
    """True when the folder's sentence-transformers pipeline is transformer -> mean pooling -> normalise."""
    try:
        modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
        pooling_folder = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((model_path / pooling_folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, StopIteration, KeyError, json.JSONDecodeError):
        return False
    normalised = any(m["type"].endswith("Normalize") for m in modules)
    other_modes = [key for key, value in pooling.items() if key.startswith("pooling_mode_") and value and key != "pooling_mode_mean_tokens"]
    return normalised and pooling.get("pooling_mode_mean_tokens", False) and not other_modes


def _max_length(model_path: pathlib.Path) -> int:
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"])
    except (OSError, KeyError, ValueError, TypeError):
        return DEFAULT_MAX_LENGTH


def quantized_file(quantisation_config: str | None) -> str:
    """The file of an export holding the model: the float one, or the int8 one for a quantisation preset.

    Example:
        >>> quantized_file(None), quantized_file("avx2")
        ('onnx/model.onnx', 'onnx/model_qint8_avx2.onnx')
    """
    return ONNX_FILE if quantisation_config is None else f"onnx/model_qint8_{quantisation_config}.onnx"


def export_onnx(model_path: str | os.PathLike, target: str | os.PathLike, *, quantisation_config: str | None = None) -> pathlib.Path:
    """Export the sentence-transformers model at ``model_path`` to ONNX in the folder ``target``, once.

    With ``quantisation_config`` (``"avx512_vnni"``, ``"avx2"``, ...), also the int8 dynamically
    quantised model (sentence-transformers' ``export_dynamic_quantized_onnx_model``). Nothing is
    done for files ``target`` already holds. Each export is written to a temporary folder beside
    ``target`` and moved into place, so an interrupted export leaves nothing half written. Needs
    sentence-transformers with its ``onnx`` extra.

    Example:
        >>> folder = export_onnx(default_model_path(), default_cache_dir() / "onnx-test")  # doctest: +SKIP
        >>> (folder / "onnx" / "model.onnx").is_file()  # doctest: +SKIP
        True
    """
    source, target = pathlib.Path(model_path), pathlib.Path(target)
    wanted = quantized_file(quantisation_config)
    if (target / ONNX_FILE).is_file() and (target / wanted).is_file():
        return target
    if not _pooling_is_mean_normalised(source):
        raise ValueError(f"model_path: the onnx backend runs models with mean pooling and normalisation; {str(source)!r} "
                         "uses another pipeline (use backend='torch')")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        with quiet_model_loading():
            from sentence_transformers import SentenceTransformer

            if not (target / ONNX_FILE).is_file():
                SentenceTransformer(str(source), backend="onnx", device="cpu").save(str(staging))
                (staging / "max_length.json").write_text(json.dumps({"max_length": _max_length(source)}), encoding="utf-8")
                try:
                    os.replace(staging, target)
                except OSError:
                    if not (target / ONNX_FILE).is_file():  # another process finished the same export first: keep its copy
                        raise
            if not (target / wanted).is_file():
                from sentence_transformers import export_dynamic_quantized_onnx_model

                staging.mkdir(exist_ok=True)
                float_model = SentenceTransformer(str(target), backend="onnx", device="cpu")
                export_dynamic_quantized_onnx_model(float_model, quantisation_config, str(staging))
                # sentence-transformers names the file by the int8 type the preset quantises to: signed ("qint8") for the
                # AVX-512 VNNI preset, unsigned ("quint8") for AVX2; either is this preset's model.
                written = [staging / wanted, *(staging / "onnx").glob(f"model_q*int8_{quantisation_config}.onnx")]
                os.replace(next((path for path in written if path.is_file()), staging / wanted), target / wanted)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class OnnxSentenceModel:
    """An exported sentence model: ``encode`` takes the arguments of ``SentenceTransformer.encode`` that matter here.

    Example:
        >>> model = OnnxSentenceModel(export_onnx(default_model_path(), default_cache_dir() / "onnx-test"))  # doctest: +SKIP
        >>> model.encode(["data engineer"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, folder: str | os.PathLike, *, file_name: str = ONNX_FILE, threads: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        folder = pathlib.Path(folder)
        if not (folder / file_name).is_file():
            raise ValueError(f"folder: expected an ONNX export holding {file_name}, got {str(folder)!r}")
        self.folder = folder
        settings = json.loads((folder / "max_length.json").read_text(encoding="utf-8")) if (folder / "max_length.json").is_file() else {}
        self.max_length = int(settings.get("max_length", DEFAULT_MAX_LENGTH))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        pad_token = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("pad_token", "[PAD]")
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad_token), pad_token=pad_token)  # to the longest in a batch
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(folder / file_name), options, providers=["CPUExecutionProvider"])
        # One text (a query, about ten tokens) runs on the calling thread alone: spreading it over a thread pool cost more
        # in handing work over than it saved, most of all with the other core busy (2 cores, load 3.2: p50 1.86 -> 0.86 ms,
        # p90 5.9 -> 1.0 ms), and the pool's threads, still spinning after the call, slowed the index scan that follows it
        # (dev set, load 4.4-4.6: search stage median 13.5-14.2 ms with the pool, 5.6-8.4 ms without). Batches keep the pool.
        # Made on the first one-text call, so loading the model takes no longer.
        self._path = str(folder / file_name)
        self._single_session = None
        self._single_lock = threading.Lock()
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    @property
    def single_session(self):
        """The one-thread session for one text at a time."""
        if self._single_session is None:
            import onnxruntime

            with self._single_lock:
                if self._single_session is None:
                    options = onnxruntime.SessionOptions()
                    options.intra_op_num_threads = options.inter_op_num_threads = 1
                    self._single_session = onnxruntime.InferenceSession(self._path, options, providers=["CPUExecutionProvider"])
        return self._single_session

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize_embeddings: bool = True, **_ignored) -> np.ndarray:
        """(len(texts), dim) float32 sentence embeddings, computed in batches of ``batch_size`` in the order given."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(list(texts[start:start + batch_size]))
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64), "attention_mask": mask,
                     "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
            session = self.single_session if len(encodings) == 1 else self.session
            tokens = session.run(None, {name: value for name, value in feeds.items() if name in self.input_names})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            if normalize_embeddings:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[start:start + len(encodings)] = pooled
        return out
