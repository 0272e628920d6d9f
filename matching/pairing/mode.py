"""Batch pairing as a mode: pools and seekers over HTTP, cycles from the CLI (a RayJob or
RayCronJob) or, for the pools PAIRING_SCHEDULE_POOLS names, from the service's maintenance."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from matching.core.api.health import Counter
from matching.core.api.resources import Resources
from matching.core.storage.erasure import ErasureStep
from matching.pairing.erasure import PairingErasure
from matching.pairing.routes import cycles, history, pools
from matching.pairing.runner import Runner
from matching.pairing.service import PairingService
from matching.pairing.storage import pools as pools_store

_ROUTERS = (pools, history, cycles)


class Pairing:
    """The pairing mode over the shared resources."""

    name = "pairing"
    counters: tuple[Counter, ...] = (pools_store.counts,)
    erasure_steps: tuple[ErasureStep, ...] = (PairingErasure(),)

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self.service = PairingService(resources)

    def mount(self, app: FastAPI) -> None:
        app.state.pairing = self.service
        for module in _ROUTERS:
            app.include_router(module.router)

    async def stop(self) -> None:
        """Nothing buffered: every write of pairing is made before its answer."""

    async def maintain(self) -> dict[str, Any]:
        """The in-service schedule: a cycle of each scheduled pool whose last cycle started
        PAIRING_CYCLE_INTERVAL_S ago or more (the lease keeps it one runner at a time)."""
        s = self._r.settings.pairing
        if not s.scheduled_pools:
            return {}
        if self._r.redis is None:
            return {"pairing": "skipped: REDIS_URL is not set (the lease needs Redis)"}
        runner = Runner(self._r.settings, self._r.pool, self._r.redis)
        out: dict[str, Any] = {}
        for pool in s.scheduled_pools:
            async with self._r.connection() as conn:
                age = await pools_store.last_started(conn, pool)
            if age is None or age >= s.cycle_interval_s:
                report = await runner.run(pool)
                out[pool] = {"status": report.status, "pairs": report.pairs}
        return {"pairing": out}
