"""A cycle on Ray: the candidate search over shards of the seekers with Ray Data (an actor
pool, each actor holding one copy of the index), and blossom per batch of connected
components in parallel tasks. The same code runs on a local Ray or a cluster (RAY_ADDRESS:
the CLI connects before it calls this). Results equal local_plan's: shards only split rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np

from matching.core.settings import PairingSettings
from matching.pairing.graph import Edge, Seeker, build_index, candidate_edges, merge, symmetric
from matching.pairing.plan import local_plan, partitioning, starving
from matching.pairing.rule import PairRule
from matching.pairing.solve import Batch, Pairing, Worker, pair

# Below this many seekers a cycle is faster in one process than Ray's start-up and transfers.
RAY_MIN_SEEKERS = 2_000
ROWS_PER_BATCH = 2_000  # seekers per Ray Data batch: one batched FAISS call each


class SearchShard:
    """A Ray Data actor: builds the cycle's index and pair rule once, then finds the edges
    of each batch of seeker rows."""

    def __init__(self, seekers: Any, excluded: Any, settings: PairingSettings) -> None:
        import ray

        self._seekers: list[Seeker] = ray.get(seekers)
        self._excluded = symmetric(ray.get(excluded))
        self._index = build_index(self._seekers)
        self._rule = PairRule(self._seekers, self._excluded)  # once, not per batch
        self._s = settings

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch["id"].tolist()
        edges = candidate_edges(
            self._seekers, self._index, rows, self._excluded, self._s, rule=self._rule
        )
        return {
            "i": np.array([e[0] for e in edges], dtype=np.int64),
            "j": np.array([e[1] for e in edges], dtype=np.int64),
            "w": np.array([e[2] for e in edges], dtype=np.float64),
        }


def search_on_ray(
    seekers: Sequence[Seeker], excluded: Sequence[tuple[UUID, UUID]], s: PairingSettings
) -> list[Edge]:
    import ray
    from ray.data import ActorPoolStrategy

    workers = max(1, int(ray.available_resources().get("CPU", 1)))
    seekers_ref, excluded_ref = ray.put(list(seekers)), ray.put(list(excluded))
    found = ray.data.range(len(seekers)).map_batches(
        SearchShard,
        fn_constructor_kwargs={"seekers": seekers_ref, "excluded": excluded_ref, "settings": s},
        batch_size=ROWS_PER_BATCH,
        batch_format="numpy",
        compute=ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=1,
    )
    shards = [
        list(zip(b["i"].tolist(), b["j"].tolist(), b["w"].tolist(), strict=True))
        for b in found.iter_batches(batch_format="numpy", batch_size=None)
    ]
    return merge(shards)


def ray_map(fn: Worker, items: list[Batch], hungry: frozenset[int]) -> list[list[Edge]]:
    """The matching's mapper on Ray: one task per batch of components."""
    import ray

    task = ray.remote(num_cpus=1)(fn)
    hungry_ref = ray.put(hungry)
    out: list[list[Edge]] = ray.get([task.remote(item, hungry_ref) for item in items])
    return out


def ray_plan(
    seekers: Sequence[Seeker], excluded: Sequence[tuple[UUID, UUID]], s: PairingSettings
) -> Pairing:
    """The Planner of `matching pairing run --ray`."""
    if len(seekers) < RAY_MIN_SEEKERS:
        return local_plan(seekers, excluded, s)
    edges = search_on_ray(seekers, excluded, s)
    return pair(edges, starving(seekers, s), mapper=ray_map, **partitioning(seekers, s))
