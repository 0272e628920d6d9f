"""POST /v1/analytics, GET /v1/users/{user_id}/stats, GET /v1/stats."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status

from matching.discovery.deps import InteractionsDep
from matching.discovery.interaction_schemas import Accepted, AnalyticsEventIn

router = APIRouter(prefix="/v1", tags=["analytics"])


@router.post("/analytics", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
async def record(body: AnalyticsEventIn, interactions: InteractionsDep) -> Accepted:
    await interactions.record_analytics(body)
    return Accepted()


@router.get("/users/{user_id}/stats")
async def user_stats(user_id: UUID, interactions: InteractionsDep) -> dict[str, Any]:
    """Swipes given and received, likes, matches, mutual rate, daily swipes."""
    return await interactions.user_stats(user_id)


@router.get("/stats")
async def service_stats(interactions: InteractionsDep) -> dict[str, Any]:
    """Service-wide totals, mutual rate and daily swipes."""
    return await interactions.service_stats()
