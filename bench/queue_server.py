"""The queue mode's HTTP app under uvicorn, in its own process, for bench/queue.py:

    python -m bench.queue_server PORT READY_FILE

Settings come from the environment (bench/queue.py sets them). The stages are the real
ones; the queue mode does not call them, but the replica's resources start them. The port is
bound with SO_REUSEPORT, so several of these processes share it as replicas would; each
touches READY_FILE once it serves.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn
import uvloop

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from serve_app.http import create_http_app
from serve_app.services import build_services
from serve_app.workers import BackgroundWork


def _shared_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def _announce(server: uvicorn.Server, ready: Path) -> None:
    while not server.started:
        await asyncio.sleep(0.1)
    ready.touch()


async def serve(port: int, ready: Path) -> None:
    settings = Settings.from_env()
    retriever = Retriever(settings)
    await retriever.start()
    stages = (LocalStage(Embedder(settings.model)), LocalStage(retriever))
    resources = Resources(settings, *stages, LocalStage(Reranker(settings)))
    await resources.start()
    services = build_services(resources, ("queue",))
    work = BackgroundWork(services)  # the matcher and the outbox relay, as in a replica
    await work.start()
    config = uvicorn.Config(create_http_app(services), log_level="warning")
    server = uvicorn.Server(config)
    announce = asyncio.create_task(_announce(server, ready))
    try:
        await server.serve(sockets=[_shared_socket(port)])
    finally:
        announce.cancel()
        await work.stop()
        await resources.close()
        await retriever.close()


if __name__ == "__main__":
    # uvloop, as `uvicorn` itself picks when installed (this process runs its own loop).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
