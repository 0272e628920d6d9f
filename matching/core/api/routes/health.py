"""GET /health (full report), /health/live (process up), /health/ready (can serve)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from matching.core.api.deps import CallerDep, HealthDep
from matching.core.api.schemas import HealthReport
from matching.core.auth import rules

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthReport)
async def health(service: HealthDep, caller: CallerDep) -> Any:
    """The full report (dependencies, models, counts): an internal API key or admin scope."""
    rules.require_admin(caller)
    return await service.report()


@router.get("/health/live")
async def live() -> dict[str, str]:
    """Open to all: the process answers."""
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(service: HealthDep) -> JSONResponse:
    """Open to all: 200 when this replica can serve, 503 with the problems otherwise."""
    problems = await service.readiness()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
