"""What the online path knows about a person: the fields that filter, score and explain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from matching.core.domain.profile import Preferences, ProfileFields


def casefold(value: str | None) -> str | None:
    return " ".join(value.split()).lower() if value else None


@dataclass(frozen=True, slots=True)
class PreferenceView:
    age_min: int | None = None
    age_max: int | None = None
    distance_km: float | None = None
    industries: frozenset[str] = frozenset()
    job_levels: frozenset[str] = frozenset()
    company_sizes: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    networking_goals: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    exclude_colleagues: bool = False
    exclude_competitors: bool = False
    weights: tuple[tuple[str, float], ...] = ()
    show_me: frozenset[str] = frozenset()

    @classmethod
    def from_preferences(cls, prefs: Preferences) -> PreferenceView:
        weights = prefs.algorithm_weights.given() if prefs.algorithm_weights else {}
        return cls(
            age_min=prefs.age_min,
            age_max=prefs.age_max,
            distance_km=prefs.distance_km,
            industries=frozenset(prefs.industries),
            job_levels=frozenset(prefs.job_levels),
            company_sizes=frozenset(prefs.company_sizes),
            interests=frozenset(prefs.interests),
            networking_goals=frozenset(prefs.networking_goals),
            languages=frozenset(prefs.languages),
            exclude_colleagues=prefs.exclude_colleagues,
            exclude_competitors=prefs.exclude_competitors,
            weights=tuple(sorted(weights.items())),
            show_me=frozenset(prefs.show_me),
        )


@dataclass(frozen=True, slots=True)
class Person:
    """A profile reduced to what matching needs; industry and company are case-folded."""

    user_id: UUID
    name: str
    headline: str | None
    industry: str | None
    company: str | None
    job_level: str | None
    company_size: str | None
    interests: frozenset[str]
    networking_goals: frozenset[str]
    languages: frozenset[str]
    latitude: float | None
    longitude: float | None
    age: int | None
    last_active_at: datetime
    prefs: PreferenceView
    gender: str | None = None
    skills: frozenset[str] = frozenset()
    job_title: str | None = None

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @classmethod
    def from_profile(
        cls,
        user_id: UUID,
        profile: ProfileFields,
        prefs: Preferences,
        last_active_at: datetime,
    ) -> Person:
        return cls(
            user_id=user_id,
            name=profile.name,
            headline=profile.headline,
            industry=casefold(profile.industry),
            company=casefold(profile.company),
            job_level=profile.job_level,
            company_size=profile.company_size,
            interests=frozenset(profile.interests),
            networking_goals=frozenset(profile.networking_goals),
            languages=frozenset(profile.languages),
            latitude=profile.latitude,
            longitude=profile.longitude,
            age=profile.age,
            last_active_at=last_active_at,
            prefs=PreferenceView.from_preferences(prefs),
            gender=profile.gender,
            skills=frozenset(profile.skills),
            job_title=profile.job_title,
        )
