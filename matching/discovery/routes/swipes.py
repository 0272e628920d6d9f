"""POST /v1/swipes."""

from __future__ import annotations

from fastapi import APIRouter

from matching.discovery.deps import InteractionsDep
from matching.discovery.interaction_schemas import SwipeCreate, SwipeResult

router = APIRouter(prefix="/v1", tags=["swipes"])


@router.post("/swipes", response_model=SwipeResult)
async def swipe(body: SwipeCreate, interactions: InteractionsDep) -> SwipeResult:
    """Record a like, pass or super like; says whether it made a mutual match.

    Repeating a swipe changes nothing; a pass may become a like, never the reverse (409).
    """
    return await interactions.swipe(body)
