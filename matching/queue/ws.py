"""One user's WebSocket: their events from their Redis stream (replayed after `last_seq`,
then as they are written, whichever replica wrote them) and their ticket's place."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from uuid import UUID

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from matching.queue.notify import Hub
from matching.queue.storage.live import LiveQueue

REREAD_S = 5.0  # a socket rereads its stream this often even without a notification
PAGE = 100


class Follower:
    """Serves the sockets of one replica."""

    def __init__(self, live: LiveQueue, hub: Hub) -> None:
        self._live, self._hub = live, hub
        self._grace_ms = int(live.settings.ws_grace_s * 1000)

    async def follow(self, ws: WebSocket, user: UUID, last_seq: int) -> None:
        """Until the client goes: while no socket of theirs is open, their ticket is kept
        for the grace period (then cancelled by the matcher)."""
        name = str(user)
        wake = self._hub.listen(name)
        await self._live.run("PRESENCE", name, 1, self._grace_ms)
        try:
            tasks = {
                asyncio.create_task(self._pump(ws, user, last_seq, wake)),
                asyncio.create_task(_drain(ws)),
            }
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await task
            for task in done:  # a send to a socket that closed meanwhile is a disconnect
                with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                    task.result()
        finally:
            self._hub.forget(name, wake)
            await self._live.run("PRESENCE", name, -1, self._grace_ms)

    async def _pump(self, ws: WebSocket, user: UUID, seq: int, wake: asyncio.Event) -> None:
        place: dict[str, Any] | None = None
        while True:
            wake.clear()
            seq = await self._send_events(ws, user, seq)
            now = await self._place(user)
            if now is not None and now != place:
                await ws.send_text(json.dumps({"type": "position", **now}))
            place = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), REREAD_S)

    async def _send_events(self, ws: WebSocket, user: UUID, seq: int) -> int:
        while True:
            events = await self._live.events_after(user, seq, PAGE)
            for raw in events:
                await ws.send_text(raw)
                seq = int(json.loads(raw)["seq"])
            if len(events) < PAGE:
                return seq

    async def _place(self, user: UUID) -> dict[str, Any] | None:
        """The open ticket's place and estimated wait while it waits."""
        tid = await self._live.redis.get(self._live.key("u", str(user)))
        if tid is None:
            return None
        ticket_id = UUID(tid.decode() if isinstance(tid, bytes) else tid)
        raw = await self._live.ticket(ticket_id)
        if raw.get("status") != "pending":
            return None
        position, estimate = await self._live.position(ticket_id, raw["ckey"])
        return {"ticket_id": str(ticket_id), "position": position, "estimated_wait_s": estimate}


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while ws.application_state == WebSocketState.CONNECTED:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
