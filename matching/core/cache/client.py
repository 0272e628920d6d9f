"""The one place that talks to Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from matching.core.settings import RedisSettings

POOL_WAIT_S = 10.0


def create_client(
    settings: RedisSettings, read_timeout_s: float | None = None, queue_for: int | None = None
) -> aioredis.Redis | None:
    """A client (connections are opened lazily), or None when REDIS_URL is not set.
    `read_timeout_s` replaces the read timeout for a client that blocks on purpose (pub/sub);
    `queue_for=N` caps it at N connections, a command waiting (up to the timeout) for a free
    one, for callers with many concurrent commands (one per WebSocket)."""
    if not settings.url:
        return None
    timeout = settings.timeout_s  # a Redis slower than this counts as down: caches skipped
    options = {"socket_timeout": read_timeout_s or timeout, "socket_connect_timeout": timeout}
    if queue_for is None:
        return aioredis.from_url(settings.url, **options)
    # Waiting for a connection is queueing, not a slow Redis: a longer wait than a read.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url, max_connections=queue_for, timeout=POOL_WAIT_S, **options
    )
    return aioredis.Redis.from_pool(pool)  # owns it: aclose() closes its connections


async def ping(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
