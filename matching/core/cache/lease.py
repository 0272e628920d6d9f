"""A Redis lease with a fencing token: at most one holder per name while it is renewed.

Keys (``name`` chosen by the caller, e.g. ``pairing:{pool}``)::

    lease:{name}   the holder's token, with a TTL (SET NX PX); renewed by the heartbeat
    fence:{name}   the last token handed out (INCR), so every new holder's token is larger

A lease alone cannot stop a holder that paused past its TTL (GC, partition) from writing
after a successor took over; the token can: storage remembers the largest token it has seen
and rejects writes carrying a smaller one (pairing does it in PostgreSQL, see
matching.pairing.storage.pools). Unlike the caches, errors here are raised: without Redis
nobody may run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Renew only while the lease still holds our token (compare-and-pexpire).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# Release only our own lease (compare-and-delete).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Raise the token counter to at least ARGV[1] (after Redis lost it: tokens must keep growing).
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


def lease_key(name: str) -> str:
    return f"lease:{name}"


def fence_key(name: str) -> str:
    return f"fence:{name}"


class Lease:
    """One attempt at holding `name`; `token` is set while held, `lost` once a renewal fails."""

    def __init__(self, redis: Redis, name: str, ttl_s: float, heartbeat_s: float) -> None:
        self._redis, self.name = redis, name
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._heartbeat_s = heartbeat_s
        self.token: int | None = None
        self.lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; starts the heartbeat. False when held."""
        token = int(await self._redis.incr(fence_key(self.name)))
        if not await self._redis.set(lease_key(self.name), str(token), nx=True, px=self._ttl_ms):
            return False
        self.token = token
        self._task = asyncio.create_task(self._beat(), name=f"lease heartbeat {self.name}")
        return True

    async def holder(self) -> int | None:
        """The token of whoever holds the lease now, if anyone."""
        value = await self._redis.get(lease_key(self.name))
        return None if value is None else int(value)

    async def raise_counter(self, at_least: int) -> None:
        """Make the next token larger than `at_least` (storage has seen that one)."""
        await self._redis.eval(_RAISE, 1, fence_key(self.name), str(at_least))

    async def _beat(self) -> None:
        assert self.token is not None
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                renewed = await self._redis.eval(
                    _RENEW, 1, lease_key(self.name), str(self.token), str(self._ttl_ms)
                )
            except Exception:  # Redis unreachable: keep trying until the TTL says otherwise
                log.warning("lease %s: renewal failed", self.name, exc_info=True)
                continue
            if not renewed:
                log.warning("lease %s: lost (token %s)", self.name, self.token)
                self.lost.set()
                return

    async def release(self) -> None:
        """Stop the heartbeat and delete the lease if it is still ours."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.token is not None:
            await self._redis.eval(_RELEASE, 1, lease_key(self.name), str(self.token))


@asynccontextmanager
async def held(redis: Redis, name: str, ttl_s: float, heartbeat_s: float) -> AsyncIterator[Lease]:
    """The lease, renewed while the block runs and released after; check `token` (None: held
    by another)."""
    lease = Lease(redis, name, ttl_s, heartbeat_s)
    await lease.acquire()
    try:
        yield lease
    finally:
        await lease.release()
