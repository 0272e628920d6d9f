"""Token verification, API keys, the authenticator and the authorization rules."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from matching.core.api.errors import Forbidden, InvalidInput, Unauthorized
from matching.core.auth import Authenticator, Identity, rules
from matching.core.auth.keys import ApiKeys, key_id
from matching.core.auth.tokens import TokenRefused, TokenVerifier, mint_token
from matching.core.settings import AuthSettings, Settings, SettingsError

SECRET = "unit-test-secret-of-at-least-32-bytes!!"
USER = uuid.UUID("9f1c2a44-8a8e-4d6f-a4e7-2c1b0f2b6f10")


def _auth(**env: str) -> AuthSettings:
    return Settings.from_env(env).auth


def _token(key: Any = SECRET, algorithm: str = "HS256", headers: Any = None, **claims: Any) -> str:
    body = {"sub": str(USER), "exp": int(time.time()) + 60, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm, headers)


def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRefused) as info:
        verifier.verify(token)
    return str(info.value)


def test_a_valid_token_names_the_user_and_scopes() -> None:
    verifier = TokenVerifier(_auth(AUTH_ACCESS_SECRET=SECRET))
    caller = verifier.verify(_token(scope="admin read"))
    assert caller == Identity.user(USER, frozenset({"admin", "read"}))
    assert caller.is_admin and not caller.is_service
    assert caller.rate_key == f"user:{USER}"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: _token(exp=int(time.time()) - 5), "token expired"),
        (lambda: _token(key="another-secret-of-at-least-32-bytes!!"), "bad signature"),
        (lambda: _token(exp=None), "missing claim exp"),
        (lambda: _token(sub=None), "missing claim sub"),
        (lambda: _token(sub="alice"), "sub is not a UUID"),
        (lambda: _token(scope=["admin"]), "scope must be a space-separated string"),
        (lambda: _token(algorithm="HS512", key=SECRET * 2), "algorithm not allowed"),
        (
            lambda: jwt.encode({"sub": str(USER), "exp": 2**31}, None, "none"),
            "algorithm not allowed",
        ),
        (lambda: "not.a.token", "malformed token"),
    ],
)
def test_refused_tokens_say_why(make: Callable[[], str], problem: str) -> None:
    # Tokens are made when the test runs: made at collection, a long run would expire them.
    assert _refused(TokenVerifier(_auth(AUTH_ACCESS_SECRET=SECRET)), make()) == problem


def test_issuer_and_audience_are_checked_when_set() -> None:
    verifier = TokenVerifier(
        _auth(AUTH_ACCESS_SECRET=SECRET, AUTH_ISSUER="https://id.example", AUTH_AUDIENCE="m")
    )
    assert verifier.verify(_token(iss="https://id.example", aud="m")).subject == USER
    assert _refused(verifier, _token(iss="https://evil.example", aud="m")) == "wrong issuer"
    assert _refused(verifier, _token(iss="https://id.example", aud="x")) == "wrong audience"
    assert _refused(verifier, _token(aud="m")) == "missing claim iss"


def _rsa_pem(private: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    signer, other = (rsa.generate_private_key(65537, 2048) for _ in range(2))
    pem = _rsa_pem(signer, tmp_path / "public.pem")
    verifier = TokenVerifier(_auth(AUTH_ALGORITHM="RS256", AUTH_PUBLIC_KEY_FILE=str(pem)))
    assert verifier.verify(_token(signer, "RS256")).subject == USER
    assert _refused(verifier, _token(other, "RS256")) == "bad signature"
    # The classic confusion: an HMAC token keyed with the public key must not pass.
    assert _refused(verifier, _token(SECRET, "HS256")) == "algorithm not allowed"


def _jwk(key: Any, kid: str, algorithm: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid}


def test_jwks_file_chooses_the_key_by_kid(tmp_path: Path) -> None:
    es = jwt.get_algorithm_by_name("ES256")
    old, new, stranger = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(old, "old", es), _jwk(new, "new", es)]}))
    verifier = TokenVerifier(_auth(AUTH_ALGORITHM="ES256", AUTH_JWKS_FILE=str(jwks)))
    for kid, key in (("old", old), ("new", new)):
        assert verifier.verify(_token(key, "ES256", {"kid": kid})).subject == USER
    assert _refused(verifier, _token(new, "ES256", {"kid": "old"})) == "bad signature"
    assert _refused(verifier, _token(stranger, "ES256", {"kid": "x"})) == "unknown key id 'x'"
    assert _refused(verifier, _token(new, "ES256")) == "no kid in the token header"


def test_unusable_key_files_stop_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(SettingsError, match="AUTH_PUBLIC_KEY_FILE"):
        TokenVerifier(_auth(AUTH_ALGORITHM="RS256", AUTH_PUBLIC_KEY_FILE=str(bad)))
    with pytest.raises(SettingsError, match="AUTH_JWKS_FILE"):
        TokenVerifier(_auth(AUTH_ALGORITHM="RS256", AUTH_JWKS_FILE=str(bad)))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTH_ACCESS_SECRET": "short"}, "AUTH_ACCESS_SECRET must be at least 32 bytes"),
        ({"AUTH_ALGORITHM": "RS256", "AUTH_ACCESS_SECRET": SECRET}, "AUTH_ACCESS_SECRET set"),
        ({"AUTH_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "AUTH_PUBLIC_KEY_FILE"),
        ({"AUTH_ALGORITHM": "none"}, "AUTH_ALGORITHM"),
        ({"AUTH_ACCES_SECRET": SECRET}, "did you mean AUTH_ACCESS_SECRET"),
        ({"INTERNAL_API_KEYS": "k"}, "did you mean INTERNAL_API_KEY"),
        ({"MATCHING_PRIVATE_PROFILE_FIELDS": "age,salary"}, "not profile fields: salary"),
    ],
)
def test_bad_auth_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_rotated_api_keys_are_all_accepted_and_named_by_a_hash() -> None:
    keys = ApiKeys(_auth(INTERNAL_API_KEY="old-key, new-key").api_keys)
    assert keys.match("old-key") == key_id("old-key")
    assert keys.match("new-key") == key_id("new-key")
    assert keys.match("old-key ") is None and keys.match("") is None
    assert "key" not in key_id("new-key") and len(key_id("new-key")) == 12


def test_authenticator_needs_something_to_verify_unless_disabled_by_name() -> None:
    with pytest.raises(SettingsError, match="MATCHING_AUTH_DISABLED"):
        Authenticator(_auth())
    off = Authenticator(_auth(MATCHING_AUTH_DISABLED="true"))
    assert off.disabled and off.authenticate(None, None).is_service


def test_authenticator_401s_name_the_problem_and_the_header() -> None:
    auth = Authenticator(_auth(AUTH_ACCESS_SECRET=SECRET, INTERNAL_API_KEY="k1,k2"))
    assert auth.authenticate(None, "k2") == Identity.service(key_id("k2"))
    assert auth.authenticate(f"Bearer {_token()}", None).subject == USER
    cases = [
        (None, None, "authorization", "missing credentials"),
        ("Basic dXNlcjpwdw==", None, "authorization", "not a Bearer token"),
        (f"Bearer {_token(exp=1)}", None, "authorization", "token expired"),
        (f"Bearer {_token()}", "wrong", "x-api-key", "not a valid internal API key"),
    ]
    for header, key, field, problem in cases:
        with pytest.raises(Unauthorized) as info:
            auth.authenticate(header, key)
        assert info.value.field == field and problem in info.value.message
        assert info.value.challenge.startswith(("Bearer ", "ApiKey "))


def test_minted_tokens_verify_and_need_a_secret() -> None:
    auth = _auth(AUTH_ACCESS_SECRET=SECRET, AUTH_ISSUER="iss", AUTH_AUDIENCE="aud")
    caller = TokenVerifier(auth).verify(mint_token(auth, USER, frozenset({"admin"}), 60))
    assert caller == Identity.user(USER, frozenset({"admin"}))
    with pytest.raises(SettingsError):
        mint_token(_auth(INTERNAL_API_KEY="k"), USER)


OTHER = uuid.uuid4()
ME = Identity.user(USER)
SERVICE = Identity.service("abc")


def test_a_user_acts_only_as_themselves_and_a_service_for_anyone() -> None:
    rules.require_self(ME, USER, "swiper_id")
    rules.require_self(SERVICE, OTHER, "swiper_id")
    with pytest.raises(Forbidden) as info:
        rules.require_self(ME, OTHER, "swiper_id")
    assert info.value.field == "swiper_id"


def test_updated_by_comes_from_the_token_or_the_service_body() -> None:
    assert rules.acting_user(ME, None, "updated_by") == USER
    assert rules.acting_user(ME, USER, "updated_by") == USER
    assert rules.acting_user(SERVICE, OTHER, "updated_by") == OTHER
    with pytest.raises(Forbidden):
        rules.acting_user(ME, OTHER, "updated_by")
    with pytest.raises(InvalidInput):
        rules.acting_user(SERVICE, None, "updated_by")


def test_membership_admin_and_profile_views() -> None:
    rules.require_member(ME, (OTHER, USER), "match_id")
    rules.require_member(SERVICE, (OTHER, OTHER), "match_id")
    with pytest.raises(Forbidden):
        rules.require_member(ME, (OTHER, uuid.uuid4()), "match_id")
    rules.require_admin(SERVICE)
    rules.require_admin(Identity.user(USER, frozenset({"admin"})))
    with pytest.raises(Forbidden):
        rules.require_admin(ME)
    assert rules.sees_full_profile(ME, USER) and rules.sees_full_profile(SERVICE, OTHER)
    assert not rules.sees_full_profile(Identity.user(USER, frozenset({"admin"})), OTHER)


def test_matching_token_prints_a_token_the_service_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from matching.cli.main import main

    monkeypatch.setenv("AUTH_ACCESS_SECRET", SECRET)
    assert main(["token", "--sub", str(USER), "--scope", "admin", "--ttl-s", "60"]) == 0
    printed = capsys.readouterr().out.strip()
    caller = TokenVerifier(_auth(AUTH_ACCESS_SECRET=SECRET)).verify(printed)
    assert caller == Identity.user(USER, frozenset({"admin"}))
    monkeypatch.delenv("AUTH_ACCESS_SECRET")
    with pytest.raises(SystemExit, match="AUTH_ACCESS_SECRET"):
        main(["token", "--sub", str(USER)])


def test_matching_up_generates_credentials_only_when_unset() -> None:
    from matching.devtools.up import ensure_credentials

    empty: dict[str, str] = {}
    assert ensure_credentials(empty) == ["AUTH_ACCESS_SECRET", "INTERNAL_API_KEY"]
    Authenticator(Settings.from_env(empty).auth)  # enough to serve
    given = {"AUTH_ACCESS_SECRET": SECRET, "INTERNAL_API_KEY": "k"}
    assert ensure_credentials(given) == [] and given["INTERNAL_API_KEY"] == "k"
    assert ensure_credentials({"MATCHING_AUTH_DISABLED": "true"}) == []
