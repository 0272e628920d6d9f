"""The queue mode in-process over the real PostgreSQL and Redis (its own key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from redis.asyncio import Redis

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.stages import LocalStage
from matching.queue.mode import Queue
from serve_app.services import build_services
from tests.integration.conftest import App, make_settings

CRITERIA = {"difficulty": "easy", "topic": "arrays"}


class QueueApp(App):
    """The app with the queue mode; the matcher runs only when a test calls `round()`."""

    @property
    def queue(self) -> Queue:
        mode = self.services.mode("queue")
        assert isinstance(mode, Queue)
        return mode

    @property
    def redis(self) -> Redis:
        return self.queue.live.redis

    async def round(self) -> dict[str, int]:
        return await self.queue.matcher.run_once()

    async def ask(self, user: uuid.UUID, criteria: dict[str, str] | None = None, **kw: Any) -> Any:
        """POST /v1/queue/requests as the user; the response."""
        body = {"criteria": criteria or CRITERIA, **kw}
        return await self.bare.post("/v1/queue/requests", json=body, headers=self.bearer(user))

    async def events(self, user: uuid.UUID, after: int = 0) -> list[dict[str, Any]]:
        import json

        return [json.loads(e) for e in await self.queue.live.events_after(user, after)]


@pytest_asyncio.fixture
async def queue_app(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> AsyncIterator[QueueApp]:
    async with queue_app_for(fresh_database, tmp_path, embedder) as app:
        yield app


class queue_app_for:
    """An async context manager: the queue app with these extra settings."""

    def __init__(self, url: str, tmp_path: Path, embedder: Embedder, **extra: str) -> None:
        prefix = "{qt" + uuid.uuid4().hex[:10] + "}:"
        self._settings = make_settings(
            url,
            tmp_path / "artifacts",
            **{
                "MATCHING_QUEUE_REDIS_PREFIX": prefix,
                "MATCHING_QUEUE_RELAX_AFTER_S": "3600",  # tests of relaxing set their own
                **extra,
            },
        )
        self._embedder = embedder

    async def __aenter__(self) -> QueueApp:
        retriever = Retriever(self._settings)
        await retriever.start()
        resources = Resources(
            self._settings,
            LocalStage(self._embedder),
            LocalStage(retriever),
            LocalStage(Reranker(self._settings)),
        )
        await resources.start()
        self.app = QueueApp(build_services(resources, ("queue",)), retriever)
        return self.app

    async def __aexit__(self, *_: object) -> None:
        app = self.app
        prefix = app.queue.live.prefix
        keys = [
            k
            async for k in app.redis.scan_iter(
                match=prefix.replace("{", "\\{").replace("}", "\\}") + "*"
            )
        ]
        if keys:
            await app.redis.delete(*keys)
        await app.queue.stop()
        await app.client.aclose()
        await app.bare.aclose()
        await app.resources.close()
        await app.retriever.close()
