"""GET /v1/queue/stats: the queue's own figures (discovery owns /v1/stats, and modes never
import each other)."""

from __future__ import annotations

from fastapi import APIRouter

from matching.core.api.deps import StatsCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.queue.deps import QueueDep
from matching.queue.schemas import QueueStats

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.get("/stats", response_model=QueueStats, responses=error_responses(403))
async def queue_stats(queue: QueueDep, caller: StatsCaller) -> QueueStats:
    """Depth per criteria (live), matches, median time to match, confirm rate of ended
    matches and sessions (from the history): admin scope or an internal key."""
    rules.require_admin(caller)
    return await queue.stats()
