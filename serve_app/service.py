"""What the HTTP routes do, over the stages: the same code for both compositions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from deployments.reranker import PromptQuery, RankedMatch
from deployments.retriever import UnknownUser
from matching import SERVICE_NAME, __version__
from matching.core.cache import client as redis_client
from matching.core.cache.caches import DiscoverCache, FeatureCache
from matching.core.cache.ratelimit import RateLimiter
from matching.core.domain.filters import SearchFilters
from matching.core.domain.prompt import parse_prompt
from matching.core.domain.text import profile_text
from matching.core.events import kafka as kafka_client
from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from matching.core.stages import Stage
from matching.core.storage import features as user_features_store
from matching.core.storage import profiles
from matching.core.storage.db import create_pool, ping
from matching.core.storage.migrate import migrate
from matching.discovery.storage import analytics, monitoring, swipes
from serve_app.errors import DependencyUnavailable, NotFound, RateLimited
from serve_app.schemas import ProfileUpsert, SearchInterpretation, SearchRequest

log = logging.getLogger(__name__)
Endpoint = Literal["discover", "swipes", "preferences", "analytics"]
_LOST = (OSError, TimeoutError, asyncpg.InterfaceError)
_PROBE_TTL_S = 10.0  # dependency probes are cached: /health must stay cheap under polling
# How long a replica trusts its view of the reranker's version: after a promotion, cached
# discover answers of the old version stop being served within this long.
_VERSION_TTL_S = 5.0


class MatchingService:
    """Owns the database pool and the Redis client; calls the stages through `Stage`s."""

    def __init__(
        self, settings: Settings, embedder: Stage, retriever: Stage, reranker: Stage
    ) -> None:
        self.settings = settings
        self._embedder, self._retriever, self._reranker = embedder, retriever, reranker
        self._pool: asyncpg.Pool | None = None
        self._redis = redis_client.create_client(settings.redis)
        self.discover_cache = DiscoverCache(self._redis, settings.redis)
        self.feature_cache = FeatureCache(self._redis, settings.redis)
        self._limiter = RateLimiter(self._redis, settings.redis)
        self._probes: dict[str, Any] = {}
        self._probed_at = 0.0
        self.model_version = ""
        self._version: str | None = None
        self._version_at = 0.0
        # Set by the ingress when it runs the relay/consumer: their state goes into /health.
        self.background_info: Callable[[], dict[str, Any]] | None = None

    async def start(self) -> None:
        self._pool = await create_pool(self.settings.database)
        async with self._pool.acquire() as conn:
            await migrate(conn)
        self.model_version = (await self._embedder.info.remote())["model_version"]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._redis is not None:
            await self._redis.aclose()

    @property
    def embedder(self) -> Stage:
        return self._embedder

    async def profile_changed(self, user_id: UUID) -> None:
        """A profile changed or went away outside the API (the event consumer)."""
        await self._sync_retriever()
        await self._forget(user_id)

    @property
    def retriever(self) -> Stage:
        return self._retriever

    @property
    def reranker(self) -> Stage:
        return self._reranker

    async def limit(self, user_id: UUID, endpoint: Endpoint) -> None:
        """429 with Retry-After once a user spends their budget for an endpoint."""
        decision = await self._limiter.check(str(user_id), endpoint)
        if not decision.allowed:
            if decision.degraded:
                raise DependencyUnavailable("redis", "rate limits fail closed while it is down")
            raise RateLimited(endpoint, decision.retry_after_s)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DependencyUnavailable("database", "the service is still starting")
        return self._pool

    async def put_profile(self, user_id: UUID, body: ProfileUpsert) -> tuple[Any, bool]:
        """Embed first, then one transaction; the retrievers replay it from the change log."""
        await self.limit(user_id, "preferences")
        try:
            vector = await self._embedder.embed.remote(profile_text(body))
        except Exception as exc:
            raise DependencyUnavailable("embedder", str(exc)) from exc
        async with self._connection() as conn:
            stored, created = await profiles.upsert_profile(
                conn, user_id, body, vector, self.model_version
            )
        await self._sync_retriever()
        await self._forget(user_id)
        return stored, created

    async def get_profile(self, user_id: UUID) -> Any:
        async with self._connection() as conn:
            found = await profiles.get_profile(conn, user_id)
        if found is None:
            raise NotFound("user_id", f"no profile {user_id}")
        return found

    async def delete_profile(self, user_id: UUID) -> None:
        async with self._connection() as conn:
            if not await profiles.delete_profile(conn, user_id):
                raise NotFound("user_id", f"no profile {user_id}")
        await self._sync_retriever()
        await self._forget(user_id)

    async def _forget(self, user_id: UUID) -> None:
        """Drop cached lists of and containing this person (their answer or others' changed)."""
        await self.discover_cache.invalidate_user(str(user_id))
        await self.discover_cache.invalidate_candidate(str(user_id))
        await self.feature_cache.invalidate(str(user_id))

    async def features(self, user_id: UUID) -> dict[str, Any]:
        """The user's features computed now, with the code the offline job runs, read
        through the feature cache (its own TTL, dropped on every profile change)."""
        cached = await self.feature_cache.get(str(user_id))
        if cached is not None:
            return {**cached, "cached": True}
        now = datetime.now(UTC)
        async with self._connection() as conn:
            live = await user_features_store.live_features(conn, user_id, now)
            row = await conn.fetchrow(
                "SELECT model_version, embedding_dim, computed_at FROM user_features "
                "WHERE user_id = $1",
                user_id,
            )
        if live is None:
            raise NotFound("user_id", f"no profile {user_id}")
        features = {
            "user_id": str(user_id),
            "profile_completeness": live["profile_completeness"],
            "activity_score": live["activity_score"],
            "model_version": row["model_version"] if row else None,
            "embedding_dim": row["embedding_dim"] if row else None,
            "features": live,
            "computed_at": now.isoformat(),
            "stored_at": row["computed_at"].isoformat() if row else None,
        }
        await self.feature_cache.put(str(user_id), features)
        return {**features, "cached": False}

    async def models(self) -> dict[str, Any]:
        """The registry's versions and live pointer, and what this replica's stages serve."""
        registry = Registry.from_settings(self.settings)
        described = await asyncio.to_thread(registry.describe)
        described["serving"] = {
            "reranker": await self._reranker.info.remote(),
            "retriever": await self._retriever.info.remote(),
        }
        return described

    async def monitoring(self, days: float) -> dict[str, Any]:
        m = self.settings.matching
        async with self._connection() as conn:
            versions = await monitoring.live_report(
                conn,
                days=days,
                decision=m.monitor_decision,
                min_accuracy=m.monitor_min_accuracy,
                min_outcomes=m.monitor_min_outcomes,
            )
        return {
            "window_days": days,
            "decision_threshold": m.monitor_decision,
            "min_accuracy": m.monitor_min_accuracy,
            "versions": versions,
            "flagged": [v["algorithm_version"] for v in versions if v["flagged"]],
        }

    async def ranking_version(self) -> str:
        """The reranker's algorithm_version, asked at most every _VERSION_TTL_S."""
        now = time.monotonic()
        if self._version is None or now - self._version_at > _VERSION_TTL_S:
            self._version = str((await self._reranker.info.remote())["version"])
            self._version_at = now
        return self._version

    async def discover(self, user_id: UUID, limit: int) -> tuple[list[dict[str, Any]], str]:
        """(candidates, algorithm_version). Cached per user; never someone already swiped on,
        matched or blocked; every candidate shown is recorded as a `match_shown` impression.
        A cached answer ranked by another version than the reranker's now (a promotion or a
        rollback since) is ranked again."""
        await self.limit(user_id, "discover")
        limit = min(limit, self.settings.matching.max_matches_per_user)
        version = await self.ranking_version()
        cached = await self.discover_cache.get(str(user_id))
        if (
            cached is not None
            and cached["limit"] >= limit
            and cached.get("algorithm_version") == version
        ):
            shown: list[dict[str, Any]] = cached["candidates"][:limit]
        else:
            shown = [asdict(m) for m in await self._rank(user_id, limit)]
            if shown:  # what the reranker serves now: stop trusting older cached answers
                version = self._version = shown[0]["algorithm_version"]
                self._version_at = time.monotonic()
            await self.discover_cache.put(
                str(user_id),
                {"limit": limit, "candidates": shown, "algorithm_version": version},
                [c["user_id"] for c in shown],
            )
        await self._record_impressions(user_id, shown)
        return shown, version

    async def _rank(self, user_id: UUID, limit: int) -> list[RankedMatch]:
        pool_k = max(self.settings.matching.candidate_pool, 3 * limit)
        async with self._connection() as conn:
            exclude = await swipes.excluded_ids(
                conn, user_id, self.settings.matching.pass_cooldown_days
            )
        try:
            found = await self._retriever.discover.remote(user_id, pool_k, frozenset(exclude))
        except UnknownUser as exc:
            raise NotFound("user_id", f"no profile {user_id}") from exc
        ids = [c.person.user_id for c in found.candidates]
        async with self._connection() as conn:
            events = await _shared_events(conn, user_id, ids)
        ranked: list[RankedMatch] = await self._reranker.rank.remote(
            found.requester, found.candidates, limit, events
        )
        return ranked

    async def _record_impressions(self, user_id: UUID, shown: list[dict[str, Any]]) -> None:
        rows = [
            analytics.AnalyticsEvent(
                user_id=user_id,
                event_type="match_shown",
                target_user_id=UUID(c["user_id"]),
                algorithm_version=c["algorithm_version"],
                payload=_prediction(i, c),
            )
            for i, c in enumerate(shown)
        ]
        try:
            async with self._connection() as conn:
                await analytics.record_events(conn, rows)
        except (DependencyUnavailable, asyncpg.ForeignKeyViolationError):
            # Impressions are analytics: a deleted candidate or a blip must not fail discover.
            log.warning("impressions for %s not recorded", user_id, exc_info=True)

    async def search(self, req: SearchRequest) -> tuple[list[RankedMatch], SearchInterpretation]:
        hints = parse_prompt(req.prompt)
        lat, lon = req.latitude, req.longitude
        requester = None
        if req.user_id is not None:
            requester = await self._retriever.person.remote(req.user_id)
            if requester is None:
                raise NotFound("user_id", f"no profile {req.user_id}")
            if lat is None:
                lat, lon = requester.latitude, requester.longitude
        radius = req.max_distance_km or hints.radius_km
        note = None
        if radius is not None and lat is None:
            note = "no location given, so the distance in the prompt was not applied"
            radius = None
        filters = SearchFilters(
            latitude=lat,
            longitude=lon,
            max_distance_km=radius,
            age_min=req.age_range.min if req.age_range else None,
            age_max=req.age_range.max if req.age_range else None,
        )
        try:
            vector = await self._embedder.embed.remote(req.prompt)
        except Exception as exc:
            raise DependencyUnavailable("embedder", str(exc)) from exc
        pool_k = max(self.settings.matching.candidate_pool, 3 * req.limit)
        found = await self._retriever.search.remote(vector, pool_k, filters, req.user_id)
        query = PromptQuery(req.prompt, lat, lon, radius)
        ranked = await self._reranker.rank_for_prompt.remote(
            query, found.requester, found.candidates, req.limit
        )
        origin = None if lat is None or lon is None else {"latitude": lat, "longitude": lon}
        return ranked, SearchInterpretation(
            near_me=hints.near_me, radius_km=radius, origin=origin, note=note
        )

    async def _sync_retriever(self) -> None:
        # The write is durable and logged; if this replica's catch-up fails, the next search
        # on any replica replays it, so the write still succeeded.
        try:
            await self._retriever.sync.remote()
        except Exception:
            log.warning("retriever catch-up failed; it will replay on next search", exc_info=True)

    def _connection(self) -> Any:
        return _Acquire(self.pool)

    def connection(self) -> Any:
        """pool.acquire() that answers 503 naming the database when it is lost."""
        return _Acquire(self.pool)

    async def readiness(self) -> dict[str, str]:
        """Problems that make this replica unable to serve; empty when ready."""
        problems = {}
        try:
            await ping(self.pool)
        except Exception as exc:
            problems["database"] = f"down: {exc}"
        try:
            info = await self._retriever.info.remote()
            if not info.get("ready"):
                problems["retriever"] = "index not loaded"
        except Exception as exc:
            problems["retriever"] = f"down: {exc}"
        return problems

    async def health(self) -> dict[str, Any]:
        if time.monotonic() - self._probed_at > _PROBE_TTL_S:
            self._probes = await self._probe()
            self._probed_at = time.monotonic()
        probes = self._probes
        deps = probes["dependencies"]
        status = "ok" if deps["database"] == "up" and probes["index"].get("ready") else "degraded"
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
            "background": None if self.background_info is None else self.background_info(),
            "caches": {
                "redis_available": self.discover_cache.available,
                "rate_limits_degraded": not self._limiter.available,
            },
        }

    async def _probe(self) -> dict[str, Any]:
        db, counts = await self._probe_database()
        redis_up = None if self._redis is None else await redis_client.ping(self._redis)
        kafka_up = await kafka_client.ping(self.settings.kafka)
        embedder, index, reranker = await asyncio.gather(
            _info(self._embedder), _info(self._retriever), _info(self._reranker)
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
            async with self.pool.acquire(timeout=2) as conn:
                row = await conn.fetchrow(
                    """SELECT (SELECT count(*) FROM profiles) AS profiles,
                              (SELECT count(*) FROM user_matches) AS matches,
                              (SELECT count(*) FROM swipe_history) AS swipes"""
                )
            assert row is not None
            return "up", dict(row)
        except Exception:
            return "down", {}


class _Acquire:
    """pool.acquire() that turns a lost database into a 503 naming it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._cm = pool.acquire(timeout=5)

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await self._cm.__aenter__()
            return conn
        except (*_LOST, asyncpg.PostgresError) as exc:
            raise DependencyUnavailable("database", str(exc) or type(exc).__name__) from exc

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        await self._cm.__aexit__(kind, exc, tb)
        if isinstance(exc, _LOST):  # the connection died mid-request: nothing committed
            raise DependencyUnavailable("database", str(exc) or type(exc).__name__) from exc


async def _shared_events(
    conn: asyncpg.Connection, user_id: UUID, candidates: list[UUID]
) -> dict[str, list[str]]:
    """Candidate id -> the events both they and the user are registered for."""
    rows = await conn.fetch(
        """SELECT r.user_id, array_agg(r.event_id ORDER BY r.event_id) AS events
           FROM event_registrations r
           JOIN event_registrations mine ON mine.event_id = r.event_id AND mine.user_id = $1
           WHERE r.user_id = ANY($2::uuid[])
           GROUP BY r.user_id""",
        user_id,
        candidates,
    )
    return {str(r["user_id"]): list(r["events"]) for r in rows}


def _state(up: bool | None) -> str:
    return "not configured" if up is None else ("up" if up else "down")


async def _info(stage: Stage) -> dict[str, Any]:
    try:
        info: dict[str, Any] = await stage.info.remote()
        return info
    except Exception as exc:
        return {"ready": False, "error": str(exc)}


def _prediction(position: int, shown: dict[str, Any]) -> dict[str, Any]:
    """What an impression records of the prediction served (for live monitoring)."""
    payload: dict[str, Any] = {"position": position, "score": shown["compatibility_score"]}
    mutual = shown.get("mutual") or {}
    if "p_you_like" in mutual:
        payload["p_like"] = mutual["p_you_like"]
        payload["p_mutual"] = mutual["p_mutual"]
    return payload
