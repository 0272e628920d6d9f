"""Profile and preference models, the text that is embedded, completeness, geo and Person."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import pytest
from pydantic import ValidationError

from matching.core.domain.features import profile_completeness
from matching.core.domain.geo import (
    EARTH_RADIUS_KM,
    cos_of_distance,
    distances_km,
    haversine_km,
    unit_vector,
)
from matching.core.domain.person import Person, PreferenceView, casefold
from matching.core.domain.profile import (
    MAX_TAGS,
    AlgorithmWeights,
    Preferences,
    Profile,
    ProfileFields,
    ProfileIn,
)
from matching.core.domain.text import TEXT_FIELDS, profile_text

BERLIN = (52.52, 13.405)
MUNICH = (48.1374, 11.5755)


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[object, ...], str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in exc.value.errors()]


# -- tags ----------------------------------------------------------------------------------


def test_tags_are_lower_cased_trimmed_and_deduplicated_in_order() -> None:
    p = ProfileIn(
        name="x",
        interests=["  Machine   Learning ", "machine learning", "AI", " ", "ai", "Hiking"],
        skills=["Python", "PYTHON"],
        languages=["English", "german", "ENGLISH"],
    )
    assert p.interests == ["machine learning", "ai", "hiking"]
    assert p.skills == ["python"]
    assert p.languages == ["english", "german"]


def test_preference_tags_are_normalised_too() -> None:
    prefs = Preferences(industries=["FinTech", "fintech ", "Health  Care"], languages=["DE"])
    assert prefs.industries == ["fintech", "health care"]
    assert prefs.languages == ["de"]


@pytest.mark.parametrize(
    ("value", "loc", "kind"),
    [
        (["x" * 61], ("interests", 0), "string_too_long"),
        ([""], ("interests", 0), "string_too_short"),
        ([f"t{i}" for i in range(MAX_TAGS + 1)], ("interests",), "too_long"),
    ],
)
def test_tag_limits(value: list[str], loc: tuple[object, ...], kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProfileIn(name="x", interests=value)
    err = info.value.errors()[0]
    assert (tuple(err["loc"]), err["type"]) == (loc, kind)


def test_fifty_tags_are_allowed() -> None:
    assert len(ProfileIn(name="x", interests=[f"t{i}" for i in range(MAX_TAGS)]).interests) == 50


# -- preferences -----------------------------------------------------------------------------


def test_age_max_below_age_min_is_an_error_at_age_max() -> None:
    with pytest.raises(ValidationError) as info:
        Preferences(age_min=40, age_max=30)
    assert _errors(info) == [
        (("age_max",), "Value error, age_max (30) must not be less than age_min (40)")
    ]


def test_equal_age_bounds_and_one_sided_bounds_are_fine() -> None:
    assert Preferences(age_min=30, age_max=30).age_max == 30
    assert Preferences(age_min=30).age_max is None
    assert Preferences(age_max=30).age_min is None


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({"age_min": 15}, ("age_min",)),
        ({"age_max": 121}, ("age_max",)),
        ({"distance_km": 0}, ("distance_km",)),
        ({"distance_km": 20_001}, ("distance_km",)),
        ({"job_levels": ["wizard"]}, ("job_levels", 0)),
        ({"company_sizes": ["huge"]}, ("company_sizes", 0)),
        ({"colour": "blue"}, ("colour",)),
        (
            {"algorithm_weights": {"profile_similarity": 1.5}},
            ("algorithm_weights", "profile_similarity"),
        ),
        ({"algorithm_weights": {"luck": 0.5}}, ("algorithm_weights", "luck")),
    ],
)
def test_invalid_preferences_are_located(kwargs: dict[str, Any], loc: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        Preferences(**kwargs)
    assert [tuple(e["loc"]) for e in info.value.errors()] == [loc]


def test_algorithm_weights_given_is_the_subset_that_was_set() -> None:
    w = AlgorithmWeights(profile_similarity=0.7, location_proximity=0.0)
    assert w.given() == {"profile_similarity": 0.7, "location_proximity": 0.0}
    assert AlgorithmWeights().given() == {}


# -- profile fields --------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"latitude": 52.5}, {"longitude": 13.4}])
def test_both_coordinates_or_none_reported_at_longitude(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        ProfileFields(name="x", **kwargs)
    assert _errors(info) == [
        (("longitude",), "Value error, latitude and longitude must be given together")
    ]


def test_an_out_of_range_latitude_is_reported_once_at_latitude() -> None:
    with pytest.raises(ValidationError) as info:
        ProfileFields(name="x", latitude=91.0)
    assert [e["loc"] for e in info.value.errors()] == [("latitude",)]


def test_coordinates_together_or_absent_are_valid() -> None:
    assert ProfileFields(name="x", latitude=0.0, longitude=0.0).latitude == 0.0
    assert ProfileFields(name="x").longitude is None


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({"name": ""}, ("name",)),
        ({"name": "x" * 201}, ("name",)),
        ({"name": "x", "latitude": 91.0, "longitude": 0.0}, ("latitude",)),
        ({"name": "x", "latitude": 0.0, "longitude": -181.0}, ("longitude",)),
        ({"name": "x", "age": 15}, ("age",)),
        ({"name": "x", "gender": "robot"}, ("gender",)),
        ({"name": "x", "job_level": "boss"}, ("job_level",)),
        ({"name": "x", "industry": ""}, ("industry",)),
        ({"name": "x", "nickname": "y"}, ("nickname",)),
    ],
)
def test_invalid_profile_fields_are_located(
    kwargs: dict[str, Any], loc: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError) as info:
        ProfileFields(**kwargs)
    assert [tuple(e["loc"]) for e in info.value.errors()] == [loc]


def test_profile_in_defaults_preferences_and_profile_requires_ids() -> None:
    p = ProfileIn(name="x")
    assert p.preferences == Preferences()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    stored = Profile(name="x", id=uuid4(), created_at=now, updated_at=now, last_active_at=now)
    assert stored.active is True
    with pytest.raises(ValidationError) as info:
        Profile(name="x")  # type: ignore[call-arg]
    missing = {e["loc"][0] for e in info.value.errors() if e["type"] == "missing"}
    assert missing == {"id", "created_at", "updated_at", "last_active_at"}


# -- text ------------------------------------------------------------------------------------


def test_profile_text_joins_the_embedded_fields_in_order() -> None:
    p = ProfileFields(
        name="Ada",
        headline="  Backend engineer ",
        bio="I build systems.",
        industry="Software",
        skills=["Python", "Go"],
        interests=["Hiking"],
        networking_goals=["mentorship"],
        company="Acme",  # not embedded
    )
    assert profile_text(p) == (
        "Backend engineer I build systems. Industry: Software. Skills: python, go. "
        "Interests: hiking. Goals: mentorship."
    )


def test_profile_text_skips_empty_parts_and_falls_back_to_the_name() -> None:
    assert profile_text(ProfileFields(name="Ada", headline="   ", bio="")) == "Ada"
    assert profile_text(ProfileFields(name="Ada", interests=["chess"])) == "Interests: chess."


def test_text_fields_are_what_profile_text_reads() -> None:
    base = ProfileFields(name="Ada", headline="h", bio="b", industry="i", skills=["s"])
    assert TEXT_FIELDS == {
        "headline",
        "bio",
        "industry",
        "skills",
        "interests",
        "networking_goals",
        "name",
    }
    changed = base.model_copy(update={"company": "Other", "age": 50, "languages": ["fr"]})
    assert profile_text(changed) == profile_text(base)
    for field, value in (("headline", "H2"), ("interests", ["golf"]), ("industry", "x")):
        assert profile_text(base.model_copy(update={field: value})) != profile_text(base)


# -- completeness ----------------------------------------------------------------------------


def test_completeness_of_an_empty_and_a_full_profile() -> None:
    assert profile_completeness(ProfileFields(name="x")) == 0.0
    full = ProfileFields(
        name="x",
        headline="h",
        bio="b",
        industry="i",
        job_title="t",
        job_level="mid",
        company="c",
        company_size="1-10",
        skills=["s"],
        interests=["i"],
        networking_goals=["g"],
        languages=["en"],
        latitude=1.0,
        longitude=2.0,
        age=30,
    )
    assert profile_completeness(full) == 1.0


def test_completeness_weights_fields_and_ignores_empty_strings() -> None:
    # headline 1.0 + bio 1.5 of a total of 10.5; an empty headline counts as missing
    assert profile_completeness(ProfileFields(name="x", headline="h", bio="b")) == round(
        2.5 / 10.5, 4
    )
    assert profile_completeness(ProfileFields(name="x", headline="", bio="b")) == round(
        1.5 / 10.5, 4
    )


# -- geo -------------------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    assert haversine_km(*BERLIN, *BERLIN) == 0.0
    assert haversine_km(*BERLIN, *MUNICH) == pytest.approx(504.4, abs=1.0)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.195, abs=0.01)


def test_unit_vectors_and_dot_distances_agree_with_haversine() -> None:
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(-80, 80, 50), rng.uniform(-180, 180, 50)])
    xyz = np.array([unit_vector(lat, lon) for lat, lon in points])
    assert np.allclose(np.linalg.norm(xyz, axis=1), 1.0)
    got = distances_km(xyz, unit_vector(*BERLIN))
    want = [haversine_km(*BERLIN, lat, lon) for lat, lon in points]
    assert np.allclose(got, want, atol=1e-3)


def test_cos_of_distance() -> None:
    assert cos_of_distance(0.0) == 1.0
    assert cos_of_distance(EARTH_RADIUS_KM * math.pi / 2) == pytest.approx(0.0, abs=1e-12)
    assert cos_of_distance(1e9) == -1.0  # capped at the antipode
    berlin, munich = unit_vector(*BERLIN), unit_vector(*MUNICH)
    dot = float(np.dot(berlin, munich))
    assert cos_of_distance(haversine_km(*BERLIN, *MUNICH)) == pytest.approx(dot, abs=1e-12)


# -- Person ----------------------------------------------------------------------------------


def test_person_from_profile_case_folds_and_copies_preferences() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    uid = uuid4()
    profile = ProfileIn(
        name="Ada",
        industry="  Financial   Services ",
        company="ACME Corp",
        job_level="lead",
        company_size="11-50",
        interests=["Chess", "chess"],
        languages=["English"],
        latitude=1.5,
        longitude=2.5,
        age=40,
        preferences=Preferences(
            age_min=30,
            industries=["Fintech"],
            job_levels=["vp", "lead"],
            exclude_colleagues=True,
            algorithm_weights=AlgorithmWeights(location_proximity=0.5, profile_similarity=0.1),
        ),
    )
    p = Person.from_profile(uid, profile, profile.preferences, now)
    assert p.user_id == uid
    assert p.industry == "financial services"
    assert p.company == "acme corp"
    assert p.interests == frozenset({"chess"})
    assert p.languages == frozenset({"english"})
    assert p.has_location
    assert p.prefs.age_min == 30
    assert p.prefs.industries == frozenset({"fintech"})
    assert p.prefs.job_levels == frozenset({"vp", "lead"})
    assert p.prefs.exclude_colleagues is True
    assert p.prefs.weights == (("location_proximity", 0.5), ("profile_similarity", 0.1))


def test_preference_view_without_weights() -> None:
    assert PreferenceView.from_preferences(Preferences()) == PreferenceView()


def test_has_location_needs_both_coordinates(make_person: Callable[..., Person]) -> None:
    assert make_person().has_location
    assert not make_person(latitude=None).has_location
    assert not make_person(longitude=None).has_location


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  A  B ", "a b"), ("Acme", "acme")],
)
def test_casefold(value: str | None, expected: str | None) -> None:
    assert casefold(value) == expected
