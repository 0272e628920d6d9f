"""Two-sided discovery as a mode: discover, prompt search, swipes, matches, blocks,
analytics and the live monitoring of served predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from matching.core import metrics
from matching.core.api.health import Counter
from matching.core.api.resources import Resources
from matching.core.storage.erasure import ErasureStep
from matching.discovery.erasure import DiscoveryErasure
from matching.discovery.interactions import InteractionService
from matching.discovery.routes import (
    analytics,
    blocks,
    discover,
    matches,
    monitoring,
    search,
    swipes,
)
from matching.discovery.service import DiscoveryService
from matching.discovery.storage import analytics as analytics_store
from matching.discovery.storage import matches as matches_store

# The window the accuracy gauges cover (GET /v1/admin/monitoring's default).
MONITORING_WINDOW_DAYS = 7.0
_ROUTERS = (discover, search, swipes, matches, blocks, analytics, monitoring)


class Discovery:
    """The discovery mode over the shared resources."""

    name = "discovery"
    counters: tuple[Counter, ...] = (analytics_store.counts,)
    erasure_steps: tuple[ErasureStep, ...] = (DiscoveryErasure(),)

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self.service = DiscoveryService(resources)
        self.interactions = InteractionService(resources)

    def mount(self, app: FastAPI) -> None:
        app.state.discovery = self.service
        app.state.interactions = self.interactions
        for module in _ROUTERS:
            app.include_router(module.router)

    async def stop(self) -> None:
        """Write the impressions still buffered (the replica's clean shutdown)."""
        await self.service.impressions.close()

    async def maintain(self) -> dict[str, Any]:
        """Expire matches past their TTL, refresh the stats view, and score the matches
        created while the scoring stages were unavailable."""
        async with self._r.connection() as conn:
            topic = self._r.settings.kafka.matching_topic
            expired = await matches_store.expire_matches(conn, datetime.now(UTC), topic)
            await analytics_store.refresh_stats(conn)
            scored = await self.interactions.score_pending(conn)
        await self._report_accuracy()
        return {"expired": expired, "scored": scored}

    async def _report_accuracy(self) -> None:
        """The live monitoring's accuracy per served version, as gauges (for the alert)."""
        report = await self.service.monitoring(MONITORING_WINDOW_DAYS)
        for row in report["versions"]:
            version = str(row["algorithm_version"])
            if row["accuracy"] is not None:
                metrics.set_gauge("matching_model_accuracy_ratio", row["accuracy"], version=version)
            metrics.set_gauge("matching_model_flagged", float(row["flagged"]), version=version)
