"""The demo population generator: deterministic, valid, normalised and realistically shaped."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest

from matching.core.domain.profile import Preferences, ProfileIn
from matching.core.domain.vocabulary_tables import ACTIVITY, INDUSTRY_TABLE
from matching.devtools.population import (
    CITIES,
    COMPANIES,
    DEFAULT_NOW,
    GOAL_COMPLEMENTS,
    INDUSTRIES,
    INTEREST_THEMES,
    NETWORKING_GOALS,
    SeedPerson,
    favourite_themes,
    generate_population,
    theme_of,
)

pytestmark = pytest.mark.unit

N = 2000


@pytest.fixture(scope="module")
def people() -> list[SeedPerson]:
    return list(generate_population(N, seed=11))


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _share(people: list[SeedPerson], hit: Callable[[SeedPerson], bool]) -> float:
    return sum(1 for p in people if hit(p)) / len(people)


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_people() -> None:
    assert list(generate_population(300, seed=5)) == list(generate_population(300, seed=5))


def test_different_seeds_give_different_people() -> None:
    a = list(generate_population(200, seed=1))
    b = list(generate_population(200, seed=2))
    assert not {p.id for p in a} & {p.id for p in b}
    assert sum(x.profile == y.profile for x, y in zip(a, b, strict=True)) < 5


def test_a_prefix_of_a_larger_run_equals_a_smaller_run() -> None:
    big = list(generate_population(700, seed=3))
    assert big[:250] == list(generate_population(250, seed=3))
    assert list(generate_population(0, seed=3)) == []


def test_default_seed_and_now_are_fixed() -> None:
    first = next(generate_population(1))
    assert first == next(generate_population(1, seed=42, now=DEFAULT_NOW))
    assert first.last_active_at <= DEFAULT_NOW


def test_now_shifts_timestamps_only() -> None:
    later = DEFAULT_NOW + timedelta(days=30)
    a = list(generate_population(50, seed=9))
    b = list(generate_population(50, seed=9, now=later.astimezone(timezone(timedelta(hours=2)))))
    for x, y in zip(a, b, strict=True):
        assert (x.id, x.profile) == (y.id, y.profile)
        assert y.created_at - x.created_at == timedelta(days=30)
        assert y.last_active_at.tzinfo == UTC


def test_output_is_independent_of_the_process() -> None:
    """Ids come first off the seeded stream; nothing iterates a hash-ordered set."""
    assert next(generate_population(1)).id == UUID("bdd640fb-0667-4ad1-9c80-317fa3b1799d")
    code = (
        "import hashlib\n"
        "from matching.devtools.population import generate_population\n"
        "people = generate_population(200, seed=8)\n"
        "print(hashlib.sha256(repr(list(people)).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=Path(__file__).parents[2],
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_population(-1)
    with pytest.raises(ValueError, match="timezone"):
        generate_population(1, now=datetime(2026, 1, 1))  # naive on purpose


# -- validity ---------------------------------------------------------------------------------


def test_ids_are_unique_uuid4(people: list[SeedPerson]) -> None:
    assert len({p.id for p in people}) == len(people)
    assert {p.id.version for p in people} == {4}


def test_fast_built_profiles_validate_and_round_trip(people: list[SeedPerson]) -> None:
    for p in people:
        assert ProfileIn.model_validate(p.profile.model_dump()) == p.profile
    for p in people[:50]:
        assert ProfileIn.model_validate_json(p.profile.model_dump_json()) == p.profile


def test_fast_path_sets_every_field(people: list[SeedPerson]) -> None:
    p = people[0].profile
    assert list(p.__dict__) == list(ProfileIn.model_fields)
    assert list(p.preferences.__dict__) == list(Preferences.model_fields)
    assert p.model_fields_set == set(ProfileIn.model_fields)
    assert p == ProfileIn.model_construct(**p.__dict__)


def test_tags_are_normalised(people: list[SeedPerson]) -> None:
    for p in people:
        prof, prefs = p.profile, p.profile.preferences
        tag_lists = [
            prof.skills,
            prof.interests,
            prof.networking_goals,
            prof.languages,
            prefs.industries,
            prefs.interests,
            prefs.networking_goals,
            prefs.languages,
        ]
        for tags in tag_lists:
            assert tags == list(dict.fromkeys(" ".join(t.split()).lower() for t in tags))
        assert prof.languages


def test_timestamps_are_utc_and_ordered(people: list[SeedPerson]) -> None:
    for p in people:
        assert p.created_at.tzinfo == UTC and p.last_active_at.tzinfo == UTC
        assert DEFAULT_NOW - timedelta(days=3 * 365 + 1) <= p.created_at <= p.last_active_at
        assert p.last_active_at <= DEFAULT_NOW
    recent = _share(people, lambda p: DEFAULT_NOW - p.last_active_at < timedelta(days=30))
    assert 0.5 < recent < 0.95


# -- vocabularies -----------------------------------------------------------------------------


def test_vocabularies() -> None:
    assert len(INDUSTRIES) == len(set(INDUSTRIES)) >= 16
    assert all(i == i.lower() for i in INDUSTRIES)
    interests = [tag for tags in INTEREST_THEMES.values() for tag in tags]
    assert len(interests) == len(set(interests)) >= 60
    assert all(theme_of(tag) == theme for theme, tags in INTEREST_THEMES.items() for tag in tags)
    # every interest reads in "Outside work I'm usually ...".
    assert all(tag.endswith("ing") or tag in ACTIVITY for tag in interests)
    assert len(CITIES) == 12 and all(-90 <= c.lat <= 90 and -180 <= c.lon <= 180 for c in CITIES)
    assert all(lang == lang.lower() for c in CITIES for lang in c.languages)
    assert set(GOAL_COMPLEMENTS) == set(NETWORKING_GOALS)
    for industry in INDUSTRY_TABLE:  # three distinct skills are always drawn for the bio
        for role in industry.roles:
            assert len(set(role.skills)) == len(role.skills) == 5
            assert len([s for s in industry.shared_skills if s not in role.skills]) >= 3


# -- realistic shape (loose bounds on N people) ------------------------------------------------


def test_missing_fields_at_realistic_rates(people: list[SeedPerson]) -> None:
    assert 0.92 < _share(people, lambda p: p.profile.latitude is not None) < 0.98
    assert 0.85 < _share(people, lambda p: p.profile.bio is not None) < 0.95
    assert 0.88 < _share(people, lambda p: p.profile.age is not None) < 0.96
    assert 0.80 < _share(people, lambda p: p.profile.company is not None) < 0.90
    assert 0.01 < _share(people, lambda p: p.profile.gender is None) < 0.10


def test_companies_have_colleagues_and_fixed_sizes(people: list[SeedPerson]) -> None:
    sizes = {c.name: (industry, c.size) for industry, cs in COMPANIES.items() for c in cs}
    staff = Counter(p.profile.company for p in people if p.profile.company)
    assert max(staff.values()) >= 20 and sum(1 for n in staff.values() if n >= 2) >= 50
    for p in people:
        prof = p.profile
        assert prof.industry in INDUSTRIES
        if prof.company is None:
            assert prof.company_size is None
        else:
            assert sizes[prof.company] == (prof.industry, prof.company_size)
            assert prof.headline in (None, f"{prof.job_title} at {prof.company}")


def test_everyone_located_lives_near_a_city(people: list[SeedPerson]) -> None:
    near: Counter[str] = Counter()
    for p in people:
        lat, lon = p.profile.latitude, p.profile.longitude
        assert (lat is None) == (lon is None)
        if lat is None or lon is None:
            continue
        distance, city = min((_km(lat, lon, c.lat, c.lon), c.name) for c in CITIES)
        assert distance <= 31  # jitter is truncated at 30 km, nowhere near 150 km
        near[city] += 1
    assert len(near) == len(CITIES)
    dists = [
        min(_km(p.profile.latitude, p.profile.longitude, c.lat, c.lon) for c in CITIES)
        for p in people
        if p.profile.latitude is not None and p.profile.longitude is not None
    ]
    assert 8 < statistics.median(dists) < 16  # ~ sigma * 1.18 for a 2-d gaussian, sigma 10 km


def test_languages_follow_the_city(people: list[SeedPerson]) -> None:
    assert _share(people, lambda p: "english" in p.profile.languages) > 0.8
    paris = [
        p
        for p in people
        if p.profile.latitude is not None
        and _km(p.profile.latitude, p.profile.longitude or 0, 48.8566, 2.3522) < 40
    ]
    assert paris and sum("french" in p.profile.languages for p in paris) / len(paris) > 0.85


def test_job_levels_skew_mid_senior_and_age_follows_level(people: list[SeedPerson]) -> None:
    levels = Counter(p.profile.job_level for p in people)
    assert {lvl for lvl, _ in levels.most_common(2)} == {"mid", "senior"}
    assert set(levels) == {
        "intern",
        "entry",
        "mid",
        "senior",
        "lead",
        "manager",
        "director",
        "vp",
        "executive",
        "founder",
    }

    def mean_age(level: str) -> float:
        return statistics.mean(
            p.profile.age
            for p in people
            if p.profile.job_level == level and p.profile.age is not None
        )

    assert mean_age("intern") < mean_age("mid") < mean_age("senior") < mean_age("director")
    assert all(21 <= (p.profile.age or 21) <= 65 for p in people)


def test_interests_cluster_in_one_or_two_favourite_themes(people: list[SeedPerson]) -> None:
    for p in people:
        themes = favourite_themes(p)
        if p.profile.interests:
            assert 1 <= len(themes) <= 2
            assert favourite_themes(p.profile) == themes
            liked = sum(theme_of(t) in themes for t in p.profile.interests)
            assert liked >= len(p.profile.interests) - 2
        else:
            assert themes == ()
    assert _share(people, lambda p: not p.profile.interests) < 0.06


def test_text_fields_are_written_from_the_profile(people: list[SeedPerson]) -> None:
    bios = [p.profile.bio for p in people if p.profile.bio]
    assert len(set(bios)) == len(bios)
    assert len({b.split(" ")[0] for b in bios}) >= 4  # several templates
    for p in people[:300]:
        prof = p.profile
        if prof.bio:
            assert 2 <= prof.bio.count(". ") + 1 <= 4 and prof.bio.endswith((".", "!"))
            assert prof.job_title is not None and prof.job_title in prof.bio
        assert prof.name.count(" ") >= 1


def test_goals_and_preferences(people: list[SeedPerson]) -> None:
    for p in people:
        prof, prefs = p.profile, p.profile.preferences
        assert set(prof.networking_goals) <= set(NETWORKING_GOALS)
        if prefs.age_min is not None or prefs.age_max is not None:
            assert prefs.age_min is not None and prefs.age_max is not None
            assert 18 <= prefs.age_min <= prefs.age_max <= 99
        assert set(prefs.languages) <= set(prof.languages)
        wanted = {c for g in prof.networking_goals for c in GOAL_COMPLEMENTS[g]}
        assert set(prefs.networking_goals) <= wanted
        liked = {tag for t in favourite_themes(p) for tag in INTEREST_THEMES[t]}
        assert not prof.interests or set(prefs.interests) <= liked
        assert prefs.distance_km is None or 10 <= prefs.distance_km <= 200
    rates = {
        "age": (lambda p: p.profile.preferences.age_min is not None, 0.55, 0.65),
        "distance": (lambda p: p.profile.preferences.distance_km is not None, 0.65, 0.75),
        "languages": (lambda p: bool(p.profile.preferences.languages), 0.25, 0.35),
        "industries": (lambda p: bool(p.profile.preferences.industries), 0.07, 0.13),
        "job_levels": (lambda p: bool(p.profile.preferences.job_levels), 0.03, 0.08),
        "colleagues": (lambda p: p.profile.preferences.exclude_colleagues, 0.16, 0.24),
        "competitors": (lambda p: p.profile.preferences.exclude_competitors, 0.03, 0.08),
        "interests": (lambda p: bool(p.profile.preferences.interests), 0.25, 0.35),
        "weights": (lambda p: p.profile.preferences.algorithm_weights is not None, 0.03, 0.08),
    }
    for name, (hit, low, high) in rates.items():
        assert low < _share(people, hit) < high, name


def test_complementary_goals_are_sought(people: list[SeedPerson]) -> None:
    mentors = [
        p
        for p in people
        if p.profile.preferences.networking_goals and "mentorship" in p.profile.networking_goals
    ]
    assert mentors
    assert all("find a mentor" in p.profile.preferences.networking_goals for p in mentors)
    custom = [p.profile.preferences.algorithm_weights for p in people]
    assert any(w is not None and w.given() for w in custom)
