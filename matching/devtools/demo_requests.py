"""A deterministic demo catalogue of providers (coaches, tutors, experts) for request
matching: realistic skills, levels, rates, currencies, zones and weekly hours."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass

import asyncpg
import numpy as np

from matching.core.ml.embedding import ModelEncoder, TextEncoder
from matching.core.settings import Settings
from matching.core.storage.db import connect
from matching.core.storage.migrate import migrate
from matching.requests.catalogue import provider_text
from matching.requests.schemas import LEVELS, ProviderUpsert
from matching.requests.skills import normal
from matching.requests.storage import providers as provider_store

DEMO_PROVIDERS = 300
_NAMESPACE = uuid.UUID("5c1e7a52-8d0b-4f7e-9a51-0d3c2b7e6a11")
# (title, company kind, skills they draw from, session types, base hourly rate in USD)
_KINDS = (
    (
        "Software engineering mentor",
        "Studio",
        ["Python", "React.js", "TypeScript", "System design", "SQL", "Kubernetes", "Go"],
        ["one_on_one", "review", "workshop"],
        110,
    ),
    (
        "Machine learning tutor",
        "Labs",
        ["Machine Learning", "Python", "Deep learning", "Statistics", "PyTorch", "Data science"],
        ["one_on_one", "group"],
        130,
    ),
    (
        "Executive coach",
        "Partners",
        ["Leadership", "Executive coaching", "Public speaking", "Negotiation", "Career change"],
        ["one_on_one", "workshop"],
        180,
    ),
    (
        "Product design coach",
        "Design Co",
        ["UX research", "Figma", "Product design", "Design systems", "Prototyping"],
        ["one_on_one", "review", "group"],
        95,
    ),
    (
        "Language teacher",
        "Academy",
        ["Spanish", "German", "French", "Business English", "Japanese"],
        ["one_on_one", "group"],
        45,
    ),
    (
        "Startup advisor",
        "Ventures",
        ["Fundraising", "Go-to-market", "Product management", "Pricing", "Hiring"],
        ["one_on_one", "consultation"],
        200,
    ),
)
_ZONES = (
    ("America/New_York", "USD"),
    ("America/Los_Angeles", "USD"),
    ("Europe/London", "GBP"),
    ("Europe/Berlin", "EUR"),
    ("Europe/Madrid", "EUR"),
    ("Asia/Tokyo", "USD"),
    ("Asia/Kolkata", "USD"),
    ("Australia/Sydney", "USD"),
)
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
)
_LAST = (
    "Okafor",
    "Schmidt",
    "Tanaka",
    "Garcia",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Silva",
    "Murphy",
    "Iyer",
    "Cohen",
    "Larsen",
)
_LANGS = ("English", "Spanish", "German", "French", "Japanese", "Hindi", "Portuguese")
_RATES = {"USD": 1.0, "EUR": 1 / 1.08, "GBP": 1 / 1.27}


@dataclass(frozen=True, slots=True)
class DemoProvider:
    provider_id: uuid.UUID
    body: ProviderUpsert


def _availability(rng: random.Random, zone: str) -> list[dict[str, object]]:
    start = rng.choice((7, 8, 9, 10, 13, 17))
    hours = rng.choice((3, 4, 6, 8))
    days = sorted(rng.sample(range(7), rng.choice((2, 3, 4, 5))))
    end = min(start + hours, 24)
    return [
        {
            "day_of_week": d,
            "start": f"{start:02d}:00",
            "end": f"{end:02d}:00" if end < 24 else "24:00",
            "timezone": zone,
        }
        for d in days
    ]


def _provider(i: int, rng: random.Random) -> DemoProvider:
    title, company, pool, sessions, base = rng.choice(_KINDS)
    zone, currency = rng.choice(_ZONES)
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    picked = rng.sample(pool, rng.randint(2, min(5, len(pool))))
    skills = [
        {
            "name": s,
            "level": rng.choice(LEVELS[1:]),
            "years": rng.randint(1, 15),
            "certified": rng.random() < 0.3,
        }
        for s in picked
    ]
    reviews = int(rng.expovariate(1 / 40))
    body = {
        "name": name,
        "title": title,
        "company": f"{name.split()[1]} {company}",
        "bio": f"{title} helping clients with {', '.join(picked[:3])}.",
        "skills": skills,
        "languages": sorted({"English", *rng.sample(_LANGS, rng.randint(0, 2))}),
        "session_types": sorted(set(rng.sample(sessions, rng.randint(1, len(sessions))))),
        "max_participants": rng.choice((1, 4, 8, 20)),
        "hourly_rate": round(base * rng.uniform(0.6, 1.6) * _RATES[currency]),
        "currency": currency,
        "availability": _availability(rng, zone),
        "rating_average": round(rng.uniform(3.6, 5.0), 1) if reviews else 0.0,
        "rating_count": reviews,
        "sessions_completed": reviews * rng.randint(2, 6),
        "success_rate": round(rng.uniform(0.6, 0.99), 2),
    }
    provider_id = uuid.uuid5(_NAMESPACE, f"provider-{i}")
    return DemoProvider(provider_id, ProviderUpsert.model_validate(body))


def demo_providers(n: int, seed: int = 7) -> list[DemoProvider]:
    """The first `n` providers of the demo catalogue (the same ones every time)."""
    rng = random.Random(seed)
    return [_provider(i, rng) for i in range(n)]


def embed_providers(
    encoder: TextEncoder, providers: list[DemoProvider], names_by: TextEncoder | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each provider's text vector and skill vectors (one row per skill, in its order), as
    the service embeds them on a write; every distinct skill name is embedded once, by
    `names_by` when given."""
    vectors = encoder.encode([provider_text(p.body) for p in providers])
    names = sorted({normal(s.name) for p in providers for s in p.body.skills})
    found = (names_by or encoder).encode(names) if names else np.zeros((0, vectors.shape[1]))
    by_name = dict(zip(names, found, strict=True))
    skills = [
        np.stack([by_name[normal(s.name)] for s in p.body.skills])
        if p.body.skills
        else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        for p in providers
    ]
    return vectors, skills


async def insert_providers(
    conn: asyncpg.Connection,
    providers: list[DemoProvider],
    embedded: tuple[np.ndarray, list[np.ndarray]],
    version: str,
) -> None:
    """Insert providers with `embed_providers`' vectors (existing ones kept)."""
    vectors, skills = embedded
    rows = [
        (p.provider_id, p.body, v, s) for p, v, s in zip(providers, vectors, skills, strict=True)
    ]
    await provider_store.insert_many(conn, rows, version)


async def seed_providers(
    settings: Settings, n: int = DEMO_PROVIDERS, encoder: TextEncoder | None = None
) -> int:
    """Embed and insert the demo catalogue's first `n` providers; returns how many were new."""
    if encoder is None:
        encoder = await asyncio.to_thread(ModelEncoder, settings.model)
    providers = demo_providers(n)
    conn = await connect(settings.database)
    try:
        await migrate(conn)
        known = {r[0] for r in await conn.fetch("SELECT provider_id FROM providers")}
        fresh = [p for p in providers if p.provider_id not in known]
        if fresh:
            embedded = await asyncio.to_thread(embed_providers, encoder, fresh)
            await insert_providers(conn, fresh, embedded, encoder.model_version)
    finally:
        await conn.close()
    return len(fresh)
