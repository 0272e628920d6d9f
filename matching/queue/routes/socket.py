"""GET /v1/queue/ws: a user's events over a WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, Query, WebSocket

from matching.core.api.errors import Unauthorized
from matching.core.auth import Authenticator

router = APIRouter(prefix="/v1/queue")
POLICY = 1008  # RFC 6455: the credentials were refused


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
    await ws.app.state.queue_follower.follow(ws, caller.subject, last_seq)
