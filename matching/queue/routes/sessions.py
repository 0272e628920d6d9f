"""GET /v1/queue/sessions/active and POST /v1/queue/sessions/leave."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.queue.deps import QueueDep
from matching.queue.schemas import LeaveBody, SessionPublic

router = APIRouter(prefix="/v1/queue/sessions", tags=["queue"])


@router.get("/active", response_model=SessionPublic, responses=error_responses(403, 404, 422))
async def active_session(
    queue: QueueDep, caller: CallerDep, user_id: UUID | None = Query(None)
) -> SessionPublic:
    """The caller's active session (404 when none); an internal API key names `user_id`."""
    user = rules.acting_user(caller, user_id, "user_id")
    return await queue.active_session(user)


@router.post("/leave", response_model=SessionPublic, responses=error_responses(403, 404, 409))
async def leave_session(body: LeaveBody, queue: QueueDep, caller: CallerDep) -> SessionPublic:
    """End the session (default: the caller's active one); the partner is told partner_left."""
    user = rules.acting_user(caller, body.user_id, "user_id")
    return await queue.leave(user, body.session_id)
