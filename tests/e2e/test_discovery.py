"""Discovery end to end: seed, discover, search, write, delete, through the served app over
HTTP (one e2e file per mode)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from matching.core.domain.filters import mutually_acceptable
from matching.core.domain.person import Person
from matching.core.domain.profile import ProfileIn
from tests.e2e.conftest import bearer
from tests.support import profile_body

BERLIN = {"latitude": 52.52, "longitude": 13.405}


def person(api: httpx.Client, user_id: str) -> Person:
    data = api.get(f"/v1/profiles/{user_id}").json()
    fields = {k: v for k, v in data.items() if k in ProfileIn.model_fields}
    return Person.from_profile(
        uuid.UUID(user_id),
        ProfileIn.model_validate(fields),
        ProfileIn.model_validate(fields).preferences,
        datetime.now(UTC),
    )


def put(api: httpx.Client, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = api.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


def seeded_user(api: httpx.Client) -> str:
    found = api.post("/v1/search", json={"prompt": "software engineer", "limit": 1}).json()
    return str(found["candidates"][0]["user_id"])


def test_health_docs_and_readiness(api: httpx.Client) -> None:
    assert api.get("/health/live").json() == {"status": "alive"}
    assert api.get("/health/ready").status_code == 200
    health = api.get("/health").json()
    assert health["status"] == "ok"
    assert health["dependencies"]["database"] == "up"
    assert health["dependencies"]["kafka"] == "up"
    assert health["dependencies"]["redis"] == "up"
    assert health["background"]["relay"] is not None
    assert health["ml_models"]["embedder"]["dimension"] == 384
    assert health["ml_models"]["index"]["size"] >= 150
    assert health["ml_models"]["reranker"]["version"] == "weighted-v1"
    assert api.get("/docs").status_code == 200
    assert "/v1/search" in api.get("/openapi.json").json()["paths"]


def test_discover_for_seeded_users_is_ranked_explained_and_two_sided(api: httpx.Client) -> None:
    user = seeded_user(api)
    response = api.get(f"/v1/users/{user}/discover?limit=10")
    assert response.status_code == 200, response.text
    candidates = response.json()["candidates"]
    assert candidates, "a seeded user should have someone to meet"
    scores = [c["compatibility_score"] for c in candidates]
    assert scores == sorted(scores, reverse=True)
    me = person(api, user)
    for c in candidates:
        assert mutually_acceptable(me, person(api, c["user_id"])), c["user_id"]
        assert c["reasons"]["summary"]
        assert c["mutual"]["your_fit"] >= 0 and c["mutual"]["their_fit"] >= 0


def test_search_with_filters(api: httpx.Client) -> None:
    response = api.post(
        "/v1/search",
        json={
            "prompt": "Looking for hiking enthusiasts who mentor founders",
            "latitude": 37.77,
            "longitude": -122.42,
            "max_distance_km": 60,
            "age_range": {"min": 25, "max": 50},
            "limit": 10,
        },
    )
    assert response.status_code == 200, response.text
    terms = response.json()["interpreted"]["terms"]
    assert terms["interests"] == ["hiking"] and terms["networking_goals"] == ["mentorship"]
    for c in response.json()["candidates"]:
        assert c["reasons"]["distance_km"] <= 60
        age = api.get(f"/v1/profiles/{c['user_id']}").json()["age"]
        assert 25 <= age <= 50
        assert 0 <= c["prompt_similarity"] <= 1


def test_two_sided_preferences_hold_over_http(api: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6]
    me = put(
        api,
        f"Me {tag}",
        company=f"Co{tag}",
        **BERLIN,
        age=34,
        interests=[f"rare-{tag}"],
        preferences={"distance_km": 20},
    )
    fits = put(
        api, f"Fits {tag}", company=f"Other{tag}", **BERLIN, age=33, interests=[f"rare-{tag}"]
    )
    rejects_me = put(
        api,
        f"Picky {tag}",
        company=f"Third{tag}",
        **BERLIN,
        age=33,
        interests=[f"rare-{tag}"],
        preferences={"age_max": 30},
    )
    colleague = put(
        api,
        f"Colleague {tag}",
        company=f"Co{tag}",
        **BERLIN,
        age=33,
        interests=[f"rare-{tag}"],
        preferences={"exclude_colleagues": True},
    )
    wants_men = put(  # "me" has no gender: show_me excludes them, both ways
        api, f"WantsMen {tag}", company=f"Four{tag}", **BERLIN, age=33, interests=[f"rare-{tag}"],
        preferences={"show_me": ["male"]},
    )  # fmt: skip
    seen = {
        c["user_id"] for c in api.get(f"/v1/users/{me}/discover?limit=100").json()["candidates"]
    }
    assert fits in seen
    assert rejects_me not in seen and colleague not in seen and wants_men not in seen


def test_a_write_on_one_app_is_seen_by_the_other_at_once(
    both: dict[str, httpx.Client],
) -> None:
    tag = uuid.uuid4().hex[:6]
    me = put(both["single"], f"Me {tag}", **BERLIN, age=40, interests=[f"x-{tag}"])
    new = put(both["single"], f"New {tag}", **BERLIN, age=41, interests=[f"x-{tag}"])
    seen = both["pipeline"].get(f"/v1/users/{me}/discover?limit=100").json()["candidates"]
    assert new in {c["user_id"] for c in seen}
    assert both["pipeline"].delete(f"/v1/profiles/{new}").status_code == 204
    for client in both.values():
        after = client.get(f"/v1/users/{me}/discover?limit=100").json()["candidates"]
        assert new not in {c["user_id"] for c in after}
        assert client.get(f"/v1/users/{new}/discover").status_code == 404


def test_bad_input_over_http(api: httpx.Client) -> None:
    bad = api.get("/v1/users/nope/discover")
    assert bad.status_code == 422 and bad.json()["field"] == "user_id"
    far = api.put(f"/v1/profiles/{uuid.uuid4()}", json=profile_body(latitude=100.0))
    assert far.status_code == 422 and far.json()["field"] == "latitude"


def test_callers_are_verified_over_http(api: httpx.Client) -> None:
    me, other = seeded_user(api), str(uuid.uuid4())
    with httpx.Client(base_url=api.base_url, timeout=60) as bare:
        assert bare.get(f"/v1/users/{me}/discover").status_code == 401
        assert bare.get(f"/v1/users/{me}/discover", headers=bearer(me)).status_code == 200
        assert bare.get(f"/v1/users/{other}/discover", headers=bearer(me)).status_code == 403
        assert bare.get("/health", headers=bearer(me)).status_code == 403
        assert bare.get("/health", headers=bearer(me, "admin")).status_code == 200
        assert bare.get("/health/ready").status_code == 200
