"""Benchmark harness for flatsearch: datasets, competitors, measures, reports.

The entry point is ``benchmarks/run.py``; this package holds its parts, each
module with one job:

- :mod:`fsbench.synthetic` and :mod:`fsbench.jobs_data`: the datasets;
- :mod:`fsbench.competitors`: one adapter per library, all with the same shape;
- :mod:`fsbench.groundtruth`: exact float32 top-k and recall;
- :mod:`fsbench.timing`: thread pinning, warm-up and repeated timing;
- :mod:`fsbench.suite`: runs every measure on every dataset and library;
- :mod:`fsbench.records`, :mod:`fsbench.report`, :mod:`fsbench.plots`: JSON, Markdown, PNG.
"""
