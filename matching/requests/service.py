"""Request matching over the shared resources: providers, requests (sync, async, Kafka) and
outcomes. Every path ranks through `RequestService.result_for`, the one ranking."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from matching.core import metrics
from matching.core.api.errors import Conflict, NotFound
from matching.core.api.resources import Resources
from matching.requests.cache import ResultCache
from matching.requests.catalogue import Provider, provider_text
from matching.requests.ranking import Query, Ranked
from matching.requests.schemas import MatchRequest, MatchResult, OutcomeIn, ProviderUpsert
from matching.requests.skills import SkillVectors, normal
from matching.requests.storage import providers as provider_store
from matching.requests.storage import requests as store
from matching.requests.storage.requests import StoredRequest
from matching.requests.weighting import LiveWeights

log = logging.getLogger(__name__)
COLLECTION = "providers"  # the Retriever's collection of providers (matching.requests.index)
_WAIT_STEP_S = 0.05
MAX_ATTEMPTS = 3  # maintenance passes over a pending request before it is failed
Transport = Literal["http", "kafka"]


def request_text(r: MatchRequest) -> str:
    skills = ", ".join(s.name for s in r.skills_required)
    return f"{r.title}. {r.description} Skills: {skills}.".strip()


class RequestService:
    """Providers, requests and outcomes; the providers are ranked by the Retriever, in its
    `providers` collection."""

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self.settings = resources.settings.requests
        self.skills = SkillVectors(self._embed_many)  # skill names seen here, embedded once
        self.cache = ResultCache(resources.redis, self.settings.result_ttl_s)
        self._tasks: set[asyncio.Task[None]] = set()
        self.weights = LiveWeights(resources.settings)

    async def _embed_many(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = await self._r.embedder.embed_many.remote(texts)
        return vectors

    # -- providers
    async def put_provider(self, provider_id: uuid.UUID, body: ProviderUpsert) -> Provider:
        """Store the provider with its text's and skills' vectors; every Retriever replica
        ranks with it once this returns (each replays the change log before it ranks, and
        this one has already)."""
        vector = await self._r.embedder.embed.remote(provider_text(body))
        skill_vectors = await self.skills.vectors([normal(s.name) for s in body.skills])
        async with self._r.connection() as conn:
            stored = await provider_store.upsert(
                conn, provider_id, body, vector, skill_vectors, self._r.model_version
            )
        await self._r.sync_retriever(COLLECTION)
        return stored

    async def get_provider(self, provider_id: uuid.UUID) -> Provider:
        async with self._r.connection() as conn:
            found = await provider_store.get(conn, provider_id)
        if found is None:
            raise NotFound("provider_id", f"provider_id: no provider {provider_id}")
        return found

    async def delete_provider(self, provider_id: uuid.UUID) -> None:
        async with self._r.connection() as conn:
            async with conn.transaction():
                deleted = await provider_store.delete(conn, provider_id)
            if not deleted:
                raise NotFound("provider_id", f"provider_id: no provider {provider_id}")
        await self._r.sync_retriever(COLLECTION)

    async def list_providers(self, **filters: Any) -> list[Provider]:
        async with self._r.connection() as conn:
            return await provider_store.listed(conn, **filters)

    # -- ranking
    async def result_for(
        self, request_id: str, request: MatchRequest, transport: Transport
    ) -> dict[str, Any]:
        """Rank `request` now: the MatchResult as JSON (what is stored and sent); the time
        it took is recorded per transport."""
        started = time.perf_counter()
        result = await self._rank(request_id, request)
        elapsed = time.perf_counter() - started
        metrics.observe("matching_request_matching_seconds", elapsed, transport=transport)
        return result

    async def _rank(self, request_id: str, request: MatchRequest) -> dict[str, Any]:
        names = [normal(s.name) for s in request.skills_required]
        text_vector = await self._r.embedder.embed.remote(request_text(request))
        skill_vectors = await self.skills.vectors(names)
        now = datetime.now(UTC)
        query = Query(request, names, skill_vectors, np.asarray(text_vector), now)
        weights = await self.weights.get()
        ranked: Ranked = await self._r.retriever.query.remote(COLLECTION, query, weights)
        result = MatchResult(
            request_id=request_id,
            matches=ranked.matches,  # type: ignore[arg-type]
            total_providers=ranked.total,
            filtered_out=ranked.filtered_out,
            relaxations=ranked.relaxations,  # type: ignore[arg-type]
            weights=weights,
            ranked_at=now,
        )
        return result.model_dump(mode="json")

    async def finish(self, stored: StoredRequest) -> dict[str, Any] | None:
        """Rank a claimed request and store its result (with its reply, for Kafka)."""
        request = MatchRequest.model_validate(stored.body)
        transport: Transport = "http" if stored.reply_to is None else "kafka"
        result = await self.result_for(stored.request_id, request, transport)
        async with self._r.connection() as conn:
            done = await store.complete(conn, stored, result)
            if not done:  # another replica completed it first: answer with that
                again = await store.get(conn, stored.request_id)
                if again is not None and again.result is not None:
                    result = again.result
        if result is not None:
            await self.cache.put(stored.request_id, stored.requester, result)
        return result

    # -- requests over HTTP
    async def submit(
        self, request: MatchRequest, requester: str, respond_async: bool
    ) -> tuple[int, dict[str, Any]]:
        """(200, MatchResult) or (202, pending state); a known request id answers what it
        has (ranked once, whoever sent it twice)."""
        request_id = request.request_id or uuid.uuid4().hex
        cached = await self.cache.get(request_id) if request.request_id else None
        if cached is not None and cached.get("requester") == requester:
            async with self._r.connection() as conn:
                # the row decides: an erasure removes it, and the cached copy with it
                if await store.exists(conn, request_id, requester):
                    return 200, cached["result"]
        body = request.model_dump(mode="json") | {"request_id": request_id}
        async with self._r.connection() as conn:
            claimed, stored = await store.claim(conn, request_id, requester, body)
        if stored.requester != requester:
            raise Conflict("request_id", "request_id: already used by another requester")
        if not claimed:
            return await self._existing(stored, respond_async)
        if respond_async:
            self._background(stored)
            return 202, self.state(stored)
        try:
            result = await self.finish(stored)
        except Exception:
            async with self._r.connection() as conn:
                await store.release(conn, request_id)  # let a retry rank it
            raise
        return 200, result or {}

    async def _existing(
        self, stored: StoredRequest, respond_async: bool
    ) -> tuple[int, dict[str, Any]]:
        """A duplicate: the stored result, or (sync) wait for the first to finish it."""
        deadline = asyncio.get_running_loop().time() + self._r.settings.serving.stage_timeout_s
        while stored.status == "pending" and not respond_async:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(_WAIT_STEP_S)
            async with self._r.connection() as conn:
                stored = await store.get(conn, stored.request_id) or stored
        if stored.status == "completed" and stored.result is not None:
            return 200, stored.result
        return 202, self.state(stored)

    def _background(self, stored: StoredRequest) -> None:
        task = asyncio.create_task(self._finish_quietly(stored), name="match-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_quietly(self, stored: StoredRequest) -> None:
        try:
            await self.finish(stored)
        except Exception:  # the row stays pending: the maintenance pass ranks it again
            log.warning(
                "request %s: ranking failed, left pending", stored.request_id, exc_info=True
            )

    @staticmethod
    def state(stored: StoredRequest) -> dict[str, Any]:
        return {
            "request_id": stored.request_id,
            "status": stored.status,
            "result": stored.result,
            "error": stored.error,
            "created_at": stored.created_at.isoformat(),
        }

    async def get(self, request_id: str, requester: str | None) -> dict[str, Any]:
        """The request's state; `requester` None (a service) may read anyone's."""
        async with self._r.connection() as conn:
            stored = await store.get(conn, request_id)
        if stored is None or (requester is not None and stored.requester != requester):
            raise NotFound("request_id", f"request_id: no request {request_id}")
        return self.state(stored)

    async def history(self, requester: str, limit: int) -> list[dict[str, Any]]:
        async with self._r.connection() as conn:
            return [self.state(s) for s in await store.history(conn, requester, limit)]

    async def record_outcome(
        self, request_id: str, requester: str | None, outcome: OutcomeIn
    ) -> int | None:
        """Keep what came of a match; returns the provider's rank in the stored result."""
        state = await self.get(request_id, requester)
        matches = (state["result"] or {}).get("matches", [])
        ids = [m["provider_id"] for m in matches]
        pid = str(outcome.provider_id)
        async with self._r.connection() as conn:
            await store.record_outcome(
                conn, request_id, outcome.provider_id, outcome.outcome, outcome.rating
            )
        return ids.index(pid) + 1 if pid in ids else None

    # -- maintenance
    async def finish_stale(self) -> dict[str, int]:
        """Rank again the pending requests whose task was lost; fail them after a few tries."""
        async with self._r.connection() as conn:
            stale = await store.stale_pending(conn, self.settings.stale_pending_s)
        finished = failed = 0
        for stored in stale:
            if stored.attempts > MAX_ATTEMPTS:
                async with self._r.connection() as conn:
                    reason = f"not ranked after {MAX_ATTEMPTS} attempts"
                    await store.fail(
                        conn, stored, "ranking_failed", reason, self.settings.errors_topic
                    )
                failed += 1
                continue
            try:
                await self.finish(stored)
                finished += 1
            except Exception:
                log.warning("request %s: ranking failed again", stored.request_id, exc_info=True)
        return {"finished": finished, "failed": failed}
