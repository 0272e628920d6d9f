"""POST/GET /v1/requests, GET /v1/requests/{request_id}, POST .../outcome."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse

from matching.core.api.deps import CallerDep, SearchCaller
from matching.core.api.errors import Forbidden, InvalidInput
from matching.core.api.openapi import error_responses
from matching.core.auth import Identity, rules
from matching.requests.deps import RequestsDep
from matching.requests.schemas import (
    MatchRequest,
    MatchResult,
    OutcomeIn,
    OutcomeRecorded,
    RequestHistory,
    RequestState,
)

router = APIRouter(prefix="/v1/requests", tags=["requests"])
RequestIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]
SERVICE = "service"  # whose requests a service sends without naming a requester


def requester_of(caller: Identity, named: UUID | None) -> str:
    """Who a request is for: a user is themselves; a service names them or is itself."""
    if named is not None:
        rules.require_self(caller, named, "requester_id")
        return str(named)
    return SERVICE if caller.is_service else str(caller.subject)


def _reader(caller: Identity) -> str | None:
    """Whose requests the caller may read: a user only theirs; a service anyone's (None)."""
    return None if caller.is_service else str(caller.subject)


@router.post(
    "",
    response_model=MatchResult,
    responses={
        202: {"model": RequestState, "description": "Accepted: ranked in the background"},
        **error_responses(403, 409),
    },
)
async def post_request(
    body: MatchRequest,
    service: RequestsDep,
    caller: SearchCaller,
    prefer: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Ranked providers for a client's request, with reasons, what each hard filter removed
    and, when few pass, the relaxation that adds the most. `Prefer: respond-async` answers
    202 at once. The same request_id is ranked once and always answers that result."""
    respond_async = prefer is not None and "respond-async" in prefer.lower()
    requester = requester_of(caller, body.requester_id)
    code, payload = await service.submit(body, requester, respond_async)
    return JSONResponse(payload, status_code=code)


@router.get("", response_model=RequestHistory, responses=error_responses(403))
async def history(
    service: RequestsDep,
    caller: CallerDep,
    requester: str = Query("me", max_length=64, description='"me", or a user id (services)'),
    limit: int = Query(50, ge=1, le=200),
) -> RequestHistory:
    """The requester's requests, newest first."""
    if requester == "me":
        whose = SERVICE if caller.is_service else str(caller.subject)
    else:
        try:
            named = UUID(requester)
        except ValueError:
            raise InvalidInput("requester", 'requester: "me" or a user id') from None
        if not caller.is_service and named != caller.subject:
            raise Forbidden("requester", "requester: a user may only read their own requests")
        whose = str(named)
    found = await service.history(whose, limit)
    return RequestHistory(
        count=len(found), requests=[RequestState.model_validate(s) for s in found]
    )


@router.get("/{request_id}", response_model=RequestState, responses=error_responses(404))
async def get_request(
    request_id: RequestIdPath, service: RequestsDep, caller: CallerDep
) -> RequestState:
    """pending, completed (with the result) or failed (with the error's code and reason)."""
    return RequestState.model_validate(await service.get(request_id, _reader(caller)))


@router.post(
    "/{request_id}/outcome",
    response_model=OutcomeRecorded,
    status_code=201,
    responses=error_responses(404),
)
async def post_outcome(
    request_id: RequestIdPath, body: OutcomeIn, service: RequestsDep, caller: CallerDep
) -> OutcomeRecorded:
    """What came of a match: contacted, booked, declined or completed (with a rating)."""
    rank = await service.record_outcome(request_id, _reader(caller), body)
    return OutcomeRecorded(
        request_id=request_id, provider_id=body.provider_id, outcome=body.outcome, rank=rank
    )
