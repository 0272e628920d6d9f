"""Dependency aliases for the queue's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.queue.service import QueueService


def get_queue(request: Request) -> QueueService:
    service: QueueService = request.app.state.queue
    return service


QueueDep = Annotated[QueueService, Depends(get_queue)]
