"""The weighting the ranking uses: the registry's live `weightings` version once one has been
promoted (`matching models promote --kind weightings`), else the settings' weights."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from matching.core.ml.registry import Registry, RegistryError
from matching.core.settings import Settings

log = logging.getLogger(__name__)
KIND = "weightings"
REFRESH_S = 30.0  # a promotion reaches every replica within this long


def live_weights(settings: Settings) -> dict[str, float] | None:
    """The registry's live weighting, None when none was promoted."""
    registry = Registry.from_settings(settings)
    live = registry.live().get(KIND)
    if live is None:
        return None
    folder = registry.trusted_copy(KIND, live, ["weights.json"])
    weights: dict[str, float] = json.loads((folder / "weights.json").read_text())
    return weights


class LiveWeights:
    """Reads the live weighting at most every REFRESH_S, off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._weights: dict[str, float] | None = None
        self._read_at = -REFRESH_S

    def expire(self) -> None:
        """Read the registry on the next call (after a promotion made here)."""
        self._read_at = -REFRESH_S

    async def get(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._read_at > REFRESH_S:
            self._read_at = now
            try:
                self._weights = await asyncio.to_thread(live_weights, self._settings)
            except (OSError, ValueError, RegistryError):
                log.warning("cannot read the live weighting; keeping the last", exc_info=True)
        return self._weights or self._settings.requests.weights
