"""Pairing's part of erasing a person: their seeker rows and pairs go with the profile (ON
DELETE CASCADE); user.erased names the pools they left and the pairs that go, so consumers
can drop their own copies (chat rooms, notifications)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


class PairingErasure:
    """An `ErasureStep`; stateless."""

    async def lock(self, conn: asyncpg.Connection, user_id: UUID) -> None:
        """Nothing before the profile row: a cycle locks seeker rows, never the profile."""

    async def erase(
        self,
        conn: asyncpg.Connection,
        user_id: UUID,
        topic: str,  # noqa: ARG002
    ) -> dict[str, Any]:
        pools = await conn.fetch(
            "SELECT pool FROM pairing_seekers WHERE user_id = $1 ORDER BY pool FOR UPDATE",
            user_id,
        )
        pairs = await conn.fetch(
            "SELECT DISTINCT pair_key FROM pairing_audit WHERE user1_id = $1 OR user2_id = $1 "
            "ORDER BY pair_key",
            user_id,
        )
        return {
            "pairing_pools": [r["pool"] for r in pools],
            "pairing_pairs": [r["pair_key"] for r in pairs],
        }
