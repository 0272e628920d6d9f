"""Erasing a person: the one function both the API's DELETE and Kafka's user.deleted call.

Each enabled mode adds an `ErasureStep` for the state it keeps about the person (discovery:
their open matches). One transaction: every step's locks, then the profile row (which stops
new rows referencing the person), then every step's own work and notices, then the
`user.erased` event with the steps' fields, then the rows themselves (cascading to every
table that references the profile), the published events that name the person, the index
change-log row and the erasure record.

What stays, and for how long: the change-log row (every retriever replica replays it) until
MATCHING_CHANGE_LOG_RETENTION_HOURS; the events this erasure enqueues, until published and
then MATCHING_OUTBOX_RETENTION_HOURS; the erasure record, a salted hash of the id (so a
stale event naming the person is ignored), for MATCHING_ERASURE_RETENTION_DAYS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from matching.core import metrics
from matching.core.storage.outbox import enqueue, forget_published
from matching.core.storage.profiles import delete_profile, lock_profile

USER_ERASED = "user.erased"


class ErasureStep(Protocol):
    """A mode's part of erasing a person, inside the erasing transaction."""

    async def lock(self, conn: asyncpg.Connection, user_id: UUID) -> None:
        """Take the mode's locks that come before the profile row in its lock order."""

    async def erase(self, conn: asyncpg.Connection, user_id: UUID, topic: str) -> dict[str, Any]:
        """Do the mode's work and enqueue its notices; returns fields for user.erased."""


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure did: the user.erased event's id and its fields."""

    user_id: UUID
    event_id: UUID
    fields: dict[str, Any]


async def erase_person(
    conn: asyncpg.Connection,
    user_id: UUID,
    topic: str,
    steps: Sequence[ErasureStep],
    source: str = "api",
) -> Erased | None:
    """Erase the person in one transaction (see the module docstring); None: no such
    profile, and nothing was written."""
    async with conn.transaction():
        for step in steps:
            await step.lock(conn, user_id)
        if not await lock_profile(conn, user_id):
            return None
        fields: dict[str, Any] = {}
        for step in steps:
            added = await step.erase(conn, user_id, topic)
            clash = (fields.keys() & added.keys()) | (added.keys() & {"user_id"})
            if clash:
                raise ValueError(f"two erasure steps set user.erased fields {sorted(clash)}")
            fields.update(added)
        payload = {"user_id": str(user_id), **fields}
        event_id = await enqueue(conn, topic, str(user_id), USER_ERASED, payload)
        await forget_published(conn, user_id)
        await record_erasure(conn, user_id)
        await delete_profile(conn, user_id)  # last: it takes the change-log lock
    metrics.inc("matching_erasures_total", source=source)
    return Erased(user_id=user_id, event_id=event_id, fields=fields)


# sha256(this database's random salt || the id's 16 bytes): the table holds no ids.
_HASH = "(SELECT sha256(salt || uuid_send($1::uuid)) FROM erasure_salt)"


async def record_erasure(conn: asyncpg.Connection, user_id: UUID) -> None:
    """Remember that the person was erased (now), as a salted hash of their id."""
    await conn.execute(
        f"INSERT INTO erasures (user_hash, erased_at) VALUES ({_HASH}, now()) "
        "ON CONFLICT (user_hash) DO UPDATE SET erased_at = EXCLUDED.erased_at",
        user_id,
    )


async def erased_at(conn: asyncpg.Connection, user_id: UUID) -> datetime | None:
    """When the person was last erased, if within the retention; None: not erased."""
    found: datetime | None = await conn.fetchval(
        f"SELECT erased_at FROM erasures WHERE user_hash = {_HASH}", user_id
    )
    return found


async def prune_records(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Forget erasures older than `older_than` (the platform's replay window); how many."""
    status = await conn.execute(
        "DELETE FROM erasures WHERE erased_at < now() - $1::interval", older_than
    )
    return int(status.split()[-1])
