"""PUT/GET/DELETE /v1/profiles/{user_id}, GET /v1/profiles/{user_id}/features."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from matching.core.api.deps import CallerDep, ProfilesDep, ProfileWriteCaller, StatsCaller
from matching.core.api.openapi import error_responses
from matching.core.api.schemas import (
    ALWAYS_PRIVATE,
    ProfilePublic,
    ProfilePublicView,
    ProfileUpsert,
)
from matching.core.auth import rules
from matching.core.domain.profile import Profile

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


def _public(profile: Profile) -> ProfilePublic:
    data = profile.model_dump()
    data["user_id"] = data.pop("id")
    return ProfilePublic.model_validate(data)


def _view(profile: Profile, private: frozenset[str]) -> ProfilePublicView:
    """What another user may see; private fields are left unset, so they are not sent."""
    hidden = ALWAYS_PRIVATE | private
    data = {
        name: getattr(profile, name)
        for name in ProfilePublicView.model_fields
        if name != "user_id" and name not in hidden
    }
    return ProfilePublicView(user_id=profile.id, **data)


@router.put(
    "/{user_id}",
    response_model=ProfilePublic,
    responses={
        201: {"model": ProfilePublic, "description": "Created"},
        200: {"model": ProfilePublic, "description": "Replaced"},
        **error_responses(403),
    },
)
async def put_profile(
    user_id: UUID,
    body: ProfileUpsert,
    profiles: ProfilesDep,
    response: Response,
    caller: ProfileWriteCaller,
) -> ProfilePublic:
    """Create or replace a profile and its preferences; discover sees it on return.
    The owner (token `sub`) or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    stored, created = await profiles.put(user_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _public(stored)


@router.get(
    "/{user_id}",
    response_model=ProfilePublic | ProfilePublicView,
    response_model_exclude_unset=True,
    responses=error_responses(404),
)
async def get_profile(
    user_id: UUID, profiles: ProfilesDep, caller: CallerDep
) -> ProfilePublic | ProfilePublicView:
    """The whole profile for its owner and internal API keys; anyone else signed in gets
    the public view (no coordinates, preferences or private fields)."""
    found = await profiles.get(user_id)
    if rules.sees_full_profile(caller, user_id):
        return _public(found)
    return _view(found, profiles.private_fields)


@router.get("/{user_id}/features", responses=error_responses(403, 404))
async def get_features(user_id: UUID, profiles: ProfilesDep, caller: StatsCaller) -> dict[str, Any]:
    """The user's computed features (cached in Redis with MATCHING_FEATURES_CACHE_TTL_S).
    The user themselves or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    return await profiles.features(user_id)


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 404)
)
async def delete_profile(
    user_id: UUID, profiles: ProfilesDep, caller: ProfileWriteCaller
) -> Response:
    """Gone from the database and from every index; never recommended again.
    The owner or an internal API key."""
    rules.require_self(caller, user_id, "user_id")
    await profiles.delete(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
