"""The FastAPI application around one replica's services (inside a replica or a test)."""

from __future__ import annotations

import logging
import re
import uuid

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matching import __version__
from matching.core import metrics
from matching.core.api import errors, openapi
from matching.core.api.routes import admin, health, profiles
from matching.core.auth import Authenticator
from serve_app import admin_page
from serve_app.body import BodyGuard
from serve_app.services import Services

log = logging.getLogger(__name__)
# A caller's id is kept only when it cannot smuggle anything into logs or headers.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class RequestContext:
    """Every request gets an id (X-Request-ID, in error bodies and logs) and is counted by
    route template, mode and status; anything a route did not expect becomes the generic 500,
    logged here, never shown to the caller."""

    def __init__(self, app: ASGIApp, echo_header: bool = True) -> None:
        self.app, self.echo_header = app, echo_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        scope[errors.REQUEST_ID] = rid
        started, status = False, 500

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                if self.echo_header:
                    MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            # The route's template, not the URL: ids in the path stay out of the logs.
            log.exception("unexpected error in %s %s (request %s)", scope["method"], route, rid)
            if started:  # too late to change the answer; the server closes the connection
                raise
            await errors.internal_error(scope)(scope, receive, send_with_id)
        finally:
            self._count(scope, status)

    def _count(self, scope: Scope, status: int) -> None:
        # The route's template (never the URL, which carries ids); unmatched paths share one.
        route = getattr(scope.get("route"), "path", None) or "(unmatched)"
        tags = {
            "route": route,
            "method": scope["method"],
            "mode": _mode(scope.get("endpoint")),
            "status": str(status),
        }
        metrics.inc("matching_http_requests_total", **tags)
        if status >= 500:
            metrics.inc("matching_http_errors_total", **tags)


def _mode(endpoint: object) -> str:
    """The mode whose route answered: modes are the packages `matching.<mode>`."""
    parts = getattr(endpoint, "__module__", "").split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "matching" and parts[1] != "core" else "core"


def create_http_app(services: Services, *, echo_request_id: bool = True) -> FastAPI:
    """The app; `echo_request_id=False` where a proxy already returns X-Request-ID (Serve)."""
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
    app.include_router(admin_page.router)
    for mode in services.modes:
        mode.mount(app)
    errors.install(app)
    openapi.install(app)
    serving = services.resources.settings.serving
    # Added innermost first: the request id wraps everything, CORS wraps the body's errors.
    app.add_middleware(BodyGuard, limit=serving.max_body_bytes, max_depth=serving.max_json_depth)
    if serving.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=serving.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestContext, echo_header=echo_request_id)
    return app
