"""Discover and prompt search over the stages: the same code for both compositions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from deployments.reranker import PromptQuery, RankedMatch
from deployments.retriever import UnknownUser
from matching.core.api.errors import DependencyUnavailable, NotFound
from matching.core.api.resources import Resources
from matching.core.domain.filters import SearchFilters
from matching.core.domain.prompt import parse_prompt
from matching.core.domain.prompt_reader import read_terms
from matching.core.domain.search_terms import SearchTerms
from matching.core.storage.registrations import shared_events
from matching.discovery.impressions import ImpressionBuffer
from matching.discovery.schemas import Chip, SearchInterpretation, SearchRequest
from matching.discovery.storage import analytics, context, monitoring

# How long a replica trusts its view of the reranker's version: after a promotion, cached
# discover answers of the old version stop being served within this long.
_VERSION_TTL_S = 5.0
# Registrations of the people going to a requester's events read with the context: past
# this many (someone at a very large event), the candidates' shared events are read after
# retrieval instead, in a second round trip. Measured locally: the context statement takes
# 0.3 ms with none, 0.8 ms with 500, 3.7 ms with 2000; the second trip about 0.5 ms.
CO_ATTENDEES_MAX = 500


class DiscoveryService:
    """Ranked people for a user (cached per user) and for a prompt."""

    def __init__(self, resources: Resources) -> None:
        self._r = resources
        self._version: str | None = None
        self._version_at = 0.0
        self.impressions = ImpressionBuffer(self._write_impressions)

    async def ranking_version(self) -> str:
        """The reranker's algorithm_version, asked at most every _VERSION_TTL_S."""
        now = time.monotonic()
        if self._version is None or now - self._version_at > _VERSION_TTL_S:
            self._version = str((await self._r.reranker.info.remote())["version"])
            self._version_at = now
        return self._version

    async def discover(self, user_id: UUID, limit: int) -> tuple[list[dict[str, Any]], str]:
        """(candidates, algorithm_version). Cached per user; never someone already swiped on,
        matched or blocked; every candidate shown is recorded as a `match_shown` impression.
        A cached answer ranked by another version than the reranker's now (a promotion or a
        rollback since) is ranked again."""
        limit = min(limit, self._r.settings.matching.max_matches_per_user)
        version = await self.ranking_version()
        cached = await self._r.discover_cache.get(str(user_id))
        if (
            cached is not None
            and cached["limit"] >= limit
            and cached.get("algorithm_version") == version
        ):
            shown: list[dict[str, Any]] = cached["candidates"][:limit]
        else:
            shown = [m.as_dict() for m in await self._rank(user_id, limit)]
            if shown:  # what the reranker serves now: stop trusting older cached answers
                version = self._version = shown[0]["algorithm_version"]
                self._version_at = time.monotonic()
            await self._r.discover_cache.put(
                str(user_id),
                {"limit": limit, "candidates": shown, "algorithm_version": version},
                [c["user_id"] for c in shown],
            )
        self._record_impressions(user_id, shown)
        return shown, version

    async def _rank(self, user_id: UUID, limit: int) -> list[RankedMatch]:
        """One database round trip: the context (exclusions, co-attendees, the change log's
        position) before retrieval; the retriever replays the log only if it is behind it."""
        pool_k = max(self._r.settings.matching.candidate_pool, 3 * limit)
        cooldown = self._r.settings.matching.pass_cooldown_days
        async with self._r.connection() as conn:
            ctx = await context.ranking_context(conn, user_id, cooldown, CO_ATTENDEES_MAX)
        try:
            found = await self._r.retriever.discover.remote(user_id, pool_k, ctx.excluded, ctx.seq)
        except UnknownUser as exc:
            raise NotFound("user_id", f"no profile {user_id}") from exc
        if ctx.complete:
            # every co-attendee's events: the reranker keeps its candidates', so the
            # candidates are not read here (in the pipeline they pass through unopened)
            events = ctx.shared
        else:
            ids = [c.person.user_id for c in found.candidates]
            async with self._r.connection() as conn:
                events = await shared_events(conn, user_id, ids)
        ranked: list[RankedMatch] = await self._r.reranker.rank.remote(
            found.requester, found.candidates, limit, events
        )
        return ranked

    def _record_impressions(self, user_id: UUID, shown: list[dict[str, Any]]) -> None:
        """Queue the impressions: written after the response, never on the request path."""
        # Stamped now, not when written: a swipe made after this is its outcome. (The
        # replica's clock, against the database's for swipes: NTP skew is far below the
        # time anyone takes to swipe.)
        served_at = datetime.now(UTC)
        rows = [
            analytics.AnalyticsEvent(
                user_id=user_id,
                event_type="match_shown",
                target_user_id=UUID(c["user_id"]),
                algorithm_version=c["algorithm_version"],
                payload=_prediction(i, c),
                created_at=served_at,
            )
            for i, c in enumerate(shown)
        ]
        self.impressions.add(rows)

    async def _write_impressions(self, rows: Sequence[analytics.AnalyticsEvent]) -> None:
        # rows naming someone deleted since are skipped by the statement, not failed
        async with self._r.connection() as conn:
            await analytics.record_events(conn, rows)

    async def search(self, req: SearchRequest) -> tuple[list[RankedMatch], SearchInterpretation]:
        """Hybrid: what the prompt names filters (genders, ages, levels, industries,
        languages) and ranks first (interests, goals, roles); its meaning ranks the rest."""
        hints = parse_prompt(req.prompt)
        terms = req.terms if req.terms is not None else read_terms(req.prompt)
        lat, lon = req.latitude, req.longitude
        if req.user_id is not None:
            requester = await self._r.retriever.person.remote(req.user_id)
            if requester is None:
                raise NotFound("user_id", f"no profile {req.user_id}")
            if lat is None:
                lat, lon = requester.latitude, requester.longitude
        radius = req.max_distance_km or hints.radius_km
        note = None
        if radius is not None and lat is None:
            note = "no location given, so the distance in the prompt was not applied"
            radius = None
        filters = _filters(terms, req, lat, lon, radius)
        try:
            vector = await self._r.embedder.embed.remote(req.prompt)
        except Exception as exc:
            raise DependencyUnavailable("embedder", str(exc)) from exc
        pool_k = max(self._r.settings.matching.candidate_pool, 3 * req.limit)
        found = await self._r.retriever.search.remote(vector, pool_k, filters, req.user_id)
        query = PromptQuery(req.prompt, lat, lon, radius, filters.named)
        ranked = await self._r.reranker.rank_for_prompt.remote(
            query, found.requester, found.candidates, req.limit
        )
        origin = None if lat is None or lon is None else {"latitude": lat, "longitude": lon}
        chips = [Chip(**c) for c in terms.chips()]
        return ranked, SearchInterpretation(
            near_me=hints.near_me,
            radius_km=radius,
            origin=origin,
            note=note,
            terms=terms,
            chips=chips,
        )

    async def monitoring(self, days: float) -> dict[str, Any]:
        m = self._r.settings.matching
        await self.impressions.flush()  # this replica's served predictions count at once
        async with self._r.connection() as conn:
            versions = await monitoring.live_report(
                conn,
                days=days,
                decision=m.monitor_decision,
                min_accuracy=m.monitor_min_accuracy,
                min_outcomes=m.monitor_min_outcomes,
            )
        return {
            "window_days": days,
            "decision_threshold": m.monitor_decision,
            "min_accuracy": m.monitor_min_accuracy,
            "versions": versions,
            "flagged": [v["algorithm_version"] for v in versions if v["flagged"]],
        }


def _prediction(position: int, shown: dict[str, Any]) -> dict[str, Any]:
    """What an impression records of the prediction served (for live monitoring)."""
    payload: dict[str, Any] = {"position": position, "score": shown["compatibility_score"]}
    mutual = shown.get("mutual") or {}
    if "p_you_like" in mutual:
        payload["p_like"] = mutual["p_you_like"]
        payload["p_mutual"] = mutual["p_mutual"]
    return payload


def _filters(
    terms: SearchTerms,
    req: SearchRequest,
    lat: float | None,
    lon: float | None,
    radius: float | None,
) -> SearchFilters:
    """The request's explicit age range wins over the prompt's."""
    ages = (req.age_range.min, req.age_range.max) if req.age_range else None
    return SearchFilters(
        latitude=lat,
        longitude=lon,
        max_distance_km=radius,
        age_min=ages[0] if ages else terms.age_min,
        age_max=ages[1] if ages else terms.age_max,
        genders=frozenset(terms.genders),
        job_levels=frozenset(terms.job_levels),
        industries=frozenset(terms.industries),
        languages=frozenset(terms.languages),
        named=terms.groups(),
    )
