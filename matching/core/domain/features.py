"""Per-user features computed the same way online and offline."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from matching.core.domain.profile import COMPANY_SIZES, JOB_LEVELS, ProfileFields
from matching.core.domain.scoring import activity_decay

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


# ---------------------------------------------------------------- per-user features
#
# One function computes a user's feature vector, for the online endpoint and the offline
# job alike, from one row of `matching.core.storage.features.INPUTS_SQL`. Personal data a model
# does not need never enters: no name, and the company only as a hash bucket.

HASH_BUCKETS = 1 << 20

FEATURE_NAMES: tuple[str, ...] = (
    "profile_completeness",
    "has_photo",
    "bio_length",
    "industry_code",
    "job_level_rank",
    "company_size_rank",
    "company_hash",
    "has_location",
    "latitude",
    "longitude",
    "days_since_signup",
    "days_since_active",
    "activity_score",
    "events_attended",
    "connection_count",
    "swipes_given",
    "swipe_ratio",
    "likes_received",
    "response_rate",
)


def stable_bucket(value: str | None, buckets: int = HASH_BUCKETS) -> int:
    """A process-independent hash bucket (Python's hash() is salted per process); 0 = none."""
    if not value:
        return 0
    folded = " ".join(value.split()).lower().encode()
    return 1 + int.from_bytes(hashlib.blake2b(folded, digest_size=8).digest(), "big") % (
        buckets - 1
    )


def _rank(value: str | None, order: tuple[str, ...]) -> float:
    return float(order.index(value) + 1) if value in order else 0.0


def _days(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    return round(max(0.0, (now - since).total_seconds() / 86_400), 4)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def user_features(row: Mapping[str, Any], now: datetime) -> dict[str, float]:
    """The feature vector (FEATURE_NAMES order) of one INPUTS_SQL row, as of `now`."""
    inputs = SimpleNamespace(**{f: row.get(f) for f in _COMPLETENESS})
    has_location = row.get("latitude") is not None and row.get("longitude") is not None
    days_active = _days(row.get("last_active_at"), now)
    values = {
        "profile_completeness": profile_completeness(inputs),  # type: ignore[arg-type]
        "has_photo": 1.0 if row.get("photo_url") else 0.0,
        "bio_length": float(len(row.get("bio") or "")),
        "industry_code": float(stable_bucket(row.get("industry"), 1024)),
        "job_level_rank": _rank(row.get("job_level"), JOB_LEVELS),
        "company_size_rank": _rank(row.get("company_size"), COMPANY_SIZES),
        "company_hash": float(stable_bucket(row.get("company"))),
        "has_location": 1.0 if has_location else 0.0,
        "latitude": float(row["latitude"]) if has_location else 0.0,
        "longitude": float(row["longitude"]) if has_location else 0.0,
        "days_since_signup": _days(row.get("created_at"), now),
        "days_since_active": days_active,
        "activity_score": round(activity_decay(days_active), 4),
        "events_attended": float(row.get("events_attended") or 0),
        "connection_count": float(row.get("connections") or 0),
        "swipes_given": float(row.get("swipes_given") or 0),
        "swipe_ratio": _ratio(row.get("likes_given") or 0, row.get("swipes_given") or 0),
        "likes_received": float(row.get("likes_received") or 0),
        "response_rate": _ratio(row.get("responded") or 0, row.get("likes_received") or 0),
    }
    return {name: values[name] for name in FEATURE_NAMES}
