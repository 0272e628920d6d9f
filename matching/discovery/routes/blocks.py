"""POST /v1/users/{user_id}/blocks, DELETE /v1/users/{user_id}/blocks/{blocked_id}."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import InteractionsDep

router = APIRouter(prefix="/v1/users", tags=["blocks"])


class BlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocked_id: UUID


@router.post(
    "/{user_id}/blocks",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
async def block(
    user_id: UUID, body: BlockCreate, interactions: InteractionsDep, caller: CallerDep
) -> Response:
    """Neither person is shown to the other again, nor can they match (idempotent).
    The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    await interactions.block(user_id, body.blocked_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{user_id}/blocks/{blocked_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403),
)
async def unblock(
    user_id: UUID, blocked_id: UUID, interactions: InteractionsDep, caller: CallerDep
) -> Response:
    """Only the blocker (or an internal API key) lifts a block."""
    rules.require_self(caller, user_id, "user_id")
    await interactions.unblock(user_id, blocked_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
