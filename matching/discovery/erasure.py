"""Discovery's part of erasing a person: their open matches end with a notice to the other
side, and user.erased names every match they had."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import asyncpg

from matching.core.domain.pairs import pair_key
from matching.core.storage.outbox import enqueue
from matching.discovery.storage.matches import (
    OPEN_STATUSES,
    STATUS_UPDATED,
    lock_matches_of,
    lock_pairs,
    open_pairs_of,
    status_event,
)

DECLINE_REASON = "user_deleted"


class DiscoveryErasure:
    """An `ErasureStep`; stateless, so one instance serves every erasure at once."""

    async def lock(self, conn: asyncpg.Connection, user_id: UUID) -> None:
        # Lock order of matches.py: pair locks, then rows (the profile row comes after).
        await lock_pairs(conn, await open_pairs_of(conn, user_id))

    async def erase(self, conn: asyncpg.Connection, user_id: UUID, topic: str) -> dict[str, Any]:
        matches = await lock_matches_of(conn, user_id)
        opened = [m for m in matches if m.status in OPEN_STATUSES]
        # Pairs opened between lock() and the profile lock; the others are held already.
        await lock_pairs(conn, [(m.user1_id, m.user2_id) for m in opened])
        for match in opened:
            declined = dataclasses.replace(match, status="declined")
            notice = {**status_event(declined, match.status, None), "reason": DECLINE_REASON}
            await enqueue(
                conn, topic, pair_key(match.user1_id, match.user2_id), STATUS_UPDATED, notice
            )
        # The rows go with the profile (ON DELETE CASCADE).
        return {"match_ids": [str(m.id) for m in matches]}
