"""POST /v1/queue/confirm and GET /v1/queue/matches/{match_id}."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.queue.deps import QueueDep
from matching.queue.schemas import ConfirmBody, MatchPublic

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.post("/confirm", response_model=MatchPublic, responses=error_responses(403, 404, 409))
async def confirm(body: ConfirmBody, queue: QueueDep, caller: CallerDep) -> MatchPublic:
    """Confirm (or decline) a match within CONFIRM_MATCH_TIMEOUT_SECONDS; when both have
    confirmed the answer carries the session. A decline sends the partner back to the queue
    and gives the decliner a growing cooldown. 409 once the match has ended."""
    user = rules.acting_user(caller, body.user_id, "user_id")
    return await queue.confirm(user, body.match_id, body.confirmed)


@router.get("/matches/{match_id}", response_model=MatchPublic, responses=error_responses(403, 404))
async def get_match(match_id: UUID, queue: QueueDep, caller: CallerDep) -> MatchPublic:
    """Who has confirmed, the deadline and the session once there is one. Its members or an
    internal API key."""
    return await queue.match(match_id, caller)
