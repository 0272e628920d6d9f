"""GET /v1/admin/monitoring: how the served predictions fared."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from matching.core.api.deps import AdminCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import DiscoveryDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/monitoring", responses=error_responses(403))
async def monitoring(
    service: DiscoveryDep,
    caller: AdminCaller,
    days: Annotated[float, Query(gt=0, le=365, description="window, in days")] = 7.0,
) -> dict[str, Any]:
    """Live accuracy, precision and recall of served predictions per algorithm version;
    a version below MATCHING_MONITOR_MIN_ACCURACY is flagged. Admin scope or an API key."""
    rules.require_admin(caller)
    return await service.monitoring(days)
