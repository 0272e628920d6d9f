"""Event registrations (people going to the platform's events), shared by every mode."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def shared_events(
    conn: asyncpg.Connection, user_id: UUID, candidates: Sequence[UUID]
) -> dict[str, list[str]]:
    """Candidate id -> the events both they and the user are registered for."""
    rows = await conn.fetch(
        """SELECT r.user_id, array_agg(r.event_id ORDER BY r.event_id) AS events
           FROM event_registrations r
           JOIN event_registrations mine ON mine.event_id = r.event_id AND mine.user_id = $1
           WHERE r.user_id = ANY($2::uuid[])
           GROUP BY r.user_id""",
        user_id,
        list(candidates),
    )
    return {str(r["user_id"]): list(r["events"]) for r in rows}
