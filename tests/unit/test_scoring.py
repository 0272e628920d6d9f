"""The directed weighted score, its factors, weights and explanation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from factories import NOW, make_person, make_prefs

from matching.core.domain.person import Person
from matching.core.domain.profile import FACTORS
from matching.core.domain.scoring import (
    ACTIVITY_HALF_LIFE_DAYS,
    DirectedScore,
    activity_level,
    directed_score,
    effective_weights,
    factors,
    harmonic_mean,
    jaccard,
    primary_factors,
    proximity,
    proximity_array,
)
from matching.core.settings import Settings

DEFAULTS = Settings.from_env({}).matching.weights
DEFAULT_KM = 100.0


def _factors(a: Person, b: Person, similarity: float = 0.5) -> dict[str, float]:
    return factors(a, b, similarity, NOW, DEFAULT_KM)


def test_factors_stay_in_the_unit_interval(population: list[Person]) -> None:
    sims = (-0.7, 0.0, 0.42, 1.0, 1.3)
    seen_values: dict[str, set[float]] = {f: set() for f in FACTORS}
    for i, a in enumerate(population[:60]):
        for b in population[60:120]:
            values = _factors(a, b, sims[i % len(sims)])
            assert list(values) == list(FACTORS)
            for f, v in values.items():
                assert 0.0 <= v <= 1.0, (f, v)
                seen_values[f].add(round(v, 3))
            d = directed_score(a, b, sims[i % len(sims)], NOW, DEFAULTS, DEFAULT_KM)
            assert 0.0 <= d.score <= 1.0
    for f, seen in seen_values.items():  # every factor actually varies
        assert len(seen) >= 2, f


@pytest.mark.parametrize(("similarity", "expected"), [(-0.5, 0.0), (0.3, 0.3), (1.5, 1.0)])
def test_profile_similarity_is_clamped(similarity: float, expected: float) -> None:
    assert _factors(make_person(), make_person(), similarity)["profile_similarity"] == expected


def test_interest_overlap_counts_own_and_wanted_interests() -> None:
    a = make_person(interests=["hiking"], prefs=make_prefs(interests=["chess"]))
    b = make_person(interests=["chess", "hiking", "jazz"])
    assert _factors(a, b)["interest_overlap"] == pytest.approx(2 / 3)
    assert _factors(b, a)["interest_overlap"] == pytest.approx(1 / 3)  # b wants what b has
    nobody = make_person(interests=[])
    assert _factors(nobody, make_person(interests=[]))["interest_overlap"] == 0.0


def test_location_proximity_uses_the_own_radius_or_the_default() -> None:
    berlin = make_person(latitude=52.52, longitude=13.405)
    # 0.45 degrees of latitude north is about 50 km
    north = make_person(latitude=52.52 + 0.449661, longitude=13.405)
    assert _factors(berlin, north)["location_proximity"] == pytest.approx(0.5, abs=1e-3)
    picky = make_person(prefs=make_prefs(distance_km=200.0))
    assert _factors(picky, north)["location_proximity"] == pytest.approx(0.75, abs=1e-3)
    assert _factors(berlin, make_person(city="munich"))["location_proximity"] == 0.0
    assert _factors(berlin, berlin)["location_proximity"] == 1.0
    unknown = make_person(latitude=None, longitude=None)
    assert _factors(berlin, unknown)["location_proximity"] == 0.0
    assert _factors(unknown, berlin)["location_proximity"] == 0.0


def test_proximity_and_its_array_form_agree() -> None:
    rng = np.random.default_rng(5)
    dist = np.concatenate([rng.uniform(0, 300, 500), [0.0, 0.99, 1.0, 99.5, 100.0, np.nan]])
    radius = rng.choice([1.0, 5.0, 50.0, 100.0, 250.0], len(dist))
    expected = [
        proximity(None if np.isnan(d) else float(d), float(r))
        for d, r in zip(dist, radius, strict=True)
    ]
    np.testing.assert_array_equal(proximity_array(dist, radius), expected)
    assert proximity_array(np.array([0.5, 30.2]), 100.0).tolist() == [1.0, 0.7]


def test_proximity_moves_only_in_whole_km() -> None:
    assert proximity(0.0, 100.0) == proximity(0.99, 100.0) == 1.0
    assert proximity(30.0, 100.0) == proximity(30.9, 100.0) == pytest.approx(0.7)
    assert proximity(31.0, 100.0) == pytest.approx(0.69)
    assert proximity(None, 100.0) == 0.0
    assert proximity(150.0, 100.0) == 0.0


def test_scores_do_not_see_moves_within_a_km() -> None:
    """b walks 1 km north in 50 m steps: the proximity takes at most two values."""
    berlin = make_person(latitude=52.52, longitude=13.405)
    values = {
        _factors(berlin, make_person(latitude=52.6 + i * 0.00045, longitude=13.405))[
            "location_proximity"
        ]
        for i in range(20)
    }
    assert 1 <= len(values) <= 2
    assert all(round(v * DEFAULT_KM, 9) == round(v * DEFAULT_KM) for v in values)


def test_industry_alignment() -> None:
    soft = make_person(industry="software")
    assert _factors(soft, make_person(industry="software"))["industry_alignment"] == 1.0
    assert _factors(soft, make_person(industry="media"))["industry_alignment"] == 0.0
    unknown = make_person(industry=None)
    assert _factors(unknown, make_person(industry=None))["industry_alignment"] == 0.0
    wants_media = make_person(industry="software", prefs=make_prefs(industries=["media"]))
    assert _factors(wants_media, make_person(industry="media"))["industry_alignment"] == 1.0
    assert _factors(wants_media, make_person(industry="software"))["industry_alignment"] == 0.0


def test_activity() -> None:
    fresh = make_person(last_active_at=NOW)
    stale = make_person(last_active_at=NOW - timedelta(days=ACTIVITY_HALF_LIFE_DAYS))
    assert activity_level(fresh, NOW) == 1.0
    assert activity_level(stale, NOW) == pytest.approx(0.5)
    future = make_person(last_active_at=NOW + timedelta(days=3))
    assert activity_level(future, NOW) == 1.0
    # b's activity, discounted by how differently active the two are
    assert _factors(fresh, stale)["activity_compatibility"] == pytest.approx(0.5 * 0.75)
    assert _factors(stale, fresh)["activity_compatibility"] == pytest.approx(0.75)
    assert _factors(fresh, fresh)["activity_compatibility"] == 1.0


def test_jaccard() -> None:
    assert jaccard(frozenset(), frozenset()) == 0.0
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset("ab"), frozenset("ab")) == 1.0


# -- weights ---------------------------------------------------------------------------------


def test_effective_weights_default_to_the_service_weights() -> None:
    w = effective_weights(DEFAULTS, make_person())
    assert w == pytest.approx(DEFAULTS)
    assert list(w) == list(FACTORS)


def test_effective_weights_renormalise_a_persons_own_weights() -> None:
    person = make_person(prefs=make_prefs(weights={"location_proximity": 0.8}))
    w = effective_weights(DEFAULTS, person)
    total = 1.0 - 0.2 + 0.8
    assert w["location_proximity"] == pytest.approx(0.8 / total)
    assert w["profile_similarity"] == pytest.approx(0.3 / total)
    assert sum(w.values()) == pytest.approx(1.0)


def test_effective_weights_all_zero_fall_back_to_the_defaults() -> None:
    person = make_person(prefs=make_prefs(weights=dict.fromkeys(FACTORS, 0.0)))
    assert effective_weights(DEFAULTS, person) == DEFAULTS


def test_effective_weights_sum_to_one_for_everyone(population: list[Person]) -> None:
    custom = [p for p in population if p.prefs.weights]
    assert len(custom) > 20
    for p in custom:
        assert sum(effective_weights(DEFAULTS, p).values()) == pytest.approx(1.0)


def test_directed_score_is_the_weighted_sum() -> None:
    a = make_person(prefs=make_prefs(weights={"interest_overlap": 1.0}))
    b = make_person(interests=["hiking"], industry="media")
    d = directed_score(a, b, 0.6, NOW, DEFAULTS, DEFAULT_KM)
    assert d.factors == {
        "profile_similarity": 0.6,
        "interest_overlap": 0.5,
        "location_proximity": 1.0,
        "industry_alignment": 0.0,
        "activity_compatibility": 1.0,
    }
    w = effective_weights(DEFAULTS, a)
    assert d.weights == w
    assert d.score == pytest.approx(sum(w[f] * d.factors[f] for f in FACTORS))
    assert d.score == pytest.approx((0.3 * 0.6 + 1.0 * 0.5 + 0.2 + 0.1) / 1.75)
    assert d.contributions()["industry_alignment"] == 0.0


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [(1.0, 1.0, 1.0), (0.5, 1.0, 2 / 3), (0.9, 0.1, 0.18), (0.0, 1.0, 0.0), (0.7, -0.1, 0.0)],
)
def test_harmonic_mean(x: float, y: float, expected: float) -> None:
    assert harmonic_mean(x, y) == pytest.approx(expected)
    assert harmonic_mean(y, x) == pytest.approx(expected)


def test_primary_factors_are_the_largest_positive_contributions() -> None:
    score = DirectedScore(
        score=0.5,
        factors={
            "profile_similarity": 0.5,
            "interest_overlap": 0.0,
            "location_proximity": 1.0,
            "industry_alignment": 0.0,
            "activity_compatibility": 0.1,
        },
        weights=dict(DEFAULTS),
    )
    assert primary_factors(score) == ["location_proximity", "profile_similarity"]
    assert primary_factors(score, top=3) == [
        "location_proximity",
        "profile_similarity",
        "activity_compatibility",
    ]
    nothing = DirectedScore(0.0, dict.fromkeys(FACTORS, 0.0), dict(DEFAULTS))
    assert primary_factors(nothing) == []
