"""PUT/GET/DELETE /v1/profiles/{user_id}, GET /v1/profiles/{user_id}/features."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from matching.core.api.deps import ProfilesDep
from matching.core.api.schemas import ProfilePublic, ProfileUpsert
from matching.core.domain.profile import Profile

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


def _public(profile: Profile) -> ProfilePublic:
    data = profile.model_dump()
    data["user_id"] = data.pop("id")
    return ProfilePublic.model_validate(data)


@router.put(
    "/{user_id}",
    response_model=ProfilePublic,
    responses={201: {"description": "Created"}, 200: {"description": "Replaced"}},
)
async def put_profile(
    user_id: UUID, body: ProfileUpsert, profiles: ProfilesDep, response: Response
) -> ProfilePublic:
    """Create or replace a profile and its preferences; discover sees it on return."""
    stored, created = await profiles.put(user_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _public(stored)


@router.get("/{user_id}", response_model=ProfilePublic)
async def get_profile(user_id: UUID, profiles: ProfilesDep) -> ProfilePublic:
    return _public(await profiles.get(user_id))


@router.get("/{user_id}/features")
async def get_features(user_id: UUID, profiles: ProfilesDep) -> dict[str, Any]:
    """The user's computed features (cached in Redis with MATCHING_FEATURES_CACHE_TTL_S)."""
    return await profiles.features(user_id)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_profile(user_id: UUID, profiles: ProfilesDep) -> Response:
    """Gone from the database and from every index; never recommended again."""
    await profiles.delete(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
