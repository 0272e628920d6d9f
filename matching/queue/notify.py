"""One Redis pub/sub subscription per replica: wakes the matcher when a ticket arrives and
the WebSocket of a user when an event is written to their stream. A missed message only
delays: the matcher polls, and every socket rereads its stream now and then."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from redis.asyncio import Redis

log = logging.getLogger(__name__)


class Hub:
    """Started with the mode; `listen(user)` gives an Event set on each of their events."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._notify, self._wake_channel = prefix + "notify", prefix + "wake"
        self.wake = asyncio.Event()
        self._users: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="queue-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def close(self) -> None:
        await self._redis.aclose()

    def listen(self, user: str) -> asyncio.Event:
        event = asyncio.Event()
        self._users[user].add(event)
        return event

    def forget(self, user: str, event: asyncio.Event) -> None:
        self._users[user].discard(event)
        if not self._users[user]:
            del self._users[user]

    async def _run(self) -> None:
        while True:
            try:
                await self._subscribe_and_dispatch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("queue pub/sub lost; resubscribing", exc_info=True)
                self._wake_everyone()  # they reread their streams: nothing is missed
                await asyncio.sleep(1)

    async def _subscribe_and_dispatch(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._notify, self._wake_channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message)
        finally:
            await pubsub.aclose()

    def _dispatch(self, message: dict[str, object]) -> None:
        channel = message.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if channel == self._wake_channel:
            self.wake.set()
            return
        data = message.get("data")
        user = data.decode() if isinstance(data, bytes) else str(data)
        for event in self._users.get(user, ()):
            event.set()

    def _wake_everyone(self) -> None:
        self.wake.set()
        for events in self._users.values():
            for event in events:
                event.set()
