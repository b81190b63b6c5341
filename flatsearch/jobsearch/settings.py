"""Where cached artefacts (embeddings, built indexes, the place table) live.

``$FLATSEARCH_CACHE`` overrides the default ``~/.cache/flatsearch``; every
entry point also takes an explicit ``cache_dir``.
"""
from __future__ import annotations

import os
import pathlib

CACHE_ENV = "FLATSEARCH_CACHE"


def default_cache_dir() -> pathlib.Path:
    """The cache directory: ``$FLATSEARCH_CACHE`` or ``~/.cache/flatsearch``.

    Example:
        >>> default_cache_dir().name in ("flatsearch", os.environ.get(CACHE_ENV, "flatsearch").rstrip("/").split("/")[-1])
        True
    """
    configured = os.environ.get(CACHE_ENV)
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".cache" / "flatsearch"
