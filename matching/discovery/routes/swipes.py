"""POST /v1/swipes."""

from __future__ import annotations

from fastapi import APIRouter

from matching.core.api.deps import SwipesCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import InteractionsDep
from matching.discovery.interaction_schemas import SwipeCreate, SwipeResult

router = APIRouter(prefix="/v1", tags=["swipes"])


@router.post("/swipes", response_model=SwipeResult, responses=error_responses(403, 404, 409))
async def swipe(
    body: SwipeCreate, interactions: InteractionsDep, caller: SwipesCaller
) -> SwipeResult:
    """Record a like, pass or super like; says whether it made a mutual match.

    Repeating a swipe changes nothing; a pass may become a like, never the reverse (409).
    `swiper_id` is the caller's own id (an internal API key may name anyone).
    """
    rules.require_self(caller, body.swiper_id, "swiper_id")
    return await interactions.swipe(body)
