"""Matches: list (keyset pages), read, change status."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import InteractionsDep
from matching.discovery.interaction_schemas import MatchPage, MatchPublic, MatchUpdate
from matching.discovery.storage.matches import MatchStatus

router = APIRouter(prefix="/v1", tags=["matches"])


@router.get("/users/{user_id}/matches", response_model=MatchPage, responses=error_responses(403))
async def list_matches(
    user_id: UUID,
    interactions: InteractionsDep,
    caller: CallerDep,
    status: MatchStatus | None = None,
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=200),
) -> MatchPage:
    """Newest first; pass `next_cursor` back as `cursor` for the next page.
    The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    return await interactions.list_matches(user_id, status, limit, cursor)


@router.get("/matches/{match_id}", response_model=MatchPublic, responses=error_responses(403, 404))
async def get_match(
    match_id: UUID, interactions: InteractionsDep, caller: CallerDep
) -> MatchPublic:
    """A member of the match or an internal API key (403 otherwise)."""
    return await interactions.get_match(match_id, caller)


@router.patch(
    "/matches/{match_id}", response_model=MatchPublic, responses=error_responses(403, 404, 409)
)
async def update_match(
    match_id: UUID, body: MatchUpdate, interactions: InteractionsDep, caller: CallerDep
) -> MatchPublic:
    """Only a member may change it, and only along the lifecycle (else 403 / 409).
    `updated_by` is the token's user (omit it; another value is 403); an internal API key
    must name the member acting."""
    updated_by = rules.acting_user(caller, body.updated_by, "updated_by")
    return await interactions.update_match(match_id, body.status, updated_by, caller)
