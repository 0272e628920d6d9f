"""The queue's part of erasing a person: their open ticket is cancelled (a partner in a
confirmation window goes back to the queue), their session ends (the partner is told), their
live keys go, and their history rows are deleted."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from matching.core.storage.locks import lock_pair_for_transaction
from matching.queue.storage.history import HISTORY_LOCK
from matching.queue.storage.live import LiveQueue

_DELETE = """
WITH s AS (DELETE FROM queue_sessions WHERE user_a = $1 OR user_b = $1 RETURNING id),
     m AS (DELETE FROM queue_matches WHERE user_a = $1 OR user_b = $1 RETURNING id),
     t AS (DELETE FROM queue_tickets WHERE user_id = $1 RETURNING id)
SELECT (SELECT array_agg(id::text) FROM s) AS sessions, (SELECT count(*) FROM t) AS tickets
"""


class QueueErasure:
    """An `ErasureStep` over the replica's live queue."""

    def __init__(self, live: LiveQueue) -> None:
        self._live = live

    async def lock(self, conn: asyncpg.Connection, user_id: UUID) -> None:
        """The history writer's lock: its batches wait for this erasure, then skip the
        person (Redis's scripts order the live changes)."""
        del user_id
        await lock_pair_for_transaction(conn, HISTORY_LOCK)

    async def erase(self, conn: asyncpg.Connection, user_id: UUID, topic: str) -> dict[str, Any]:
        del topic  # the queue's notices go to the users' streams, not Kafka
        user = str(user_id)
        tid = await self._live.redis.get(self._live.key("u", user))
        if tid is not None:
            await self._live.run("CANCEL", _text(tid), user, "user_deleted")
        await self._live.run("LEAVE", user, "")  # 'not_found' when they are in none
        await self._live.redis.delete(
            *(self._live.key(kind, user) for kind in ("ev", "seq", "cool", "strikes", "conn"))
        )
        row = await conn.fetchrow(_DELETE, user_id)
        assert row is not None
        return {"queue_session_ids": list(row["sessions"] or [])}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
