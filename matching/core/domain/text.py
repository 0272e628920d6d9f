"""How a profile becomes the text that is embedded: one function for serving and training."""

from __future__ import annotations

import hashlib

from matching.core.domain.profile import ProfileFields


def _join(label: str, values: list[str]) -> str:
    return f"{label}: {', '.join(values)}." if values else ""


def profile_text(profile: ProfileFields) -> str:
    """The text embedded for a profile: headline, bio, industry, skills, interests, goals."""
    parts = [
        (profile.headline or "").strip(),
        (profile.bio or "").strip(),
        f"Industry: {profile.industry}." if profile.industry else "",
        _join("Skills", profile.skills),
        _join("Interests", profile.interests),
        _join("Goals", profile.networking_goals),
    ]
    text = " ".join(p for p in parts if p)
    return text or profile.name


def text_hash(text: str) -> str:
    """A digest of an embedded text, stored beside its vector: a new hash means a stale vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


TEXT_FIELDS = frozenset(
    {"headline", "bio", "industry", "skills", "interests", "networking_goals", "name"}
)
