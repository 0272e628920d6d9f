"""GET /v1/users/{user_id}/discover."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from matching.core.api.deps import DiscoverCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import DiscoveryDep
from matching.discovery.schemas import DiscoverResponse, answer_json

router = APIRouter(prefix="/v1/users", tags=["discover"])


@router.get(
    "/{user_id}/discover", response_model=DiscoverResponse, responses=error_responses(403, 404)
)
async def discover(
    user_id: UUID,
    service: DiscoveryDep,
    caller: DiscoverCaller,
    limit: int = Query(20, ge=1, le=100),
) -> Response:
    """People this user may want to meet and who may want to meet them, with reasons.
    The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    ranked, version = await service.discover(user_id, limit)
    body = answer_json({"user_id": str(user_id), "algorithm_version": version}, ranked)
    return Response(body, media_type="application/json")
