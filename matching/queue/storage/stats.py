"""Reads of the queue's history: a ticket past its live hash, the figures, the counts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

_FIGURES = """
SELECT count(*) AS matches,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) / 1000.0 AS median_s,
       count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE status <> 'pending') AS ended,
       (SELECT count(*) FROM queue_sessions) AS sessions
FROM queue_matches
"""


async def ticket(conn: asyncpg.Connection, ticket_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM queue_tickets WHERE id = $1", ticket_id
    )
    return row


async def figures(conn: asyncpg.Connection) -> dict[str, Any]:
    """Matches made, their median time to match, the confirm rate (of ended matches), sessions."""
    row = await conn.fetchrow(_FIGURES)
    assert row is not None
    ended = int(row["ended"])
    return {
        "matches": int(row["matches"]),
        "median_time_to_match_s": None if row["median_s"] is None else float(row["median_s"]),
        "confirm_rate": None if not ended else int(row["confirmed"]) / ended,
        "sessions": int(row["sessions"]),
    }


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """The queue's part of /health's counts."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM queue_tickets) AS t, "
        "(SELECT count(*) FROM queue_sessions) AS s"
    )
    assert row is not None
    return {"queue_tickets": int(row["t"]), "queue_sessions": int(row["s"])}
