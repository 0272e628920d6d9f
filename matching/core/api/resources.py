"""What every service of every mode shares in one ingress replica: the settings, the
database pool, Redis with its caches and rate limits, and the stages."""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg

from matching.core.api.errors import DependencyUnavailable
from matching.core.cache import client as redis_client
from matching.core.cache.caches import DiscoverCache, FeatureCache
from matching.core.cache.ratelimit import RateLimiter
from matching.core.settings import Settings
from matching.core.stages import Stage, TimedStage
from matching.core.storage.db import create_pool
from matching.core.storage.erasure import ErasureStep
from matching.core.storage.migrate import migrate

log = logging.getLogger(__name__)
_LOST = (OSError, TimeoutError, asyncpg.InterfaceError)


class Resources:
    """Created when a replica starts, closed when it stops; services hold it, never each
    other."""

    def __init__(
        self, settings: Settings, embedder: Stage, retriever: Stage, reranker: Stage
    ) -> None:
        self.settings = settings
        # Every service reaches the stages through these: no call can wait longer than its
        # timeout, and one that would is a 503 naming the stage.
        stage_s, embed_s = settings.serving.stage_timeout_s, settings.serving.embed_timeout_s
        self.embedder = TimedStage("embedder", embedder, embed_s)
        self.retriever = TimedStage("retriever", retriever, stage_s)
        self.reranker = TimedStage("reranker", reranker, stage_s)
        self._pool: asyncpg.Pool | None = None
        self.redis = redis_client.create_client(settings.redis)
        self.discover_cache = DiscoverCache(self.redis, settings.redis)
        self.feature_cache = FeatureCache(self.redis, settings.redis)
        self.limiter = RateLimiter(self.redis, settings.redis)
        self.model_version = ""  # the embedder's: stored with every vector written here
        # The enabled modes' parts of an erasure, set by the builder: every delete path
        # (the API, the event consumer) erases with this one list.
        self.erasure_steps: tuple[ErasureStep, ...] = ()

    async def start(self) -> None:
        self._pool = await create_pool(self.settings.database)
        async with self._pool.acquire() as conn:
            await migrate(conn)
        self.model_version = (await self.embedder.info.remote())["model_version"]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self.redis is not None:
            await self.redis.aclose()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DependencyUnavailable("database", "the service is still starting")
        return self._pool

    def connection(self) -> _Acquire:
        """pool.acquire() that answers 503 naming the database when it is lost."""
        return _Acquire(self.pool, self.settings.database.command_timeout_s)

    async def forget(self, user_id: UUID) -> None:
        """Drop cached answers of and containing this person (theirs or others' changed)."""
        await self.discover_cache.invalidate_user(str(user_id))
        await self.discover_cache.invalidate_candidate(str(user_id))
        await self.feature_cache.invalidate(str(user_id))

    async def sync_retriever(self, collection: str | None = None) -> None:
        """Let a retriever replica replay the change log now: the people's, or that of one
        of its collections (`matching.core.retrieval.collection`)."""
        # The write is durable and logged; if this replica's catch-up fails, the next search
        # on any replica replays it, so the write still succeeded.
        try:
            if collection is None:
                await self.retriever.sync.remote()
            else:
                await self.retriever.sync_collection.remote(collection)
        except Exception:
            log.warning("retriever catch-up failed; it will replay on next search", exc_info=True)

    async def profile_changed(self, user_id: UUID) -> None:
        """After a profile write or an erasure committed: sync the index, drop caches."""
        await self.sync_retriever()
        await self.forget(user_id)


class _Acquire:
    """pool.acquire() that turns a lost database into a 503 naming it."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self._cm = pool.acquire(timeout=timeout_s)

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
