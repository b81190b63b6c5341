"""A local Ray instance for tests whose actors import modules from this checkout."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def local_ray_session(*import_paths: str) -> Iterator[None]:
    """Start Ray on two CPUs with ``import_paths`` on the workers' PYTHONPATH; restore it after.

    Workers must import flatsearch (and any test module defining actor classes) even
    from a plain checkout where flatsearch is not installed.
    """
    import ray

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [*import_paths, previous]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = previous
