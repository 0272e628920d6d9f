"""HTTP backend: people are PUT and sessions go through a running service's API, in real
time; the service records everything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import httpx

from matching.devtools.population import SeedPerson
from matching.devtools.simulate.market import Shown, Swipe

log = logging.getLogger(__name__)


class HttpBackend:
    """PUT /v1/profiles, GET discover, POST /v1/swipes; the service records everything."""

    def __init__(self, target: str, api_key: str | None = None) -> None:
        # It acts for many people at once: the platform backend's internal key, not tokens.
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.AsyncClient(base_url=target.rstrip("/"), timeout=60.0, headers=headers)

    async def add_people(self, people: Sequence[SeedPerson]) -> int:
        gate = asyncio.Semaphore(4)

        async def put(p: SeedPerson) -> bool:
            async with gate:
                body = p.profile.model_dump(mode="json")
                r = await self._client.put(f"/v1/profiles/{p.id}", json=body)
            r.raise_for_status()
            return r.status_code == 201

        return sum(await asyncio.gather(*(put(p) for p in people)))

    async def prepare(self, people: Sequence[SeedPerson], start: datetime) -> None:
        pass

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[Shown]:  # noqa: ARG002
        r = await self._client.get(f"/v1/users/{user}/discover", params={"limit": limit})
        if r.status_code == 429:
            log.warning("discover for %s rate-limited; session skipped", user)
            return []
        r.raise_for_status()
        return [
            Shown(UUID(c["user_id"]), c["compatibility_score"], c["algorithm_version"])
            for c in r.json()["candidates"]
        ]

    async def swipe(self, s: Swipe) -> bool:
        body = {
            "swiper_id": str(s.swiper),
            "swiped_id": str(s.swiped),
            "action": s.action,
            "context": s.context,
        }
        r = await self._client.post("/v1/swipes", json=body)
        if r.status_code in (409, 429):
            log.warning("swipe %s -> %s refused: %s", s.swiper, s.swiped, r.text)
            return False
        r.raise_for_status()
        result = r.json()
        return bool(result["mutual"] and result["changed"])

    async def end_day(self, day: int) -> None:
        pass

    async def finish(self) -> None:
        pass

    async def close(self) -> None:
        await self._client.aclose()
