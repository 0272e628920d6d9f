"""Every attack of issue 9 against the served app over HTTP: each is refused (or answered
without what it was after), and no row about the people involved changes."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import jwt
import numpy as np
import pytest

from matching.core.domain.geo import cell_centre, haversine_km, public_km_array
from matching.core.settings import Settings
from tests.e2e.conftest import KEYED, SECRET, bearer
from tests.support import profile_body

TABLES = (
    "profiles",
    "matching_preferences",
    "swipe_history",
    "user_matches",
    "user_blocks",
    "matching_analytics",
)
# Each test: every row about the module's people is the same afterwards.
pytestmark = pytest.mark.usefixtures("unchanged")
KM_PER_DEG_LAT = 111.195
DEFAULTS = Settings.from_env({})  # what the served apps run with where conftest sets nothing
# Far from every city of the seeded population, so radius searches there find only the target.
REMOTE = cell_centre(78.2, 15.6)


@dataclass(frozen=True)
class People:
    attacker: str
    victim: str  # has blocked the attacker; matched with `friend`
    friend: str
    match_id: str
    target: str  # lives at TARGET_AT, to be located
    target_at: tuple[float, float]

    def ids(self) -> tuple[str, ...]:
        return (self.attacker, self.victim, self.friend, self.target)


def _offset(point: tuple[float, float], north_km: float, east_km: float) -> tuple[float, float]:
    east = east_km / (KM_PER_DEG_LAT * math.cos(math.radians(point[0])))
    return point[0] + north_km / KM_PER_DEG_LAT, point[1] + east


@pytest.fixture(scope="module")
def api(served: str) -> Iterator[httpx.Client]:
    """No credentials of its own: each call says who it is."""
    with httpx.Client(base_url=f"{served}/single", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def people(api: httpx.Client) -> People:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    attacker, victim, friend, target = ids
    target_at = _offset(REMOTE, 0.31, -0.27)
    for uid, name in zip(ids[:3], ("Mallory", "Victoria", "Frida"), strict=True):
        response = api.put(f"/v1/profiles/{uid}", json=profile_body(name), headers=KEYED)
        assert response.status_code == 201, response.text
    body = profile_body("Tara", latitude=target_at[0], longitude=target_at[1])
    assert api.put(f"/v1/profiles/{target}", json=body, headers=KEYED).status_code == 201
    block = api.post(f"/v1/users/{victim}/blocks", json={"blocked_id": attacker}, headers=KEYED)
    assert block.status_code == 204, block.text
    for a, b in ((victim, friend), (friend, victim)):
        swipe = {"swiper_id": a, "swiped_id": b, "action": "like"}
        response = api.post("/v1/swipes", json=swipe, headers=KEYED)
        assert response.status_code == 200, response.text
    match = response.json()["match"]
    assert match is not None
    return People(attacker, victim, friend, match["match_id"], target, target_at)


async def _rows(database_url: str, ids: tuple[str, ...]) -> dict[str, list[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        found = {}
        for table in TABLES:
            rows = [str(dict(r)) for r in await conn.fetch(f"SELECT * FROM {table}")]
            found[table] = sorted(r for r in rows if any(i in r for i in ids))
        return found
    finally:
        await conn.close()


@pytest.fixture
def unchanged(people: People, database_url: str) -> Iterator[None]:
    """Every row about the module's people, before and after the test, compared."""
    before = asyncio.run(_rows(database_url, people.ids()))
    assert before["user_blocks"] and before["user_matches"]
    yield
    assert asyncio.run(_rows(database_url, people.ids())) == before


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """The API's error shape, naming the field, with the request id and no exception text."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    assert body["request_id"] and "Traceback" not in response.text
    return body


def _token(sub: str, key: str = SECRET, **claims: Any) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 300, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, key, 'HS256')}"}


def _as_victim(p: People) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, body, the field a 403 names): acting or reading as the victim."""
    swipe = {"swiper_id": p.victim, "swiped_id": p.friend, "action": "pass"}
    event = {"user_id": p.victim, "event_type": "match_liked", "target_user_id": p.friend}
    return [
        ("POST", "/v1/swipes", swipe, "swiper_id"),
        ("GET", f"/v1/users/{p.victim}/matches", None, "user_id"),
        ("GET", f"/v1/users/{p.victim}/stats", None, "user_id"),
        ("GET", f"/v1/users/{p.victim}/discover", None, "user_id"),
        ("GET", f"/v1/profiles/{p.victim}/features", None, "user_id"),
        ("POST", f"/v1/users/{p.victim}/blocks", {"blocked_id": p.friend}, "user_id"),
        ("DELETE", f"/v1/users/{p.victim}/blocks/{p.attacker}", None, "user_id"),
        ("DELETE", f"/v1/profiles/{p.victim}", None, "user_id"),
        ("PUT", f"/v1/profiles/{p.victim}", profile_body("Pwned"), "user_id"),
        ("GET", f"/v1/matches/{p.match_id}", None, "match_id"),
        ("PATCH", f"/v1/matches/{p.match_id}", {"status": "declined"}, "match_id"),
        ("POST", "/v1/analytics", event, "user_id"),
        ("POST", "/v1/search", {"prompt": "hiking", "user_id": p.victim}, "user_id"),
    ]


def test_no_credentials_is_401(api: httpx.Client, people: People) -> None:
    for method, path, body, _ in _as_victim(people):
        response = api.request(method, path, json=body)
        refused(response, 401, "authorization")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    refused(api.post("/v1/search", json={"prompt": "hiking"}), 401, "authorization")


def test_expired_forged_and_unsigned_tokens_are_401(api: httpx.Client, people: People) -> None:
    victim = people.victim
    unsigned = jwt.encode({"sub": victim, "exp": int(time.time()) + 300}, None, "none")
    cases = {
        "token expired": _token(victim, exp=int(time.time()) - 5),
        "bad signature": _token(victim, key="someone-elses-secret-0123456789abcdef"),
        "": {"Authorization": f"Bearer {unsigned}"},
    }
    for problem, headers in cases.items():
        for method, path, body, _ in _as_victim(people):
            response = api.request(method, path, json=body, headers=headers)
            assert problem in refused(response, 401, "authorization")["message"]
    wrong_key = api.get(f"/v1/users/{victim}/matches", headers={"X-API-Key": "guessed"})
    refused(wrong_key, 401, "x-api-key")


def test_a_valid_token_cannot_act_or_read_as_another(api: httpx.Client, people: People) -> None:
    mine = bearer(people.attacker)
    for method, path, body, field in _as_victim(people):
        refused(api.request(method, path, json=body, headers=mine), 403, field)
    # Being named in the body does not make the attacker a member of someone else's match.
    patch = {"status": "declined", "updated_by": people.victim}
    refused(
        api.patch(f"/v1/matches/{people.match_id}", json=patch, headers=mine), 403, "updated_by"
    )
    # The same calls as the victim work: the refusals were about who asked.
    theirs = bearer(people.victim)
    listed = api.get(f"/v1/users/{people.victim}/matches", headers=theirs)
    assert [m["match_id"] for m in listed.json()["matches"]] == [people.match_id]
    assert api.get(f"/v1/matches/{people.match_id}", headers=theirs).status_code == 200


def test_admin_routes_need_the_admin_scope(api: httpx.Client, people: People) -> None:
    plain, admin = bearer(people.attacker), bearer(people.attacker, "admin")
    for path in ("/v1/admin/models", "/v1/admin/monitoring", "/v1/stats", "/health"):
        refused(api.get(path, headers=plain), 403, "authorization")
        assert api.get(path, headers=admin).status_code == 200, path
    refused(api.get("/health"), 401, "authorization")
    assert api.get("/health/live").json() == {"status": "alive"}
    assert api.get("/health/ready").json() == {"status": "ready"}


def test_another_persons_profile_has_no_coordinates(api: httpx.Client, people: People) -> None:
    seen = api.get(f"/v1/profiles/{people.target}", headers=bearer(people.attacker))
    assert seen.status_code == 200, seen.text
    shown = seen.json()
    assert shown["name"] == "Tara"
    hidden = {"latitude", "longitude", "preferences", "last_active_at", "created_at"}
    assert not hidden & set(shown), shown
    own = api.get(f"/v1/profiles/{people.target}", headers=bearer(people.target)).json()
    assert (own["latitude"], own["longitude"]) == pytest.approx(people.target_at)


def _found(api: httpx.Client, p: People, origin: tuple[float, float], radius: float) -> bool:
    body = {"prompt": "hiking and climbing", "latitude": origin[0], "longitude": origin[1]}
    body |= {"max_distance_km": radius, "limit": 10}
    response = api.post("/v1/search", json=body, headers=bearer(p.attacker))
    assert response.status_code == 200, response.text
    return p.target in {c["user_id"] for c in response.json()["candidates"]}


def _smallest_radius(api: httpx.Client, p: People, origin: tuple[float, float]) -> float:
    """The attack: bisect the radius until the person just shows up, to 10 m."""
    lo, hi = 0.0, 10.0
    assert _found(api, p, origin, hi)
    while hi - lo > 0.01:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _found(api, p, origin, mid) else (mid, hi)
    return hi


def _consistent(observed: list[tuple[tuple[float, float], int]]) -> np.ndarray:
    """Every point of a 50 m grid that answers each search as the person did: all the
    attacker can know, since the rule (public_km) is public."""
    steps = np.arange(-200, 201) / 20  # km
    north, east = (a.ravel() for a in np.meshgrid(steps, steps))
    lat0, lon0 = observed[0][0]
    lat = lat0 + north / KM_PER_DEG_LAT
    lon = lon0 + east / (KM_PER_DEG_LAT * math.cos(math.radians(lat0)))
    ok = np.ones(len(lat), dtype=bool)
    for (o_lat, o_lon), km in observed:
        ok &= public_km_array(np.full(len(lat), o_lat), np.full(len(lat), o_lon), lat, lon) == km
    return np.column_stack([lat[ok], lon[ok]])


def test_three_searches_locate_no_one_better_than_a_km(api: httpx.Client, people: People) -> None:
    at = people.target_at
    origins = [_offset(at, 3.3, 0.4), _offset(at, -1.2, 4.1), _offset(at, -2.6, -3.7)]
    observed = []
    for origin in origins:
        radius = _smallest_radius(api, people, origin)
        assert radius == pytest.approx(round(radius), abs=0.02), radius  # whole km only
        observed.append((origin, round(radius)))
    feasible = _consistent(observed)
    assert len(feasible) > 0
    lo, hi = feasible.min(axis=0), feasible.max(axis=0)
    assert haversine_km(lo[0], lo[1], hi[0], hi[1]) >= 1.0
    centre = feasible.mean(axis=0)
    assert max(haversine_km(*centre, *point) for point in feasible) >= 0.5


def _raw(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity as literals, lone surrogates escaped."""
    return json.dumps(value).encode()


def test_bad_inputs_are_4xx_naming_the_field(api: httpx.Client, people: People) -> None:
    me = people.attacker
    mine = {**bearer(me), "content-type": "application/json"}
    swipe = {"swiper_id": me, "swiped_id": people.friend, "action": "like"}
    event = {"user_id": me, "event_type": "match_liked", "target_user_id": people.friend}
    cases: list[tuple[str, str, bytes, str]] = [
        ("PUT", f"/v1/profiles/{me}", _raw(profile_body("Nul\x00")), "name"),
        ("PUT", f"/v1/profiles/{me}", _raw(profile_body(headline="\ud800")), "headline"),
        (
            "PUT",
            f"/v1/profiles/{me}",
            _raw(profile_body(interests=["ok", "bad\x00"])),
            "interests.1",
        ),
        ("POST", "/v1/swipes", _raw({**swipe, "context": {"score": math.nan}}), "context.score"),
        ("POST", "/v1/swipes", _raw({**swipe, "context": {"x": [-math.inf]}}), "context.x.0"),
        ("POST", "/v1/analytics", _raw({**event, "payload": {"n": math.inf}}), "payload.n"),
        ("POST", "/v1/analytics", _raw({**event, "payload": {"k\x00": 1}}), "payload.k\ufffd"),
        ("POST", "/v1/search", _raw({"prompt": "hi\x00"}), "prompt"),
        ("POST", "/v1/search", b'{"prompt": "hiking", "latitude": 1e400}', "latitude"),
        ("POST", f"/v1/users/{me}/blocks", b'{"blocked_id": ', "body"),
    ]
    for method, path, content, field in cases:
        refused(api.request(method, path, content=content, headers=mine), 422, field)
    # Nested past MATCHING_MAX_JSON_DEPTH: named by its path as far as the limit, or `body`
    # where the parser itself gives up.
    nested = _raw({**event, "payload": {"deep": None}}).replace(
        b"null", b"[" * 5000 + b"1" + b"]" * 5000
    )
    response = api.post("/v1/analytics", content=nested, headers=mine)
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(("payload.deep", "body"))
    mid = uuid.uuid4()
    for forged in (f"0001-01-01T00:00:00+05:00|{mid}", f"9999-12-31T23:59:59-05:00|{mid}"):
        cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
        response = api.get(f"/v1/users/{me}/matches", params={"cursor": cursor}, headers=mine)
        refused(response, 422, "cursor")


def test_oversized_bodies_are_413_declared_or_chunked(api: httpx.Client, people: People) -> None:
    mine = {**bearer(people.attacker), "content-type": "application/json"}
    path = f"/v1/profiles/{people.attacker}"
    size = DEFAULTS.serving.max_body_bytes + 1  # the served apps keep the default

    def chunks() -> Iterator[bytes]:
        for start in range(0, size, 4096):
            yield b" " * min(4096, size - start)

    chunked = api.put(path, content=chunks(), headers=mine)
    assert "content-length" not in chunked.request.headers
    refused(chunked, 413, "body")
    refused(api.put(path, content=b" " * size, headers=mine), 413, "body")


def test_absurd_numbers_in_prompts_are_clamped(api: httpx.Client, people: People) -> None:
    for prompt, radius in (
        ("hiking within 99999999999999999999 miles", 20_000.0),
        ("hiking within " + "9" * 400 + " km", 20_000.0),
        ("hiking within 0 km", 0.1),
    ):
        body = {"prompt": prompt, "latitude": 52.5, "longitude": 13.4}
        response = api.post("/v1/search", json=body, headers=bearer(people.attacker))
        assert response.status_code == 200, response.text
        assert response.json()["interpreted"]["radius_km"] == radius


def test_no_one_can_spend_another_users_rate_budget(api: httpx.Client, people: People) -> None:
    """The stats family (MATCHING_RATE_LIMIT_STATS, on in the served apps): the attacker's
    refused reads of the victim's stats spend the attacker's budget, never the victim's."""
    limit = DEFAULTS.redis.rate_stats
    # A caller whose budget no other test has touched: the attacker under a new id.
    attacker, victim = bearer(str(uuid.uuid4())), bearer(people.victim)
    path = f"/v1/users/{people.victim}/stats"
    statuses = [api.get(path, headers=attacker).status_code for _ in range(limit + 1)]
    assert set(statuses[:limit]) == {403} and statuses[limit] == 429, statuses[-3:]
    spent = api.get(path, headers=attacker)
    assert spent.status_code == 429 and spent.json()["error"] == "RateLimited", spent.text
    assert int(spent.headers["Retry-After"]) > 0
    assert api.get(path, headers=victim).status_code == 200
    # Naming someone else does not spend theirs either: the budget is the token's.
    assert api.get(f"/v1/users/{uuid.uuid4()}/stats", headers=attacker).status_code == 429
