"""One cycle's computation, apart from storage: seekers and exclusions in, pairs out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from matching.core.settings import PairingSettings
from matching.pairing.graph import (
    Seeker,
    build_index,
    candidate_edges,
    merge,
    regions,
    symmetric,
)
from matching.pairing.solve import Pairing, pair

Planner = Callable[[Sequence[Seeker], Sequence[tuple[UUID, UUID]], PairingSettings], Pairing]


def starving(seekers: Sequence[Seeker], s: PairingSettings) -> frozenset[int]:
    """Positions of the seekers who waited PAIRING_MAX_WAIT_CYCLES or more."""
    return frozenset(i for i, x in enumerate(seekers) if x.waited >= s.max_wait_cycles)


def local_plan(
    seekers: Sequence[Seeker], excluded: Sequence[tuple[UUID, UUID]], s: PairingSettings
) -> Pairing:
    """The whole cycle in this process (small pools, tests, the in-service schedule)."""
    if len(seekers) < 2:
        return pair([], frozenset())
    index = build_index(seekers)
    rows = range(len(seekers))
    edges = merge([candidate_edges(seekers, index, rows, symmetric(excluded), s)])
    return pair(edges, starving(seekers, s), **partitioning(seekers, s))


def partitioning(seekers: Sequence[Seeker], s: PairingSettings) -> dict[str, Any]:
    """How solve.pair matches a component too large for one blossom."""
    return {
        "part_nodes": s.part_seekers,
        "partitions": regions(seekers, s.part_seekers, s.part_rounds),
    }
