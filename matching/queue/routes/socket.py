"""GET /v1/queue/ws: a user's events over a WebSocket."""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, Query, WebSocket
from redis.exceptions import RedisError

from matching.core.api.errors import Unauthorized
from matching.core.auth import Authenticator

router = APIRouter(prefix="/v1/queue")
POLICY = 1008  # RFC 6455: the credentials were refused
TRY_AGAIN = 1013  # RFC 6455: try again later (the queue's Redis is unavailable)
log = logging.getLogger(__name__)


@router.websocket("/ws")
async def queue_socket(
    ws: WebSocket,
    token: str | None = Query(None, max_length=8192),
    last_seq: int = Query(0, ge=0),
) -> None:
    """match_found, match_ready, match_expired, partner_left (each with `seq`) and position.
    The user's token as `Authorization: Bearer` or `?token=`; `last_seq` replays the events
    after it."""
    authenticator: Authenticator = ws.app.state.authenticator
    header = ws.headers.get("authorization") or (f"Bearer {token}" if token else None)
    await ws.accept()
    try:
        caller = authenticator.authenticate(header, None)
    except Unauthorized as exc:
        await ws.close(POLICY, exc.message[:120])
        return
    if caller.subject is None:
        await ws.close(POLICY, "authorization: a socket follows one user; send their token")
        return
    try:
        await ws.app.state.queue_follower.follow(ws, caller.subject, last_seq)
    except (RedisError, OSError, TimeoutError):
        log.warning("queue socket ended: redis unavailable", exc_info=True)
        with contextlib.suppress(Exception):  # the client may be gone already
            await ws.close(TRY_AGAIN, "redis unavailable; reconnect with last_seq")
