"""Dependency aliases for the routes of the shared resources, and the caller of a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from matching.core.api.errors import DependencyUnavailable, RateLimited
from matching.core.api.health import HealthService
from matching.core.api.profiles import ProfileService
from matching.core.api.resources import Resources
from matching.core.auth import Authenticator, Identity
from matching.core.cache.ratelimit import Endpoint

# Declared for OpenAPI (the Authorize button in /docs); the raw headers are read below so a
# malformed one gets its own 401 rather than being taken for a missing one.
_bearer = HTTPBearer(
    auto_error=False, description="An end user: a JWT whose `sub` is their id (UUID)."
)
_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The platform's own services (INTERNAL_API_KEY): may act for any user.",
)


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_profiles(request: Request) -> ProfileService:
    service: ProfileService = request.app.state.profiles
    return service


def get_health(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


def get_caller(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _key: Annotated[str | None, Depends(_api_key)],
) -> Identity:
    """The verified caller: a user from a bearer token or a service from X-API-Key; 401."""
    authenticator: Authenticator = request.app.state.authenticator
    headers = request.headers
    return authenticator.authenticate(headers.get("authorization"), headers.get("x-api-key"))


CallerDep = Annotated[Identity, Depends(get_caller)]


class RateBudget:
    """A dependency: the caller, after spending one request of their own `endpoint` budget
    (a class, so the OpenAPI schema can tell the routes that answer 429)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, caller: CallerDep, resources: ResourcesDep) -> Identity:
        decision = await resources.limiter.check(
            caller.rate_key, self.endpoint, service=caller.is_service
        )
        if not decision.allowed:
            if decision.degraded:
                raise DependencyUnavailable("redis", "rate limits fail closed while it is down")
            raise RateLimited(self.endpoint, decision.retry_after_s)
        return caller


def limited(endpoint: Endpoint) -> RateBudget:
    """The dependency that spends one request of the caller's `endpoint` budget."""
    return RateBudget(endpoint)


ResourcesDep = Annotated[Resources, Depends(get_resources)]
ProfilesDep = Annotated[ProfileService, Depends(get_profiles)]
HealthDep = Annotated[HealthService, Depends(get_health)]

# The caller after spending one request of their budget for a route family.
DiscoverCaller = Annotated[Identity, Depends(limited("discover"))]
SearchCaller = Annotated[Identity, Depends(limited("search"))]
SwipesCaller = Annotated[Identity, Depends(limited("swipes"))]
ProfileWriteCaller = Annotated[Identity, Depends(limited("preferences"))]
AnalyticsCaller = Annotated[Identity, Depends(limited("analytics"))]
StatsCaller = Annotated[Identity, Depends(limited("stats"))]
AdminCaller = Annotated[Identity, Depends(limited("admin"))]
