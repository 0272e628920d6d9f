"""Event registrations (people going to the platform's events), shared by every mode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

_UPSERT = """
INSERT INTO event_registrations (event_id, user_id, event_category, event_tags, registered_at)
VALUES ($1, $2, $3, $4, coalesce($5, now()))
ON CONFLICT (event_id, user_id) DO UPDATE SET
    event_category = EXCLUDED.event_category, event_tags = EXCLUDED.event_tags
"""


async def upsert_registration(
    conn: asyncpg.Connection,
    event_id: str,
    user_id: UUID,
    category: str | None,
    tags: Sequence[str],
    registered_at: datetime | None,
) -> None:
    """Record that the user registered for `event_id` (again: category and tags change, the
    first registration time stays). Raises ForeignKeyViolationError if there is no profile."""
    await conn.execute(_UPSERT, event_id, user_id, category, list(tags), registered_at)


# Registrations of the people going to $1's events (event_id, user_id), at most $3 + 1 of
# them: a fragment, so discovery reads them before retrieval, in the statement it already
# makes, and matches its candidates against them without a second round trip.
CO_ATTENDEES_SQL: Final = """
SELECT r.user_id, r.event_id
FROM event_registrations mine
JOIN event_registrations r ON r.event_id = mine.event_id AND r.user_id <> mine.user_id
WHERE mine.user_id = $1
LIMIT $3::int + 1
"""


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
