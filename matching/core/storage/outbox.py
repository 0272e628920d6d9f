"""Writing events to the transactional outbox (the relay publishes them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg


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
