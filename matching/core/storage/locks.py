"""Every PostgreSQL advisory lock the service takes, in one registry, so no two schemes
collide and a reader sees every lock in one place.

Fixed locks use the one-bigint key space. Pair locks (one per ordered pair of people,
taken by whatever changes that pair's state, in every mode) hash the pair's key text into
the same space with `hashtextextended`; a collision with a fixed key is a 1-in-2^63 chance
and would only make two unrelated writers wait for each other.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@enum.unique  # two schemes sharing a key would silently exclude each other
class Lock(enum.IntEnum):
    """The fixed advisory locks: each is ASCII text read as a big-endian integer."""

    MIGRATE = 0x6D61746368  # "match": one migrator at a time (session lock)
    CHANGE_LOG = 0x696E646578  # "index": index_changes in commit order (transaction lock)
    MAINTENANCE = 0x6D61696E74  # "maint": one replica runs the periodic work (session lock)
    RELAY_LEADER = int.from_bytes(b"matchrly", "big")  # the one publishing relay (session)


# SQL fragments for pair locks, so every statement that takes one hashes the same way.
PAIR_LOCK_SQL = "pg_advisory_xact_lock(hashtextextended($1, 0))"
TRY_PAIR_LOCK_SQL = "pg_try_advisory_xact_lock(hashtextextended({key}, 0))"


async def lock_for_transaction(conn: asyncpg.Connection, lock: Lock) -> None:
    """Wait for `lock`; it is released when the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", int(lock))


async def lock_pair_for_transaction(conn: asyncpg.Connection, pair_key: str) -> None:
    """Wait for the pair's lock; it is released when the transaction ends."""
    await conn.execute(f"SELECT {PAIR_LOCK_SQL}", pair_key)


async def try_lock(conn: asyncpg.Connection, lock: int, timeout: float | None = None) -> bool:
    """Take `lock` (a `Lock`, or a key a test chose) for this session if it is free now."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", int(lock), timeout=timeout))


async def unlock(conn: asyncpg.Connection, lock: Lock) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", int(lock))


@asynccontextmanager
async def session_lock(conn: asyncpg.Connection, lock: Lock) -> AsyncIterator[None]:
    """Hold `lock` for this session while the block runs, waiting for it first."""
    await conn.execute("SELECT pg_advisory_lock($1)", int(lock))
    try:
        yield
    finally:
        await unlock(conn, lock)


@asynccontextmanager
async def try_session_lock(conn: asyncpg.Connection, lock: Lock) -> AsyncIterator[bool]:
    """Yields whether `lock` was free; if so it is held while the block runs."""
    held = await try_lock(conn, lock)
    try:
        yield held
    finally:
        if held:
            await unlock(conn, lock)
