"""Search that honours what a prompt names, show_me both ways, and the platform's preference
vocabulary: the real app over the real PostgreSQL and the real embedding model."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.conftest import App
from tests.support import profile_body

BERLIN = {"latitude": 52.52, "longitude": 13.405}
POTSDAM = {"latitude": 52.39, "longitude": 13.06}  # ~27 km from Berlin
MUNICH = {"latitude": 48.137, "longitude": 11.575}
ISSUE_PROMPT = "women who love hiking and mentor founders near me"


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


def _outdoorsy(gender: str, interests: list[str], **fields: Any) -> dict[str, Any]:
    """Profiles whose text is about the outdoors whether or not they list hiking."""
    return {
        "gender": gender,
        "interests": interests,
        "headline": "Outdoor lover and startup mentor",
        "bio": "Mountains, trails and long walks at weekends; I mentor founders.",
        "networking_goals": ["mentorship"],
        **BERLIN,
        **fields,
    }


async def _issue_population(app: App) -> dict[str, list[str]]:
    """Four women who hike within the radius; men who hike; women without hiking whose text
    is closer to the prompt; a woman who hikes far away."""
    ids: dict[str, list[str]] = {"women_hikers": [], "men_hikers": [], "others": []}
    for i, where in enumerate([BERLIN, BERLIN, POTSDAM, BERLIN]):
        body = _outdoorsy("female", ["hiking", "chess"], **where)
        body["headline"] = f"Accountant number {i}"  # further from the prompt in meaning
        body["bio"] = "Spreadsheets and tax returns."
        ids["women_hikers"].append(await put(app, f"WomanHiker{i}", **body))
    for i in range(3):
        ids["men_hikers"].append(await put(app, f"ManHiker{i}", **_outdoorsy("male", ["hiking"])))
    for i in range(5):
        body = _outdoorsy("female", ["climbing", "camping"], headline="Women who love hiking")
        ids["others"].append(await put(app, f"WomanNoHike{i}", **body))
    ids["far"] = [await put(app, "FarHiker", **_outdoorsy("female", ["hiking"], **MUNICH))]
    return ids


async def test_the_issues_prompt_returns_the_women_who_hike_nearby_first(app: App) -> None:
    ids = await _issue_population(app)
    response = await app.client.post(
        "/v1/search", json={"prompt": ISSUE_PROMPT, **BERLIN, "limit": 10}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    got = [c["user_id"] for c in data["candidates"]]
    # every woman who hikes within the radius, first, though others read closer to the prompt
    assert set(got[:4]) == set(ids["women_hikers"])
    assert not set(got) & set(ids["men_hikers"])  # "women" is a hard filter
    assert ids["far"][0] not in got  # "near me": 50 km
    assert set(got[4:]) <= set(ids["others"])
    terms = data["interpreted"]["terms"]
    assert terms["genders"] == ["female"]
    assert terms["interests"] == ["hiking"]
    assert terms["networking_goals"] == ["mentorship"]
    assert terms["job_levels"] == []  # the founders are whom they mentor
    assert {"field": "genders", "value": "female"} in data["interpreted"]["chips"]
    assert data["interpreted"]["radius_km"] == 50


async def test_terms_sent_back_replace_the_reading(app: App) -> None:
    ids = await _issue_population(app)
    first = await app.client.post("/v1/search", json={"prompt": ISSUE_PROMPT, **BERLIN})
    terms = first.json()["interpreted"]["terms"]
    terms["genders"] = []  # the client removed the "female" chip
    again = await app.client.post(
        "/v1/search", json={"prompt": ISSUE_PROMPT, **BERLIN, "terms": terms, "limit": 10}
    )
    assert again.status_code == 200, again.text
    data = again.json()
    got = [c["user_id"] for c in data["candidates"]]
    assert set(got[:7]) == set(ids["women_hikers"] + ids["men_hikers"])
    assert data["interpreted"]["terms"] == terms
    assert all(chip["field"] != "genders" for chip in data["interpreted"]["chips"])


async def test_hard_terms_filter_levels_industries_languages_and_ages(app: App) -> None:
    keep = await put(
        app, "Keep", job_level="founder", industry="fintech", languages=["spanish"], age=33
    )
    await put(app, "Senior", job_level="senior", industry="fintech", languages=["spanish"])
    await put(app, "Health", job_level="founder", industry="healthcare", languages=["spanish"])
    await put(app, "English", job_level="founder", industry="fintech", languages=["english"])
    await put(app, "Older", job_level="founder", industry="fintech", languages=["spanish"], age=45)
    response = await app.client.post(
        "/v1/search", json={"prompt": "spanish speaking fintech founders in their 30s"}
    )
    assert [c["user_id"] for c in response.json()["candidates"]] == [keep]


async def test_bad_terms_are_a_422_naming_the_field(app: App) -> None:
    for terms, field in (
        ({"genders": ["women"]}, "terms.genders.0"),
        ({"age_min": 40, "age_max": 30}, "terms.age_max"),
        ({"colour": "blue"}, "terms.colour"),
    ):
        response = await app.client.post("/v1/search", json={"prompt": "x", "terms": terms})
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field


# -- show_me, two-sided -------------------------------------------------------------------------


async def test_show_me_is_two_sided_in_discover_and_search(app: App) -> None:
    she = await put(app, "She", gender="female", preferences={"show_me": ["male"]})
    him = await put(app, "Him", gender="male", preferences={"show_me": ["female"]})
    him_no_pref = await put(app, "HimAnyone", gender="male")
    him_men_only = await put(app, "HimMen", gender="male", preferences={"show_me": ["male"]})
    her_friend = await put(app, "Friend", gender="female")
    unknown = await put(app, "Unknown")
    seen = await app.client.get(f"/v1/users/{she}/discover?limit=50")
    assert {c["user_id"] for c in seen.json()["candidates"]} == {him, him_no_pref}
    for viewer, sees_her in (
        (him, True),
        (him_no_pref, True),
        (him_men_only, False),
        (her_friend, False),
        (unknown, False),
    ):
        got = await app.client.get(f"/v1/users/{viewer}/discover?limit=50")
        assert (she in {c["user_id"] for c in got.json()["candidates"]}) is sees_her, viewer
    found = await app.client.post(
        "/v1/search", json={"prompt": "hiking people", "user_id": she, "limit": 50}
    )
    assert {c["user_id"] for c in found.json()["candidates"]} == {him, him_no_pref}
    # a prompt's "women" narrows further; it never widens past show_me
    women = await app.client.post(
        "/v1/search", json={"prompt": "women who hike", "user_id": she, "limit": 50}
    )
    assert women.json()["candidates"] == []


async def test_show_me_and_company_size_words_are_stored_and_read_back(app: App) -> None:
    uid = await put(
        app,
        "Prefs",
        preferences={"show_me": ["female", "non_binary"], "company_sizes": ["medium", "large"]},
    )
    body = (await app.client.get(f"/v1/profiles/{uid}")).json()
    assert body["preferences"]["show_me"] == ["female", "non_binary"]
    assert body["preferences"]["company_sizes"] == ["51-200", "201-1000", "1001-5000"]
    bad = await app.client.put(
        f"/v1/profiles/{uid}", json=profile_body("Prefs", preferences={"company_sizes": ["huge"]})
    )
    assert bad.status_code == 422 and bad.json()["field"] == "preferences.company_sizes.0"
    bad = await app.client.put(
        f"/v1/profiles/{uid}", json=profile_body("Prefs", preferences={"show_me": ["men"]})
    )
    assert bad.status_code == 422 and bad.json()["field"] == "preferences.show_me.0"


async def test_company_size_words_filter_discover(app: App) -> None:
    wants_medium = await put(app, "WantsMedium", preferences={"company_sizes": ["medium"]})
    medium = await put(app, "Medium", company="Mid Co", company_size="51-200")
    await put(app, "Big", company="Big Co", company_size="5001+")
    seen = await app.client.get(f"/v1/users/{wants_medium}/discover?limit=50")
    assert [c["user_id"] for c in seen.json()["candidates"]] == [medium]
