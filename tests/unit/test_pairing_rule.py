"""The pair rule over arrays (pairing.rule.PairRule) against the scalar one it restates
(pairing.graph.acceptable), pair for pair: they must never disagree."""

from __future__ import annotations

import dataclasses
import random
from uuid import UUID

import numpy as np
import pytest
from factories import CITIES, INTERESTS, LANGUAGES, make_person, random_population, unit_vectors

from matching.core.domain.filters import SearchFilters
from matching.core.domain.geo import cell_centre, haversine_km
from matching.core.domain.profile import JOB_LEVELS
from matching.pairing.graph import Seeker, acceptable, symmetric
from matching.pairing.rule import PairRule

GENDERS = ("female", "male", "non_binary")
INDUSTRIES = ("software", "fintech", "energy", "media")


def _criteria(rng: random.Random) -> SearchFilters:
    """Pool criteria of every kind SearchFilters has, each on a share of the seekers."""
    fields: dict[str, object] = {}
    if rng.random() < 0.4:
        return SearchFilters()
    if rng.random() < 0.3:
        fields["age_min"] = rng.randint(20, 40)
    if rng.random() < 0.3:
        fields["age_max"] = rng.randint(35, 70)
    if rng.random() < 0.2:
        fields["genders"] = frozenset(rng.sample(GENDERS, rng.randint(1, 2)))
    if rng.random() < 0.2:
        fields["job_levels"] = frozenset(rng.sample(JOB_LEVELS, rng.randint(1, 3)))
    if rng.random() < 0.2:
        fields["industries"] = frozenset(rng.sample(INDUSTRIES, rng.randint(1, 2)))
    if rng.random() < 0.2:
        fields["languages"] = frozenset(rng.sample(LANGUAGES, rng.randint(1, 2)))
    if rng.random() < 0.2:
        fields["named"] = tuple(
            frozenset({f"i:{t}"}) for t in rng.sample(INTERESTS, rng.randint(1, 3))
        )
        fields["min_named"] = rng.randint(1, len(fields["named"]))  # type: ignore[arg-type]
    if rng.random() < 0.2:
        lat, lon = CITIES[rng.choice(list(CITIES))]
        fields.update(latitude=lat, longitude=lon, max_distance_km=rng.choice((5.0, 20.5, 300)))
    return SearchFilters(**fields)  # type: ignore[arg-type]


def _pool(seed: int, n: int) -> tuple[list[Seeker], dict[UUID, set[UUID]]]:
    rng = random.Random(seed)
    people = random_population(n, seed=seed)
    people.append(people[0])  # the same person twice: never their own pair
    vectors = unit_vectors(len(people), 8, seed=seed)
    seekers = [Seeker(p, v, 0, _criteria(rng)) for p, v in zip(people, vectors, strict=True)]
    ids = [p.user_id for p in people]
    return seekers, symmetric(tuple(rng.sample(ids, 2)) for _ in range(n))


def _both(seekers: list[Seeker], excluded: dict[UUID, set[UUID]]) -> tuple[np.ndarray, ...]:
    n = len(seekers)
    rule = PairRule(seekers, excluded)
    arrays = rule.ok(np.arange(n)[:, None], np.arange(n)[None, :])
    scalar = np.array([[acceptable(a, b, excluded) for b in seekers] for a in seekers])
    return arrays, scalar


@pytest.mark.parametrize("seed", range(3))
def test_the_array_rule_is_the_scalar_rule_on_random_pools(seed: int) -> None:
    seekers, excluded = _pool(seed, 220)
    arrays, scalar = _both(seekers, excluded)
    assert arrays.shape == scalar.shape
    assert (arrays == scalar).all(), np.argwhere(arrays != scalar)[:5]
    assert 500 < scalar.sum() < 0.5 * scalar.size  # the pools are neither empty nor trivial


def test_the_array_rule_over_fetched_rows_is_the_same_rule() -> None:
    seekers, excluded = _pool(7, 150)
    rule = PairRule(seekers, excluded)
    rng = np.random.default_rng(7)
    rows = rng.integers(0, len(seekers), size=(40, 25))
    me = np.arange(40)[:, None]
    expected = [[acceptable(seekers[i], seekers[j], excluded) for j in rows[i]] for i in range(40)]
    assert (rule.ok(me, rows) == np.array(expected)).all()


def test_the_edge_of_a_radius_is_where_the_scalar_rule_draws_it() -> None:
    """People within a metre of a radius's edge, where float noise could flip the array
    form's answer: it must be the scalar rule's, for the seekers' own radius and for a pool's."""
    rng = np.random.default_rng(3)
    lat, lon = CITIES["berlin"]
    origin = make_person(latitude=lat, longitude=lon, prefs={})
    cells: dict[tuple[float, float], tuple[float, float, float]] = {}
    for dlat, dlon in rng.normal(scale=0.1, size=(20_000, 2)).tolist():
        cell = cell_centre(lat + dlat, lon + dlon)
        d = haversine_km(*cell_centre(lat, lon), *cell)  # whole km in the origin's column
        if abs(d - round(d)) < 1e-3 and round(d) >= 1:
            cells[cell] = (lat + dlat, lon + dlon, d)
    near = [(make_person(latitude=a, longitude=o, prefs={}), d) for a, o, d in cells.values()]
    assert len(near) >= 5
    near = near[:30]
    seekers: list[Seeker] = []
    for other, d in near:
        for km in (round(d) - 1.0, round(d) - 0.5, float(round(d))):
            prefs = dataclasses.replace(origin.prefs, distance_km=km)
            pool = SearchFilters(latitude=lat, longitude=lon, max_distance_km=km)
            me = dataclasses.replace(origin, prefs=prefs, user_id=make_person().user_id)
            seekers += [Seeker(me, np.ones(2)), Seeker(make_person(), np.ones(2), criteria=pool)]
        seekers.append(Seeker(other, np.ones(2)))
    arrays, scalar = _both(seekers, {})
    assert (arrays == scalar).all(), np.argwhere(arrays != scalar)
    assert scalar.any() and not scalar.all()
