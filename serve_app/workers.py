"""Background work inside each ingress replica: the outbox relay, the event consumer and
the periodic maintenance (each mode's, and the core's retention pruning). Safe with many
replicas: one relay leads (advisory lock), consumers share partitions (consumer group),
maintenance runs where it takes its lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np

from matching.core.api.mode import BackgroundMode
from matching.core.events.consumer import EventConsumer
from matching.core.events.handlers import EventHandlers
from matching.core.events.relay import OutboxRelay
from matching.core.storage import retention
from matching.core.storage.locks import Lock, try_session_lock
from serve_app.services import Services

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_S = 60.0


class BackgroundWork:
    """Started and stopped with the replica; `info()` feeds /health."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._relay: OutboxRelay | None = None
        self._consumer: EventConsumer | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._last_maintenance: dict[str, Any] = {}

    async def start(self) -> None:
        resources = self._services.resources
        settings = resources.settings
        if settings.kafka.bootstrap_servers:
            self._relay = OutboxRelay(settings.database, settings.kafka)
            await self._relay.start()
            handlers = EventHandlers(
                resources.pool,
                self._embed,
                resources.model_version,
                topic=settings.kafka.matching_topic,
                erasure_steps=resources.erasure_steps,  # the API's DELETE erases with these
                on_profile_changed=resources.profile_changed,
            )
            self._consumer = EventConsumer(settings.kafka, resources.pool, handlers.as_mapping())
            self._consumer.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="maintenance")
        for mode in self._services.modes:
            if isinstance(mode, BackgroundMode):
                await mode.start()
        self._services.health.background = self.info

    async def _embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = await self._services.resources.embedder.embed.remote(text)
        return vector

    async def stop(self) -> None:
        for mode in self._services.modes:  # buffered writes go out while the pool is open
            await mode.stop()
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._consumer is not None:
            await self._consumer.stop()
        if self._relay is not None:
            await self._relay.stop()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_EVERY_S)
            try:
                self._last_maintenance = await self.maintain_once()
            except Exception:
                log.warning("maintenance failed; retrying next round", exc_info=True)

    async def maintain_once(self) -> dict[str, Any]:
        """Each mode's periodic work, if no other replica is at it."""
        async with (
            self._services.resources.connection() as conn,
            try_session_lock(conn, Lock.MAINTENANCE) as held,
        ):
            if not held:
                return {"skipped": "another replica holds the maintenance lock"}
            done: dict[str, Any] = {
                mode.name: await mode.maintain() for mode in self._services.modes
            }
            # rows naming people outlive them only as long as the retention settings say
            done["retention"] = await retention.prune(
                conn, self._services.resources.settings.retention
            )
        return {**done, "at": time.time()}

    def info(self) -> dict[str, Any]:
        return {
            "relay": None if self._relay is None else self._relay.info(),
            "consumer": None if self._consumer is None else self._consumer.info(),
            "maintenance": self._last_maintenance,
        }
