"""The FastAPI application around one replica's services (inside a replica or a test)."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matching import __version__
from matching.core.api import errors
from matching.core.api.routes import admin, health, profiles
from matching.core.auth import Authenticator
from serve_app.services import Services


class BodyLimit:
    """413 for bodies over `limit` bytes, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "PayloadTooLarge",
                "field": "body",
                "message": f"body: larger than {self.limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_http_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Matching service",
        version=__version__,
        description="Who should meet whom, and why: "
        + ", ".join(mode.name for mode in services.modes)
        + ".",
    )
    app.state.resources = services.resources
    # Refuses to start when it could verify no one (the message names the settings).
    app.state.authenticator = Authenticator(services.resources.settings.auth)
    app.state.profiles = services.profiles
    app.state.health = services.health
    for module in (profiles, admin, health):
        app.include_router(module.router)
    for mode in services.modes:
        mode.mount(app)
    errors.install(app)
    settings = services.resources.settings
    origins = settings.serving.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(BodyLimit, limit=settings.serving.max_body_bytes)
    return app
