"""The transactional outbox: events written in the transaction of the change they describe,
and the relay's reads and marks (it publishes them in id order)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

# The channel migration 0011's trigger notifies after every insert into event_outbox.
CHANNEL = "matching_outbox"


def envelope(event_type: str, payload: dict[str, Any], event_id: uuid.UUID) -> dict[str, Any]:
    """The platform's event shape: event_type, event_id, timestamp, then the fields."""
    return {
        "event_type": event_type,
        "event_id": str(event_id),
        "timestamp": datetime.now(UTC).isoformat(),
        **payload,
    }


async def enqueue(
    conn: asyncpg.Connection,
    topic: str,
    key: str,
    event_type: str,
    payload: dict[str, Any],
) -> uuid.UUID:
    """Add an event inside the caller's transaction; returns its event_id.

    Events that must stay in order share a `key` (a pair, or a user) and are written under
    the same lock as the change they describe, so their ids are in commit order.
    """
    event_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO event_outbox (event_id, topic, message_key, event_type, payload) "
        "VALUES ($1, $2, $3, $4, $5)",
        event_id,
        topic,
        key,
        event_type,
        envelope(event_type, payload, event_id),
    )
    return event_id


_PENDING = """
SELECT id, event_id, topic, message_key, event_type, payload,
       extract(epoch FROM clock_timestamp() - created_at)::float8 AS age_s
FROM event_outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
"""
_MARK = """
UPDATE event_outbox SET published_at = now()
WHERE id = ANY($1::bigint[]) AND published_at IS NULL
"""
_FAILED = """
UPDATE event_outbox SET attempts = attempts + 1, last_error = $2
WHERE id = ANY($1::bigint[]) AND published_at IS NULL
"""
_BACKLOG = """
SELECT count(*), extract(epoch FROM clock_timestamp() - min(created_at))::float8
FROM event_outbox WHERE published_at IS NULL
"""


async def pending(conn: asyncpg.Connection, limit: int, timeout: float) -> list[asyncpg.Record]:
    """The oldest `limit` unpublished events in id order, each with its age in seconds."""
    return list(await conn.fetch(_PENDING, limit, timeout=timeout))


async def mark_published(conn: asyncpg.Connection, ids: Sequence[int], timeout: float) -> None:
    await conn.execute(_MARK, list(ids), timeout=timeout)


async def mark_failed(
    conn: asyncpg.Connection, ids: Sequence[int], error: str, timeout: float
) -> None:
    """Count a failed attempt on each unpublished event of `ids`, with the error."""
    await conn.execute(_FAILED, list(ids), error, timeout=timeout)


async def backlog(conn: asyncpg.Connection, timeout: float) -> tuple[int, float | None]:
    """(unpublished events, age in seconds of the oldest; None when there are none)."""
    row = await conn.fetchrow(_BACKLOG, timeout=timeout)
    assert row is not None
    return int(row[0]), row[1]


async def prune_published(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Delete events published more than `older_than` ago (their payloads name people);
    unpublished events stay whatever their age. Returns how many went."""
    status = await conn.execute(
        "DELETE FROM event_outbox WHERE published_at < now() - $1::interval", older_than
    )
    return int(status.split()[-1])


async def forget_published(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    """Delete the published events that name the person (in their key or payload), for an
    erasure; the unpublished ones still go out and are pruned after the retention."""
    # A scan of the published rows, which MATCHING_OUTBOX_RETENTION_HOURS bounds; erasures
    # are rare, and no index can serve "the payload names this id" for every event shape.
    status = await conn.execute(
        "DELETE FROM event_outbox WHERE published_at IS NOT NULL "
        "AND (strpos(message_key, $1) > 0 OR strpos(payload::text, $1) > 0)",
        str(user_id),
    )
    return int(status.split()[-1])
