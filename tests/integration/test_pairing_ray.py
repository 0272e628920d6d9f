"""The Ray path of a cycle (Ray Data search shards, matching tasks) on a local Ray gives the
same pairs as the one-process path."""

from __future__ import annotations

import pytest

from bench.pairing import seekers
from matching.core.settings import PairingSettings
from matching.pairing import scale
from matching.pairing.plan import local_plan, starving
from matching.pairing.solve import pair
from training.jobs import init_ray


def test_ray_search_and_matching_equal_the_local_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    init_ray(num_cpus=2)
    s = PairingSettings()
    pool, excluded = seekers(600, 32, seed=3)
    monkeypatch.setattr(scale, "ROWS_PER_BATCH", 150)  # several shards even at this size
    edges = scale.search_on_ray(pool, excluded, s)
    on_ray = pair(edges, starving(pool, s), mapper=scale.ray_map, target_edges=200)
    here = local_plan(pool, excluded, s)
    assert len(here.pairs) > 100
    assert on_ray.pairs == here.pairs
    assert on_ray.optimal_total == here.optimal_total
    assert on_ray.greedy_total == here.greedy_total
    # a component above PAIRING_PART_SEEKERS: rounds over regions, their blossoms on Ray
    parted = PairingSettings(PAIRING_PART_SEEKERS=200, PAIRING_PART_ROUNDS=3)
    monkeypatch.setattr(scale, "RAY_MIN_SEEKERS", 0)
    by_regions = scale.ray_plan(pool, excluded, parted)
    assert by_regions.split_components >= 1
    assert by_regions.pairs == local_plan(pool, excluded, parted).pairs
    assert here.greedy_objective <= by_regions.optimal_objective <= here.optimal_objective
