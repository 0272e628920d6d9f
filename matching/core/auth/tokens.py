"""Bearer tokens (JWT) verified with PyJWT: an HMAC secret, a PEM public key or a JWKS file
read from disk at start-up (never fetched over the network)."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import jwt

from matching.core.auth.identity import Identity
from matching.core.settings import AuthSettings, SettingsError

_PROBLEMS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.DecodeError, "malformed token"),
)


class TokenRefused(Exception):
    """Why a token was not accepted, in words fit for the 401 (never the token)."""


class TokenVerifier:
    """Verifies a token's signature, `exp`, optional `iss`/`aud`, and that `sub` is a UUID."""

    def __init__(self, auth: AuthSettings) -> None:
        self._algorithm = auth.algorithm
        self._issuer, self._audience = auth.issuer, auth.audience
        self._key: Any = None
        self._jwks: jwt.PyJWKSet | None = None
        if auth.access_secret is not None:
            self._key = auth.access_secret.get_secret_value()
        elif auth.public_key_file is not None:
            self._key = _load_pem(auth)
        elif auth.jwks_file is not None:
            self._jwks = _load_jwks(auth)

    @property
    def configured(self) -> bool:
        return self._key is not None or self._jwks is not None

    def verify(self, token: str) -> Identity:
        """The user the token names, or TokenRefused saying why not."""
        if not self.configured:
            raise TokenRefused("bearer tokens are not accepted here (no key configured)")
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"missing claim {exc.claim}") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(_problem(exc)) from exc
        return Identity.user(_subject(claims), _scopes(claims))

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as exc:
            raise TokenRefused("malformed token") from exc
        for key in self._jwks.keys:
            if key.key_id == kid:
                return key.key
        raise TokenRefused(f"unknown key id {kid!r}" if kid else "no kid in the token header")


def _problem(exc: jwt.InvalidTokenError) -> str:
    for kind, words in _PROBLEMS:
        if isinstance(exc, kind):
            return words
    return "invalid token"


def _subject(claims: dict[str, Any]) -> UUID:
    try:
        return UUID(str(claims["sub"]))
    except ValueError as exc:
        raise TokenRefused("sub is not a UUID") from exc


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenRefused("scope must be a space-separated string")
    return frozenset(scope.split())


def _load_pem(auth: AuthSettings) -> Any:
    assert auth.public_key_file is not None
    algorithm = jwt.get_algorithm_by_name(auth.algorithm)
    try:
        return algorithm.prepare_key(auth.public_key_file.read_bytes())
    except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
        raise SettingsError(f"AUTH_PUBLIC_KEY_FILE: not a {auth.algorithm} public key") from exc


def _load_jwks(auth: AuthSettings) -> jwt.PyJWKSet:
    assert auth.jwks_file is not None
    try:
        keys = jwt.PyJWKSet.from_json(auth.jwks_file.read_text())
    except (ValueError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
        raise SettingsError(f"AUTH_JWKS_FILE: not a usable JWKS ({exc})") from exc
    if not any(k.key_id for k in keys.keys):
        raise SettingsError("AUTH_JWKS_FILE: no key has a kid to choose it by")
    return keys


def mint_token(
    auth: AuthSettings, sub: UUID, scopes: frozenset[str] = frozenset(), ttl_s: int = 3600
) -> str:
    """A development token signed with AUTH_ACCESS_SECRET (what `matching token` prints)."""
    if auth.access_secret is None or not auth.algorithm.startswith("HS"):
        raise SettingsError("minting needs AUTH_ACCESS_SECRET with an HS* AUTH_ALGORITHM")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": str(sub), "iat": now, "exp": now + ttl_s}
    if scopes:
        claims["scope"] = " ".join(sorted(scopes))
    if auth.issuer:
        claims["iss"] = auth.issuer
    if auth.audience:
        claims["aud"] = auth.audience
    return jwt.encode(claims, auth.access_secret.get_secret_value(), algorithm=auth.algorithm)
