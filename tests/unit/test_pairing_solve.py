"""Pairing's graph and matching on random pools: the invariants every cycle must keep."""

from __future__ import annotations

import itertools
import random
from uuid import UUID

import numpy as np
import pytest
from factories import make_person, random_population, unit_vectors
from pydantic import ValidationError

from matching.core.domain.filters import SearchFilters, mutually_acceptable
from matching.core.settings import PairingSettings
from matching.pairing.graph import Seeker, edge_score, penalty, wait_boost
from matching.pairing.plan import local_plan, starving
from matching.pairing.solve import blossom, greedy, objective, pair

SETTINGS = PairingSettings(PAIRING_MIN_SCORE=0.2, PAIRING_TOP_K=8, PAIRING_MAX_WAIT_CYCLES=3)


def random_pool(seed: int, n: int) -> tuple[list[Seeker], list[tuple[UUID, UUID]]]:
    rng = random.Random(seed)
    people = random_population(n, seed=seed)
    vectors = unit_vectors(n, 8, seed=seed)
    seekers = []
    for person, vector in zip(people, vectors, strict=True):
        criteria = SearchFilters()
        if rng.random() < 0.2:
            criteria = SearchFilters(age_min=rng.randint(20, 35), age_max=rng.randint(36, 70))
        seekers.append(Seeker(person, vector, rng.randint(0, 5), criteria))
    ids = [p.user_id for p in people]
    excluded = [tuple(rng.sample(ids, 2)) for _ in range(n)]
    return seekers, [(a, b) for a, b in excluded]


def test_random_pools_keep_every_invariant() -> None:
    checked = 0
    for seed in range(12):
        seekers, excluded = random_pool(seed, 120)
        result = local_plan(seekers, excluded, SETTINGS)
        banned = {frozenset(p) for p in excluded}
        ends = [x for i, j, _ in result.pairs for x in (i, j)]
        assert len(ends) == len(set(ends)), "someone is in two pairs"
        for i, j, score in result.pairs:
            a, b = seekers[i], seekers[j]
            assert score >= SETTINGS.min_score
            assert frozenset((a.user_id, b.user_id)) not in banned
            assert mutually_acceptable(a.person, b.person)
            assert a.criteria.accepts(b.person) and b.criteria.accepts(a.person)
        assert result.optimal_objective >= result.greedy_objective
        checked += len(result.pairs)
    assert checked > 100  # the pools are not trivially empty


def test_without_starving_seekers_optimal_total_is_at_least_greedy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = 14
        edges = [
            (i, j, float(rng.uniform(0.2, 1.0)))
            for i, j in itertools.combinations(range(n), 2)
            if rng.random() < 0.3
        ]
        result = pair(edges, frozenset())
        assert result.optimal_total >= result.greedy_total - 1e-9
        assert abs(result.optimal_total - _brute_force(edges)) < 1e-6


def _brute_force(edges: list[tuple[int, int, float]]) -> float:
    best = 0.0

    def walk(rest: list[tuple[int, int, float]], used: frozenset[int], total: float) -> None:
        nonlocal best
        best = max(best, total)
        for k, (i, j, w) in enumerate(rest):
            if i not in used and j not in used:
                walk(rest[k + 1 :], used | {i, j}, total + w)

    walk(sorted(edges), frozenset(), 0.0)
    return best


def test_optimal_beats_greedy_on_a_path() -> None:
    # a-b 1.0, b-c 1.1, c-d 1.0: greedy takes b-c alone (1.1), optimal a-b + c-d (2.0).
    edges = [(0, 1, 1.0), (1, 2, 1.1), (2, 3, 1.0)]
    assert [(i, j) for i, j, _ in blossom(edges, frozenset())] == [(0, 1), (2, 3)]
    assert [(i, j) for i, j, _ in greedy(edges, frozenset())] == [(1, 2)]
    result = pair(edges, frozenset())
    assert (result.optimal_total, result.greedy_total) == (2.0, 1.1)


def test_a_starving_seeker_is_paired_before_a_better_total() -> None:
    # 0 and 1 are a strong pair; 2 waited too long and can only meet 1.
    edges = [(0, 1, 0.95), (1, 2, 0.3)]
    assert [(i, j) for i, j, _ in blossom(edges, frozenset())] == [(0, 1)]
    assert [(i, j) for i, j, _ in blossom(edges, frozenset({2}))] == [(1, 2)]
    weights = objective(edges, frozenset({2}))
    assert weights[(1, 2)] > weights[(0, 1)]


def test_starving_counts_cycles_waited() -> None:
    seekers = [Seeker(make_person(), np.ones(2), waited=w) for w in (0, 2, 3, 9)]
    assert starving(seekers, SETTINGS) == frozenset({2, 3})


def test_wait_boost_grows_and_is_capped() -> None:
    s = PairingSettings(PAIRING_WAIT_BOOST=0.05, PAIRING_WAIT_BOOST_CAP=0.12)
    assert [wait_boost(n, s) for n in (0, 1, 2, 3, 10)] == [0.0, 0.05, 0.1, 0.12, 0.12]


def test_edge_score_adds_boosts_and_subtracts_penalties() -> None:
    s = PairingSettings(PAIRING_PENALTY_SAME_COMPANY=0.1, PAIRING_PENALTY_NO_SHARED_INTEREST=0.05)
    a = make_person(company="acme", interests=["chess"])
    b = make_person(company="acme", interests=["golf"])
    assert penalty(a, b, s) == pytest.approx(0.15)
    sa, sb = Seeker(a, np.ones(2), waited=1), Seeker(b, np.ones(2), waited=2)
    assert abs(edge_score(0.5, sa, sb, s) - (0.5 + 0.05 + 0.1 - 0.15)) < 1e-12


def test_heartbeat_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValidationError, match="PAIRING_HEARTBEAT_S"):
        PairingSettings(PAIRING_LEASE_TTL_S=5, PAIRING_HEARTBEAT_S=5)


# 150 seekers: the batched rounds reach every row; 600 with top-3: the picky ones are
# searched exactly after the last round (fetches of 13, 49 and 193 rows).
@pytest.mark.parametrize(("n", "top_k", "seeds"), [(150, 5, 4), (600, 3, 2)])
def test_each_seeker_gets_exactly_the_top_k_acceptable_others(
    n: int, top_k: int, seeds: int
) -> None:
    from matching.pairing.graph import acceptable, build_index, candidate_edges, symmetric

    s = PairingSettings(PAIRING_MIN_SCORE=0.0, PAIRING_TOP_K=top_k, PAIRING_WAIT_BOOST=0.0,
                        PAIRING_PENALTY_SAME_COMPANY=0.0,
                        PAIRING_PENALTY_NO_SHARED_INTEREST=0.0)  # fmt: skip
    for seed in range(seeds):
        seekers, pairs = random_pool(seed, n)
        excluded = symmetric(pairs)
        edges = candidate_edges(seekers, build_index(seekers), range(n), excluded, s)
        found: dict[int, set[int]] = {}
        for i, j, _ in edges:
            found.setdefault(i, set()).add(j)
            found.setdefault(j, set()).add(i)
        vectors = np.stack([x.vector for x in seekers])
        for i, a in enumerate(seekers):
            others = [j for j in range(n) if j != i and acceptable(a, seekers[j], excluded)]
            sims = vectors[others] @ a.vector
            top = {others[k] for k in np.argsort(-sims)[: s.top_k] if sims[k] >= 0}
            assert top <= found.get(i, set()), f"seed {seed}, seeker {i}"


def test_a_component_above_the_part_size_is_matched_by_rounds_over_regions() -> None:
    from matching.pairing.graph import build_index, candidate_edges, regions, symmetric

    seekers, pairs = random_pool(5, 400)
    edges = candidate_edges(seekers, build_index(seekers), range(400), symmetric(pairs), SETTINGS)
    hungry = starving(seekers, SETTINGS)
    whole = pair(edges, hungry)
    objectives = []
    for rounds in (1, 2, 4, 8):
        parted = pair(edges, hungry, part_nodes=60, partitions=regions(seekers, 60, rounds))
        assert whole.split_components == 0 and parted.split_components >= 1
        ends = [v for i, j, _ in parted.pairs for v in (i, j)]
        assert len(ends) == len(set(ends))  # a matching
        assert set(parted.pairs) <= set(edges)
        # never worse than greedy (it starts there), never better than the exact optimum
        assert parted.greedy_objective <= parted.optimal_objective <= whole.optimal_objective
        objectives.append(parted.optimal_objective)
    assert objectives == sorted(objectives)  # a round never lowers it
    assert objectives[-1] > whole.greedy_objective


def test_the_cycle_index_is_exact_above_the_serving_hnsw_threshold() -> None:
    """A cycle's graph must not depend on how the search is sharded: an HNSW graph built in
    each Ray actor gave other edges than one process's at 100k seekers (bench.pairing)."""
    from matching.core.settings import IndexSettings
    from matching.pairing.graph import build_index

    n = IndexSettings().exact_max + 1
    vectors = np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32)
    person = make_person()
    index = build_index([Seeker(person, v, 0, SearchFilters()) for v in vectors])
    assert index.index.params.kind == "flat" and index.index.ntotal == n
