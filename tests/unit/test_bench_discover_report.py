"""bench/discover_report.py: the scale table keeps one row per population size."""

from __future__ import annotations

import pytest

from bench.discover_report import SCALE, Run, scale_row, scale_table
from bench.load import LoadResult

pytestmark = pytest.mark.unit


def _run(users: int, p50: float) -> Run:
    cell = LoadResult(rps=50.0, p50_ms=p50, p95_ms=p50, p99_ms=p50, requests=100, errors=0)
    noop = LoadResult(rps=100.0, p50_ms=5.0, p95_ms=6.0, p99_ms=7.0, requests=200, errors=0)
    table = {("noop:noop", c): noop for c in (1, 4)} | {
        ("single:discover", c): cell for c in (1, 4)
    }
    rss = {"default": {"single:Ingress": 700.0}}
    return Run(users, {}, {"default": table}, rss, 150.0)


def test_a_size_replaces_its_own_row_and_keeps_the_others() -> None:
    first = scale_table("", scale_row(_run(100_000, 20.0), "default", "hnsw"), 100_000)
    old = "\n".join(["Discover and search, 100,000 people", "", *first, "", "### Reading", "x"])
    rows = scale_table(old, scale_row(_run(10_000, 10.0), "default", "flat"), 10_000)
    again = scale_table("\n".join(rows), scale_row(_run(10_000, 12.0), "default", "flat"), 10_000)
    assert again[0] == SCALE
    body = [line for line in again if line.startswith("| ") and line[2].isdigit()]
    assert [line.split(" | ")[0] for line in body] == ["| 10,000", "| 100,000"]
    assert "| 12.0 | 5.0 | 2.40 |" in body[0]
    assert "| 20.0 | 5.0 | 4.00 |" in body[1]
    assert "| 700 | n/a |" in body[1]  # single's RSS; no pipeline Retriever measured
