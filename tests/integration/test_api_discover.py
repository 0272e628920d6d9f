"""Discover and search: hard filters both ways, ranking, reasons, deletion."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from deployments.embedder import Embedder
from matching.discovery import service as service_module
from tests.integration.conftest import App, make_settings, running_app
from tests.support import profile_body

BERLIN = {"latitude": 52.52, "longitude": 13.405}
POTSDAM = {"latitude": 52.39, "longitude": 13.06}  # ~27 km from Berlin
MUNICH = {"latitude": 48.137, "longitude": 11.575}


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


async def population(app: App) -> dict[str, str]:
    ids = {
        "requester": await put(
            app,
            "Requester",
            company="Acme",
            **BERLIN,
            age=34,
            preferences={"distance_km": 50, "age_min": 25, "age_max": 45, "languages": ["english"]},
        )
    }
    ids["best"] = await put(
        app, "Best", company="Globex", **BERLIN, age=31, interests=["hiking", "climbing"]
    )
    ids["ok"] = await put(
        app,
        "Ok",
        company="Initech",
        **POTSDAM,
        age=40,
        interests=["chess"],
        industry="retail",
        headline="Retail buyer",
        bio="I buy things for stores.",
    )
    ids["too_far"] = await put(app, "TooFar", company="Hooli", **MUNICH, age=33)
    ids["too_old"] = await put(app, "TooOld", company="Hooli", **BERLIN, age=60)
    ids["no_english"] = await put(
        app, "NoEnglish", company="Hooli", **BERLIN, age=30, languages=["german"]
    )
    ids["wants_younger"] = await put(
        app, "WantsYounger", company="Hooli", **BERLIN, age=30, preferences={"age_max": 30}
    )
    ids["colleague"] = await put(
        app,
        "Colleague",
        company="ACME ",
        **BERLIN,
        age=30,
        preferences={"exclude_colleagues": True},
    )
    ids["rival"] = await put(
        app,
        "Rival",
        company="Umbrella",
        **BERLIN,
        age=30,
        preferences={"exclude_competitors": True},
    )
    ids["wants_close"] = await put(
        app, "WantsClose", company="Hooli", **POTSDAM, age=30, preferences={"distance_km": 5}
    )
    return ids


async def test_discover_is_two_sided_and_filtered(app: App) -> None:
    ids = await population(app)
    response = await app.client.get(f"/v1/users/{ids['requester']}/discover?limit=20")
    assert response.status_code == 200, response.text
    data = response.json()
    got = [c["user_id"] for c in data["candidates"]]
    assert got == [ids["best"], ids["ok"]]
    best = data["candidates"][0]
    assert best["reasons"]["shared_interests"] == ["climbing", "hiking"]
    assert best["reasons"]["industry_match"] is True
    assert best["reasons"]["distance_km"] == 0.0
    assert set(best["score_breakdown"]) == {
        "profile_similarity",
        "interest_overlap",
        "location_proximity",
        "industry_alignment",
        "activity_compatibility",
    }
    for c in data["candidates"]:
        fits = c["mutual"]
        mean = 2 * fits["your_fit"] * fits["their_fit"] / (fits["your_fit"] + fits["their_fit"])
        assert abs(c["compatibility_score"] - mean) < 2e-4
        assert 0 <= c["compatibility_score"] <= 1
        assert c["algorithm_version"] == "weighted-v1"


async def test_exclusion_holds_from_the_other_side_too(app: App) -> None:
    ids = await population(app)
    for name in ("wants_younger", "colleague", "rival", "wants_close"):
        seen = await app.client.get(f"/v1/users/{ids[name]}/discover?limit=50")
        assert ids["requester"] not in {c["user_id"] for c in seen.json()["candidates"]}, name


async def test_deleted_person_is_never_recommended(app: App) -> None:
    ids = await population(app)
    assert (await app.client.delete(f"/v1/profiles/{ids['best']}")).status_code == 204
    seen = await app.client.get(f"/v1/users/{ids['requester']}/discover")
    assert [c["user_id"] for c in seen.json()["candidates"]] == [ids["ok"]]
    found = await app.client.post("/v1/search", json={"prompt": "hiking climbing engineer"})
    assert ids["best"] not in {c["user_id"] for c in found.json()["candidates"]}


async def test_profile_change_takes_effect_on_the_next_discover(app: App) -> None:
    ids = await population(app)
    body = profile_body("TooFar", company="Hooli", **BERLIN, age=33)
    assert (await app.client.put(f"/v1/profiles/{ids['too_far']}", json=body)).status_code == 200
    seen = await app.client.get(f"/v1/users/{ids['requester']}/discover")
    assert ids["too_far"] in {c["user_id"] for c in seen.json()["candidates"]}


async def test_search_ranks_by_prompt_and_honours_filters(app: App) -> None:
    ids = await population(app)
    hiker = await put(
        app,
        "Hiker",
        company="Trails",
        **BERLIN,
        age=45,
        headline="Trail guide and hiking enthusiast who mentors startup founders",
        bio="I lead hiking trips and mentor founders.",
        interests=["hiking"],
    )
    await put(
        app,
        "Baker",
        company="Bakery",
        **BERLIN,
        age=45,
        headline="Pastry chef",
        bio="I bake sourdough bread.",
        interests=["baking"],
        industry="food",
    )
    response = await app.client.post(
        "/v1/search",
        json={
            "prompt": "Looking for hiking enthusiasts who mentor founders near me",
            **BERLIN,
            "limit": 5,
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["interpreted"]["near_me"] is True and data["interpreted"]["radius_km"] == 50
    assert data["candidates"][0]["user_id"] == hiker
    assert "hiking" in data["candidates"][0]["reasons"]["shared_interests"]
    assert data["candidates"][0]["prompt_similarity"] > data["candidates"][-1]["prompt_similarity"]
    assert ids["too_far"] not in {c["user_id"] for c in data["candidates"]}
    aged = await app.client.post(
        "/v1/search", json={"prompt": "hiking", "age_range": {"min": 44, "max": 46}, "limit": 50}
    )
    assert sorted(c["name"] for c in aged.json()["candidates"]) == ["Baker", "Hiker"]


async def test_search_as_a_user_applies_their_preferences(app: App) -> None:
    ids = await population(app)
    response = await app.client.post(
        "/v1/search",
        json={"prompt": "people who like hiking", "user_id": ids["requester"], "limit": 20},
    )
    got = {c["user_id"] for c in response.json()["candidates"]}
    assert got == {ids["best"], ids["ok"]}
    assert all(c["mutual"] is not None for c in response.json()["candidates"])


async def test_a_new_ranking_version_is_not_answered_from_the_cache(
    fresh_database: str, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a promotion (here: the reranker reconfigured with other weights), a cached
    answer of the old version is ranked again; an empty answer names the version too."""
    monkeypatch.setattr(service_module, "_VERSION_TTL_S", 0.0)
    settings = make_settings(fresh_database, tmp_path, MATCHING_DISCOVER_CACHE_TTL_S="600")
    async with running_app(settings, embedder) as app:
        ids = await population(app)
        url = f"/v1/users/{ids['requester']}/discover"
        first = (await app.client.get(url)).json()
        assert first["algorithm_version"] == "weighted-v1" and first["count"] > 0
        assert await app.resources.discover_cache.get(ids["requester"]) is not None
        reranker = app.resources.reranker
        weights = {"interest_overlap": 1.0}
        await reranker.reconfigure.remote({"weights": weights, "version": "interests-only"})
        second = (await app.client.get(url)).json()
        assert second["algorithm_version"] == "interests-only"
        assert {c["algorithm_version"] for c in second["candidates"]} == {"interests-only"}
        assert all(set(c["mutual"]) >= {"your_fit", "their_fit"} for c in second["candidates"])
        assert second["candidates"][0]["mutual"]["p_mutual"] is None  # no learned model
        sydney = {"latitude": -33.87, "longitude": 151.21}
        lonely = await put(app, "Lonely", **sydney, preferences={"distance_km": 5})
        empty = (await app.client.get(f"/v1/users/{lonely}/discover")).json()
        assert empty == {
            "user_id": lonely,
            "algorithm_version": "interests-only",
            "count": 0,
            "candidates": [],
        }
