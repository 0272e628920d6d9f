"""Profiles over the HTTP app, in-process, against the real database and model."""

from __future__ import annotations

import uuid

import asyncpg

from tests.integration.conftest import App
from tests.support import profile_body


async def test_put_creates_then_replaces_and_get_returns_it(app: App) -> None:
    uid = str(uuid.uuid4())
    body = profile_body(
        "Ada",
        interests=["Hiking", "hiking ", "Rock Climbing"],
        preferences={
            "age_min": 25,
            "age_max": 45,
            "distance_km": 30,
            "algorithm_weights": {"interest_overlap": 0.5},
        },
    )
    first = await app.client.put(f"/v1/profiles/{uid}", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["interests"] == ["hiking", "rock climbing"]
    second = await app.client.put(f"/v1/profiles/{uid}", json={**body, "headline": "Changed"})
    assert second.status_code == 200
    got = (await app.client.get(f"/v1/profiles/{uid}")).json()
    assert got["headline"] == "Changed"
    assert got["preferences"]["age_min"] == 25
    assert got["preferences"]["algorithm_weights"]["interest_overlap"] == 0.5
    assert got["created_at"] == first.json()["created_at"]


async def test_put_stores_embedding_with_model_version(app: App) -> None:
    uid = uuid.uuid4()
    assert (await app.client.put(f"/v1/profiles/{uid}", json=profile_body())).status_code == 201
    async with app.resources.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT embedding_dim, model_version, octet_length(embedding) AS n, "
            "profile_completeness FROM user_features WHERE user_id = $1",
            uid,
        )
    assert row is not None
    assert row["embedding_dim"] == 384 and row["n"] == 4 * 384
    assert row["model_version"].startswith("all-MiniLM-L6-v2@")
    assert 0.9 < row["profile_completeness"] <= 1.0


async def test_delete_removes_everywhere(app: App) -> None:
    uid = uuid.uuid4()
    await app.client.put(f"/v1/profiles/{uid}", json=profile_body())
    assert app.retriever.person(uid) is not None
    assert (await app.client.delete(f"/v1/profiles/{uid}")).status_code == 204
    assert app.retriever.person(uid) is None
    assert (await app.client.get(f"/v1/profiles/{uid}")).status_code == 404
    assert (await app.client.delete(f"/v1/profiles/{uid}")).status_code == 404
    async with app.resources.pool.acquire() as conn:
        for table, column in (
            ("profiles", "id"),
            ("matching_preferences", "user_id"),
            ("user_features", "user_id"),
        ):
            count = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", uid)
            assert count == 0, table


async def test_database_rejects_what_the_api_would(app: App) -> None:
    """The constraints hold even for writers that bypass the API."""
    async with app.resources.pool.acquire() as conn:
        uid = uuid.uuid4()
        await conn.execute("INSERT INTO profiles (id, name) VALUES ($1, 'x')", uid)
        for sql in (
            "UPDATE profiles SET latitude = 91, longitude = 0 WHERE id = $1",
            "UPDATE profiles SET latitude = 10 WHERE id = $1",
            "INSERT INTO matching_preferences (user_id, age_min, age_max) VALUES ($1, 40, 30)",
            "INSERT INTO swipe_history (swiper_id, swiped_id, action) VALUES ($1, $1, 'like')",
        ):
            try:
                await conn.execute(sql, uid)
            except asyncpg.CheckViolationError:
                continue
            raise AssertionError(f"accepted: {sql}")


async def test_features_are_read_through_the_feature_cache(app: App) -> None:
    uid = uuid.uuid4()
    body = profile_body(bio=None, skills=[])
    assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    first = (await app.client.get(f"/v1/profiles/{uid}/features")).json()
    assert first["cached"] is False and first["model_version"].startswith("all-MiniLM")
    second = (await app.client.get(f"/v1/profiles/{uid}/features")).json()
    assert second["cached"] is True
    assert second["profile_completeness"] == first["profile_completeness"]
    full = profile_body()
    assert (await app.client.put(f"/v1/profiles/{uid}", json=full)).status_code == 200
    after = (await app.client.get(f"/v1/profiles/{uid}/features")).json()
    assert after["cached"] is False  # the write dropped the cached entry
    assert after["profile_completeness"] > first["profile_completeness"]
    missing = await app.client.get(f"/v1/profiles/{uuid.uuid4()}/features")
    assert missing.status_code == 404 and missing.json()["field"] == "user_id"


async def test_photo_url_is_stored_and_becomes_has_photo(app: App) -> None:
    uid = uuid.uuid4()
    body = profile_body(photo_url="https://img.example/ada.jpg")
    assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    got = (await app.client.get(f"/v1/profiles/{uid}")).json()
    assert got["photo_url"] == "https://img.example/ada.jpg"
    features = (await app.client.get(f"/v1/profiles/{uid}/features")).json()["features"]
    assert features["has_photo"] == 1.0
    without = {k: v for k, v in body.items() if k != "photo_url"}
    assert (await app.client.put(f"/v1/profiles/{uid}", json=without)).status_code == 200
    assert (await app.client.get(f"/v1/profiles/{uid}")).json()["photo_url"] is None
    features = (await app.client.get(f"/v1/profiles/{uid}/features")).json()["features"]
    assert features["has_photo"] == 0.0
