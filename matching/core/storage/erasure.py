"""Erasing a person: the one function both the API's DELETE and Kafka's user.deleted call.

Each enabled mode adds an `ErasureStep` for the state it keeps about the person (discovery:
their open matches). One transaction: every step's locks, then the profile row (which stops
new rows referencing the person), then every step's own work and notices, then the
`user.erased` event with the steps' fields, then the rows themselves (cascading to every
table that references the profile) and the index change-log row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from matching.core.storage.outbox import enqueue
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
    conn: asyncpg.Connection, user_id: UUID, topic: str, steps: Sequence[ErasureStep]
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
        await delete_profile(conn, user_id)  # last: it takes the change-log lock
    return Erased(user_id=user_id, event_id=event_id, fields=fields)
