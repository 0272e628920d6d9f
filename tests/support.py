"""Request bodies and small database helpers shared by the test tiers."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from matching.core.settings import Settings
from matching.core.storage import db


def profile_body(name: str = "Test Person", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "headline": "Software engineer who loves the outdoors",
        "bio": "I build backend systems and spend weekends hiking and climbing.",
        "industry": "software",
        "job_title": "Engineer",
        "job_level": "senior",
        "company": "Acme",
        "company_size": "51-200",
        "skills": ["python", "postgres"],
        "interests": ["hiking", "climbing"],
        "networking_goals": ["mentorship"],
        "languages": ["english"],
        "latitude": 52.52,
        "longitude": 13.405,
        "age": 34,
        "preferences": {},
    }
    prefs = overrides.pop("preferences", None)
    body.update(overrides)
    if prefs is not None:
        body["preferences"] = prefs
    return body


async def connect(url: str) -> asyncpg.Connection:
    """A connection with the service's codecs (jsonb as dicts)."""
    return await db.connect(Settings.from_env({"DATABASE_URL": url}).database)


async def make_users(conn: asyncpg.Connection, n: int) -> list[uuid.UUID]:
    """`n` bare profiles (no embedding): enough for swipe and match storage tests."""
    ids = [uuid.uuid4() for _ in range(n)]
    await conn.execute(
        "INSERT INTO profiles (id, name) SELECT u, 'p' FROM unnest($1::uuid[]) AS u", ids
    )
    return ids
