"""POST /v1/queue/requests, GET and DELETE /v1/queue/requests/{ticket_id}."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.queue.deps import QueueDep
from matching.queue.schemas import TicketCreate, TicketPublic

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.post(
    "/requests",
    response_model=TicketPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": TicketPublic, "description": "The ticket this client_request_id made"},
        **error_responses(403, 409),
    },
)
async def create_ticket(
    body: TicketCreate, queue: QueueDep, caller: CallerDep, response: Response
) -> TicketPublic:
    """Wait for a partner with these criteria (the queue definition's fields, all of them).
    One open ticket per user (409 names it); a repeated `client_request_id` returns its
    ticket; 409 while cooling down after a declined or missed match, or in a session.
    `user_id` only with an internal API key (a user's token is the user)."""
    user = rules.acting_user(caller, body.user_id, "user_id")
    ticket, created = await queue.enqueue(user, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ticket


@router.get(
    "/requests/{ticket_id}", response_model=TicketPublic, responses=error_responses(403, 404)
)
async def get_ticket(ticket_id: UUID, queue: QueueDep, caller: CallerDep) -> TicketPublic:
    """Its status, the match id once matched, and while waiting its place and estimated wait.
    Its owner or an internal API key."""
    return await queue.ticket(ticket_id, caller)


@router.delete(
    "/requests/{ticket_id}", response_model=TicketPublic, responses=error_responses(403, 404, 409)
)
async def cancel_ticket(ticket_id: UUID, queue: QueueDep, caller: CallerDep) -> TicketPublic:
    """Cancel it; during a confirmation window this frees the partner, who goes back to the
    queue at their place (and counts as a decline for the canceller's cooldown)."""
    return await queue.cancel(ticket_id, caller)
