"""Provider and request bodies for request matching's tests (integration and e2e)."""

from __future__ import annotations

from typing import Any

EVERY_DAY_8_20 = [
    {"day_of_week": d, "start": "08:00", "end": "20:00", "timezone": "UTC"} for d in range(7)
]


def provider_body(name: str = "Ada", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "title": "Senior engineer and coach",
        "company": "Acme",
        "bio": "I coach engineers on Python, APIs and system design.",
        "skills": [
            {"name": "Python", "level": "expert", "years": 9, "certified": True},
            {"name": "React.js", "level": "advanced", "years": 4},
            {"name": "Machine Learning", "level": "advanced", "years": 5},
        ],
        "languages": ["English", "German"],
        "session_types": ["one_on_one", "group"],
        "max_participants": 6,
        "hourly_rate": 120,
        "currency": "USD",
        "availability": EVERY_DAY_8_20,
        "rating_average": 4.8,
        "rating_count": 120,
        "sessions_completed": 340,
        "success_rate": 0.92,
    }
    return {**body, **over}


def request_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Frontend mentoring",
        "description": "I want to get better at building web apps with React.",
        "session_type": "one_on_one",
        "skills_required": [
            {"name": "React", "level": "intermediate", "weight": 1.0, "mandatory": True},
            {"name": "ML", "level": "beginner", "weight": 0.5},
        ],
        "budget": {"max_hourly_rate": 150, "currency": "USD"},
        "availability": {
            "days_of_week": [0, 1, 2, 3, 4],
            "time_slots": [{"start": "10:00", "end": "12:00"}],
            "timezone": "Europe/Berlin",
        },
        "participants_count": 1,
        "total_sessions": 4,
    }
    return {**body, **over}
