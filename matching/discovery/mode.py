"""Two-sided discovery as a mode: discover, prompt search, swipes, matches, blocks,
analytics and the live monitoring of served predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

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
        return {"expired": expired, "scored": scored}
