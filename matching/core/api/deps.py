"""Dependency aliases for the routes of the shared resources."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.core.api.health import HealthService
from matching.core.api.profiles import ProfileService
from matching.core.api.resources import Resources


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_profiles(request: Request) -> ProfileService:
    service: ProfileService = request.app.state.profiles
    return service


def get_health(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


ResourcesDep = Annotated[Resources, Depends(get_resources)]
ProfilesDep = Annotated[ProfileService, Depends(get_profiles)]
HealthDep = Annotated[HealthService, Depends(get_health)]
