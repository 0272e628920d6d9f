"""POST /v1/analytics, GET /v1/users/{user_id}/stats, GET /v1/stats."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status

from matching.core.api.deps import AnalyticsCaller, StatsCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import InteractionsDep
from matching.discovery.interaction_schemas import Accepted, AnalyticsEventIn

router = APIRouter(prefix="/v1", tags=["analytics"])


@router.post(
    "/analytics",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404),
)
async def record(
    body: AnalyticsEventIn, interactions: InteractionsDep, caller: AnalyticsCaller
) -> Accepted:
    """A client event; `user_id` is the caller's own (an internal API key may name anyone)."""
    rules.require_self(caller, body.user_id, "user_id")
    await interactions.record_analytics(body)
    return Accepted()


@router.get("/users/{user_id}/stats", responses=error_responses(403, 404))
async def user_stats(
    user_id: UUID, interactions: InteractionsDep, caller: StatsCaller
) -> dict[str, Any]:
    """Swipes given and received, likes, matches, mutual rate, daily swipes.
    The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    return await interactions.user_stats(user_id)


@router.get("/stats", responses=error_responses(403))
async def service_stats(interactions: InteractionsDep, caller: StatsCaller) -> dict[str, Any]:
    """Service-wide totals, mutual rate and daily swipes: admin scope or an internal key."""
    rules.require_admin(caller)
    return await interactions.service_stats()
