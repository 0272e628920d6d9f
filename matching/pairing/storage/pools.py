"""Pools, their seekers, and the fence: the largest lease token a pool's writes accept."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from matching.core.storage.errors import StorageError, UnknownUser


class UnknownPool(StorageError, LookupError):
    """A pool nobody opened (404)."""

    def __init__(self, pool: str) -> None:
        super().__init__(f"unknown pool {pool}")
        self.pool = pool


class StaleFence(StorageError):
    """A write carrying a token older than the pool's fence: its runner lost the lease."""

    def __init__(self, pool: str, token: int, fence: int | None) -> None:
        super().__init__(f"pool {pool}: token {token} is stale (fence {fence})")
        self.pool, self.token, self.fence = pool, token, fence


async def open_pool(conn: asyncpg.Connection, pool: str) -> bool:
    """Open a pool; False when it was open already."""
    created = await conn.fetchval(
        "INSERT INTO pairing_pools (pool) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true", pool
    )
    return bool(created)


async def advance_fence(conn: asyncpg.Connection, pool: str, token: int) -> int | None:
    """Raise the pool's fence to `token`; None when done, else the (larger) fence in place."""
    raised = await conn.fetchval(
        "UPDATE pairing_pools SET fence = $2 WHERE pool = $1 AND fence < $2 RETURNING true",
        pool,
        token,
    )
    if raised:
        return None
    fence = await conn.fetchval("SELECT fence FROM pairing_pools WHERE pool = $1", pool)
    if fence is None:
        raise UnknownPool(pool)
    return int(fence)


async def check_fence(conn: asyncpg.Connection, pool: str, token: int) -> None:
    """Inside a write's transaction: hold the fence still (FOR SHARE blocks a successor's
    advance until commit) and reject the write unless `token` is the current one."""
    fence = await conn.fetchval("SELECT fence FROM pairing_pools WHERE pool = $1 FOR SHARE", pool)
    if fence != token:
        raise StaleFence(pool, token, fence)


async def add_seeker(
    conn: asyncpg.Connection, pool: str, user_id: UUID, criteria: dict[str, Any]
) -> asyncpg.Record:
    """Opt in (again: the criteria change, the wait is kept); the seeker's row."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO pairing_seekers (pool, user_id, criteria) VALUES ($1, $2, $3) "
            "ON CONFLICT (pool, user_id) DO UPDATE SET criteria = EXCLUDED.criteria "
            "RETURNING pool, user_id, criteria, cycles_waited, joined_at, (xmax = 0) AS inserted",
            pool,
            user_id,
            criteria,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        if not await conn.fetchval("SELECT true FROM pairing_pools WHERE pool = $1", pool):
            raise UnknownPool(pool) from exc
        raise UnknownUser(user_id) from exc
    assert row is not None
    return row


async def remove_seeker(conn: asyncpg.Connection, pool: str, user_id: UUID) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM pairing_seekers WHERE pool = $1 AND user_id = $2 RETURNING true",
        pool,
        user_id,
    )
    return bool(deleted)


async def seeker(conn: asyncpg.Connection, pool: str, user_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT cycles_waited, joined_at, criteria FROM pairing_seekers "
        "WHERE pool = $1 AND user_id = $2",
        pool,
        user_id,
    )


async def pool_summary(conn: asyncpg.Connection, pool: str) -> asyncpg.Record:
    """Size and the last finished cycle of a pool; UnknownPool when none."""
    row = await conn.fetchrow(
        """
        SELECT p.pool,
               (SELECT count(*) FROM pairing_seekers s WHERE s.pool = p.pool) AS size,
               c.id AS cycle_id, c.started_at, c.seekers, c.pairs
        FROM pairing_pools p
        LEFT JOIN LATERAL (
            SELECT id, started_at, seekers, pairs FROM pairing_cycles
            WHERE pool = p.pool AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1
        ) c ON true
        WHERE p.pool = $1
        """,
        pool,
    )
    if row is None:
        raise UnknownPool(pool)
    return row


async def pools_with_seekers(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT pool FROM pairing_seekers ORDER BY pool")
    return [r["pool"] for r in rows]


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Live totals for /health."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM pairing_seekers) AS pairing_seekers,
                  (SELECT count(*) FROM pairing_audit WHERE status <> 'completed')
                      AS pairing_incomplete_pairs"""
    )
    return {} if row is None else {k: int(v) for k, v in row.items()}


async def last_started(conn: asyncpg.Connection, pool: str) -> float | None:
    """Seconds since the pool's last cycle started; None before the first."""
    age = await conn.fetchval(
        "SELECT extract(epoch FROM now() - max(started_at))::float8 FROM pairing_cycles "
        "WHERE pool = $1",
        pool,
    )
    return None if age is None else float(age)
