"""Background work inside each ingress replica: the outbox relay, the event consumer and
periodic maintenance. Safe with many replicas: one relay leads (advisory lock), consumers
share partitions (consumer group), maintenance runs where it takes its lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from matching.core.events.relay import OutboxRelay
from matching.discovery.storage import analytics, matches
from serve_app.service import MatchingService

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_S = 60.0
_MAINTENANCE_LOCK = 0x6D61696E74  # "maint": one replica at a time expires and refreshes


class BackgroundWork:
    """Started and stopped with the service; `info()` feeds /health."""

    def __init__(self, service: MatchingService) -> None:
        self._service = service
        self._relay: OutboxRelay | None = None
        self._consumer: Any = None
        self._maintenance: asyncio.Task[None] | None = None
        self._last_maintenance: dict[str, Any] = {}

    async def start(self) -> None:
        settings = self._service.settings
        if settings.kafka.bootstrap_servers:
            from matching.core.events.consumer import EventConsumer

            self._relay = OutboxRelay(settings.database, settings.kafka)
            await self._relay.start()
            self._consumer = EventConsumer(
                settings,
                self._service.pool,
                self._embed,
                self._service.model_version,
                on_profile_changed=self._service.profile_changed,
                on_user_deleted=self._service.profile_changed,
            )
            self._consumer.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="maintenance")

    async def _embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = await self._service.embedder.embed.remote(text)
        return vector

    async def stop(self) -> None:
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
        """Expire old matches and refresh the stats view, if no other replica is at it."""
        async with self._service.connection() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _MAINTENANCE_LOCK):
                return {"skipped": "another replica holds the maintenance lock"}
            try:
                topic = self._service.settings.kafka.matching_topic
                expired = await matches.expire_matches(conn, datetime.now(UTC), topic)
                await analytics.refresh_stats(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MAINTENANCE_LOCK)
        return {"expired": expired, "at": time.time()}

    def info(self) -> dict[str, Any]:
        return {
            "relay": None if self._relay is None else self._relay.info(),
            "consumer": None if self._consumer is None else self._consumer.info(),
            "maintenance": self._last_maintenance,
        }
