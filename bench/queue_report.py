"""bench/queue.py's measurements and its section of BENCHMARKS.md: each user's timeline on
the client's clock and on the service's, summarised as p50 / p99 and errors by kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Run:
    """One user's timeline: the client's clock (perf_counter seconds) and the service's
    (Redis milliseconds: the ticket's `created_at`, each event's `at`)."""

    sent: float = 0.0
    answered: float = 0.0
    found: float | None = None
    ready: float | None = None
    created_ms: float | None = None
    found_ms: float | None = None
    ready_ms: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """One arrival pattern's runs, the machine's load averages before and after, and the
    CPU seconds the client and each server process used over its wall seconds (sockets
    opened to the last user done)."""

    name: str
    runs: list[Run]
    load_before: str
    load_after: str
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: list[float] = field(default_factory=list)


HEADER = (
    "| arrivals | users | tickets/s | POST ticket | match, server | match, client "
    "| session, server | session, client | sessions | errors |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def _ms(values: list[float]) -> str:
    """p50 / p99 of `values` (milliseconds)."""
    if not values:
        return "- / -"
    p50, p99 = np.percentile(np.array(values), [50, 99])
    return f"{p50:.0f} / {p99:.0f}"


def row(s: Scenario) -> str:
    """The scenario's table row; times from the POST (client) or the ticket's creation
    (server) to match_found and to match_ready."""
    ok = [r for r in s.runs if r.answered and r.created_ms is not None]
    span = max(r.answered for r in ok) - min(r.sent for r in ok) if ok else 0.0
    rate = len(ok) / span if span else 0.0
    found = [r for r in ok if r.found is not None and r.found_ms is not None]
    ready = [r for r in ok if r.ready is not None and r.ready_ms is not None]
    cells = [
        s.name,
        str(len(s.runs)),
        f"{rate:.0f}",
        _ms([(r.answered - r.sent) * 1000 for r in ok]),
        _ms([r.found_ms - r.created_ms for r in found]),  # type: ignore[operator]
        _ms([(r.found - r.sent) * 1000 for r in found]),  # type: ignore[operator]
        _ms([r.ready_ms - r.created_ms for r in ready]),  # type: ignore[operator]
        _ms([(r.ready - r.sent) * 1000 for r in ready]),  # type: ignore[operator]
        str(len(ready)),
        str(sum(len(r.errors) for r in s.runs)),
    ]
    return "| " + " | ".join(cells) + " |"


def errors(s: Scenario) -> str:
    """`kind: count` for each kind of error, most frequent first ('none' without any)."""
    counts = Counter(e for r in s.runs for e in r.errors)
    return ", ".join(f"{kind}: {n}" for kind, n in counts.most_common()) or "none"


def format_rows(scenarios: list[Scenario]) -> str:
    return "\n".join(row(s) for s in scenarios)


def section(heading: str, command: str, scenarios: list[Scenario]) -> str:
    """The whole generated section (the `### Reading` commentary is kept by the caller)."""
    notes = [
        f"- {s.name}: errors {errors(s)}; load average (1 / 5 / 15 min) {s.load_before} "
        f"before, {s.load_after} after; in its {s.wall_s:.0f} s the server used "
        f"{' + '.join(f'{c:.1f}' for c in s.server_cpu_s) or '-'} CPU s, the client "
        f"{s.client_cpu_s:.1f}"
        for s in scenarios
    ]
    return "\n".join(
        [
            heading,
            "",
            f"{command}. The queue mode (matcher, pub/sub hub, every WebSocket) over local "
            "PostgreSQL and Redis; the clients (one WebSocket and one HTTP connection per user) "
            "in one asyncio process on the same machine. Times in ms, p50 / p99. *Server*: from "
            "the ticket's `created_at` to the `at` of the user's match_found / match_ready "
            "event (both stamped by Redis's clock in the service); *client*: from sending the "
            "POST to receiving the event, so it includes the POST's own wait. tickets/s counts "
            "accepted POSTs from the first sent to the last answered.",
            "",
            HEADER,
            format_rows(scenarios),
            "",
            *notes,
        ]
    )
