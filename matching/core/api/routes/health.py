"""GET /health (full report), /health/live (process up), /health/ready (can serve)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from matching.core.api.deps import HealthDep
from matching.core.api.schemas import HealthReport

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthReport)
async def health(service: HealthDep) -> Any:
    return await service.report()


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(service: HealthDep) -> JSONResponse:
    problems = await service.readiness()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
