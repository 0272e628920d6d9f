"""Request matching as a mode: providers, requests over HTTP and Kafka, outcomes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI

from matching.core.api.health import Counter
from matching.core.api.resources import Resources
from matching.core.events.consumer import EventConsumer
from matching.core.storage.erasure import ErasureStep
from matching.requests.erasure import RequestsErasure
from matching.requests.kafka import RequestHandler, consumer_settings, decode_request
from matching.requests.routes import providers, requests
from matching.requests.service import RequestService
from matching.requests.storage import providers as providers_store

log = logging.getLogger(__name__)
_ROUTERS = (providers, requests)


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Live totals for /health."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM providers) AS providers, "
        "(SELECT count(*) FROM match_requests) AS match_requests"
    )
    return {} if row is None else {k: int(v) for k, v in row.items()}


class Requests:
    """The request-matching mode over the shared resources."""

    name = "requests"
    counters: tuple[Counter, ...] = (counts,)
    erasure_steps: tuple[ErasureStep, ...] = (RequestsErasure(),)

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self.service = RequestService(resources)
        self._consumer: EventConsumer | None = None

    def mount(self, app: FastAPI) -> None:
        app.state.requests = self.service
        for module in _ROUTERS:
            app.include_router(module.router)

    async def start(self) -> None:
        """Consume KAFKA_REQUESTS_TOPIC when Kafka is configured."""
        settings = self._r.settings
        if not settings.kafka.bootstrap_servers:
            return
        handler = RequestHandler(self.service, self._r.pool)
        kafka = consumer_settings(settings.kafka, settings.requests)
        self._consumer = EventConsumer(
            kafka, self._r.pool, handler.as_mapping(), decode=decode_request
        )
        self._consumer.start()

    def info(self) -> dict[str, Any]:
        return {"consumer": None if self._consumer is None else self._consumer.info()}

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def maintain(self) -> dict[str, Any]:
        """Rank the pending requests whose background task was lost; prune the provider
        change log after the retention (an index further behind reloads)."""
        done = await self.service.finish_stale()
        hours = self._r.settings.retention.change_log_hours
        async with self._r.connection() as conn:
            pruned = await providers_store.prune_changes(conn, timedelta(hours=hours))
        return {**done, "provider_changes_pruned": pruned}
