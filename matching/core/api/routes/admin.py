"""GET /v1/admin/models: the registry and what this replica serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from matching.core.api.deps import ResourcesDep
from matching.core.api.models import describe_models

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/models")
async def models(resources: ResourcesDep) -> dict[str, Any]:
    """Versions in the registry with their metrics, which are live, and what answers here."""
    return await describe_models(resources)
