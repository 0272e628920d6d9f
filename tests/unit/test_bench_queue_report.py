"""bench/queue_report.py: server-side and client-side times, and errors by kind."""

from __future__ import annotations

import pytest

from bench.queue_report import Run, Scenario, errors, row

pytestmark = pytest.mark.unit


def _matched(offset_s: float) -> Run:
    # Sent at `offset_s`, answered 2 s later; the service matched 100 ms after creating
    # the ticket and started the session 300 ms after; the client saw each 2 s later.
    return Run(
        sent=offset_s,
        answered=offset_s + 2.0,
        found=offset_s + 2.1,
        ready=offset_s + 2.3,
        created_ms=1_000.0,
        found_ms=1_100.0,
        ready_ms=1_300.0,
    )


def test_server_times_leave_out_the_posts_wait_and_client_times_keep_it() -> None:
    runs = [_matched(0.0), _matched(0.0), Run(sent=0.0, errors=["POST 503"])]
    cells = row(Scenario("burst", runs, "1.0", "1.0")).split(" | ")
    assert cells[3:10] == [
        "2000 / 2000",
        "100 / 100",
        "2100 / 2100",
        "300 / 300",
        "2300 / 2300",
        "2",
        "1 |",
    ]


def test_errors_are_counted_by_kind_most_frequent_first() -> None:
    runs = [
        Run(errors=["socket closed"]),
        Run(errors=["no match_ready in time"]),
        Run(errors=["socket closed"]),
        Run(),
    ]
    assert errors(Scenario("x", runs, "", "")) == "socket closed: 2, no match_ready in time: 1"
    assert errors(Scenario("x", [Run()], "", "")) == "none"
