"""Swipe history from PostgreSQL and the labelled pair dataset built from it.

Each swipe is a row for the direction swiper -> swiped: label 1 for like and super_like,
0 for pass; a like that became a mutual match weighs more. Features come from the same
`matching.core.ml.pairs.pair_matrix` that serving calls, with both people as the reranker
saw them just before the swipe (`History.person_at`), not as they are now.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from matching.core.domain.person import Person
from matching.core.ml.pairs import (
    PAIR_FEATURES,
    CollabSides,
    FeatureParams,
    StatsTable,
    UserStats,
    pair_matrix,
)
from matching.core.storage.profiles import fetch_people

_SWIPES = """
SELECT swiper_id, swiped_id, action, created_at, updated_at FROM swipe_history
ORDER BY created_at, swiper_id, swiped_id
"""
# What moves profiles.last_active_at besides a swipe: a profile write (insert or update).
_PROFILE_WRITES = "SELECT id, created_at, updated_at FROM profiles"
_REGISTRATIONS = "SELECT user_id, event_id, registered_at FROM event_registrations"
_MUTUAL = "SELECT user1_id, user2_id, created_at FROM user_matches WHERE status = 'mutual'"
_IMPRESSIONS = """
SELECT user_id, target_user_id FROM matching_analytics
WHERE event_type = 'match_shown' AND target_user_id IS NOT NULL
  AND created_at >= $1 AND created_at <= $2
"""
LIKES = frozenset({"like", "super_like"})


@dataclass(frozen=True, slots=True)
class Swipe:
    swiper: UUID
    swiped: UUID
    liked: bool
    at: datetime  # when the swiper was shown the other (the swipe's created_at)


def person_as_of(person: Person, before: datetime | None, at: datetime) -> Person:
    """`person` as serving held them just before `at`, given their latest recorded act
    (profile write, own swipe) before it: that act's time is their last_active_at then."""
    if person.last_active_at < at:  # nothing since: the stored value was the one then
        before = person.last_active_at if before is None else max(before, person.last_active_at)
    if before is None or before == person.last_active_at:
        return person  # no act known before `at`: the profile was not there yet
    return replace(person, last_active_at=before)


def mutual_weights(liked: np.ndarray, mutual: np.ndarray, mutual_weight: float) -> np.ndarray:
    """Row weights: a like that became a mutual match weighs `mutual_weight`, others 1."""
    out: np.ndarray = np.where(
        np.asarray(liked, bool) & np.asarray(mutual, bool), mutual_weight, 1.0
    )
    return out


def pair_key(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True)
class History:
    """People with an embedding of one model, and the swipes between them, oldest first."""

    people: dict[UUID, Person]
    embeddings: dict[UUID, np.ndarray]  # unit length
    swipes: list[Swipe]
    mutual_since: dict[tuple[UUID, UUID], datetime]  # ordered pair -> when both liked
    dropped_swipes: int  # swipes naming someone without a profile or embedding
    activity: dict[UUID, list[datetime]]  # recorded acts that set last_active_at, sorted
    registrations: dict[UUID, dict[str, datetime]]  # user -> event id -> registered at

    def person_at(self, user: UUID, at: datetime) -> Person:
        """The person as serving held them just before `at`: last activity is the latest act
        recorded before it (profile writes, own swipes), as serving's last_active_at was."""
        times = self.activity.get(user, [])
        before = times[bisect_left(times, at) - 1] if times and times[0] < at else None
        return person_as_of(self.people[user], before, at)

    def shared_events(self, a: UUID, b: UUID, at: datetime) -> list[str]:
        """Events both had registered for before `at` (serving's `shared_events` then)."""
        mine, theirs = self.registrations.get(a, {}), self.registrations.get(b, {})
        return sorted(e for e, t in mine.items() if t < at and theirs.get(e, at) < at)

    def similarities(self, a: UUID, others: Sequence[UUID]) -> np.ndarray:
        """Cosine similarity of a's embedding with each of the others'."""
        if not others:
            return np.zeros(0)
        out: np.ndarray = np.stack([self.embeddings[b] for b in others]) @ self.embeddings[a]
        return out

    def is_mutual(self, a: UUID, b: UUID, before: datetime | None = None) -> bool:
        since = self.mutual_since.get(pair_key(a, b))
        return since is not None and (before is None or since < before)


@dataclass(frozen=True, slots=True)
class Window:
    """Train on swipes before `cutoff`; hold out [cutoff, end]."""

    start: datetime
    cutoff: datetime
    end: datetime
    test_days: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_start": self.start.isoformat(),
            "test_start": self.cutoff.isoformat(),
            "test_end": self.end.isoformat(),
            "test_days": self.test_days,
        }

    @classmethod
    def ending(cls, start: datetime, end: datetime, test_days: float) -> Window:
        """History from `start` to `end`, the last `test_days` of it held out."""
        return cls(start, end - timedelta(days=test_days), end, test_days)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        return cls(
            datetime.fromisoformat(data["train_start"]),
            datetime.fromisoformat(data["test_start"]),
            datetime.fromisoformat(data["test_end"]),
            float(data["test_days"]),
        )

    def split(self, swipes: Iterable[Swipe]) -> tuple[list[Swipe], list[Swipe]]:
        train, test = [], []
        for s in swipes:
            if s.at < self.cutoff:
                train.append(s)
            elif s.at <= self.end:
                test.append(s)
        return train, test


def time_window(swipes: Sequence[Swipe], test_days: float) -> Window | None:
    """The most recent `test_days` of history held out; None without history."""
    if not swipes:
        return None
    return Window.ending(min(s.at for s in swipes), max(s.at for s in swipes), test_days)


async def load_people(
    conn: asyncpg.Connection, model_version: str
) -> tuple[dict[UUID, Person], dict[UUID, np.ndarray]]:
    """Active people with an embedding of `model_version`, and those embeddings (unit length)."""
    indexed = await fetch_people(conn, model_version)
    people = {p.person.user_id: p.person for p in indexed}
    embeddings = {}
    for p in indexed:
        norm = float(np.linalg.norm(p.embedding))
        embeddings[p.person.user_id] = p.embedding.astype(np.float64) / (norm or 1.0)
    return people, embeddings


async def load_history(conn: asyncpg.Connection, model_version: str) -> History:
    """Everything the dataset needs, read once (people, embeddings, swipes, mutual pairs)."""
    people, embeddings = await load_people(conn, model_version)
    swipes, liked_at = [], {}
    rows = await conn.fetch(_SWIPES)
    activity: dict[UUID, list[datetime]] = {}
    for r in await conn.fetch(_PROFILE_WRITES):
        activity[r["id"]] = [r["created_at"], r["updated_at"]]
    for r in rows:
        activity.setdefault(r["swiper_id"], []).extend((r["created_at"], r["updated_at"]))
        if r["swiper_id"] not in people or r["swiped_id"] not in people:
            continue
        liked = r["action"] in LIKES
        swipes.append(Swipe(r["swiper_id"], r["swiped_id"], liked, r["created_at"]))
        if liked:  # a pass turned into a like took its action at updated_at
            liked_at[(r["swiper_id"], r["swiped_id"])] = r["updated_at"]
    mutual: dict[tuple[UUID, UUID], datetime] = {}
    for (a, b), at in liked_at.items():
        back = liked_at.get((b, a))
        if back is not None and a < b:
            mutual[(a, b)] = max(at, back)
    for r in await conn.fetch(_MUTUAL):
        key = (r["user1_id"], r["user2_id"])
        mutual[key] = min(mutual.get(key, r["created_at"]), r["created_at"])
    registrations: dict[UUID, dict[str, datetime]] = {}
    for r in await conn.fetch(_REGISTRATIONS):
        registrations.setdefault(r["user_id"], {})[r["event_id"]] = r["registered_at"]
    dropped = len(rows) - len(swipes)
    times = {u: sorted(set(t)) for u, t in activity.items() if u in people}
    return History(people, embeddings, swipes, mutual, dropped, times, registrations)


async def load_impressions(
    conn: asyncpg.Connection, start: datetime, end: datetime
) -> list[tuple[UUID, UUID]]:
    """(viewer, shown) for every logged match_shown impression in [start, end]."""
    rows = await conn.fetch(_IMPRESSIONS, start, end)
    return [(r["user_id"], r["target_user_id"]) for r in rows]


@dataclass(frozen=True)
class PairRows:
    """The dataset: rows of PAIR_FEATURES with labels and weights, in `swipes` order."""

    swipes: list[Swipe]
    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray

    @property
    def positives(self) -> int:
        return int(self.labels.sum())


def _as_of(swipes: Sequence[Swipe], table: StatsTable) -> list[tuple[UserStats, UserStats]]:
    """Each swipe's (swiper's, swiped's) stats from the swipes before it only: what serving
    would have known then, and never the row's own label (leave-one-out would leak it)."""
    counts: dict[UUID, list[int]] = {}

    def stats(c: list[int]) -> UserStats:
        return UserStats(c[0], c[1], c[2], c[3], table.prior_rate, table.prior_strength)

    out = []
    for s in swipes:  # oldest first
        swiper, swiped = counts.setdefault(s.swiper, [0] * 4), counts.setdefault(s.swiped, [0] * 4)
        out.append((stats(swiper), stats(swiped)))
        swiper[0] += s.liked  # likes given, swipes given, likes received, swipes received
        swiper[1] += 1
        swiped[2] += s.liked
        swiped[3] += 1
    return out


def build_rows(
    history: History,
    swipes: Sequence[Swipe],
    stats: StatsTable,
    params: FeatureParams,
    *,
    point_in_time: bool,
    mutual_weight: float = 1.0,
    mutual_before: datetime | None = None,
    collab: Callable[[Sequence[Swipe]], CollabSides] | None = None,
) -> PairRows:
    """Feature rows for `swipes`, grouped by swiper, oldest first. Behaviour stats are
    `stats` (held-out rows: as of the cutoff, like serving), or with `point_in_time` each
    row's own as-of counts (training rows; `stats` gives only the prior). A like that was
    mutual before `mutual_before` weighs `mutual_weight`. `collab` gives a group of swipes'
    collaborative rows (training/collab_features.py); None: everyone cold."""
    ordered_by_time = sorted(swipes, key=lambda s: s.at)
    if point_in_time:
        known = _as_of(ordered_by_time, stats)
    else:
        known = [(stats.get(s.swiper), stats.get(s.swiped)) for s in ordered_by_time]
    groups: dict[UUID, list[int]] = {}
    for i, s in enumerate(ordered_by_time):
        groups.setdefault(s.swiper, []).append(i)
    ordered: list[Swipe] = []
    blocks = [np.zeros((0, len(PAIR_FEATURES)))]
    for swiper, idx in groups.items():
        group = [ordered_by_time[i] for i in idx]
        blocks.append(
            pair_matrix(
                [history.person_at(swiper, s.at) for s in group],
                [history.person_at(s.swiped, s.at) for s in group],
                history.similarities(swiper, [s.swiped for s in group]),
                [known[i][0] for i in idx],
                [known[i][1] for i in idx],
                [s.at for s in group],
                params,
                collab=None if collab is None else collab(group),
            )
        )
        ordered.extend(group)
    labels = np.array([s.liked for s in ordered], dtype=np.int64)
    mutual = [history.is_mutual(s.swiper, s.swiped, mutual_before) for s in ordered]
    weights = mutual_weights(labels, np.array(mutual, dtype=bool), mutual_weight)
    return PairRows(ordered, np.vstack(blocks), labels, weights)
