"""The market simulator against a real PostgreSQL: deterministic, and its likes follow tastes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from deployments.embedder import Embedder
from deployments.reranker import WEIGHTED_VERSION
from matching.core.settings import Settings
from matching.core.storage.migrate import migrate_url
from matching.devtools.population import generate_population
from matching.devtools.simulate import (
    HiddenTaste,
    SimReport,
    hidden_tastes,
    like_probability,
    simulate,
    taste_match,
)
from serve_app.http import create_http_app
from tests.integration.conftest import (
    REDIS_URL,
    _create_database,
    _drop_database,
    start_app,
    stop_app,
)
from tests.support import connect

USERS, DAYS, SEED = 120, 5, 7


@dataclass(frozen=True)
class Run:
    report: SimReport
    started: datetime
    swipes: list[dict[str, Any]]
    matches: list[dict[str, Any]]
    events: list[dict[str, Any]]
    profiles: dict[uuid.UUID, dict[str, Any]]
    outbox: int


def _settings(url: str, artifacts: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "MATCHING_ARTIFACTS_DIR": str(artifacts),
            "MATCHING_DB_POOL_MAX": "4",
            "MATCHING_DISCOVER_CACHE_TTL_S": "0",
            **extra,
        }
    )


async def _read(url: str) -> dict[str, Any]:
    conn = await connect(url)
    try:
        fetch = conn.fetch
        return {
            "swipes": [dict(r) for r in await fetch("SELECT * FROM swipe_history")],
            "matches": [dict(r) for r in await fetch("SELECT * FROM user_matches")],
            "events": [dict(r) for r in await fetch("SELECT * FROM matching_analytics")],
            "profiles": {
                r["id"]: dict(r)
                for r in await fetch("SELECT id, created_at, last_active_at FROM profiles")
            },
            "outbox": await conn.fetchval("SELECT count(*) FROM event_outbox"),
        }
    finally:
        await conn.close()


class _Remembering:
    """The embedder, remembering vectors by text: the second run embeds nothing."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder, self.model_version = embedder, embedder.model_version
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._embedder.encode(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts])


def _run(encoder: _Remembering, artifacts: Path) -> Run:
    """Simulate into a fresh database of its own and read back everything it wrote."""
    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    try:
        asyncio.run(migrate_url(url))
        started = datetime.now(UTC)
        settings = _settings(url, artifacts)
        report = asyncio.run(simulate(settings, USERS, DAYS, seed=SEED, encoder=encoder))
        return Run(report, started, **asyncio.run(_read(url)))
    finally:
        asyncio.run(_drop_database(name))


@pytest.fixture(scope="module")
def runs(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    """The same simulation twice, into two fresh databases."""
    encoder = _Remembering(embedder)
    return (
        _run(encoder, tmp_path_factory.mktemp("a")),
        _run(encoder, tmp_path_factory.mktemp("b")),
    )


@pytest.fixture(scope="module")
def run(runs: tuple[Run, Run]) -> Run:
    return runs[0]


@pytest.fixture(scope="module")
def tastes() -> dict[uuid.UUID, HiddenTaste]:
    return hidden_tastes(generate_population(USERS, seed=SEED), SEED)


def _history(r: Run) -> set[tuple[uuid.UUID, uuid.UUID, str, int]]:
    return {
        (s["swiper_id"], s["swiped_id"], s["action"], s["context"]["sim_day"]) for s in r.swipes
    }


def _like_rates(r: Run, key: Any) -> tuple[float, float]:
    """Like rate on the lowest and the highest third of swipes by `key(swipe)`."""
    values = np.array([key(s) for s in r.swipes])
    liked = np.array([s["action"] != "pass" for s in r.swipes])
    low, high = np.quantile(values, [1 / 3, 2 / 3])
    return float(liked[values <= low].mean()), float(liked[values >= high].mean())


def test_same_seed_same_history(runs: tuple[Run, Run]) -> None:
    a, b = runs
    assert len(a.swipes) > 200
    assert _history(a) == _history(b)
    pairs = {(m["user1_id"], m["user2_id"], m["compatibility_score"]) for m in a.matches}
    assert pairs == {(m["user1_id"], m["user2_id"], m["compatibility_score"]) for m in b.matches}
    shown = {(e["user_id"], e["target_user_id"], e["payload"]["position"]) for e in a.events}
    assert shown == {
        (e["user_id"], e["target_user_id"], e["payload"]["position"]) for e in b.events
    }

    def timeless(r: SimReport) -> SimReport:
        return replace(r, seconds=0.0, first_event_at=None, last_event_at=None)

    assert timeless(a.report) == timeless(b.report)
    assert a.report.users_created == USERS


def test_likes_follow_popularity(run: Run, tastes: dict[uuid.UUID, HiddenTaste]) -> None:
    low, high = _like_rates(run, lambda s: tastes[s["swiped_id"]].popularity)
    assert high > low + 0.15, (low, high)


def test_likes_follow_what_people_are_drawn_to(
    run: Run, tastes: dict[uuid.UUID, HiddenTaste]
) -> None:
    people = {p.id: p.profile for p in generate_population(USERS, seed=SEED)}
    low, high = _like_rates(
        run, lambda s: taste_match(tastes[s["swiper_id"]], people[s["swiped_id"]])
    )
    assert high > low + 0.1, (low, high)


def test_tastes_correlate_with_profiles_without_equalling_them(
    tastes: dict[uuid.UUID, HiddenTaste],
) -> None:
    people = list(generate_population(USERS, seed=SEED))
    assert hidden_tastes(reversed(people), SEED) == tastes  # drawn in id order
    own = [
        len(tastes[p.id].interests & set(p.profile.interests)) / len(tastes[p.id].interests)
        for p in people
    ]
    assert 0.2 < float(np.mean(own)) < 0.8
    same_industry = np.mean([p.profile.industry in tastes[p.id].industries for p in people])
    assert 0.4 < same_industry < 0.9
    a, b = (tastes[p.id] for p in people[:2])
    fond, cold, profile = replace(b, popularity=2.0), replace(b, popularity=-2.0), people[1].profile
    assert like_probability(a, fond, profile) > like_probability(a, cold, profile)


def test_mutual_matches_once_per_pair_at_the_later_like(run: Run) -> None:
    likes = {
        (s["swiper_id"], s["swiped_id"]): s["created_at"]
        for s in run.swipes
        if s["action"] != "pass"
    }
    mutual = {tuple(sorted(p)) for p in likes if p[::-1] in likes}
    assert run.matches, "no mutual matches in the simulated market"
    assert len(run.matches) == len(mutual) == run.report.mutual_matches
    assert {(m["user1_id"], m["user2_id"]) for m in run.matches} == mutual
    for m in run.matches:
        u1, u2 = m["user1_id"], m["user2_id"]
        assert u1 < u2 and m["status"] == "mutual"
        assert m["created_at"] == m["updated_at"] == max(likes[u1, u2], likes[u2, u1])
        assert m["expires_at"] == m["created_at"] + timedelta(days=30)
        assert m["algorithm_version"] == WEIGHTED_VERSION
        assert 0 < m["compatibility_score"] <= 1 and m["match_reason"]["summary"]


def test_timestamps_span_the_simulated_days(run: Run) -> None:
    by_day: dict[int, list[datetime]] = {}
    for s in run.swipes:
        assert s["created_at"] == s["updated_at"]
        assert s["context"]["source"] == "simulator"
        by_day.setdefault(s["context"]["sim_day"], []).append(s["created_at"])
    assert sorted(by_day) == list(range(DAYS))
    for day in range(DAYS - 1):
        assert max(by_day[day]) < min(by_day[day + 1])
    first, last = run.report.first_event_at, run.report.last_event_at
    assert first is not None and last is not None
    assert (
        run.started - timedelta(days=DAYS, seconds=1)
        <= first
        < min(by_day[0]) + timedelta(seconds=1)
    )
    assert max(by_day[DAYS - 1]) <= last <= run.started
    assert last - first > timedelta(days=DAYS - 1.5)
    assert all(p["created_at"] <= first for p in run.profiles.values())
    for s in run.swipes:  # last activity is simulated time, at or after each swipe
        assert s["created_at"] <= run.profiles[s["swiper_id"]]["last_active_at"] <= last


def test_impressions_recorded_and_no_platform_events(run: Run) -> None:
    shown = [e for e in run.events if e["event_type"] == "match_shown"]
    assert len(shown) == run.report.impressions
    assert all(set(e["payload"]) == {"position", "score"} for e in shown)
    assert all(e["algorithm_version"] == WEIGHTED_VERSION for e in shown)
    first_shown: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
    for e in shown:
        key = (e["user_id"], e["target_user_id"])
        first_shown[key] = min(e["created_at"], first_shown.get(key, e["created_at"]))
    for s in run.swipes:
        assert first_shown[s["swiper_id"], s["swiped_id"]] < s["created_at"]
    swiped = [e for e in run.events if e["event_type"] in ("match_liked", "match_passed")]
    assert len(swiped) == len(run.swipes) == run.report.swipes
    assert sum(e["event_type"] == "match_liked" for e in swiped) == run.report.likes
    assert run.outbox == 0


@pytest.mark.parametrize(
    ("users", "days", "options", "message"),
    [
        (-1, 1, {}, "must not be negative"),
        (1, -1, {}, "must not be negative"),
        (1, 1, {"sessions_per_day": 1.5}, "sessions_per_day"),
        (1, 1, {"discover_limit": 0}, "discover_limit"),
    ],
)
async def test_rejects_bad_arguments(
    users: int, days: int, options: dict[str, Any], message: str
) -> None:
    settings = Settings.from_env({})
    with pytest.raises(ValueError, match=message):
        await simulate(settings, users, days, **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_over_http_against_a_running_service(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    # Rate limits off: the same people (same seed) come back in every run of this test.
    limits = {f"MATCHING_RATE_LIMIT_{k}": "0" for k in ("DISCOVER", "SWIPES", "PREFERENCES")}
    # The simulator acts for everyone, as the platform's backend: with the internal key.
    limits["INTERNAL_API_KEY"] = "simulator-test-key"
    settings = _settings(fresh_database, tmp_path / "artifacts", **limits)
    app = await start_app(settings, embedder)
    port = _free_port()
    config = uvicorn.Config(create_http_app(app.services), port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        target = f"http://127.0.0.1:{port}"
        report = await simulate(settings, 40, 2, seed=SEED, sessions_per_day=0.5, target=target)
    finally:
        server.should_exit = True
        await task
        await stop_app(app)
    data = await _read(fresh_database)
    assert report.users_created == len(data["profiles"]) == 40
    assert report.swipes == len(data["swipes"]) > 0
    assert all(s["context"]["source"] == "simulator" for s in data["swipes"])
    shown = [e for e in data["events"] if e["event_type"] == "match_shown"]
    assert len(shown) == report.impressions
    assert len(data["matches"]) == report.mutual_matches
