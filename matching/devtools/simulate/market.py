"""The market model: hidden tastes, the like probability, and the days of sessions.

P(a likes b) = sigmoid(BIAS - selectivity_a + W_POPULARITY * popularity_b
                       + W_TASTE * taste_match(a, b) + N(0, NOISE_SD)).
Popularity and selectivity show only in behaviour (likes received and given); what a person
is drawn to (a few interests, industries, job levels, an age band) is partly their own
profile and preferences and partly not, so profile features predict it without equalling it.
Each day every person opens a session with probability `sessions_per_day`, asks discover
for up to `discover_limit` people and swipes through them in rank order, stopping early with
probability STOP_PROB after each card. Where sessions run is a :class:`Backend`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, get_args
from uuid import UUID

import numpy as np

from matching.core.domain.profile import JobLevel, ProfileFields
from matching.devtools.population import INDUSTRIES, INTEREST_THEMES, SeedPerson

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
LIKES = frozenset({"like", "super_like"})


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
    """What one run did: counts, and the span of (simulated) time its events cover."""

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


@dataclass(frozen=True, slots=True)
class Shown:
    """One card of a discover answer."""

    user_id: UUID
    score: float
    algorithm_version: str


@dataclass(frozen=True, slots=True)
class Swipe:
    """One decision on a card: who, what, when, and the card as shown."""

    swiper: UUID
    swiped: UUID
    action: str
    at: datetime
    day: int
    position: int
    shown: Shown

    @property
    def context(self) -> dict[str, Any]:
        return {"source": "simulator", "sim_day": self.day, "position_in_stack": self.position}


class Backend(Protocol):
    """Where sessions run: the service's stages in-process, or a service over HTTP."""

    async def add_people(self, people: Sequence[SeedPerson]) -> int: ...

    async def prepare(self, people: Sequence[SeedPerson], start: datetime) -> None: ...

    async def discover(self, user: UUID, limit: int, at: datetime) -> list[Shown]: ...

    async def swipe(self, swipe: Swipe) -> bool:
        """Record it; True when it completed a mutual match."""
        ...

    async def end_day(self, day: int) -> None: ...

    async def finish(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Counts:
    """Running totals of the sessions played so far."""

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


class Market:
    """Plays the days: who opens a session when, and what they swipe."""

    def __init__(
        self,
        people: Sequence[SeedPerson],
        tastes: dict[UUID, HiddenTaste],
        backend: Backend,
        seed: int,
        discover_limit: int,
    ) -> None:
        self._ids = sorted(p.id for p in people)
        self._profiles = {p.id: p.profile for p in people}
        self._tastes, self._backend, self._limit = tastes, backend, discover_limit
        self._rng = np.random.default_rng([seed, 1])  # a stream apart from the tastes'
        self.counts = Counts()

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
            swipe = Swipe(user, card.user_id, action, at, day, position, card)
            mutual = await self._backend.swipe(swipe)
            self.counts.swipes += 1
            self.counts.likes += action in LIKES
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
