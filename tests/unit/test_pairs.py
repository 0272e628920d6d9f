"""Pair features: values on hand-made people, the vectorised rows equal the reference rows,
and the smoothed prior for people without history."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import numpy as np
import pytest
from factories import NOW, make_person, make_prefs
from pair_reference import pair_features

from matching.core.domain.filters import within_age, within_age_array
from matching.core.domain.geo import haversine_km, haversine_km_array
from matching.core.domain.person import Person
from matching.core.domain.scoring import activity_decay, activity_decay_array, directed_score
from matching.core.ml.pairs import (
    PAIR_FEATURES,
    FeatureParams,
    StatsTable,
    UserStats,
    pair_matrices,
    pair_matrix,
)
from matching.core.settings import MatchingSettings

PARAMS = FeatureParams.from_settings(MatchingSettings())
NOBODY = UserStats()


def _row(a: Person, b: Person, sim: float = 0.5, **kw: UserStats) -> dict[str, float]:
    values = pair_features(a, b, sim, kw.get("sa", NOBODY), kw.get("sb", NOBODY), NOW, PARAMS)
    return dict(zip(PAIR_FEATURES, values.tolist(), strict=True))


def test_feature_names_are_unique_and_cover_both_directions() -> None:
    assert len(set(PAIR_FEATURES)) == len(PAIR_FEATURES)
    assert {"ab_score", "ba_score", "a_like_rate_given", "b_like_rate_received"} <= set(
        PAIR_FEATURES
    )


def test_values_for_a_pair_that_meets_every_preference() -> None:
    a = make_person(
        interests=["hiking", "climbing"],
        networking_goals=["mentorship", "hiring"],
        languages=["english", "german"],
        age=34,
        job_level="senior",
        prefs=make_prefs(
            interests=["chess"], age_min=30, age_max=40, distance_km=80.0, industries=["software"]
        ),
    )
    # 0.45 degrees of latitude north of Berlin: about 50 km
    b = make_person(
        interests=["hiking", "chess"],
        networking_goals=["hiring"],
        languages=["german"],
        latitude=52.52 + 0.449661,
        age=38,
        job_level="lead",
        prefs=make_prefs(interests=["climbing", "golf"]),
    )
    r = _row(a, b, 0.7)
    assert r["similarity"] == pytest.approx(0.7)
    assert r["shared_interests"] == 1 and r["interest_jaccard"] == pytest.approx(1 / 3)
    assert r["wanted_interests_b_has"] == 1 and r["wanted_interests_a_has"] == 1
    assert r["goal_overlap"] == 1 and r["language_overlap"] == 1
    assert r["distance_km"] == pytest.approx(50.0, abs=0.1) and r["distance_missing"] == 0
    assert r["b_in_age_range"] == r["b_in_distance"] == r["b_in_industries"] == 1
    assert r["age_gap"] == 4 and r["job_level_gap"] == 1  # senior -> lead
    assert r["same_industry"] == 1 and r["company_size_match"] == 1
    ours = directed_score(a, b, 0.7, NOW, dict(PARAMS.weights), PARAMS.default_distance_km)
    theirs = directed_score(b, a, 0.7, NOW, dict(PARAMS.weights), PARAMS.default_distance_km)
    assert r["ab_score"] == pytest.approx(ours.score)
    assert r["ba_score"] == pytest.approx(theirs.score)
    assert r["ab_location_proximity"] == pytest.approx(1 - 50 / 80, abs=1e-3)
    assert r["ba_location_proximity"] == pytest.approx(0.5, abs=1e-3)  # b: default 100 km


def test_values_for_a_pair_outside_the_preferences_and_with_unknowns() -> None:
    picky = make_person(
        prefs=make_prefs(age_min=20, age_max=30, distance_km=50.0, job_levels=["vp"]),
        company_size="1-10",
    )
    far = make_person(city="munich", age=45)
    r = _row(picky, far)
    assert r["b_in_age_range"] == r["b_in_distance"] == r["b_in_job_levels"] == 0
    assert r["company_size_match"] == 0
    unknown = make_person(latitude=None, longitude=None, age=None, job_level=None)
    r = _row(picky, unknown)
    assert r["distance_missing"] == 1 and r["distance_km"] == 0
    assert r["b_in_distance"] == 0 and r["b_in_age_range"] == 0
    assert r["age_missing"] == r["job_level_missing"] == 1
    assert r["age_gap"] == r["job_level_gap"] == 0
    # without a location of one's own a radius filters nobody
    r = _row(make_person(latitude=None, longitude=None, prefs={"distance_km": 5.0}), far)
    assert r["b_in_distance"] == 1


def test_stats_columns_use_both_sides() -> None:
    a, b = make_person(), make_person()
    sa = UserStats(likes_given=9, swipes_given=10, prior_rate=0.3)
    sb = UserStats(likes_received=1, swipes_received=30, prior_rate=0.3)
    r = _row(a, b, sa=sa, sb=sb)
    assert r["a_like_rate_given"] == pytest.approx((9 + 3) / 20)
    assert r["b_like_rate_received"] == pytest.approx((1 + 3) / 40)
    assert r["a_swipes_given"] == pytest.approx(np.log1p(10))
    assert r["b_like_rate_given"] == pytest.approx(0.3)


def test_unknown_users_get_the_prior() -> None:
    x, y, z = uuid4(), uuid4(), uuid4()
    table = StatsTable.from_swipes([(x, y, True), (x, z, False), (y, x, True)], 4.0)
    assert table.prior_rate == pytest.approx(2 / 3)
    assert table.get(x) == UserStats(1, 2, 1, 1, prior_rate=2 / 3, prior_strength=4.0)
    stranger = table.get(uuid4())
    assert (stranger.swipes_given, stranger.swipes_received) == (0, 0)
    assert stranger.like_rate_given == stranger.like_rate_received == pytest.approx(2 / 3)
    assert StatsTable.from_swipes([], 10.0).get(x).like_rate_given == 0.5


def test_feature_params_round_trip_and_change_the_scores() -> None:
    assert FeatureParams.from_dict(PARAMS.to_dict()) == PARAMS
    only_interests = FeatureParams.from_dict(
        {
            "weights": {**dict.fromkeys(dict(PARAMS.weights), 0.0), "interest_overlap": 1.0},
            "default_km": 100,
        }
    )
    a, b = make_person(interests=["chess"]), make_person(interests=["chess", "golf"])
    row = pair_features(a, b, 0.9, NOBODY, NOBODY, NOW, only_interests)
    assert row[PAIR_FEATURES.index("ab_score")] == pytest.approx(0.5)


def _random_stats(rng: random.Random) -> UserStats:
    given, received = rng.randint(0, 50), rng.randint(0, 50)
    return UserStats(rng.randint(0, given), given, rng.randint(0, received), received, 0.4, 8.0)


def test_vectorised_rows_equal_reference_rows(population: list[Person]) -> None:
    rng = random.Random(3)
    for a in population[:25]:
        cands = rng.sample(population[25:], 40)
        sims = [rng.uniform(-0.2, 1.0) for _ in cands]
        sa, sb = _random_stats(rng), [_random_stats(rng) for _ in cands]
        times = [NOW + timedelta(days=rng.uniform(-30, 30)) for _ in cands]
        forward = pair_matrix(a, cands, sims, sa, sb, times, PARAMS)
        backward = pair_matrix(a, cands, sims, sa, sb, times, PARAMS, reverse=True)
        assert forward.shape == backward.shape == (40, len(PAIR_FEATURES))
        both = pair_matrices(a, cands, sims, sa, sb, times, PARAMS)
        np.testing.assert_array_equal(both[0], forward)
        np.testing.assert_array_equal(both[1], backward)
        for i, b in enumerate(cands):
            ref = pair_features(a, b, sims[i], sa, sb[i], times[i], PARAMS)
            np.testing.assert_allclose(forward[i], ref, rtol=1e-9, atol=1e-9)
            rev = pair_features(b, a, sims[i], sb[i], sa, times[i], PARAMS)
            np.testing.assert_allclose(backward[i], rev, rtol=1e-9, atol=1e-9)


def test_one_time_and_per_row_stats_give_the_same_rows(population: list[Person]) -> None:
    a, cands = population[0], population[1:31]
    sims = np.linspace(0, 1, 30)
    stats = [UserStats(1, 3, 2, 5)] * 30
    one = pair_matrix(a, cands, sims, stats[0], stats, NOW, PARAMS)
    many = pair_matrix(a, cands, sims, stats, stats, [NOW] * 30, PARAMS)
    np.testing.assert_array_equal(one, many)


def test_no_candidates_gives_an_empty_matrix() -> None:
    out = pair_matrix(make_person(), [], [], NOBODY, [], NOW)
    assert out.shape == (0, len(PAIR_FEATURES))


def test_vectorised_domain_rules_equal_the_scalar_ones(population: list[Person]) -> None:
    """The array forms in matching.core.domain that pair rows use, against the scalar rules."""
    rng = random.Random(5)
    ages = (None, 15, 25, 30, 40, 41, 80)
    bounds = (None, 20, 25, 30, 40)
    for lo in bounds:
        for hi in bounds:
            a = make_person(prefs=make_prefs(age_min=lo, age_max=hi))
            people = [make_person(age=age) for age in ages]
            nan = float("nan")
            got = within_age_array(
                np.full(len(ages), nan if lo is None else lo),
                np.full(len(ages), nan if hi is None else hi),
                np.array([nan if age is None else age for age in ages], dtype=np.float64),
            )
            assert got.tolist() == [within_age(a, b) for b in people], (lo, hi)
    located = [p for p in population if p.has_location]
    pairs = [(rng.choice(located), rng.choice(located)) for _ in range(200)]
    lat1, lon1, lat2, lon2 = (
        np.array([getattr(p[i], f) for p in pairs], dtype=np.float64)
        for i, f in ((0, "latitude"), (0, "longitude"), (1, "latitude"), (1, "longitude"))
    )
    expected = [haversine_km(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    np.testing.assert_allclose(haversine_km_array(lat1, lon1, lat2, lon2), expected, rtol=1e-12)
    assert np.isnan(haversine_km_array(np.array([np.nan]), lon1[:1], lat2[:1], lon2[:1]))[0]
    days = np.array([-3.0, 0.0, 0.5, 14.0, 100.0, 1e4])
    np.testing.assert_allclose(
        activity_decay_array(days), [activity_decay(d) for d in days], rtol=1e-15
    )


def test_rows_take_one_requester_state_per_candidate(population: list[Person]) -> None:
    """Training passes the requester as of each swipe: per-row requesters give each row
    exactly what one requester at a time gives."""
    a, cands = population[0], population[1:11]
    states = [replace(a, last_active_at=NOW - timedelta(days=i)) for i in range(10)]
    sims = np.linspace(0, 1, 10)
    stats = [UserStats(1, 3, 2, 5)] * 10
    rows = pair_matrices(states, cands, sims, stats, stats, NOW, PARAMS)
    for i, state in enumerate(states):
        one = pair_matrices(
            state, cands[i : i + 1], sims[i : i + 1], stats[i], stats[i : i + 1], NOW, PARAMS
        )
        np.testing.assert_array_equal(rows[0][i], one[0][0])
        np.testing.assert_array_equal(rows[1][i], one[1][0])
    assert len(set(rows[0][:, PAIR_FEATURES.index("activity_a")].tolist())) == 10
    with pytest.raises(ValueError, match="2 requesters for 10 candidates"):
        pair_matrix(states[:2], cands, sims, stats, stats, NOW, PARAMS)
