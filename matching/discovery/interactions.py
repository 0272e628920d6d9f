"""Swipes, matches and analytics over the shared pool, caches and stages."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg

from deployments.retriever import UnknownUser as NotIndexed
from matching.core.api.errors import Conflict, Forbidden, InvalidInput, NotFound
from matching.core.api.resources import Resources
from matching.core.auth import Identity, rules
from matching.core.storage import blocks, profiles
from matching.discovery.interaction_schemas import (
    AnalyticsEventIn,
    MatchPage,
    MatchPublic,
    SwipeCreate,
    SwipeResult,
)
from matching.discovery.storage import analytics, matches, scoring, swipes
from matching.discovery.storage.errors import (
    IllegalSwipeChange,
    IllegalTransition,
    InvalidCursor,
    MatchNotFound,
    NotAMember,
    UnknownUser,
)
from matching.discovery.storage.matches import MatchStatus

log = logging.getLogger(__name__)


def match_public(m: matches.Match) -> MatchPublic:
    return MatchPublic(
        match_id=m.id,
        user1_id=m.user1_id,
        user2_id=m.user2_id,
        status=m.status,  # type: ignore[arg-type]
        compatibility_score=m.compatibility_score,
        match_reason=m.match_reason,
        algorithm_version=m.algorithm_version,
        created_at=m.created_at,
        updated_at=m.updated_at,
        expires_at=m.expires_at,
    )


class InteractionService:
    """What turns recommendations into matches; every change writes its event in the same
    transaction (the relay publishes it)."""

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self._topic = resources.settings.kafka.matching_topic

    async def swipe(self, body: SwipeCreate) -> SwipeResult:
        context = body.context.model_dump(exclude_none=True) if body.context else {}
        async with self._r.connection() as conn:
            try:
                result = await swipes.record_swipe(
                    conn,
                    body.swiper_id,
                    body.swiped_id,
                    body.action,
                    context,
                    self._topic,
                    self._score_pair,
                    match_ttl_days=self._r.settings.matching.match_ttl_days,
                )
            except UnknownUser as exc:
                field = "swiper_id" if exc.user_id == body.swiper_id else "swiped_id"
                raise NotFound(field, str(exc)) from exc
            except IllegalSwipeChange as exc:
                raise Conflict("action", str(exc)) from exc
            match = await matches.get_match(conn, result.match_id) if result.match_id else None
        if result.changed:
            await self._r.discover_cache.invalidate_user(str(body.swiper_id))
        return SwipeResult(
            swiper_id=result.swiper_id,
            swiped_id=result.swiped_id,
            action=body.action,
            changed=result.changed,
            mutual=result.mutual,
            match=match_public(match) if match else None,
        )

    async def _score_pair(self, a: UUID, b: UUID) -> tuple[float, dict[str, Any], str] | None:
        """The pair's compatibility as discover computes it, stored with the match; None when
        the stages cannot answer now (the match is then scored later, see score_pending)."""
        try:
            found = await self._r.retriever.pair.remote(a, b)
            ranked = await self._r.reranker.score_pair.remote(found.requester, found.candidates[0])
        except NotIndexed:
            return 0.0, {"summary": "not scored: a profile is not indexed"}, "unscored"
        except Exception:  # down, too slow (TimedStage) or failing: never lose the like for it
            log.warning("scoring %s/%s failed; the match is scored later", a, b, exc_info=True)
            return None
        reasons = dict(ranked.reasons)
        return ranked.compatibility_score, reasons, ranked.algorithm_version

    async def score_pending(self, conn: asyncpg.Connection) -> int:
        """Score the matches created while scoring was unavailable; how many it scored."""
        return await scoring.score_pending(conn, self._score_pair, self._topic)

    async def list_matches(
        self, user_id: UUID, status: str | None, limit: int, cursor: str | None
    ) -> MatchPage:
        async with self._r.connection() as conn:
            try:
                page, next_cursor = await matches.list_matches(conn, user_id, status, limit, cursor)
            except InvalidCursor as exc:
                raise InvalidInput("cursor", str(exc)) from exc
        return MatchPage(matches=[match_public(m) for m in page], next_cursor=next_cursor)

    async def get_match(self, match_id: UUID, caller: Identity) -> MatchPublic:
        """The match, for one of its members or an internal API key."""
        async with self._r.connection() as conn:
            found = await matches.get_match(conn, match_id)
        if found is None:
            raise NotFound("match_id", f"no match {match_id}")
        rules.require_member(caller, (found.user1_id, found.user2_id), "match_id")
        return match_public(found)

    async def update_match(
        self, match_id: UUID, status: MatchStatus, updated_by: UUID, caller: Identity
    ) -> MatchPublic:
        """`updated_by` is already the acting user (rules.acting_user); a member must be it."""
        async with self._r.connection() as conn:
            try:
                updated = await matches.update_status(
                    conn, match_id, status, updated_by, self._topic
                )
            except MatchNotFound as exc:
                raise NotFound("match_id", str(exc)) from exc
            except NotAMember as exc:
                # A user is updated_by themselves: what they lack is membership of the match.
                raise Forbidden(
                    "updated_by" if caller.is_service else "match_id", str(exc)
                ) from exc
            except IllegalTransition as exc:
                raise Conflict("status", str(exc)) from exc
        await self._forget(updated.user1_id, updated.user2_id)
        return match_public(updated)

    async def block(self, blocker: UUID, blocked: UUID) -> None:
        """Block, and end an open match between them (declined by the blocker)."""
        if blocker == blocked:
            raise InvalidInput("blocked_id", "a person cannot block themselves")
        async with self._r.connection() as conn:
            try:
                await blocks.block(conn, blocker, blocked)
            except UnknownUser as exc:
                field = "user_id" if exc.user_id == blocker else "blocked_id"
                raise NotFound(field, str(exc)) from exc
            open_match = await matches.open_match_between(conn, blocker, blocked)
            if open_match is not None:
                await matches.update_status(conn, open_match, "declined", blocker, self._topic)
        await self._forget(blocker, blocked)

    async def unblock(self, blocker: UUID, blocked: UUID) -> None:
        async with self._r.connection() as conn:
            await blocks.unblock(conn, blocker, blocked)
        await self._forget(blocker, blocked)

    async def _forget(self, *users: UUID) -> None:
        for user in users:
            await self._r.discover_cache.invalidate_user(str(user))

    async def record_analytics(self, body: AnalyticsEventIn) -> None:
        event = analytics.AnalyticsEvent(
            user_id=body.user_id,
            event_type=body.event_type,
            target_user_id=body.target_user_id,
            algorithm_version=body.algorithm_version,
            payload=body.payload,
        )
        async with self._r.connection() as conn:
            try:
                await analytics.record_events(conn, [event])
            except asyncpg.ForeignKeyViolationError as exc:
                raise NotFound("user_id", "unknown user_id or target_user_id") from exc

    async def user_stats(self, user_id: UUID) -> dict[str, Any]:
        async with self._r.connection() as conn:
            if not await profiles.exists(conn, user_id):
                raise NotFound("user_id", f"no profile {user_id}")
            return await analytics.user_stats(conn, user_id)

    async def service_stats(self) -> dict[str, Any]:
        async with self._r.connection() as conn:
            return await analytics.service_stats(conn)
