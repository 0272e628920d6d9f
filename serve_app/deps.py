"""Dependency aliases for the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serve_app.interactions import InteractionService
from serve_app.service import MatchingService


def get_service(request: Request) -> MatchingService:
    service: MatchingService = request.app.state.service
    return service


ServiceDep = Annotated[MatchingService, Depends(get_service)]


def get_interactions(request: Request) -> InteractionService:
    interactions: InteractionService = request.app.state.interactions
    return interactions


InteractionsDep = Annotated[InteractionService, Depends(get_interactions)]
