"""Profiles: write (embedded first, one transaction, replayed by every retriever), read,
delete, and the features computed now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from matching.core.api.errors import DependencyUnavailable, NotFound
from matching.core.api.resources import Resources
from matching.core.api.schemas import ProfileUpsert
from matching.core.domain.profile import Profile
from matching.core.domain.text import profile_text
from matching.core.storage import features as features_store
from matching.core.storage import profiles
from matching.core.storage.erasure import erase_person


class ProfileService:
    """The profile resource every mode reads."""

    def __init__(self, resources: Resources) -> None:
        self._r = resources

    @property
    def private_fields(self) -> frozenset[str]:
        """Fields the platform marks private (MATCHING_PRIVATE_PROFILE_FIELDS)."""
        return self._r.settings.auth.private_fields

    async def put(self, user_id: UUID, body: ProfileUpsert) -> tuple[Profile, bool]:
        """Embed first, then one transaction; the retrievers replay it from the change log."""
        try:
            vector = await self._r.embedder.embed.remote(profile_text(body))
        except Exception as exc:
            raise DependencyUnavailable("embedder", str(exc)) from exc
        async with self._r.connection() as conn:
            stored, created = await profiles.upsert_profile(
                conn, user_id, body, vector, self._r.model_version
            )
        await self._r.profile_changed(user_id)
        return stored, created

    async def get(self, user_id: UUID) -> Profile:
        async with self._r.connection() as conn:
            found = await profiles.get_profile(conn, user_id)
        if found is None:
            raise NotFound("user_id", f"no profile {user_id}")
        return found

    async def delete(self, user_id: UUID) -> None:
        """Erase the person (the same erasure as Kafka's user.deleted), then sync."""
        topic = self._r.settings.kafka.matching_topic
        async with self._r.connection() as conn:
            erased = await erase_person(conn, user_id, topic, self._r.erasure_steps)
        if erased is None:
            raise NotFound("user_id", f"no profile {user_id}")
        await self._r.profile_changed(user_id)

    async def features(self, user_id: UUID) -> dict[str, Any]:
        """The user's features computed now, with the code the offline job runs, read
        through the feature cache (its own TTL, dropped on every profile change)."""
        cached = await self._r.feature_cache.get(str(user_id))
        if cached is not None:
            return {**cached, "cached": True}
        now = datetime.now(UTC)
        async with self._r.connection() as conn:
            live = await features_store.live_features(conn, user_id, now)
            row = await features_store.stored_meta(conn, user_id)
        if live is None:
            raise NotFound("user_id", f"no profile {user_id}")
        features = {
            "user_id": str(user_id),
            "profile_completeness": live["profile_completeness"],
            "activity_score": live["activity_score"],
            "model_version": row["model_version"] if row else None,
            "embedding_dim": row["embedding_dim"] if row else None,
            "features": live,
            "computed_at": now.isoformat(),
            "stored_at": row["computed_at"].isoformat() if row else None,
        }
        await self._r.feature_cache.put(str(user_id), features)
        return {**features, "cached": False}
