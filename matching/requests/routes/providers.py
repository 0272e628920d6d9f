"""PUT/GET/DELETE /v1/providers/{provider_id}, GET /v1/providers."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from matching.core.api.deps import CallerDep, ProfileWriteCaller
from matching.core.api.openapi import error_responses
from matching.core.auth import rules
from matching.requests.catalogue import Provider
from matching.requests.deps import RequestsDep
from matching.requests.schemas import ProviderList, ProviderPublic, ProviderUpsert, SessionType

router = APIRouter(prefix="/v1/providers", tags=["providers"])


def public(p: Provider) -> ProviderPublic:
    return ProviderPublic(provider_id=p.provider_id, updated_at=p.updated_at, **p.body.model_dump())


@router.put("/{provider_id}", response_model=ProviderPublic, responses=error_responses(403))
async def put_provider(
    provider_id: UUID, body: ProviderUpsert, service: RequestsDep, caller: ProfileWriteCaller
) -> ProviderPublic:
    """Create or replace a provider; ranked from the moment this returns.
    The provider themselves or an internal API key."""
    rules.require_self(caller, provider_id, "provider_id")
    return public(await service.put_provider(provider_id, body))


@router.get("/{provider_id}", response_model=ProviderPublic, responses=error_responses(404))
async def get_provider(
    provider_id: UUID,
    service: RequestsDep,
    _caller: CallerDep,
) -> ProviderPublic:
    """A provider, as clients see them when choosing one (any caller)."""
    return public(await service.get_provider(provider_id))


@router.delete(
    "/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(403, 404),
)
async def delete_provider(
    provider_id: UUID, service: RequestsDep, caller: ProfileWriteCaller
) -> Response:
    """Remove a provider from ranking. The provider themselves or an internal API key."""
    rules.require_self(caller, provider_id, "provider_id")
    await service.delete_provider(provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=ProviderList)
async def list_providers(
    service: RequestsDep,
    _caller: CallerDep,
    skill: str | None = Query(None, min_length=1, max_length=80),
    session_type: SessionType | None = None,
    active: bool | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=100_000),
) -> ProviderList:
    """Providers by id, filtered on a skill name, a session type, or being active."""
    found = await service.list_providers(
        skill=skill, session_type=session_type, active=active, limit=limit, offset=offset
    )
    return ProviderList(count=len(found), providers=[public(p) for p in found])
