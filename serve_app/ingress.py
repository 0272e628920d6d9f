"""The HTTP ingress replica, in its two compositions."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from deployments.embedder import BatchingEmbedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core import logs
from matching.core.api.resources import Resources
from matching.core.settings import Settings
from matching.core.stages import LocalStage, Stage
from serve_app.http import create_http_app
from serve_app.services import ModeName, Services, build_services
from serve_app.workers import BackgroundWork

SERVE_LOGGER = "ray.serve"


def _configure_logging(settings: Settings) -> None:
    # Serve's replica logger carries serve_config.yaml's logging_config (JSON) and adds the
    # request id and route of the request being served to every line.
    logs.route_through(SERVE_LOGGER, settings.serving.log_level)


def settle() -> None:
    """Once a replica has loaded what it keeps (index, people, models): move it out of the
    collector's view. Otherwise every full collection walks the whole index's people (~2
    million objects at 100k people), a stall of the replica's loop each time."""
    gc.collect()
    gc.freeze()


class _Replica:
    """Resources, services and background work of one ingress replica."""

    async def _start(
        self, settings: Settings, stages: tuple[Stage, Stage, Stage], modes: Sequence[ModeName]
    ) -> None:
        self._resources = Resources(settings, *stages)
        await self._resources.start()
        self._services: Services = build_services(self._resources, modes)
        self._work = BackgroundWork(self._services)
        await self._work.start()
        settle()

    def __serve_build_asgi_app__(self) -> FastAPI:
        # Serve's proxy already returns X-Request-ID (the id it passes in, which the app uses).
        return create_http_app(self._services, echo_request_id=False)

    async def _stop(self) -> None:
        await self._work.stop()
        await self._resources.close()


class PipelineIngress(_Replica):
    """Stages in their own deployments, reached through DeploymentHandles."""

    async def __init__(  # type: ignore[misc]
        self,
        embedder: DeploymentHandle,
        retriever: DeploymentHandle,
        reranker: DeploymentHandle,
        modes: Sequence[ModeName] = ("discovery",),
    ) -> None:
        settings = Settings.from_env()
        _configure_logging(settings)
        await self._start(settings, (embedder, retriever, reranker), modes)

    async def __del__(self) -> None:
        await self._stop()


class SingleIngress(_Replica):
    """All stages inside this replica: one hop, for small machines."""

    async def __init__(self, modes: Sequence[ModeName] = ("discovery",)) -> None:  # type: ignore[misc]
        settings = Settings.from_env()
        _configure_logging(settings)
        self._retriever = Retriever(settings)
        await self._retriever.start()
        self._reranker = Reranker(settings)
        stages = (
            LocalStage(BatchingEmbedder(settings.model)),
            LocalStage(self._retriever),
            LocalStage(self._reranker),
        )
        await self._start(settings, stages, modes)

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config for the stages this replica holds (see serve_app.deploy)."""
        await self._retriever.reconfigure(config)
        await asyncio.to_thread(self._reranker.reconfigure, config)

    async def check_health(self) -> None:
        await self._retriever.check_health()

    async def __del__(self) -> None:
        await self._stop()
        await self._retriever.close()
