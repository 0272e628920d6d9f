"""GET /v1/admin/models: the registry and what this replica serves."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Response

from matching.core import metrics
from matching.core.api.deps import AdminCaller, ResourcesDep
from matching.core.api.errors import NotFound
from matching.core.api.models import describe_models
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.core.ml.registry import Registry

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/models", responses=error_responses(403))
async def models(resources: ResourcesDep, caller: AdminCaller) -> dict[str, Any]:
    """Versions in the registry with their metrics, which are live, and what answers here.
    The admin scope or an internal API key."""
    rules.require_admin(caller)
    return await describe_models(resources)


@router.get(
    "/models/{kind}/{version}/evaluation/{name}",
    responses=error_responses(403, 404),
    response_class=Response,
)
async def evaluation_file(
    kind: Literal["models", "index"],
    version: str,
    name: str,
    resources: ResourcesDep,
    caller: AdminCaller,
) -> Response:
    """A version's evaluation report (report.md) or one of its plots (roc.png, ...)."""
    rules.require_admin(caller)
    registry = Registry.from_settings(resources.settings)
    data = await asyncio.to_thread(registry.evaluation_file, kind, version, name)
    if data is None:
        raise NotFound("name", f"name: {version} has no evaluation file {name!r}")
    media = "image/png" if name.endswith(".png") else "text/markdown; charset=utf-8"
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=60"})


@router.get("/metrics", responses=error_responses(403))
async def replica_metrics(caller: AdminCaller) -> dict[str, Any]:
    """This replica's own metrics (what it exports to Ray's metrics port), for the admin page;
    Prometheus sees every replica."""
    rules.require_admin(caller)
    return metrics.snapshot()
