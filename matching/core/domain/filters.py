"""Hard filters, pair by pair: the exact rule the vectorised store mask approximates.

Distances to other people are `geo.public_km` (cells, whole km): a radius filter answers
"is X within r of P?" for any P and r a caller picks, so it must not resolve finer than
what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.core.domain.geo import public_km
from matching.core.domain.person import Person
from matching.core.domain.search_terms import Group, hits, person_terms


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Filters a search request adds on top of the people's own preferences: each set is
    "one of these" (empty: any); `min_named` of the `named` term groups must be met."""

    latitude: float | None = None
    longitude: float | None = None
    max_distance_km: float | None = None
    age_min: int | None = None
    age_max: int | None = None
    genders: frozenset[str] = frozenset()
    job_levels: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    named: tuple[Group, ...] = ()
    min_named: int = 0

    def accepts(self, b: Person) -> bool:
        if self.age_min is not None and (b.age is None or b.age < self.age_min):
            return False
        if self.age_max is not None and (b.age is None or b.age > self.age_max):
            return False
        if not (_in(b.gender, self.genders) and _in(b.job_level, self.job_levels)):
            return False
        if not _in(b.industry, self.industries):
            return False
        if self.languages and not (self.languages & b.languages):
            return False
        if self.min_named and hits(self.named, person_terms(b)) < self.min_named:
            return False
        if self.max_distance_km is None or self.latitude is None or self.longitude is None:
            return True
        return b.has_location and distance_between(self.latitude, self.longitude, b) <= (
            self.max_distance_km
        )


def distance_between(lat: float, lon: float, b: Person) -> float:
    """From a point to b, as others may know it (`geo.public_km`)."""
    assert b.latitude is not None and b.longitude is not None
    return public_km(lat, lon, b.latitude, b.longitude)


def person_distance_km(a: Person, b: Person) -> float | None:
    """Between two people, as others may know it; None when either location is unknown."""
    if not (a.has_location and b.has_location):
        return None
    assert a.latitude is not None and a.longitude is not None
    return distance_between(a.latitude, a.longitude, b)


def within_age(a: Person, b: Person) -> bool:
    """Is b's age within a's preferred range (no range: yes; unknown age: no)?"""
    lo, hi = a.prefs.age_min, a.prefs.age_max
    if lo is None and hi is None:
        return True
    if b.age is None:
        return False  # an explicit age preference is not met by an unknown age
    return (lo is None or b.age >= lo) and (hi is None or b.age <= hi)


def within_age_array(age_min: np.ndarray, age_max: np.ndarray, age: np.ndarray) -> np.ndarray:
    """within_age element-wise, with NaN for None (a unit test pins the two together)."""
    no_range = np.isnan(age_min) & np.isnan(age_max)
    above = np.isnan(age_min) | (age >= age_min)
    below = np.isnan(age_max) | (age <= age_max)
    out: np.ndarray = no_range | (above & below & ~np.isnan(age))
    return out


def _within_distance(a: Person, b: Person) -> bool:
    if a.prefs.distance_km is None or not a.has_location:
        return True  # without a location of one's own a radius means nothing
    d = person_distance_km(a, b)
    return d is not None and d <= a.prefs.distance_km


def _in(value: str | None, allowed: frozenset[str]) -> bool:
    return not allowed or (value is not None and value in allowed)


def accepts(a: Person, b: Person) -> bool:
    """Does `b` satisfy every hard preference of `a`?"""
    p = a.prefs
    if p.languages and not (p.languages & b.languages):
        return False
    if not _in(b.gender, p.show_me):
        return False
    if not (_in(b.industry, p.industries) and _in(b.job_level, p.job_levels)):
        return False
    if not _in(b.company_size, p.company_sizes):
        return False
    if p.exclude_colleagues and a.company is not None and b.company == a.company:
        return False
    if p.exclude_competitors and is_competitor(a, b):
        return False
    return within_age(a, b) and _within_distance(a, b)


def is_competitor(a: Person, b: Person) -> bool:
    """Same industry, at another (known) company."""
    return (
        a.industry is not None
        and a.industry == b.industry
        and a.company is not None
        and b.company is not None
        and a.company != b.company
    )


def mutually_acceptable(a: Person, b: Person) -> bool:
    """Two-sided: each satisfies the other's hard preferences."""
    return a.user_id != b.user_id and accepts(a, b) and accepts(b, a)
