"""Gauges sampled in each ingress replica: the outbox backlog, the consumer's lag per
partition and the live model and index versions (counters are recorded where things happen;
matching.core.metrics has the catalogue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from matching.core import metrics
from matching.core.storage import outbox
from serve_app.services import Services

log = logging.getLogger(__name__)
SAMPLE_EVERY_S = 15.0


class Sampler:
    """Sets the gauges every SAMPLE_EVERY_S; `background` gives the relay's and consumer's info."""

    def __init__(self, services: Services, background: Callable[[], dict[str, Any]]) -> None:
        self._services, self._background = services, background
        self._versions: dict[str, str] = {}  # kind -> the version last reported live

    async def run(self) -> None:
        while True:
            try:
                await self.sample_once()
            except Exception:  # a sample is best effort; the next one may succeed
                log.debug("metrics sample failed", exc_info=True)
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def sample_once(self) -> None:
        resources = self._services.resources
        async with resources.connection() as conn:
            pending, oldest_s = await outbox.backlog(
                conn, resources.settings.database.command_timeout_s
            )
        metrics.set_gauge("matching_outbox_pending_rows", pending)
        metrics.set_gauge("matching_outbox_oldest_age_seconds", oldest_s or 0.0)
        consumer = self._background().get("consumer") or {}
        for where, lag in (consumer.get("lag") or {}).items():
            topic, _, partition = where.rpartition(":")
            metrics.set_gauge(
                "matching_consumer_lag_messages", lag, topic=topic, partition=partition
            )
        reranker, retriever = await asyncio.gather(
            resources.reranker.info.remote(), resources.retriever.info.remote()
        )
        self._live("model", reranker.get("model_version") or "weighted")
        self._live("index", retriever.get("index_version") or "none")

    def _live(self, kind: str, version: str) -> None:
        previous = self._versions.get(kind)
        if previous is not None and previous != version:  # the old series stops reading 1
            metrics.set_gauge("matching_live_version_info", 0, kind=kind, version=previous)
        metrics.set_gauge("matching_live_version_info", 1, kind=kind, version=version)
        self._versions[kind] = version
