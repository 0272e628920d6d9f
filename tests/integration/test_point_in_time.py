"""Training sees what serving saw: a swipe is activity, the retriever picks it up, and a
training row's features are the serving path's at the swipe's time, whatever happened after."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from deployments.retriever import Retriever
from matching.core.domain.profile import ProfileIn
from matching.core.ml.model import CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable
from matching.core.settings import Settings
from matching.core.storage.profiles import upsert_profile
from matching.discovery.storage.swipes import record_swipe
from tests.integration.conftest import make_settings
from tests.support import connect, profile_body
from training.pairs_data import build_rows, load_history

MONTH = timedelta(days=30)


async def _no_match(a: uuid.UUID, b: uuid.UUID) -> tuple[float, dict[str, Any], str]:
    raise AssertionError(f"no match should form between {a} and {b}")


async def _people(conn: asyncpg.Connection, version: str, n: int) -> list[uuid.UUID]:
    """`n` profiles written a month ago (the seeder's way: timestamps set directly)."""
    rng = np.random.default_rng(1)
    ids = [uuid.uuid4() for _ in range(n)]
    for i, user in enumerate(ids):
        body = profile_body(f"P{i}", interests=["hiking", f"topic{i}"], age=30 + i)
        vector = rng.normal(size=384)
        await upsert_profile(
            conn, user, ProfileIn(**body), vector / np.linalg.norm(vector), version
        )
    await conn.execute(
        "UPDATE profiles SET created_at = now() - $1::interval, updated_at = now() - $1::interval,"
        " last_active_at = now() - $1::interval",
        MONTH,
    )
    return ids


async def _swipe(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID, action: str) -> Any:
    await record_swipe(conn, a, b, action, {}, "matching.events", _no_match)
    return await conn.fetchval(
        "SELECT created_at FROM swipe_history WHERE swiper_id = $1 AND swiped_id = $2", a, b
    )


async def _retriever(settings: Settings) -> Retriever:
    retriever = Retriever(settings)
    retriever.activity_refresh_s = 0.0  # every request reads activity (the test's clock)
    await retriever.start()
    return retriever


async def test_a_swipe_moves_the_swipers_activity_and_the_retriever_sees_it(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = make_settings(fresh_database, tmp_path)
    conn = await connect(fresh_database)
    retriever = await _retriever(settings)
    try:
        a, b = await _people(conn, retriever.model_version, 2)
        await retriever.sync()
        before = await conn.fetchval("SELECT last_active_at FROM profiles WHERE id = $1", b)
        at = await _swipe(conn, a, b, "pass")
        active = dict(await conn.fetch("SELECT id, last_active_at FROM profiles"))
        assert active[a] == at  # the swipe's own time
        assert active[b] == before  # being swiped on is not activity
        found = await retriever.pair(a, b)
        assert found.requester is not None and found.requester.last_active_at == at
        assert found.candidates[0].person.last_active_at == before
    finally:
        await retriever.close()
        await conn.close()


async def test_training_rows_equal_the_serving_features_at_the_swipes_time(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = make_settings(fresh_database, tmp_path)
    conn = await connect(fresh_database)
    retriever = await _retriever(settings)
    try:
        version = retriever.model_version
        a, b, c = await _people(conn, version, 3)
        stats = StatsTable.from_swipes([], 10.0)
        params = FeatureParams.from_settings(settings.matching)
        model = CompatibilityModel(object(), stats, params, {"version": "x"})
        # What serving holds when it shows b to a: the retriever's people and similarity.
        seen = await retriever.pair(a, b)
        assert seen.requester is not None
        at = await _swipe(conn, a, b, "like")
        serving, _ = model.pair_rows(
            seen.requester, [seen.candidates[0].person], [seen.candidates[0].similarity], at
        )
        # Both become active after the swipe: a swipes again, b rewrites the profile.
        await _swipe(conn, a, c, "pass")
        await upsert_profile(
            conn,
            b,
            ProfileIn(**profile_body("P1", interests=["hiking", "topic1"], age=31)),
            np.asarray(retriever.index.vector_of(b)),
            version,
        )
        history = await load_history(conn, version)
        swipe = next(s for s in history.swipes if (s.swiper, s.swiped) == (a, b))
        assert history.people[a].last_active_at > at and history.people[b].last_active_at > at
        row = build_rows(history, [swipe], stats, params, point_in_time=False).features[0]
        np.testing.assert_allclose(row, serving[0], rtol=0, atol=1e-6)
        activity = row[PAIR_FEATURES.index("activity_a")]
        assert activity == row[PAIR_FEATURES.index("activity_b")] < 0.3  # a month idle
        # People as they are now (the leak this replaces) give other features.
        leaked, _ = model.pair_rows(history.people[a], [history.people[b]], [0.0], at)
        assert leaked[0][PAIR_FEATURES.index("activity_a")] == 1.0
    finally:
        await retriever.close()
        await conn.close()
