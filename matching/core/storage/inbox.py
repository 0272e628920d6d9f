"""The consumer inbox: which consumed messages have been applied, for exactly-once effects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg

MAX_ID_LENGTH = 200


def message_id(
    payload: Mapping[str, Any] | None,
    topic: str,
    partition: int,
    offset: int,
    *,
    id_field: str | None = "event_id",
) -> str:
    """The payload's own id (`id_field`) when it has a usable one, else the record's position.

    A payload id also catches a producer that sent the same event twice (two offsets); the
    position only catches redelivery of the same record.
    """
    if id_field is not None and payload is not None:
        value = payload.get(id_field)
        if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
            return value
    return f"{topic}:{partition}:{offset}"


async def claim(
    conn: asyncpg.Connection,
    message_id: str,
    topic: str,
    partition: int,
    offset: int,
    event_type: str | None = None,
) -> bool:
    """Record the message in the caller's transaction; False if it was applied before.

    A concurrent claim of the same id (two consumers during a rebalance) waits on the
    primary key until the first transaction ends, then gets False if it committed.
    """
    inserted = await conn.fetchval(
        'INSERT INTO consumer_inbox (message_id, topic, partition, "offset", event_type) '
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING RETURNING true",
        message_id,
        topic,
        partition,
        offset,
        event_type,
    )
    return inserted is not None


async def seen(conn: asyncpg.Connection, message_id: str) -> bool:
    """Whether the message was applied (a cheap check before expensive work, not a claim)."""
    found = await conn.fetchval("SELECT 1 FROM consumer_inbox WHERE message_id = $1", message_id)
    return found is not None


async def prune(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Forget messages applied more than `older_than` ago; returns how many."""
    status = await conn.execute(
        "DELETE FROM consumer_inbox WHERE processed_at < now() - $1::interval", older_than
    )
    return int(status.split()[-1])
