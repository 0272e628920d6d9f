"""What a matching mode gives the application: its routes, its counts for /health, its
part of erasing a person and its periodic maintenance. The builder enables modes by name
(`AppArgs.modes`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from fastapi import FastAPI

from matching.core.api.health import Counter
from matching.core.storage.erasure import ErasureStep


class Mode(Protocol):
    @property
    def name(self) -> str:
        """The name `AppArgs.modes` enables it by."""

    @property
    def counters(self) -> Sequence[Counter]:
        """Live counts the mode adds to /health."""

    @property
    def erasure_steps(self) -> Sequence[ErasureStep]:
        """What erasing a person must also do for this mode (run by every delete path)."""

    def mount(self, app: FastAPI) -> None:
        """Put the mode's services on `app.state` and include its routers."""

    async def stop(self) -> None:
        """Finish what the mode does after its responses (buffered writes) at a clean
        shutdown, before the replica's pool closes."""

    async def maintain(self) -> dict[str, Any]:
        """Periodic work; called on one replica at a time, under the maintenance lock."""


@runtime_checkable
class BackgroundMode(Protocol):
    """A mode with work of its own in the background (a matcher loop), started with the
    replica's background work and stopped by `Mode.stop`."""

    async def start(self) -> None:
        """Start the mode's background tasks."""
