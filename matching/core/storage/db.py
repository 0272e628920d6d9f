"""The asyncpg pool: created when a replica or job starts, closed when it stops."""

from __future__ import annotations

import json

import asyncpg

from matching.core.settings import DatabaseSettings


class DatabaseNotConfigured(RuntimeError):
    """DATABASE_URL is not set."""


def _jsonb_encode(value: object) -> bytes:
    return b"\x01" + json.dumps(value).encode()  # jsonb binary format: version byte, text


def _jsonb_decode(data: bytes) -> object:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary jsonb so COPY (the seeder's bulk load) can use the same codec.
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(settings: DatabaseSettings) -> asyncpg.Pool:
    if not settings.url:
        raise DatabaseNotConfigured("DATABASE_URL is not set")
    pool = await asyncpg.create_pool(
        settings.url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        # Every statement and every new connection gives up after MATCHING_DB_TIMEOUT_S
        # (the ingress turns either into a 503 naming the database); acquiring is bounded
        # by each caller (Resources.connection).
        command_timeout=settings.command_timeout_s,
        timeout=settings.command_timeout_s,
        init=_init_connection,
    )
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1")


async def connect(settings: DatabaseSettings) -> asyncpg.Connection:
    """One connection with the same codecs as the pool (for jobs and commands)."""
    if not settings.url:
        raise DatabaseNotConfigured("DATABASE_URL is not set")
    # Jobs run long statements on purpose: 30 times the request timeout, never unbounded.
    conn = await asyncpg.connect(
        settings.url,
        command_timeout=settings.command_timeout_s * 30,
        timeout=settings.command_timeout_s,
    )
    await _init_connection(conn)
    return conn
