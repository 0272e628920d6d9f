"""A deterministic two-sided market: people with hidden tastes play out discover -> swipe.

`simulate(settings, users, days)` creates the first `users` people of the demo population
(`matching.devtools.population`, same seed), gives each a hidden taste drawn from
`numpy.random.default_rng(seed)` over the people sorted by id, and plays `days` simulated
days. Each day every person opens a session with probability `sessions_per_day`, asks
discover for up to `discover_limit` people and swipes through them in rank order, stopping
early with probability STOP_PROB after each card. Two likes make a mutual match.

P(a likes b) = sigmoid(BIAS - selectivity_a + W_POPULARITY * popularity_b
                       + W_TASTE * taste_match(a, b) + N(0, NOISE_SD)).
Popularity and selectivity show only in behaviour (likes received and given); what a person
is drawn to (a few interests, industries, job levels, an age band) is partly their own
profile and preferences and partly not, so profile features predict it without equalling it.

In-process (`target=None`, the mode for training data) ranks with the service's own
Retriever and Reranker, no Ray, and writes the history in bulk with simulated timestamps:
day d (0-based) of D lies in [now - (D - d) days, now - (D - d - 1) days), so a time-based
train/test split works. It writes swipe_history, user_matches and matching_analytics, never
event_outbox: simulated history is not a platform event. It expects to be the only writer of
these people's history while it runs. With `target` (a running service's base URL) people
are PUT and sessions go through the HTTP API in real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, get_args
from uuid import UUID

import asyncpg
import httpx
import numpy as np

from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.domain.person import Person
from matching.core.domain.profile import JobLevel, ProfileFields
from matching.core.ml.embedding import ModelEncoder, TextEncoder
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.core.storage.migrate import migrate
from matching.core.storage.profiles import log_changes
from matching.devtools.population import (
    INDUSTRIES,
    INTEREST_THEMES,
    SeedPerson,
    generate_population,
)
from matching.devtools.seed import CHUNK, insert_people
from matching.discovery.storage.matches import ordered_pair, pair_key

log = logging.getLogger(__name__)

# The like model (log-odds). At the ranked candidates of a session these give a like rate
# near 35%; one standard deviation of popularity moves it about as much as a shared interest.
BIAS = -1.6
W_POPULARITY = 0.8
W_TASTE = 3.0
NOISE_SD = 0.3  # per decision: the same two people are not a sure thing
SELECTIVITY_SD = 0.6
# taste_match(a, b) in [0, 1]: how much each kind of attraction counts.
TASTE_INTERESTS, TASTE_INDUSTRY, TASTE_LEVEL, TASTE_AGE = 0.45, 0.25, 0.15, 0.15
# Behaviour within a session.
STOP_PROB = 0.05  # after each card
SUPER_LIKE_MIN_P, SUPER_LIKE_SHARE = 0.75, 0.3  # a strong desire is sometimes a super_like
SWIPE_SECONDS = (3.0, 20.0)  # time spent on a card
SESSION_WINDOW_S = 23 * 3600  # sessions start in the first 23 h: a day ends inside its day

_ALL_INTERESTS = tuple(sorted({t for tags in INTEREST_THEMES.values() for t in tags}))
_LEVELS: tuple[str, ...] = get_args(JobLevel)  # junior to senior; founder last
_LIKES = frozenset({"like", "super_like"})


@dataclass(frozen=True, slots=True)
class HiddenTaste:
    """What drives a person's swipes; never stored, only seen through behaviour."""

    user_id: UUID
    popularity: float  # how drawn others are to this person, ~N(0, 1)
    selectivity: float  # subtracted from each of this person's like log-odds
    interests: frozenset[str]
    industries: frozenset[str]
    job_levels: frozenset[str]
    age_min: float
    age_max: float


@dataclass(frozen=True, slots=True)
class SimReport:
    users_created: int
    sessions: int
    impressions: int
    swipes: int
    likes: int  # likes and super_likes
    mutual_matches: int
    seconds: float
    first_event_at: datetime | None
    last_event_at: datetime | None


def _taste(rng: np.random.Generator, person: SeedPerson) -> HiddenTaste:
    profile, prefs = person.profile, person.profile.preferences
    own = sorted(set(profile.interests) | set(prefs.interests))
    picked = (
        set(rng.choice(own, min(len(own), int(rng.integers(1, 3))), replace=False))
        if own
        else set()
    )
    picked |= set(rng.choice(_ALL_INTERESTS, int(rng.integers(1, 3)), replace=False))
    industries = {str(rng.choice(INDUSTRIES)), *prefs.industries}
    if profile.industry and rng.random() < 0.6:
        industries.add(profile.industry)
    at = _LEVELS.index(profile.job_level) if profile.job_level in _LEVELS else 3
    if "find a mentor" in profile.networking_goals:
        at += 2
    at += int(rng.integers(-1, 2))
    centre = (profile.age or 35) + rng.normal(0.0, 3.0)
    half = rng.uniform(4.0, 10.0)
    return HiddenTaste(
        user_id=person.id,
        popularity=float(rng.normal()),
        selectivity=float(rng.normal(0.0, SELECTIVITY_SD)),
        interests=frozenset(str(i) for i in picked),
        industries=frozenset(industries),
        job_levels=frozenset(_LEVELS[max(0, at - 1) : at + 2]),
        age_min=float(centre - half),
        age_max=float(centre + half),
    )


def hidden_tastes(people: Iterable[SeedPerson], seed: int = 42) -> dict[UUID, HiddenTaste]:
    """Each person's taste, drawn in user-id order from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return {p.id: _taste(rng, p) for p in sorted(people, key=lambda p: p.id)}


def taste_match(taste: HiddenTaste, other: ProfileFields) -> float:
    """How much `other` has of what `taste` is drawn to, in [0, 1]."""
    shared = len(taste.interests.intersection(other.interests))
    age = other.age is not None and taste.age_min <= other.age <= taste.age_max
    return (
        TASTE_INTERESTS * min(1.0, shared / 2)
        + TASTE_INDUSTRY * (other.industry in taste.industries)
        + TASTE_LEVEL * (other.job_level in taste.job_levels)
        + TASTE_AGE * age
    )


def like_probability(
    swiper: HiddenTaste, swiped: HiddenTaste, swiped_profile: ProfileFields, noise: float = 0.0
) -> float:
    """P(swiper likes swiped); `noise` is the per-decision N(0, NOISE_SD) draw."""
    z = (
        BIAS
        - swiper.selectivity
        + W_POPULARITY * swiped.popularity
        + W_TASTE * taste_match(swiper, swiped_profile)
        + noise
    )
    return 1.0 / (1.0 + math.exp(-z))


# -- the session loop, shared by both modes ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shown:
    """One card of a discover answer."""

    user_id: UUID
    score: float
    algorithm_version: str


@dataclass(frozen=True, slots=True)
class _Swipe:
    swiper: UUID
    swiped: UUID
    action: str
    at: datetime
    day: int
    position: int
    shown: _Shown

    @property
    def context(self) -> dict[str, Any]:
        return {"source": "simulator", "sim_day": self.day, "position_in_stack": self.position}


class _Backend(Protocol):
    """Where sessions run: the service's stages in-process, or a service over HTTP."""

    async def add_people(self, people: Sequence[SeedPerson]) -> int: ...

    async def prepare(self, people: Sequence[SeedPerson], start: datetime) -> None: ...

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[_Shown]: ...

    async def swipe(self, swipe: _Swipe) -> bool:
        """Record it; True when it completed a mutual match."""
        ...

    async def end_day(self, day: int) -> None: ...

    async def finish(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class _Counts:
    sessions: int = 0
    impressions: int = 0
    swipes: int = 0
    likes: int = 0
    matches: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def saw(self, at: datetime) -> None:
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)


class _Market:
    """Plays the days: who opens a session when, and what they swipe."""

    def __init__(
        self,
        people: Sequence[SeedPerson],
        tastes: dict[UUID, HiddenTaste],
        backend: _Backend,
        seed: int,
        discover_limit: int,
    ) -> None:
        self._ids = sorted(p.id for p in people)
        self._profiles = {p.id: p.profile for p in people}
        self._tastes, self._backend, self._limit = tastes, backend, discover_limit
        self._rng = np.random.default_rng([seed, 1])  # a stream apart from the tastes'
        self.counts = _Counts()

    async def play_day(self, day: int, day_start: datetime, sessions_per_day: float) -> None:
        opens = self._rng.random(len(self._ids)) < sessions_per_day
        starts = self._rng.random(len(self._ids)) * SESSION_WINDOW_S
        order = sorted((float(s), u) for u, s, o in zip(self._ids, starts, opens, strict=True) if o)
        for offset, user in order:
            await self._session(user, day, day_start + timedelta(seconds=offset))
        await self._backend.end_day(day)

    async def _session(self, user: UUID, day: int, start: datetime) -> None:
        shown = await self._backend.discover(user, self._limit, start)
        self.counts.sessions += 1
        self.counts.impressions += len(shown)
        self.counts.saw(start)
        at = start
        for position, card in enumerate(shown):
            if card.user_id not in self._tastes:
                continue  # someone outside the simulated population: never swiped on
            at += timedelta(seconds=self._rng.uniform(*SWIPE_SECONDS))
            action = self._decide(user, card.user_id)
            swipe = _Swipe(user, card.user_id, action, at, day, position, card)
            mutual = await self._backend.swipe(swipe)
            self.counts.swipes += 1
            self.counts.likes += action in _LIKES
            self.counts.matches += mutual
            self.counts.saw(at)
            if self._rng.random() < STOP_PROB:
                break

    def _decide(self, user: UUID, other: UUID) -> str:
        noise = self._rng.normal(0.0, NOISE_SD)
        p = like_probability(self._tastes[user], self._tastes[other], self._profiles[other], noise)
        if self._rng.random() >= p:
            return "pass"
        if p >= SUPER_LIKE_MIN_P and self._rng.random() < SUPER_LIKE_SHARE:
            return "super_like"
        return "like"


# -- in-process: the service's own stages, history written in bulk in simulated time -------

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


class _LocalBackend:
    """Retriever and Reranker as plain objects; exclusions kept here by the rule of
    `storage.swipes.excluded_ids`, evaluated in simulated time."""

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
    ) -> _LocalBackend:
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

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[_Shown]:
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
        ranked = await self._reranker.rank(self._as_of(found.requester, shift), candidates, limit)
        shown = [
            _Shown(UUID(m.user_id), m.compatibility_score, m.algorithm_version) for m in ranked
        ]
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

    async def swipe(self, s: _Swipe) -> bool:
        previous = self._swiped[s.swiper].get(s.swiped)
        if previous is not None and previous[0] == s.action:
            return False  # the same swipe again (a pass shown after its cooldown): a no-op
        self._swiped[s.swiper][s.swiped] = (s.action, s.at)
        self._active[s.swiper] = s.at
        self._swipe_rows[s.swiper, s.swiped] = (s.swiper, s.swiped, s.action, s.context, s.at)
        liked = s.action in _LIKES
        payload = {"position": s.position, "action": s.action}
        kind = "match_liked" if liked else "match_passed"
        self._events.append((s.swiper, kind, s.swiped, s.shown.algorithm_version, payload, s.at))
        theirs = self._swiped[s.swiped].get(s.swiper)
        if not liked or theirs is None or theirs[0] not in _LIKES:
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
        scored = await self._reranker.score_pair(self._as_of(found.requester, shift), other)
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


# -- over HTTP: a running service, in real time ----------------------------------------------


class _HttpBackend:
    """PUT /v1/profiles, GET discover, POST /v1/swipes; the service records everything."""

    def __init__(self, target: str) -> None:
        self._client = httpx.AsyncClient(base_url=target.rstrip("/"), timeout=60.0)

    async def add_people(self, people: Sequence[SeedPerson]) -> int:
        gate = asyncio.Semaphore(4)

        async def put(p: SeedPerson) -> bool:
            async with gate:
                body = p.profile.model_dump(mode="json")
                r = await self._client.put(f"/v1/profiles/{p.id}", json=body)
            r.raise_for_status()
            return r.status_code == 201

        return sum(await asyncio.gather(*(put(p) for p in people)))

    async def prepare(self, people: Sequence[SeedPerson], start: datetime) -> None:
        pass

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[_Shown]:  # noqa: ARG002
        r = await self._client.get(f"/v1/users/{user}/discover", params={"limit": limit})
        if r.status_code == 429:
            log.warning("discover for %s rate-limited; session skipped", user)
            return []
        r.raise_for_status()
        return [
            _Shown(UUID(c["user_id"]), c["compatibility_score"], c["algorithm_version"])
            for c in r.json()["candidates"]
        ]

    async def swipe(self, s: _Swipe) -> bool:
        body = {
            "swiper_id": str(s.swiper),
            "swiped_id": str(s.swiped),
            "action": s.action,
            "context": s.context,
        }
        r = await self._client.post("/v1/swipes", json=body)
        if r.status_code in (409, 429):
            log.warning("swipe %s -> %s refused: %s", s.swiper, s.swiped, r.text)
            return False
        r.raise_for_status()
        result = r.json()
        return bool(result["mutual"] and result["changed"])

    async def end_day(self, day: int) -> None:
        pass

    async def finish(self) -> None:
        pass

    async def close(self) -> None:
        await self._client.aclose()


# -- entry point ------------------------------------------------------------------------------


async def simulate(
    settings: Settings,
    users: int,
    days: int,
    *,
    seed: int = 42,
    sessions_per_day: float = 0.3,
    discover_limit: int = 20,
    target: str | None = None,
    encoder: TextEncoder | None = None,
    reranker: Reranker | None = None,
) -> SimReport:
    """Create the people and play `days` days (see the module docstring). In-process,
    `encoder` embeds new profiles (default: the settings' model, loaded here) and `reranker`
    ranks discover (default: the weighted score)."""
    if users < 0 or days < 0:
        raise ValueError("users and days must not be negative")
    if not 0.0 <= sessions_per_day <= 1.0:
        raise ValueError("sessions_per_day must be in [0, 1]")
    if discover_limit < 1:
        raise ValueError("discover_limit must be at least 1")
    started, real_start = time.perf_counter(), datetime.now(UTC)
    end = real_start.replace(microsecond=0)
    backend: _Backend
    if target is None:
        if encoder is None:
            encoder = await asyncio.to_thread(ModelEncoder, settings.model)
        backend = await _LocalBackend.open(settings, encoder, reranker)
        # Sign-ups and earlier activity lie before the first simulated day.
        people = list(generate_population(users, seed=seed, now=end - timedelta(days=days)))
    else:
        backend = _HttpBackend(target)
        people = list(generate_population(users, seed=seed, now=end))
    try:
        created = await backend.add_people(people)
        await backend.prepare(people, end - timedelta(days=days))
        market = _Market(people, hidden_tastes(people, seed), backend, seed, discover_limit)
        for day in range(days):
            day_start = end - timedelta(days=days - day)
            await market.play_day(day, day_start, sessions_per_day)
            c = market.counts
            log.info(
                "simulated day %d/%d: %d sessions, %d swipes, %d likes, %d mutual matches",
                day + 1, days, c.sessions, c.swipes, c.likes, c.matches,
            )  # fmt: skip
        await backend.finish()
    finally:
        await backend.close()
    c = market.counts
    first, last = (c.first, c.last) if target is None else (real_start, datetime.now(UTC))
    return SimReport(
        users_created=created,
        sessions=c.sessions,
        impressions=c.impressions,
        swipes=c.swipes,
        likes=c.likes,
        mutual_matches=c.matches,
        seconds=time.perf_counter() - started,
        first_event_at=first,
        last_event_at=last,
    )
