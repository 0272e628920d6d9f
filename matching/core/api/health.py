"""Liveness, readiness and the full health report of one replica."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from matching import SERVICE_NAME, __version__
from matching.core.api.resources import Resources
from matching.core.cache import client as redis_client
from matching.core.events import kafka
from matching.core.stages import Stage
from matching.core.storage import profiles
from matching.core.storage.db import ping

log = logging.getLogger(__name__)
_PROBE_TTL_S = 10.0  # dependency probes are cached: /health must stay cheap under polling
Counter = Callable[[asyncpg.Connection], Awaitable[dict[str, int]]]


class HealthService:
    """`counters` add each mode's live counts; `background` reports the replica's workers."""

    def __init__(self, resources: Resources, counters: Sequence[Counter] = ()) -> None:
        self._r = resources
        self._counters = tuple(counters)
        self._probes: dict[str, Any] = {}
        self._probed_at = 0.0
        self.background: Callable[[], dict[str, Any]] | None = None

    async def readiness(self) -> dict[str, str]:
        """Problems that make this replica unable to serve; empty when ready. The route is
        open to anyone, so the answer names what is down and the log says why."""
        problems = {}
        try:
            await ping(self._r.pool)
        except Exception:
            log.warning("readiness: database down", exc_info=True)
            problems["database"] = "down"
        try:
            info = await self._r.retriever.info.remote()
            if not info.get("ready"):
                problems["retriever"] = "index not loaded"
        except Exception:
            log.warning("readiness: retriever down", exc_info=True)
            problems["retriever"] = "down"
        return problems

    async def report(self) -> dict[str, Any]:
        if time.monotonic() - self._probed_at > _PROBE_TTL_S:
            self._probes = await self._probe()
            self._probed_at = time.monotonic()
        probes = self._probes
        deps = probes["dependencies"]
        background = None if self.background is None else self.background()
        healthy = deps["database"] == "up" and probes["index"].get("ready")
        status = "ok" if healthy and not _background_failing(background) else "degraded"
        return {
            "status": status,
            "service": SERVICE_NAME,
            "version": __version__,
            "dependencies": deps,
            "ml_models": {
                "embedder": probes["embedder"],
                "index": probes["index"],
                "reranker": probes["reranker"],
            },
            "counts": probes["counts"],
            "background": background,
            "caches": {
                "redis_available": self._r.discover_cache.available,
                "rate_limits_degraded": not self._r.limiter.available,
            },
            "auth": "disabled" if self._r.settings.auth.disabled else "on",
        }

    async def _probe(self) -> dict[str, Any]:
        db, counts = await self._probe_database()
        redis = self._r.redis
        redis_up = None if redis is None else await redis_client.ping(redis)
        kafka_up = await kafka.ping(self._r.settings.kafka)
        embedder, index, reranker = await asyncio.gather(
            _info(self._r.embedder), _info(self._r.retriever), _info(self._r.reranker)
        )
        return {
            "dependencies": {"database": db, "redis": _state(redis_up), "kafka": _state(kafka_up)},
            "embedder": embedder,
            "index": index,
            "reranker": reranker,
            "counts": {**counts, "indexed_profiles": int(index.get("size", 0))},
        }

    async def _probe_database(self) -> tuple[str, dict[str, int]]:
        try:
            async with self._r.pool.acquire(timeout=2) as conn:
                counts = {"profiles": await profiles.count(conn)}
                for counter in self._counters:
                    counts.update(await counter(conn))
            return "up", counts
        except Exception:
            return "down", {}


def _background_failing(background: dict[str, Any] | None) -> bool:
    """A worker that cannot do its job safely: the consumer cannot dead-letter."""
    consumer = (background or {}).get("consumer") or {}
    return bool(consumer.get("dead_letter_failing"))


def _state(up: bool | None) -> str:
    return "not configured" if up is None else ("up" if up else "down")


async def _info(stage: Stage) -> dict[str, Any]:
    try:
        info: dict[str, Any] = await stage.info.remote()
        return info
    except Exception as exc:
        return {"ready": False, "error": str(exc)}
