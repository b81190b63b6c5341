"""Set-up for the micro benchmarks: thread pinning and a fallback ``benchmark`` fixture.

Without pytest-benchmark (not installed, or ``-p no:benchmark``), ``benchmark(fn, ...)``
simply calls ``fn`` once, so ``pytest benchmarks`` still checks every result.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

from fsbench.timing import default_threads, pin_threads  # noqa: E402


class _CallOnce:
    """Stands in for pytest-benchmark's fixture: call once, return the result."""

    def __call__(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    group: str = ""

    def pedantic(self, fn, args=(), kwargs=None, setup=None, rounds=1, iterations=1, warmup_rounds=0):
        if setup is not None:
            prepared = setup()
            if prepared is not None:
                args, kwargs = prepared
        return fn(*args, **(kwargs or {}))


class _FallbackPlugin:
    """Provides ``benchmark`` when pytest-benchmark is absent or disabled."""

    @pytest.fixture
    def benchmark(self):
        return _CallOnce()


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("benchmark"):
        config.pluginmanager.register(_FallbackPlugin(), "benchmark-fallback")


@pytest.fixture(scope="session", autouse=True)
def same_threads_for_all():
    pin_threads(default_threads())
