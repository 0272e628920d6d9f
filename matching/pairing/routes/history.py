"""GET /v1/users/{user_id}/pairings."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from matching.core.api.deps import CallerDep
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.pairing.deps import PairingDep
from matching.pairing.schemas import PairingHistory

router = APIRouter(prefix="/v1/users", tags=["pairing"])


@router.get("/{user_id}/pairings", responses=error_responses(403))
async def pairings(user_id: UUID, pairing: PairingDep, caller: CallerDep) -> PairingHistory:
    """A person's pairs, newest first (the last 100). Themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    return await pairing.history(user_id)
