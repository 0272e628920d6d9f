"""GET /health (full report), /health/live (process up), /health/ready (can serve)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serve_app.deps import ServiceDep
from serve_app.schemas import HealthReport

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthReport)
async def health(service: ServiceDep) -> Any:
    return await service.health()


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(service: ServiceDep) -> JSONResponse:
    problems = await service.readiness()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
