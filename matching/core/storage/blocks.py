"""Blocks between people: neither is shown to, matched or paired with the other again, in
any mode."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from matching.core.storage.errors import UnknownUser


async def blocked_ids(conn: asyncpg.Connection, user_id: UUID) -> set[UUID]:
    """Everyone the user blocked or was blocked by."""
    rows = await conn.fetch(
        "SELECT blocked_id AS id FROM user_blocks WHERE blocker_id = $1 "
        "UNION SELECT blocker_id FROM user_blocks WHERE blocked_id = $1",
        user_id,
    )
    return {r["id"] for r in rows}


async def block(conn: asyncpg.Connection, blocker: UUID, blocked: UUID) -> bool:
    """Record a block; False if it already existed. It does not touch an existing match:
    the caller declines it (matches.update_status) if it should end."""
    if blocker == blocked:
        raise ValueError("cannot block oneself")
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            inserted = await conn.fetchval(
                "INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true",
                blocker,
                blocked,
            )
    except asyncpg.ForeignKeyViolationError as exc:
        unknown = await conn.fetchval(
            "SELECT u FROM unnest($1::uuid[]) AS u "
            "WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE id = u) LIMIT 1",
            [blocker, blocked],
        )
        raise UnknownUser(unknown) from exc
    return bool(inserted)


async def unblock(conn: asyncpg.Connection, blocker: UUID, blocked: UUID) -> bool:
    """Remove a block; False if there was none."""
    deleted = await conn.fetchval(
        "DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING true",
        blocker,
        blocked,
    )
    return bool(deleted)
