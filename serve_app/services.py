"""One replica's services: the shared resources, the core services, and the enabled modes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from matching.core.api.health import HealthService
from matching.core.api.mode import Mode
from matching.core.api.profiles import ProfileService
from matching.core.api.resources import Resources
from matching.discovery.mode import Discovery
from matching.pairing.mode import Pairing
from matching.queue.mode import Queue
from matching.requests.mode import Requests

ModeName = Literal["discovery", "requests", "queue", "pairing"]
MODES: dict[str, type[Discovery] | type[Requests] | type[Queue] | type[Pairing]] = {
    "discovery": Discovery,
    "requests": Requests,
    "queue": Queue,
    "pairing": Pairing,
}


@dataclass(frozen=True)
class Services:
    """Built once per replica around started `Resources`; nothing here refers back."""

    resources: Resources
    profiles: ProfileService
    health: HealthService
    modes: tuple[Mode, ...]

    def mode(self, name: str) -> Mode:
        for mode in self.modes:
            if mode.name == name:
                return mode
        raise KeyError(f"mode {name!r} is not enabled")


def build_services(resources: Resources, modes: Sequence[ModeName] = ("discovery",)) -> Services:
    enabled: tuple[Mode, ...] = tuple(MODES[name](resources) for name in modes)
    resources.erasure_steps = tuple(step for mode in enabled for step in mode.erasure_steps)
    counters = [c for mode in enabled for c in mode.counters]
    return Services(
        resources=resources,
        profiles=ProfileService(resources),
        health=HealthService(resources, counters),
        modes=enabled,
    )
