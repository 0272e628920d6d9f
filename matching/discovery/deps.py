"""Dependency aliases for discovery's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.discovery.interactions import InteractionService
from matching.discovery.service import DiscoveryService


def get_discovery(request: Request) -> DiscoveryService:
    service: DiscoveryService = request.app.state.discovery
    return service


def get_interactions(request: Request) -> InteractionService:
    interactions: InteractionService = request.app.state.interactions
    return interactions


DiscoveryDep = Annotated[DiscoveryService, Depends(get_discovery)]
InteractionsDep = Annotated[InteractionService, Depends(get_interactions)]
