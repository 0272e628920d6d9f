"""The HTTP ingress replica, in its two compositions."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from deployments.embedder import BatchingEmbedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from serve_app.http import create_http_app
from serve_app.service import MatchingService
from serve_app.workers import BackgroundWork


def _configure_logging(settings: Settings) -> None:
    logging.getLogger("matching").setLevel(settings.serving.log_level)
    logging.getLogger("serve_app").setLevel(settings.serving.log_level)
    logging.getLogger("deployments").setLevel(settings.serving.log_level)


async def _start_background(service: MatchingService) -> BackgroundWork:
    work = BackgroundWork(service)
    await work.start()
    service.background_info = work.info
    return work


class PipelineIngress:
    """Stages in their own deployments, reached through DeploymentHandles."""

    async def __init__(  # type: ignore[misc]
        self,
        embedder: DeploymentHandle,
        retriever: DeploymentHandle,
        reranker: DeploymentHandle,
    ) -> None:
        settings = Settings.from_env()
        _configure_logging(settings)
        self._service = MatchingService(settings, embedder, retriever, reranker)
        await self._service.start()
        self._work = await _start_background(self._service)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_http_app(self._service)

    async def __del__(self) -> None:
        await self._work.stop()
        await self._service.close()


class SingleIngress:
    """All stages inside this replica: one hop, for small machines."""

    async def __init__(self) -> None:  # type: ignore[misc]
        settings = Settings.from_env()
        _configure_logging(settings)
        self._retriever = Retriever(settings)
        await self._retriever.start()
        self._reranker = Reranker(settings)
        self._service = MatchingService(
            settings,
            LocalStage(BatchingEmbedder(settings.model)),
            LocalStage(self._retriever),
            LocalStage(self._reranker),
        )
        await self._service.start()
        self._work = await _start_background(self._service)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_http_app(self._service)

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config for the stages this replica holds (see serve_app.deploy)."""
        await self._retriever.reconfigure(config)
        await asyncio.to_thread(self._reranker.reconfigure, config)

    async def check_health(self) -> None:
        await self._retriever.check_health()

    async def __del__(self) -> None:
        await self._work.stop()
        await self._service.close()
        await self._retriever.close()
