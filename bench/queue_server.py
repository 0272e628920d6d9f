"""The queue mode's HTTP app under uvicorn, in its own process, for bench/queue.py:

    python -m bench.queue_server PORT

Settings come from the environment (bench/queue.py sets them). The stages are the real
ones; the queue mode does not call them, but the replica's resources start them.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from serve_app.http import create_http_app
from serve_app.services import build_services
from serve_app.workers import BackgroundWork


async def serve(port: int) -> None:
    settings = Settings.from_env()
    retriever = Retriever(settings)
    await retriever.start()
    stages = (LocalStage(Embedder(settings.model)), LocalStage(retriever))
    resources = Resources(settings, *stages, LocalStage(Reranker(settings)))
    await resources.start()
    services = build_services(resources, ("queue",))
    work = BackgroundWork(services)  # the matcher and the outbox relay, as in a replica
    await work.start()
    config = uvicorn.Config(
        create_http_app(services), host="127.0.0.1", port=port, log_level="warning"
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await work.stop()
        await resources.close()
        await retriever.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
