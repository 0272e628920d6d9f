"""Bad input: a status code and a message that names the field; nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conftest import App
from tests.support import profile_body

UID = "9f1c2a44-8a8e-4d6f-a4e7-2c1b0f2b6f10"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "/v1/users/not-a-uuid/discover", None, "user_id"),
        ("put", "/v1/profiles/123", profile_body(), "user_id"),
        ("put", f"/v1/profiles/{UID}", profile_body(latitude=91.0), "latitude"),
        ("put", f"/v1/profiles/{UID}", profile_body(longitude=-181.0), "longitude"),
        (
            "put",
            f"/v1/profiles/{UID}",
            profile_body(preferences={"age_min": 40, "age_max": 30}),
            "preferences.age_max",
        ),
        ("put", f"/v1/profiles/{UID}", profile_body(job_level="wizard"), "job_level"),
        (
            "put",
            f"/v1/profiles/{UID}",
            profile_body(preferences={"job_levels": ["boss"]}),
            "preferences.job_levels.0",
        ),
        ("put", f"/v1/profiles/{UID}", profile_body(name=""), "name"),
        ("put", f"/v1/profiles/{UID}", profile_body(age=7), "age"),
        ("put", f"/v1/profiles/{UID}", profile_body(photo_url="ftp://x/p.jpg"), "photo_url"),
        ("put", f"/v1/profiles/{UID}", profile_body(photo_url="https://a b"), "photo_url"),
        ("put", f"/v1/profiles/{UID}", profile_body(favourite_colour="red"), "favourite_colour"),
        (
            "put",
            f"/v1/profiles/{UID}",
            profile_body(preferences={"algorithm_weights": {"luck": 1}}),
            "preferences.algorithm_weights.luck",
        ),
        ("get", f"/v1/users/{UID}/discover?limit=0", None, "limit"),
        ("get", f"/v1/users/{UID}/discover?limit=101", None, "limit"),
        ("post", "/v1/search", {"prompt": ""}, "prompt"),
        ("post", "/v1/search", {"prompt": "   "}, "prompt"),
        ("post", "/v1/search", {"prompt": "x" * 501}, "prompt"),
        ("post", "/v1/search", {"prompt": "hikers", "limit": 0}, "limit"),
        (
            "post",
            "/v1/search",
            {"prompt": "hikers", "age_range": {"min": 50, "max": 20}},
            "age_range.max",
        ),
        ("post", "/v1/search", {"prompt": "hikers", "latitude": 10}, "longitude"),
        ("post", "/v1/search", {"prompt": "hikers", "user_id": "nope"}, "user_id"),
    ],
)
async def test_rejected_with_422_naming_the_field(
    app: App, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    kwargs = {} if body is None else {"json": body}
    response = await getattr(app.client, method)(path, **kwargs)
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["detail"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert field.split(".")[0] in response.json()["message"] or response.json()["field"] in fields
    async with app.resources.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0


async def test_oversized_body_is_413(app: App) -> None:
    body = profile_body(bio="x" * 3000, skills=[f"s{i}" for i in range(50)])
    body["padding"] = "y" * (70 * 1024)
    response = await app.client.put(f"/v1/profiles/{uuid.uuid4()}", json=body)
    assert response.status_code == 413
    assert response.json()["field"] == "body"


async def test_unknown_users_are_404(app: App) -> None:
    missing = uuid.uuid4()
    for response in (
        await app.client.get(f"/v1/users/{missing}/discover"),
        await app.client.get(f"/v1/profiles/{missing}"),
        await app.client.post("/v1/search", json={"prompt": "hikers", "user_id": str(missing)}),
    ):
        assert response.status_code == 404
        assert response.json()["field"] == "user_id"
