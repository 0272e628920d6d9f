"""PUT /v1/pools/{pool}, POST /v1/pools/{pool}/seekers,
DELETE /v1/pools/{pool}/seekers/{user_id}, GET /v1/pools/{pool}."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.pairing.deps import PairingDep
from matching.pairing.schemas import (
    POOL_PATTERN,
    PoolPublic,
    PoolStatus,
    SeekerCreate,
    SeekerPublic,
)

router = APIRouter(prefix="/v1/pools", tags=["pairing"])
PoolPath = Annotated[str, Path(pattern=POOL_PATTERN, description="lowercase, 1-63 chars")]


@router.put("/{pool}", responses=error_responses(403))
async def open_pool(pool: PoolPath, pairing: PairingDep, caller: CallerDep) -> PoolPublic:
    """Open a pool (idempotent). The platform: admin scope or an internal API key."""
    rules.require_admin(caller)
    return await pairing.open_pool(pool)


@router.post(
    "/{pool}/seekers",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404),
)
async def opt_in(
    pool: PoolPath, body: SeekerCreate, pairing: PairingDep, caller: CallerDep
) -> SeekerPublic:
    """Wait in the pool for the next cycles (again: new criteria, the wait is kept)."""
    user_id = rules.acting_user(caller, body.user_id, "user_id")
    return await pairing.opt_in(pool, user_id, body)


@router.delete(
    "/{pool}/seekers/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
async def opt_out(
    pool: PoolPath, user_id: UUID, pairing: PairingDep, caller: CallerDep
) -> Response:
    """Leave the pool. The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    await pairing.opt_out(pool, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{pool}", responses=error_responses(403, 404))
async def pool_status(
    pool: PoolPath,
    pairing: PairingDep,
    caller: CallerDep,
    user_id: Annotated[UUID | None, Query(description="whose wait (default: the caller)")] = None,
) -> PoolStatus:
    """Size, next cycle, and a seeker's wait and estimated chance next cycle."""
    if user_id is not None:
        rules.require_self(caller, user_id, "user_id")
    whose = user_id if user_id is not None or caller.is_service else caller.subject
    return await pairing.status(pool, whose)
