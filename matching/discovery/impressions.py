"""Impressions (`match_shown`) written after the response, in batches, off the request path.

A discover only appends its rows to this replica's buffer; a flusher task writes them every
`every_s` or as soon as `max_rows` are waiting, one statement per batch. A failed write is
retried `retries` times, then logged and dropped: impressions are analytics, and a request
never fails or waits for them. `close()` (the replica's clean shutdown) writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from matching.discovery.storage.analytics import AnalyticsEvent

log = logging.getLogger(__name__)
Writer = Callable[[Sequence[AnalyticsEvent]], Awaitable[object]]
FLUSH_EVERY_S = 0.1
FLUSH_ROWS = 500
RETRIES = 3
RETRY_BACKOFF_S = 0.2
# Past this many rows waiting (the database has been failing for a while), new ones are
# dropped and counted rather than growing the replica's memory without bound.
MAX_WAITING = 100_000


class ImpressionBuffer:
    """Rows waiting to be written; `add()` never blocks, `flush()` writes them now."""

    def __init__(
        self,
        write: Writer,
        *,
        every_s: float = FLUSH_EVERY_S,
        max_rows: int = FLUSH_ROWS,
        retries: int = RETRIES,
        backoff_s: float = RETRY_BACKOFF_S,
    ) -> None:
        self._write = write
        self.every_s, self.max_rows = every_s, max_rows
        self.retries, self.backoff_s = retries, backoff_s
        self._waiting: list[AnalyticsEvent] = []
        self._full = asyncio.Event()
        self._writing = asyncio.Lock()  # one batch at a time: flush() waits for one in flight
        self._flusher: asyncio.Task[None] | None = None
        self.written = self.dropped = 0

    def add(self, rows: Sequence[AnalyticsEvent]) -> None:
        """Queue rows; the flusher task runs only while rows are waiting."""
        room = MAX_WAITING - len(self._waiting)
        if room < len(rows):
            self.dropped += len(rows) - max(room, 0)
            log.warning("impression buffer full: %d rows dropped", len(rows) - max(room, 0))
        self._waiting.extend(rows[: max(room, 0)])
        if len(self._waiting) >= self.max_rows:
            self._full.set()
        if self._waiting and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._run(), name="impressions")

    async def _run(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.every_s)
            await self.flush()

    async def flush(self) -> None:
        """Write every row waiting now (after any batch already being written)."""
        async with self._writing:
            while self._waiting:
                batch = self._waiting[: self.max_rows]
                del self._waiting[: self.max_rows]
                await self._write_batch(batch)
            self._full.clear()

    async def _write_batch(self, batch: list[AnalyticsEvent]) -> None:
        for attempt in range(self.retries + 1):
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self._waiting[:0] = batch  # cancelled from outside: a later flush has them
                raise
            except Exception:
                if attempt == self.retries:
                    self.dropped += len(batch)
                    log.error("%d impressions not recorded", len(batch), exc_info=True)
                    return
                log.warning("writing %d impressions failed; retrying", len(batch), exc_info=True)
                await asyncio.sleep(self.backoff_s * 2**attempt)
            else:
                self.written += len(batch)
                return

    async def close(self) -> None:
        """Write what is left now and let the flusher finish (the replica's clean shutdown)."""
        self._full.set()  # wake the flusher instead of cancelling it mid-write
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        await self.flush()

    def info(self) -> dict[str, int]:
        return {"waiting": len(self._waiting), "written": self.written, "dropped": self.dropped}
