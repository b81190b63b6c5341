"""The README's API tour runs as written."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_api_tour_runs(tmp_path, monkeypatch):
    tour = re.search(r"## API tour\n.*?```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert tour is not None, "the README lost its API tour"
    monkeypatch.chdir(tmp_path)  # the tour saves an index file
    namespace: dict = {}
    exec(compile(tour.group(1), "README.md (API tour)", "exec"), namespace)
    result, index = namespace["result"], namespace["index"]
    assert result.ids.shape == (2, 10) and len(index) == 9_999
    assert (tmp_path / "jobs.fsx").is_file()
