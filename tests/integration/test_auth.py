"""Who may call what, over the in-process app: 401s, 403s that change nothing, the public
profile view, admin and health, and rate budgets that belong to the authenticated caller."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deployments.embedder import Embedder
from tests.integration.conftest import TEST_SECRET, App, make_settings, running_app
from tests.support import profile_body

pytestmark = pytest.mark.integration
TABLES = ("profiles", "swipe_history", "user_matches", "user_blocks", "matching_analytics")


async def put(app: App, name: str, **fields: Any) -> str:
    uid = str(uuid.uuid4())
    response = await app.client.put(f"/v1/profiles/{uid}", json=profile_body(name, **fields))
    assert response.status_code == 201, response.text
    return uid


async def snapshot(app: App) -> dict[str, Any]:
    """Every row of the tables a request could change, to show that nothing did."""
    async with app.resources.pool.acquire() as conn:
        return {t: sorted(map(str, await conn.fetch(f"SELECT * FROM {t}"))) for t in TABLES}


def token(sub: str, key: Any = TEST_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    body = {"sub": sub, "exp": int(time.time()) + 60, **claims}
    headers = {"kid": claims.pop("kid")} if "kid" in claims else None
    body.pop("kid", None)
    return jwt.encode(body, key, algorithm, headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest_asyncio.fixture
async def strict_app(fresh_database: str, tmp_path: Path, embedder: Embedder) -> AsyncIterator[App]:
    """Issuer and audience checked, two internal keys (one being rotated out)."""
    settings = make_settings(
        fresh_database,
        tmp_path / "artifacts",
        AUTH_ISSUER="https://id.example",
        AUTH_AUDIENCE="matching",
        INTERNAL_API_KEY="old-key,new-key",
    )
    async with running_app(settings, embedder) as app:
        yield app


async def test_credentials_that_do_not_verify_are_401_naming_the_problem(strict_app: App) -> None:
    app = strict_app
    me = await put(app, "Me")
    url = f"/v1/users/{me}/discover"
    good = {"iss": "https://id.example", "aud": "matching"}
    cases = [
        ({}, "authorization", "missing credentials"),
        (bearer(token(me, exp=int(time.time()) - 1, **good)), "authorization", "token expired"),
        (
            bearer(token(me, "another-secret-0123456789-abcdefghij", **good)),
            "authorization",
            "bad signature",
        ),
        (
            bearer(token(me, iss="https://evil.example", aud="matching")),
            "authorization",
            "wrong issuer",
        ),
        (
            bearer(token(me, iss="https://id.example", aud="other")),
            "authorization",
            "wrong audience",
        ),
        (bearer(token("alice", **good)), "authorization", "sub is not a UUID"),
        ({"X-API-Key": "guessed-key"}, "x-api-key", "not a valid internal API key"),
    ]
    for headers, field, problem in cases:
        response = await app.bare.get(url, headers=headers)
        assert response.status_code == 401, (problem, response.text)
        body = response.json()
        assert body["error"] == "Unauthorized" and body["field"] == field
        assert problem in body["message"] and "WWW-Authenticate" in response.headers
    accepted = await app.bare.get(url, headers=bearer(token(me, **good)))
    assert accepted.status_code == 200, accepted.text
    for key in ("old-key", "new-key"):  # rotation: both keys work while both are listed
        assert (await app.bare.get(url, headers={"X-API-Key": key})).status_code == 200


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("source", ["AUTH_PUBLIC_KEY_FILE", "AUTH_JWKS_FILE"])
async def test_rs256_tokens_verify_with_a_key_file_or_a_jwks_file(
    source: str, fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    signer, stranger = (rsa.generate_private_key(65537, 2048) for _ in range(2))
    path = tmp_path / "key"
    if source == "AUTH_PUBLIC_KEY_FILE":
        path.write_bytes(_public_pem(signer))
    else:
        jwk = json.loads(jwt.get_algorithm_by_name("RS256").to_jwk(signer.public_key()))
        path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    settings = make_settings(
        fresh_database,
        tmp_path / "artifacts",
        AUTH_ACCESS_SECRET="",
        AUTH_ALGORITHM="RS256",
        **{source: str(path)},
    )
    async with running_app(settings, embedder) as app:
        me = await put(app, "Me")
        ok = await app.bare.get(
            f"/v1/profiles/{me}", headers=bearer(token(me, signer, "RS256", kid="k1"))
        )
        assert ok.status_code == 200, ok.text
        forged = await app.bare.get(
            f"/v1/profiles/{me}", headers=bearer(token(me, stranger, "RS256", kid="k1"))
        )
        assert forged.status_code == 401 and "bad signature" in forged.json()["message"]


async def test_a_user_acting_as_another_is_403_and_changes_nothing(app: App) -> None:
    me, them, third = [await put(app, n) for n in ("Me", "Them", "Third")]
    await app.client.post(
        "/v1/swipes", json={"swiper_id": them, "swiped_id": third, "action": "like"}
    )
    await app.client.post(f"/v1/users/{them}/blocks", json={"blocked_id": me})
    before = await snapshot(app)
    as_me = app.bearer(me)
    attempts = [
        ("GET", f"/v1/users/{them}/discover", None, "user_id"),
        ("POST", "/v1/search", {"prompt": "hiking", "user_id": them}, "user_id"),
        ("POST", "/v1/swipes", {"swiper_id": them, "swiped_id": me, "action": "like"}, "swiper_id"),
        ("GET", f"/v1/users/{them}/matches", None, "user_id"),
        ("GET", f"/v1/users/{them}/stats", None, "user_id"),
        ("POST", f"/v1/users/{them}/blocks", {"blocked_id": third}, "user_id"),
        ("DELETE", f"/v1/users/{them}/blocks/{me}", None, "user_id"),
        ("POST", "/v1/analytics", {"user_id": them, "event_type": "profile_viewed"}, "user_id"),
        ("GET", f"/v1/profiles/{them}/features", None, "user_id"),
        ("PUT", f"/v1/profiles/{them}", profile_body("Hijacked"), "user_id"),
        ("DELETE", f"/v1/profiles/{them}", None, "user_id"),
    ]
    for method, url, body, field in attempts:
        response = await app.bare.request(method, url, json=body, headers=as_me)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["field"] == field and response.json()["error"] == "Forbidden"
    assert await snapshot(app) == before
    # The same calls as themselves, or from the platform's backend, are allowed.
    own = await app.bare.get(f"/v1/users/{me}/discover", headers=as_me)
    assert own.status_code == 200
    assert (await app.client.get(f"/v1/users/{them}/stats")).status_code == 200


async def test_matches_belong_to_their_members_and_updated_by_is_the_token(app: App) -> None:
    a, b, outsider = [await put(app, n) for n in ("A", "B", "Outsider")]
    for swiper, swiped in ((a, b), (b, a)):
        await app.client.post(
            "/v1/swipes", json={"swiper_id": swiper, "swiped_id": swiped, "action": "like"}
        )
    page = (await app.bare.get(f"/v1/users/{a}/matches", headers=app.bearer(a))).json()
    mid = page["matches"][0]["match_id"]
    url = f"/v1/matches/{mid}"
    assert (await app.bare.get(url, headers=app.bearer(b))).json()["status"] == "mutual"
    peek = await app.bare.get(url, headers=app.bearer(outsider))
    assert peek.status_code == 403 and peek.json()["field"] == "match_id"
    before = await snapshot(app)
    meddle = await app.bare.patch(url, json={"status": "declined"}, headers=app.bearer(outsider))
    assert meddle.status_code == 403 and meddle.json()["field"] == "match_id"
    spoof = await app.bare.patch(
        url, json={"status": "declined", "updated_by": b}, headers=app.bearer(a)
    )
    assert spoof.status_code == 403 and spoof.json()["field"] == "updated_by"
    unnamed = await app.client.patch(url, json={"status": "declined"})
    assert unnamed.status_code == 422 and unnamed.json()["field"] == "updated_by"
    assert await snapshot(app) == before
    done = await app.bare.patch(url, json={"status": "declined"}, headers=app.bearer(a))
    assert done.status_code == 200 and done.json()["status"] == "declined"
    async with app.resources.pool.acquire() as conn:
        payload = await conn.fetchval(
            "SELECT payload FROM event_outbox WHERE event_type = 'match.status_updated'"
        )
    assert str(a) in str(payload)  # the event names the token's user as who declined


async def test_admin_routes_need_the_admin_scope_or_a_key(app: App) -> None:
    me = await put(app, "Me")
    for url in ("/v1/admin/models", "/v1/admin/monitoring", "/v1/stats", "/health"):
        plain = await app.bare.get(url, headers=app.bearer(me))
        assert plain.status_code == 403 and plain.json()["field"] == "authorization", url
        assert (await app.bare.get(url)).status_code == 401, url
        admin = await app.bare.get(url, headers=app.bearer(me, "admin"))
        assert admin.status_code == 200, (url, admin.text)
        assert (await app.client.get(url)).status_code == 200, url
    for url in ("/health/live", "/health/ready"):
        assert (await app.bare.get(url)).status_code == 200, url
    assert (await app.client.get("/health")).json()["auth"] == "on"
    # /docs has an Authorize button for both, and each protected route names them.
    schema = (await app.bare.get("/openapi.json")).json()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    discover = schema["paths"]["/v1/users/{user_id}/discover"]["get"]
    assert {"HTTPBearer": []} in discover["security"] and {"APIKeyHeader": []} in discover[
        "security"
    ]
    assert "security" not in schema["paths"]["/health/live"]["get"]


async def test_others_see_the_public_view_the_owner_and_keys_the_whole_profile(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(
        fresh_database, tmp_path / "artifacts", MATCHING_PRIVATE_PROFILE_FIELDS="age,company"
    )
    async with running_app(settings, embedder) as app:
        me, them = await put(app, "Me"), await put(app, "Them", photo_url="https://p.example/1")
        seen = (await app.bare.get(f"/v1/profiles/{them}", headers=app.bearer(me))).json()
        assert seen["user_id"] == them and seen["name"] == "Them"
        assert seen["photo_url"] == "https://p.example/1" and seen["interests"]
        for hidden in (
            "latitude",
            "longitude",
            "preferences",
            "age",
            "company",
            "last_active_at",
            "updated_at",
        ):
            assert hidden not in seen, hidden
        for full in (
            (await app.bare.get(f"/v1/profiles/{them}", headers=app.bearer(them))).json(),
            (await app.client.get(f"/v1/profiles/{them}")).json(),
        ):
            assert full["latitude"] == 52.52 and full["age"] == 34 and full["company"] == "Acme"
            assert "preferences" in full


async def test_auth_is_off_only_when_asked_and_health_says_so(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(
        fresh_database,
        tmp_path / "artifacts",
        AUTH_ACCESS_SECRET="",
        INTERNAL_API_KEY="",
        MATCHING_AUTH_DISABLED="true",
    )
    async with running_app(settings, embedder) as app:
        me = await put(app, "Me")
        assert (await app.bare.get(f"/v1/users/{me}/discover")).status_code == 200
        assert (await app.bare.get("/health")).json()["auth"] == "disabled"


async def test_rate_budgets_belong_to_the_authenticated_caller(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(
        fresh_database,
        tmp_path / "artifacts",
        MATCHING_RATE_LIMIT_DISCOVER="2",
        MATCHING_RATE_LIMIT_SEARCH="2",
        MATCHING_RATE_LIMIT_SERVICE_MULTIPLIER="2",
    )
    async with running_app(settings, embedder) as app:
        await app.resources.redis.flushdb()
        a, b = await put(app, "A"), await put(app, "B")

        async def discover(as_user: str, of: str) -> int:
            url = f"/v1/users/{of}/discover"
            return (await app.bare.get(url, headers=app.bearer(as_user))).status_code

        assert [await discover(a, a) for _ in range(3)] == [200, 200, 429]
        assert [await discover(b, b) for _ in range(2)] == [200, 200]  # A spent only A's
        # Naming B does not spend B's budget: it is refused, and counted against the caller.
        c = await put(app, "C")
        assert [await discover(c, b), await discover(c, c), await discover(c, c)] == [403, 200, 429]
        # A key has its own budget (2 x 2 here), not any user's, and users keep theirs.
        keyed = [(await app.client.get(f"/v1/users/{a}/discover")).status_code for _ in range(5)]
        assert keyed == [200, 200, 200, 200, 429]
        searches = [
            (
                await app.bare.post("/v1/search", json={"prompt": "hiking"}, headers=app.bearer(b))
            ).status_code
            for _ in range(3)
        ]
        assert searches == [200, 200, 429]
