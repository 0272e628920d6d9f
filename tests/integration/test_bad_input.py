"""Inputs the stores cannot hold: a 4xx naming the field, nothing written, never a 500."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from matching.discovery.storage.matches import encode_cursor
from tests.integration.conftest import App
from tests.support import profile_body

NAN, INF = float("nan"), float("inf")
_TABLES = (
    "profiles",
    "swipe_history",
    "user_matches",
    "matching_analytics",
    "user_blocks",
    "event_outbox",
)


@dataclass(frozen=True)
class People:
    """Two people with a mutual match: every route family has something to act on."""

    a: str
    b: str
    match_id: str


@pytest_asyncio.fixture
async def people(app: App) -> AsyncIterator[People]:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for uid, company in ((a, "A"), (b, "B")):
        put = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(company=company))
        assert put.status_code == 201, put.text
    for x, y in ((a, b), (b, a)):
        liked = await app.client.post(
            "/v1/swipes", json={"swiper_id": x, "swiped_id": y, "action": "like"}
        )
        assert liked.status_code == 200, liked.text
    yield People(a, b, liked.json()["match"]["match_id"])


async def _counts(app: App) -> dict[str, int]:
    async with app.resources.pool.acquire() as conn:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in _TABLES}


def _deep(levels: int) -> Any:
    """A value `levels` containers deep."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


Case = Callable[[People], tuple[str, str, Any]]  # (method, path, body) for the people
CASES: dict[str, tuple[Case, str]] = {
    "profile name NUL": (
        lambda p: ("put", f"/v1/profiles/{p.a}", profile_body(name="Ada\x00")),
        "name",
    ),
    "profile interest NUL": (
        lambda p: (
            "put",
            f"/v1/profiles/{p.a}",
            profile_body(preferences={"interests": ["ok", "b\x00d"]}),
        ),
        "preferences.interests.1",
    ),
    "profile bio lone surrogate": (
        lambda p: ("put", f"/v1/profiles/{p.a}", profile_body(bio="x\ud800y")),
        "bio",
    ),
    "profile latitude NaN": (
        lambda p: ("put", f"/v1/profiles/{p.a}", profile_body(latitude=NAN)),
        "latitude",
    ),
    "profile distance Infinity": (
        lambda p: ("put", f"/v1/profiles/{p.a}", profile_body(preferences={"distance_km": INF})),
        "preferences.distance_km",
    ),
    "swipe context NUL": (
        lambda p: ("post", "/v1/swipes", _swipe(p, {"source": "discover\x00"})),
        "context.source",
    ),
    "swipe context NaN": (
        lambda p: ("post", "/v1/swipes", _swipe(p, {"score": NAN})),
        "context.score",
    ),
    "swipe context -Infinity": (
        lambda p: ("post", "/v1/swipes", _swipe(p, {"extra": {"x": [1, -INF]}})),
        "context.extra.x.1",
    ),
    "swipe context key NUL": (
        lambda p: ("post", "/v1/swipes", _swipe(p, {"k\x00": 1})),
        "context.k\ufffd",
    ),
    "swipe context too deep": (
        lambda p: ("post", "/v1/swipes", _swipe(p, {"deep": _deep(40)})),
        "context.deep" + ".0" * 30,
    ),
    "analytics payload NUL": (
        lambda p: ("post", "/v1/analytics", _event(p, {"note": "hi\x00"})),
        "payload.note",
    ),
    "analytics payload lone surrogate": (
        lambda p: ("post", "/v1/analytics", _event(p, {"note": "\udc00"})),
        "payload.note",
    ),
    "analytics payload NaN": (
        lambda p: ("post", "/v1/analytics", _event(p, {"x": NAN})),
        "payload.x",
    ),
    "analytics payload 1e400": (
        lambda p: ("post", "/v1/analytics", _event(p, {"big": INF})),
        "payload.big",
    ),
    "analytics version NUL": (
        lambda p: ("post", "/v1/analytics", {**_event(p, {}), "algorithm_version": "v\x001"}),
        "algorithm_version",
    ),
    "search prompt NUL": (
        lambda p: ("post", "/v1/search", {"prompt": "hik\x00ers", "user_id": p.a}),
        "prompt",
    ),
    "search prompt lone surrogate": (
        lambda p: ("post", "/v1/search", {"prompt": "hikers \ud83d", "user_id": p.a}),
        "prompt",
    ),
    "search latitude NaN": (
        lambda p: (
            "post",
            "/v1/search",
            {"prompt": "hikers", "user_id": p.a, "latitude": NAN, "longitude": 1},
        ),
        "latitude",
    ),
    "block NUL": (
        lambda p: ("post", f"/v1/users/{p.a}/blocks", {"blocked_id": p.b + "\x00"}),
        "blocked_id",
    ),
    "block NaN": (
        lambda p: ("post", f"/v1/users/{p.a}/blocks", {"blocked_id": p.b, "why": NAN}),
        "why",
    ),
    "patch match NUL": (
        lambda p: ("patch", f"/v1/matches/{p.match_id}", {"status": "declined\x00"}),
        "status",
    ),
    "patch match Infinity": (
        lambda p: (
            "patch",
            f"/v1/matches/{p.match_id}",
            {"status": "declined", "updated_by": p.a, "at": INF},
        ),
        "at",
    ),
}


def _swipe(p: People, context: dict[str, Any]) -> dict[str, Any]:
    return {"swiper_id": p.a, "swiped_id": p.b, "action": "pass", "context": context}


def _event(p: People, payload: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": p.a, "event_type": "profile_viewed", "payload": payload}


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_text_and_numbers_are_422_naming_the_field(
    app: App, people: People, name: str
) -> None:
    make, field = CASES[name]
    method, path, body = make(people)
    before = await _counts(app)
    # json.dumps writes NaN/Infinity literals and \u0000 / \ud800 escapes, as a client may.
    response = await app.client.request(
        method, path, content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "ValidationError"
    assert answer["field"] == field
    assert answer["detail"][0]["field"] == field
    assert answer["request_id"] == response.headers["x-request-id"]
    assert await _counts(app) == before


@pytest.mark.parametrize(
    ("depth", "status"), [(32, 202), (33, 422), (5000, 422)], ids=["at", "over", "far-over"]
)
async def test_json_depth_limit(app: App, people: People, depth: int, status: int) -> None:
    # The body is the first level and payload the second; json.dumps cannot write 5000.
    head = json.dumps(_event(people, {"x": None})).removesuffix("null}}")
    body = head + "[" * (depth - 2) + "1" + "]" * (depth - 2) + "}}"
    response = await app.client.post(
        "/v1/analytics", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["field"].startswith(("payload.x", "body"))
        assert "nested deeper than 32 levels" in response.json()["message"]


async def test_unreadable_json_is_422_on_body(app: App, people: People) -> None:
    head = f'{{"user_id": "{people.a}", "event_type": "profile_viewed", "payload": {{"n": '
    for raw in (head.encode() + b"9" * 5000 + b"}}", b'{"user_id": "\xff\xfe"}', b"{nope"):
        response = await app.client.post(
            "/v1/analytics", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "body"


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_forged_cursors_are_422_naming_cursor(app: App, people: People) -> None:
    mid = uuid.uuid4()
    future = datetime.now(UTC) + timedelta(days=3)
    forged = [
        _cursor(f"0001-01-01T00:00:00+05:00|{mid}"),  # before year 1 in UTC: overflowed
        _cursor(f"9999-12-31T23:59:59-05:00|{mid}"),  # after year 9999 in UTC: overflowed
        _cursor(f"1999-12-31T23:59:59+00:00|{mid}"),
        encode_cursor(future, mid),
        _cursor(f"2025-01-01T10:00:00+02:00|{mid}"),  # never issued: cursors are UTC
        encode_cursor(datetime(2025, 1, 1, tzinfo=UTC), mid) + "==",
        _cursor(f"2025-01-01T00:00:00+00:00|{mid}|x"),
        "garbage",
        "\x00",
    ]
    for cursor in forged:
        response = await app.client.get(f"/v1/users/{people.a}/matches", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["field"] == "cursor"
    issued = encode_cursor(datetime.now(UTC), mid)
    page = await app.client.get(f"/v1/users/{people.a}/matches", params={"cursor": issued})
    assert page.status_code == 200, page.text
    assert [m["match_id"] for m in page.json()["matches"]] == [people.match_id]


@pytest.mark.parametrize(
    ("prompt", "radius_km"),
    [
        ("within 99999999999999999999 miles", 20_000.0),
        ("within " + "9" * 400 + " km", 20_000.0),
        ("within 0 km", 0.1),
    ],
)
async def test_absurd_prompt_radii_are_clamped(
    app: App, people: People, prompt: str, radius_km: float
) -> None:
    response = await app.client.post("/v1/search", json={"prompt": prompt, "user_id": people.a})
    assert response.status_code == 200, response.text
    assert response.json()["interpreted"]["radius_km"] == radius_km


async def _chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


async def test_chunked_body_over_the_limit_is_413(app: App, people: People) -> None:
    before = await _counts(app)
    limit = app.resources.settings.serving.max_body_bytes
    response = await app.client.put(
        f"/v1/profiles/{people.a}",
        content=_chunks(limit + 1),
        headers={"content-type": "application/json", "x-request-id": "chunked-1"},
    )
    assert response.status_code == 413, response.text
    assert "content-length" not in response.request.headers
    assert response.json() == {
        "error": "PayloadTooLarge",
        "field": "body",
        "message": f"body: larger than {limit} bytes",
        "request_id": "chunked-1",
    }
    assert await _counts(app) == before


async def test_chunked_body_under_the_limit_still_arrives(app: App, people: People) -> None:
    async def body() -> AsyncIterator[bytes]:
        raw = json.dumps(profile_body(name="Chunked")).encode()
        for start in range(0, len(raw), 100):
            yield raw[start : start + 100]

    response = await app.client.put(
        f"/v1/profiles/{people.a}", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Chunked"


async def test_every_response_carries_a_request_id(app: App) -> None:
    fresh = await app.client.get("/health/live")
    assert fresh.status_code == 200
    assert len(fresh.headers["x-request-id"]) == 32
    given = await app.client.get("/nope", headers={"x-request-id": "gateway-42.a:b"})
    assert given.status_code == 404
    assert given.headers["x-request-id"] == "gateway-42.a:b"
    assert given.json() == {
        "error": "NotFound",
        "field": None,
        "message": "Not Found",
        "request_id": "gateway-42.a:b",
    }
    for insane in ("x" * 200, "a b", "-leading-dash", "semi;colon"):
        replaced = await app.client.get("/health/live", headers={"x-request-id": insane})
        assert replaced.headers["x-request-id"] != insane
        assert len(replaced.headers["x-request-id"]) == 32


async def test_unexpected_errors_are_a_generic_500(
    app: App, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    # A real broken dependency: the table analytics writes to is gone.
    async with app.resources.pool.acquire() as conn:
        await conn.execute("ALTER TABLE matching_analytics RENAME TO matching_analytics_gone")
    caplog.set_level(logging.ERROR, logger="serve_app.http")
    response = await app.client.post(
        "/v1/analytics",
        json=_event(people, {"note": "private words"}),
        headers={"x-request-id": "boom-1"},
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": "InternalError",
        "field": None,
        "message": "internal error",
        "request_id": "boom-1",
    }
    assert response.headers["x-request-id"] == "boom-1"
    assert "matching_analytics" not in response.text
    (record,) = [r for r in caplog.records if "boom-1" in r.getMessage()]
    assert record.exc_info is not None
    assert "/v1/analytics" in record.getMessage()
    assert "private words" not in caplog.text
    assert people.a not in record.getMessage()


async def test_an_unreachable_database_is_a_503_without_the_driver_text(
    app: App, people: People
) -> None:
    await app.resources.pool.close()
    response = await app.client.get(f"/v1/users/{people.a}/matches")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert response.json() == {
        "error": "DependencyUnavailable",
        "field": "database",
        "message": "database unavailable",
        "request_id": response.headers["x-request-id"],
    }
