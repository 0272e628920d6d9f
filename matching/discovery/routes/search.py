"""POST /v1/search: people for a natural-language prompt."""

from __future__ import annotations

from fastapi import APIRouter, Response

from matching.core.api.deps import SearchCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.discovery.deps import DiscoveryDep
from matching.discovery.schemas import SearchRequest, SearchResponse, answer_json

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=error_responses(403, 404))
async def search(body: SearchRequest, service: DiscoveryDep, caller: SearchCaller) -> Response:
    """E.g. "Looking for hiking enthusiasts who mentor founders", optionally near a place.
    Any signed-in user; `user_id`, when given, must be the caller's own."""
    if body.user_id is not None:
        rules.require_self(caller, body.user_id, "user_id")
    ranked, interpreted = await service.search(body)
    version = ranked[0].algorithm_version if ranked else "weighted-v1"
    head = {
        "prompt": body.prompt,
        "algorithm_version": version,
        "interpreted": interpreted.model_dump(),
    }
    answer = answer_json(head, [m.as_dict() for m in ranked])
    return Response(answer, media_type="application/json")
