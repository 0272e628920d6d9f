"""GET /v1/admin/models: the registry and what this replica serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from matching.core.api.deps import AdminCaller, ResourcesDep
from matching.core.api.models import describe_models
from matching.core.api.openapi import error_responses
from matching.core.auth import rules

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/models", responses=error_responses(403))
async def models(resources: ResourcesDep, caller: AdminCaller) -> dict[str, Any]:
    """Versions in the registry with their metrics, which are live, and what answers here.
    The admin scope or an internal API key."""
    rules.require_admin(caller)
    return await describe_models(resources)
