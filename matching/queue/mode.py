"""The real-time queue as a mode: tickets, the matcher, confirmation, sessions, WebSockets."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from matching.core.api.errors import DependencyUnavailable
from matching.core.api.health import Counter
from matching.core.api.resources import Resources
from matching.core.cache import client as redis_client
from matching.core.storage.erasure import ErasureStep
from matching.queue.definition import QueueDefinition
from matching.queue.erasure import QueueErasure
from matching.queue.matcher import Matcher
from matching.queue.notify import Hub
from matching.queue.routes import matches, sessions, socket, stats, tickets
from matching.queue.service import QueueService
from matching.queue.storage import stats as stats_store
from matching.queue.storage.live import LiveQueue
from matching.queue.ws import Follower

_ROUTERS = (tickets, matches, sessions, stats, socket)
HUB_READ_TIMEOUT_S = 30.0
LIVE_CONNECTIONS = 256  # a burst of requests and sockets on one replica: wait less for one


class Queue:
    """The queue mode over the shared resources; needs Redis (REDIS_URL)."""

    name = "queue"
    counters: tuple[Counter, ...] = (stats_store.counts,)

    def __init__(self, resources: Resources) -> None:
        if resources.redis is None:
            raise DependencyUnavailable("redis", "the queue mode needs REDIS_URL")
        self._r = resources
        settings = resources.settings
        self.definition = QueueDefinition.from_settings(settings.queue)
        # Its own pool: every socket of the replica issues commands at once, and a command
        # waits for a free connection rather than failing at the shared pool's cap.
        live_client = redis_client.create_client(settings.redis, queue_for=LIVE_CONNECTIONS)
        assert live_client is not None
        self.live = LiveQueue(live_client, settings.queue)
        self.service = QueueService(resources, self.live, self.definition)
        self.matcher = Matcher(resources, self.live, self.definition)
        blocking = redis_client.create_client(settings.redis, HUB_READ_TIMEOUT_S)
        assert blocking is not None
        self.hub = Hub(blocking, settings.queue.redis_prefix)
        self.follower = Follower(self.live, self.hub)
        self.erasure_steps: tuple[ErasureStep, ...] = (QueueErasure(self.live),)

    def mount(self, app: FastAPI) -> None:
        app.state.queue = self.service
        app.state.queue_follower = self.follower
        for module in _ROUTERS:
            app.include_router(module.router)

    async def start(self) -> None:
        """The pub/sub hub and the matcher loop (it works only while it holds the lease)."""
        self.hub.start()
        self.matcher.start(self.hub)

    async def stop(self) -> None:
        await self.matcher.stop()
        await self.hub.stop()
        await self.hub.close()
        await self.live.redis.aclose()

    async def maintain(self) -> dict[str, Any]:
        return {"matcher": self.matcher.last}

    def info(self) -> dict[str, Any]:
        """For /health's background section: the matcher's last round."""
        return {"matcher": self.matcher.last}
