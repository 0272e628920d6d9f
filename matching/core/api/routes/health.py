"""GET /health (full report), /health/live (process up), /health/ready (can serve)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from matching.core.api.deps import CallerDep, HealthDep
from matching.core.api.openapi import error_responses
from matching.core.api.schemas import HealthReport
from matching.core.auth import rules

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: Literal["alive"]


class Readiness(BaseModel):
    """200 `ready`; 503 `not ready` with a problem per dependency."""

    status: Literal["ready", "not ready"]
    problems: dict[str, str] | None = None


@router.get("/health", response_model=HealthReport, responses=error_responses(403))
async def health(service: HealthDep, caller: CallerDep) -> Any:
    """The full report (dependencies, models, counts): an internal API key or admin scope."""
    rules.require_admin(caller)
    return await service.report()


@router.get("/health/live", response_model=Liveness)
async def live() -> dict[str, str]:
    """Open to all: the process answers."""
    return {"status": "alive"}


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the problems, by name"}},
)
async def ready(service: HealthDep) -> JSONResponse:
    """Open to all: 200 when this replica can serve, 503 with the problems otherwise."""
    problems = await service.readiness()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
