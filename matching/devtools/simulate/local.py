"""In-process backend: the service's own Retriever and Reranker, no Ray, history written in
bulk with simulated timestamps (swipe_history, user_matches, matching_analytics; never
event_outbox: simulated history is not a platform event)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.domain.pairs import ordered_pair, pair_key
from matching.core.domain.person import Person
from matching.core.ml.embedding import TextEncoder
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.core.storage.migrate import migrate
from matching.core.storage.profiles import log_changes
from matching.devtools.population import SeedPerson
from matching.devtools.seed import CHUNK, insert_people
from matching.devtools.simulate.market import LIKES, Shown, Swipe

log = logging.getLogger(__name__)

_SWIPES_SQL = """
INSERT INTO swipe_history (swiper_id, swiped_id, action, context, created_at, updated_at)
SELECT t.a, t.b, t.action, t.context, t.at, t.at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::timestamptz[])
     AS t(a, b, action, context, at)
ON CONFLICT (swiper_id, swiped_id) DO UPDATE
    SET action = EXCLUDED.action, context = EXCLUDED.context, updated_at = EXCLUDED.updated_at
"""
_MATCHES_SQL = """
INSERT INTO user_matches (id, user1_id, user2_id, status, compatibility_score, match_reason,
                          algorithm_version, created_at, updated_at, expires_at)
SELECT t.id, t.u1, t.u2, 'mutual', t.score::numeric(5, 4), t.reason, t.version, t.at, t.at,
       t.at + $8::float8 * interval '1 day'
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::float8[], $5::jsonb[], $6::text[],
            $7::timestamptz[]) AS t(id, u1, u2, score, reason, version, at)
ON CONFLICT (user1_id, user2_id) DO NOTHING
"""
_SWIPED_SQL = """
SELECT swiper_id, swiped_id, action, updated_at FROM swipe_history WHERE swiper_id = ANY($1::uuid[])
"""
_MATCHED_SQL = """
SELECT user1_id AS a, user2_id AS b FROM user_matches
WHERE user1_id = ANY($1::uuid[]) OR user2_id = ANY($1::uuid[])
"""
_BLOCKED_SQL = """
SELECT blocker_id AS a, blocked_id AS b FROM user_blocks
WHERE blocker_id = ANY($1::uuid[]) OR blocked_id = ANY($1::uuid[])
"""
_EVENT_COLUMNS = ["user_id", "event_type", "target_user_id", "algorithm_version", "payload"]
_MATCH_IDS = uuid.UUID("0c7d0a52-2b0e-4c55-9d1c-5a1f3e0e7c11")  # uuid5 namespace


class LocalBackend:
    """Retriever and Reranker as plain objects; exclusions kept here by the rule of
    `matching.discovery.storage.swipes.excluded_ids`, evaluated in simulated time."""

    def __init__(
        self,
        settings: Settings,
        conn: asyncpg.Connection,
        encoder: TextEncoder,
        reranker: Reranker | None,
    ) -> None:
        self._settings, self._conn, self._encoder = settings, conn, encoder
        self._retriever = Retriever(settings)
        self._reranker = reranker or Reranker(settings)
        self._swiped: dict[UUID, dict[UUID, tuple[str, datetime]]] = defaultdict(dict)
        self._matched: dict[UUID, set[UUID]] = defaultdict(set)
        self._blocked: dict[UUID, set[UUID]] = defaultdict(set)
        self._active: dict[UUID, datetime] = {}
        self._swipe_rows: dict[tuple[UUID, UUID], tuple[Any, ...]] = {}
        self._match_rows: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []

    @classmethod
    async def open(
        cls, settings: Settings, encoder: TextEncoder, reranker: Reranker | None
    ) -> LocalBackend:
        conn = await connect(settings.database)
        try:
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(settings, conn, encoder, reranker)

    async def add_people(self, people: Sequence[SeedPerson]) -> int:
        """Insert (COPY, batch embeddings) the people not there yet; returns how many."""
        ids = [p.id for p in people]
        rows = await self._conn.fetch("SELECT id FROM profiles WHERE id = ANY($1::uuid[])", ids)
        existing = {r["id"] for r in rows}
        fresh = [p for p in people if p.id not in existing]
        for start in range(0, len(fresh), CHUNK):
            chunk = fresh[start : start + CHUNK]
            await insert_people(self._conn, chunk, self._encoder)
            log.info("simulator: added %d/%d people", start + len(chunk), len(fresh))
        return len(fresh)

    async def prepare(self, people: Sequence[SeedPerson], start: datetime) -> None:
        """Load the index, and the history these people already have. Anyone who signed up
        after `start` (the first simulated day) is moved to before it: history does not
        come before a sign-up."""
        ids = [p.id for p in people]
        async with self._conn.transaction():
            moved = await self._conn.fetch(
                "UPDATE profiles SET created_at = $2 "
                "WHERE id = ANY($1::uuid[]) AND created_at > $2 RETURNING id",
                ids,
                start,
            )
            if moved:
                await log_changes(self._conn, [r["id"] for r in moved], "upsert")
        await self._retriever.start()
        for r in await self._conn.fetch(_SWIPED_SQL, ids):
            self._swiped[r["swiper_id"]][r["swiped_id"]] = (r["action"], r["updated_at"])
        for sql, pairs in ((_MATCHED_SQL, self._matched), (_BLOCKED_SQL, self._blocked)):
            for r in await self._conn.fetch(sql, ids):
                pairs[r["a"]].add(r["b"])
                pairs[r["b"]].add(r["a"])

    def _excluded(self, user: UUID, at: datetime) -> frozenset[UUID]:
        cooldown = self._settings.matching.pass_cooldown_days
        since = None if cooldown is None else at - timedelta(days=cooldown)
        swiped = {
            b
            for b, (action, t) in self._swiped[user].items()
            if since is None or action != "pass" or t > since
        }
        return frozenset(swiped | self._matched[user] | self._blocked[user])

    def _as_of(self, person: Person, shift: timedelta) -> Person:
        """The reranker measures activity against the wall clock: hand it the person as of
        simulated time, last activity moved by `shift` = wall clock - simulated time (so the
        ranking does not depend on when the simulation runs)."""
        seen = self._active.get(person.user_id, person.last_active_at)
        return dataclasses.replace(person, last_active_at=seen + shift)

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[Shown]:
        matching = self._settings.matching
        limit = min(limit, matching.max_matches_per_user)
        self._active[user] = at
        found = await self._retriever.discover(
            user, max(matching.candidate_pool, 3 * limit), self._excluded(user, at)
        )
        assert found.requester is not None
        shift = datetime.now(UTC) - at
        candidates = [
            Candidate(self._as_of(c.person, shift), c.similarity, c.affinity)
            for c in found.candidates
        ]
        ranked = self._reranker.rank(self._as_of(found.requester, shift), candidates, limit)
        shown = [Shown(UUID(m.user_id), m.compatibility_score, m.algorithm_version) for m in ranked]
        self._events += [
            (
                user,
                "match_shown",
                s.user_id,
                s.algorithm_version,
                {"position": i, "score": s.score},
                at,
            )
            for i, s in enumerate(shown)
        ]
        return shown

    async def swipe(self, s: Swipe) -> bool:
        previous = self._swiped[s.swiper].get(s.swiped)
        if previous is not None and previous[0] == s.action:
            return False  # the same swipe again (a pass shown after its cooldown): a no-op
        self._swiped[s.swiper][s.swiped] = (s.action, s.at)
        self._active[s.swiper] = s.at
        self._swipe_rows[s.swiper, s.swiped] = (s.swiper, s.swiped, s.action, s.context, s.at)
        liked = s.action in LIKES
        payload = {"position": s.position, "action": s.action}
        kind = "match_liked" if liked else "match_passed"
        self._events.append((s.swiper, kind, s.swiped, s.shown.algorithm_version, payload, s.at))
        theirs = self._swiped[s.swiped].get(s.swiper)
        if not liked or theirs is None or theirs[0] not in LIKES:
            return False
        if s.swiped in self._matched[s.swiper] or s.swiped in self._blocked[s.swiper]:
            return False
        await self._match(s.swiper, s.swiped, max(s.at, theirs[1]))
        return True

    async def _match(self, a: UUID, b: UUID, at: datetime) -> None:
        """Scored as the service scores a new match (`InteractionService._score_pair`)."""
        u1, u2 = ordered_pair(a, b)
        found = await self._retriever.pair(u1, u2)
        assert found.requester is not None
        c, shift = found.candidates[0], datetime.now(UTC) - at
        other = Candidate(self._as_of(c.person, shift), c.similarity, c.affinity)
        scored = self._reranker.score_pair(self._as_of(found.requester, shift), other)
        match_id = uuid.uuid5(_MATCH_IDS, pair_key(u1, u2))
        reasons = dict(scored.reasons)
        version = scored.algorithm_version
        self._match_rows.append(
            (match_id, u1, u2, scored.compatibility_score, reasons, version, at)
        )
        self._matched[a].add(b)
        self._matched[b].add(a)

    async def end_day(self, day: int) -> None:
        """One transaction per simulated day."""
        swipes, matches = list(self._swipe_rows.values()), self._match_rows
        async with self._conn.transaction():
            if swipes:
                await self._conn.execute(
                    _SWIPES_SQL, *(list(col) for col in zip(*swipes, strict=True))
                )
            if matches:
                cols = [list(col) for col in zip(*matches, strict=True)]
                ttl = self._settings.matching.match_ttl_days
                await self._conn.execute(_MATCHES_SQL, *cols, ttl)
            await self._conn.copy_records_to_table(
                "matching_analytics", records=self._events, columns=[*_EVENT_COLUMNS, "created_at"]
            )
        log.debug("day %d written: %d swipes, %d matches", day, len(swipes), len(matches))
        self._swipe_rows, self._match_rows, self._events = {}, [], []

    async def finish(self) -> None:
        """Last activity in simulated time, logged so live retrievers pick it up."""
        ids = list(self._active)
        async with self._conn.transaction():
            await self._conn.execute(
                "UPDATE profiles p SET last_active_at = t.at "
                "FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, at) "
                "WHERE p.id = t.id AND p.last_active_at < t.at",
                ids,
                [self._active[i] for i in ids],
            )
            await log_changes(self._conn, ids, "upsert")

    async def close(self) -> None:
        await self._retriever.close()
        await self._conn.close()
