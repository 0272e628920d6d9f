"""GET /v1/pairing/cycles: the recent cycles of each pool, for operators (the admin page)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matching.core.api.deps import AdminCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.pairing.deps import PairingDep
from matching.pairing.schemas import POOL_PATTERN, RecentCycles

router = APIRouter(prefix="/v1/pairing", tags=["pairing"])


@router.get("/cycles", responses=error_responses(403))
async def recent_cycles(
    pairing: PairingDep,
    caller: AdminCaller,
    pool: str | None = Query(None, pattern=POOL_PATTERN, description="one pool only"),
    limit: int = Query(10, ge=1, le=100, description="cycles per pool"),
) -> RecentCycles:
    """Each pool's last cycles, newest first: status, when it started and finished, seekers,
    pairs, and the optimal and greedy totals. Admin scope or an internal API key."""
    rules.require_admin(caller)
    return await pairing.recent_cycles(pool, limit)
