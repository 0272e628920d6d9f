"""One replica's authenticator: a request's headers in, an Identity or a 401 out."""

from __future__ import annotations

import logging

from matching.core.api.errors import Unauthorized
from matching.core.auth.identity import Identity
from matching.core.auth.keys import ApiKeys
from matching.core.auth.tokens import TokenRefused, TokenVerifier
from matching.core.settings import AuthSettings, SettingsError

log = logging.getLogger(__name__)
REALM = 'realm="matching"'
# With auth turned off every caller is the platform's backend: nothing can be attributed.
AUTH_DISABLED = Identity.service("auth-disabled")


class Authenticator:
    """Built once per replica from AuthSettings; refuses to exist when it could verify no one."""

    def __init__(self, auth: AuthSettings) -> None:
        problem = auth.serving_problem()
        if problem:
            raise SettingsError(problem)
        self.disabled = auth.disabled
        self._tokens = TokenVerifier(auth)
        self._keys = ApiKeys(auth.api_keys)
        if self.disabled:
            log.warning("MATCHING_AUTH_DISABLED=true: every request acts as the platform's backend")

    def authenticate(self, authorization: str | None, api_key: str | None) -> Identity:
        """An internal key (X-API-Key) if one is sent, else the bearer token; 401 otherwise."""
        if self.disabled:
            return AUTH_DISABLED
        if api_key is not None:
            return self._service(api_key)
        if authorization is None:
            raise Unauthorized(
                "authorization",
                "authorization: missing credentials (Authorization: Bearer <token> or X-API-Key)",
                f"Bearer {REALM}",
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _invalid_token("not a Bearer token")
        try:
            return self._tokens.verify(token.strip())
        except TokenRefused as exc:
            raise _invalid_token(str(exc)) from exc

    def _service(self, presented: str) -> Identity:
        found = self._keys.match(presented) if self._keys else None
        if found is None:
            raise Unauthorized(
                "x-api-key",
                "x-api-key: not a valid internal API key",
                f'ApiKey {REALM}, error="invalid_key"',
            )
        return Identity.service(found)


def _invalid_token(problem: str) -> Unauthorized:
    return Unauthorized(
        "authorization",
        f"authorization: {problem}",
        f'Bearer {REALM}, error="invalid_token", error_description="{problem}"',
    )
