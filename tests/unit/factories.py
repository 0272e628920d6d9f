"""Builders for the unit tier: one `Person` with overrides, and seeded random populations
varied enough that every hard filter excludes someone."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from matching.core.domain.person import Person, PreferenceView
from matching.core.domain.profile import COMPANY_SIZES, FACTORS, JOB_LEVELS
from matching.core.storage.profiles import IndexedPerson

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

CITIES: dict[str, tuple[float, float]] = {
    "berlin": (52.5200, 13.4050),
    "munich": (48.1374, 11.5755),
    "paris": (48.8566, 2.3522),
    "london": (51.5074, -0.1278),
    "new york": (40.7128, -74.0060),
}
# "english"/"hungarian" and "energy"/"fintech" share a hashed bit in core.retrieval.store, so the
# store's mask lets some rows through that the exact rule then rejects.
LANGUAGES = ("english", "german", "french", "spanish", "hungarian", "polish")
INDUSTRIES = ("software", "fintech", "energy", "healthcare", "education", "media")
COMPANIES = {  # a few employers per industry, so colleagues and competitors both exist
    "software": ("acme", "initech", "hooli"),
    "fintech": ("monzo-ish", "payly"),
    "energy": ("voltra", "sunco"),
    "healthcare": ("medix",),
    "education": ("learnly", "tutorium"),
    "media": ("newsly", "acme"),  # "acme" also in software: same company, another industry
}
INTERESTS = (
    "hiking",
    "climbing",
    "chess",
    "jazz",
    "startups",
    "machine learning",
    "cooking",
    "running",
    "photography",
    "golf",
)


def uid(n: int) -> uuid.UUID:
    """A deterministic, non-nil UUID."""
    return uuid.UUID(int=0x1000_0000_0000_0000_0000_0000_0000_0000 + n)


def _frozen(value: Any) -> Any:
    return frozenset(value) if isinstance(value, (set, list, tuple)) else value


def make_prefs(**overrides: Any) -> PreferenceView:
    """A PreferenceView; sets may be given as lists, weights as a dict."""
    weights = overrides.pop("weights", None)
    if isinstance(weights, dict):
        overrides["weights"] = tuple(sorted(weights.items()))
    elif weights is not None:
        overrides["weights"] = weights
    return PreferenceView(**{k: v if k == "weights" else _frozen(v) for k, v in overrides.items()})


_counter = iter(range(1_000_000, 10_000_000))


def make_person(**overrides: Any) -> Person:
    """A Berlin-based senior software engineer at Acme, unless told otherwise.

    `prefs` may be a PreferenceView or a dict for `make_prefs`; `city` sets both coordinates;
    set-valued fields may be given as lists."""
    prefs = overrides.pop("prefs", None)
    if isinstance(prefs, dict):
        prefs = make_prefs(**prefs)
    city = overrides.pop("city", None)
    if city is not None:
        overrides["latitude"], overrides["longitude"] = CITIES[city]
    fields: dict[str, Any] = {
        "user_id": uid(next(_counter)),
        "name": "Test Person",
        "headline": "Engineer",
        "industry": "software",
        "company": "acme",
        "job_level": "senior",
        "company_size": "51-200",
        "interests": frozenset({"hiking", "climbing"}),
        "networking_goals": frozenset({"mentorship"}),
        "languages": frozenset({"english"}),
        "latitude": CITIES["berlin"][0],
        "longitude": CITIES["berlin"][1],
        "age": 34,
        "last_active_at": NOW,
        "prefs": prefs if prefs is not None else PreferenceView(),
    }
    fields.update({k: _frozen(v) for k, v in overrides.items()})
    return Person(**fields)


def _sample(rng: random.Random, pool: Iterable[str], lo: int, hi: int) -> frozenset[str]:
    items = list(pool)
    return frozenset(rng.sample(items, rng.randint(lo, min(hi, len(items)))))


def _random_prefs(rng: random.Random) -> PreferenceView:
    age_min = age_max = None
    roll = rng.random()
    if roll < 0.15:
        age_min = rng.randint(20, 45)
        age_max = age_min + rng.randint(3, 25)
    elif roll < 0.22:
        age_min = rng.randint(25, 50)
    elif roll < 0.28:
        age_max = rng.randint(25, 50)
    weights: dict[str, float] = {}
    if rng.random() < 0.2:
        weights = {f: round(rng.random(), 2) for f in rng.sample(FACTORS, rng.randint(1, 3))}
    return make_prefs(
        age_min=age_min,
        age_max=age_max,
        distance_km=rng.choice((5.0, 25.0, 100.0, 400.0, 1500.0)) if rng.random() < 0.3 else None,
        languages=_sample(rng, LANGUAGES, 1, 2) if rng.random() < 0.25 else frozenset(),
        industries=_sample(rng, INDUSTRIES, 1, 3) if rng.random() < 0.2 else frozenset(),
        job_levels=_sample(rng, JOB_LEVELS, 2, 5) if rng.random() < 0.2 else frozenset(),
        company_sizes=_sample(rng, COMPANY_SIZES, 2, 4) if rng.random() < 0.15 else frozenset(),
        interests=_sample(rng, INTERESTS, 1, 3) if rng.random() < 0.4 else frozenset(),
        exclude_colleagues=rng.random() < 0.3,
        exclude_competitors=rng.random() < 0.2,
        weights=weights,
    )


TITLES = ("Software Engineer", "Senior Data Engineer", "Product Manager", "Founder", "Designer")
SKILLS = ("python", "sql", "leadership", "figma", "sales")
GENDERS = ("female", "male", "non_binary", "other", "prefer_not_to_say")


def _dating(n: int) -> dict[str, Any]:
    """Gender, title, skills and show_me, from their own stream: the main one's draws (and
    every seeded test built on them) stay as they were."""
    rng = random.Random(f"dating-{n}")
    show_me = _sample(rng, GENDERS[:3], 1, 2) if rng.random() < 0.15 else frozenset()
    return {
        "gender": rng.choice(GENDERS) if rng.random() < 0.9 else None,
        "job_title": rng.choice(TITLES) if rng.random() < 0.8 else None,
        "skills": _sample(rng, SKILLS, 0, 2),
        "show_me": show_me,
    }


def random_person(rng: random.Random, n: int) -> Person:
    extra = _dating(n)
    person = _random_person(rng, n)
    prefs = dataclasses.replace(person.prefs, show_me=extra.pop("show_me"))
    return dataclasses.replace(person, prefs=prefs, **extra)


def _random_person(rng: random.Random, n: int) -> Person:
    city = rng.choice(list(CITIES))
    lat, lon = CITIES[city]
    located = rng.random() < 0.85
    industry = rng.choice(INDUSTRIES) if rng.random() < 0.9 else None
    company = None
    if rng.random() < 0.85:
        company = rng.choice(COMPANIES[industry] if industry else ("acme", "freelance co"))
    return Person(
        user_id=uid(n),
        name=f"Person {n}",
        headline=f"{industry or 'independent'} professional in {city}",
        industry=industry,
        company=company,
        job_level=rng.choice(JOB_LEVELS) if rng.random() < 0.9 else None,
        company_size=rng.choice(COMPANY_SIZES) if rng.random() < 0.9 else None,
        interests=_sample(rng, INTERESTS, 0, 4),
        networking_goals=_sample(rng, ("mentorship", "hiring", "cofounder"), 0, 2),
        languages=_sample(rng, LANGUAGES, 0, 2) if rng.random() < 0.95 else frozenset(),
        latitude=lat + rng.gauss(0, 0.15) if located else None,
        longitude=lon + rng.gauss(0, 0.15) if located else None,
        age=rng.randint(18, 70) if rng.random() < 0.9 else None,
        last_active_at=NOW - timedelta(days=rng.uniform(0, 60)),
        prefs=_random_prefs(rng),
    )


def random_population(n: int, seed: int = 0) -> list[Person]:
    rng = random.Random(seed)
    return [random_person(rng, i) for i in range(n)]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def indexed(people: list[Person], dim: int = 16, seed: int = 0) -> list[IndexedPerson]:
    vectors = unit_vectors(len(people), dim, seed)
    return [IndexedPerson(p, v) for p, v in zip(people, vectors, strict=True)]
