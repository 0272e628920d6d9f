"""Dependency aliases for request matching's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.requests.service import RequestService


def get_requests(request: Request) -> RequestService:
    service: RequestService = request.app.state.requests
    return service


RequestsDep = Annotated[RequestService, Depends(get_requests)]
