"""One user's WebSocket: their events from their Redis stream (replayed after `last_seq`,
then as they are written, whichever replica wrote them) and their ticket's place."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import asdict
from uuid import UUID

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from matching.queue.notify import Hub
from matching.queue.storage.live import LiveQueue, Place

# A socket rereads its stream and place this often (on average, spread so a replica's sockets
# do not all read at once) even without a notification: while its ticket waits, as its place
# moves when others match; otherwise only in case a notification was missed (1,000 idle
# sockets rereading every 5 s were most of a replica's work before a burst).
REREAD_S = 5.0
IDLE_REREAD_S = 30.0
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
        place: Place | None = None
        while True:
            wake.clear()
            seq, now = await self._send_events(ws, user, seq)
            if now is not None and now != place:
                await ws.send_text(json.dumps({"type": "position", **asdict(now)}))
            place = now
            with contextlib.suppress(TimeoutError):
                every = REREAD_S if place is not None else IDLE_REREAD_S
                await asyncio.wait_for(wake.wait(), every * random.uniform(0.5, 1.5))

    async def _send_events(self, ws: WebSocket, user: UUID, seq: int) -> tuple[int, Place | None]:
        """Send the events after `seq`; the last one sent and the ticket's place after them."""
        while True:
            events, place = await self._live.follow(user, seq, PAGE)
            for raw in events:
                await ws.send_text(raw)
                seq = int(json.loads(raw)["seq"])
            if len(events) < PAGE:
                return seq, place


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while ws.application_state == WebSocketState.CONNECTED:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
