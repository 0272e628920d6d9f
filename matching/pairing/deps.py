"""Dependency aliases for pairing's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.pairing.service import PairingService


def get_pairing(request: Request) -> PairingService:
    service: PairingService = request.app.state.pairing
    return service


PairingDep = Annotated[PairingService, Depends(get_pairing)]
