"""The matcher: one active per queue (a Redis lease), it pairs waiting tickets, ends the
tickets, matches and absent users whose time has come, and writes the history to
PostgreSQL. Every change it makes is one of the live queue's atomic scripts. The history
is written by a task of its own, so a slow PostgreSQL never delays a round of pairing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from matching.core import metrics
from matching.core.api.resources import Resources
from matching.queue.definition import QueueDefinition
from matching.queue.notify import Hub
from matching.queue.pairing import plan
from matching.queue.storage import history
from matching.queue.storage.live import LiveQueue

log = logging.getLogger(__name__)
HEAD_DEPTH = 64  # even: a key's leftover ticket is then alone for real
HISTORY_BATCH = 500
MIN_GAP_S = 0.02  # wake-ups closer than this share one round

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


class Matcher:
    """`run_once()` is one round; `start()` runs rounds in the background under the lease."""

    def __init__(self, resources: Resources, live: LiveQueue, definition: QueueDefinition) -> None:
        self._r, self._live, self._def = resources, live, definition
        self._settings = resources.settings.queue
        self._keys = definition.all_keys()
        self._relax_after = definition.relax_after(self._settings.relax_after_s)
        self._token = uuid.uuid4().hex
        self._lease_ms = int(max(5.0, 10 * self._settings.matcher_interval_s) * 1000)
        self._renew = live.redis.register_script(_RENEW)
        self._tasks: list[asyncio.Task[None]] = []
        self._written = asyncio.Event()  # a round changed something the history lacks
        self._holding = False
        self.last: dict[str, Any] = {}

    def start(self, hub: Hub) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(hub), name="queue-matcher"),
            asyncio.create_task(self._history_loop(), name="queue-history"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def hold_lease(self) -> bool:
        held = await self._renew(keys=[self._live.key("lease")], args=[self._token, self._lease_ms])
        return bool(held)

    async def _loop(self, hub: Hub) -> None:
        while True:
            try:
                await self.record_depths()
                self._holding = await self.hold_lease()
                if self._holding:
                    self.last = {**await self.run_once(write_history=False), "at": time.time()}
                    self._written.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("queue matcher round failed; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.wake.wait(), self._settings.matcher_interval_s)
            hub.wake.clear()
            await asyncio.sleep(MIN_GAP_S)

    async def _history_loop(self) -> None:
        """Write the history after each round of the lease holder (transitions made by
        requests in between are in the stream too: the next round's write takes them)."""
        while True:
            await self._written.wait()
            self._written.clear()
            try:
                if self._holding:
                    self.last["history"] = await self.write_history()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("queue history write failed; retrying", exc_info=True)
                await asyncio.sleep(self._settings.matcher_interval_s)

    async def run_once(self, write_history: bool = True) -> dict[str, int]:
        """Pair, then end what is due, then write the history; the counts of each."""
        now_s, now_us = await self._live.redis.time()
        heads = await self._live.heads(self._keys, HEAD_DEPTH)
        now_ms = now_s * 1000 + now_us / 1000
        since = {w.ticket_id: w.score_ms for waiting in heads.values() for w in waiting}
        pairs = plan(heads, now_ms, self._def, self._relax_after)
        claimed = await self._live.claim(
            [(p.older, p.other, uuid.uuid4(), p.relaxation) for p in pairs]
        )
        for pair, done in zip(pairs, claimed, strict=True):
            for ticket in (pair.older, pair.other) if done else ():  # both matched at `now_ms`
                wait_s = max(0.0, now_ms - since[ticket]) / 1000
                metrics.observe("matching_queue_time_to_match_seconds", wait_s)
        matched = sum(claimed)
        ended = {
            name: sum(await self._live.run_many(script, [(m,) for m in await self._live.due(name)]))
            for name, script in (("deadlines", "TIMEOUT"), ("expiry", "EXPIRE"), ("gone", "GONE"))
        }
        written = await self.write_history() if write_history else 0
        return {"matched": matched, **ended, "history": written}

    async def record_depths(self) -> None:
        """Tickets waiting per criteria, as a gauge. Every replica's loop sets it, lease or
        not, so each reports the same depth (the dashboard takes the max)."""
        for ckey, depth in (await self._live.depths(self._keys)).items():
            metrics.set_gauge("matching_queue_depth_tickets", depth, criteria=ckey)

    async def write_history(self) -> int:
        """Apply the transitions not yet in PostgreSQL, in order; how many."""
        redis, key, total = self._live.redis, self._live.key("history"), 0
        async with self._r.connection() as conn:
            last = await history.cursor(conn, self._live.prefix)
            while True:
                rows: Any = await redis.xrange(key, f"({last}", "+", count=HISTORY_BATCH)
                if not rows:
                    return total
                batch = [(_text(i), history.parse(f[b"h"])) for i, f in rows]
                await history.apply_batch(
                    conn, self._live.prefix, batch, self._r.settings.kafka.matching_topic
                )
                last, total = batch[-1][0], total + len(batch)
                # Applied and committed: the stream keeps only what is not yet in PostgreSQL.
                await redis.xtrim(key, minid=last)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
