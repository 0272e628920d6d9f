"""Per-user features computed the same way online and offline."""

from __future__ import annotations

from matching.profile import ProfileFields

# Fields a complete profile has, with how much each counts.
_COMPLETENESS = {
    "headline": 1.0,
    "bio": 1.5,
    "industry": 1.0,
    "job_title": 1.0,
    "job_level": 0.5,
    "company": 0.5,
    "company_size": 0.25,
    "skills": 1.0,
    "interests": 1.0,
    "networking_goals": 1.0,
    "languages": 0.5,
    "latitude": 0.75,
    "age": 0.5,
}


def profile_completeness(profile: ProfileFields) -> float:
    """Share of the weighted profile fields that are filled, in [0, 1]."""
    total = sum(_COMPLETENESS.values())
    filled = sum(w for f, w in _COMPLETENESS.items() if getattr(profile, f) not in (None, [], ""))
    return round(filled / total, 4)
