"""GET /v1/admin/models (registry and what this replica serves), GET /v1/admin/monitoring."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from serve_app.deps import ServiceDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/models")
async def models(service: ServiceDep) -> dict[str, Any]:
    """Versions in the registry with their metrics, which are live, and what answers here."""
    return await service.models()


@router.get("/monitoring")
async def monitoring(
    service: ServiceDep,
    days: Annotated[float, Query(gt=0, le=365, description="window, in days")] = 7.0,
) -> dict[str, Any]:
    """Live accuracy, precision and recall of served predictions per algorithm version;
    a version below MATCHING_MONITOR_MIN_ACCURACY is flagged."""
    return await service.monitoring(days)
