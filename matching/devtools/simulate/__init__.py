"""A deterministic two-sided market: people with hidden tastes play out discover -> swipe.

`simulate(settings, users, days)` creates the first `users` people of the demo population
(`matching.devtools.population`, same seed), gives each a hidden taste drawn from
`numpy.random.default_rng(seed)` over the people sorted by id, and plays `days` simulated
days; two likes make a mutual match. The model (tastes, like probability, the session loop)
is `market.py`; sessions run on one of two backends.

In-process (`local.py`, `target=None`, the mode for training data) ranks with the service's
own Retriever and Reranker, no Ray, and writes the history in bulk with simulated timestamps:
day d (0-based) of D lies in [now - (D - d) days, now - (D - d - 1) days), so a time-based
train/test split works. It writes swipe_history, user_matches and matching_analytics, never
event_outbox: simulated history is not a platform event. It expects to be the only writer of
these people's history while it runs. Over HTTP (`http.py`, `target` a running service's
base URL) people are PUT and sessions go through the API in real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from deployments.reranker import Reranker
from matching.core.ml.embedding import ModelEncoder, TextEncoder
from matching.core.settings import Settings
from matching.devtools.population import generate_population
from matching.devtools.simulate.http import HttpBackend
from matching.devtools.simulate.local import LocalBackend
from matching.devtools.simulate.market import (
    Backend,
    HiddenTaste,
    Market,
    SimReport,
    hidden_tastes,
    like_probability,
    taste_match,
)

__all__ = [
    "HiddenTaste",
    "SimReport",
    "hidden_tastes",
    "like_probability",
    "simulate",
    "taste_match",
]

log = logging.getLogger(__name__)


async def simulate(
    settings: Settings,
    users: int,
    days: int,
    *,
    seed: int = 42,
    sessions_per_day: float = 0.3,
    discover_limit: int = 20,
    target: str | None = None,
    encoder: TextEncoder | None = None,
    reranker: Reranker | None = None,
) -> SimReport:
    """Create the people and play `days` days (see the module docstring). In-process,
    `encoder` embeds new profiles (default: the settings' model, loaded here) and `reranker`
    ranks discover (default: the weighted score)."""
    if users < 0 or days < 0:
        raise ValueError("users and days must not be negative")
    if not 0.0 <= sessions_per_day <= 1.0:
        raise ValueError("sessions_per_day must be in [0, 1]")
    if discover_limit < 1:
        raise ValueError("discover_limit must be at least 1")
    started, real_start = time.perf_counter(), datetime.now(UTC)
    end = real_start.replace(microsecond=0)
    backend: Backend
    if target is None:
        if encoder is None:
            encoder = await asyncio.to_thread(ModelEncoder, settings.model)
        backend = await LocalBackend.open(settings, encoder, reranker)
        # Sign-ups and earlier activity lie before the first simulated day.
        people = list(generate_population(users, seed=seed, now=end - timedelta(days=days)))
    else:
        backend = HttpBackend(target, next(iter(settings.auth.api_keys), None))
        people = list(generate_population(users, seed=seed, now=end))
    try:
        created = await backend.add_people(people)
        await backend.prepare(people, end - timedelta(days=days))
        market = Market(people, hidden_tastes(people, seed), backend, seed, discover_limit)
        for day in range(days):
            day_start = end - timedelta(days=days - day)
            await market.play_day(day, day_start, sessions_per_day)
            c = market.counts
            log.info(
                "simulated day %d/%d: %d sessions, %d swipes, %d likes, %d mutual matches",
                day + 1, days, c.sessions, c.swipes, c.likes, c.matches,
            )  # fmt: skip
        await backend.finish()
    finally:
        await backend.close()
    c = market.counts
    first, last = (c.first, c.last) if target is None else (real_start, datetime.now(UTC))
    return SimReport(
        users_created=created,
        sessions=c.sessions,
        impressions=c.impressions,
        swipes=c.swipes,
        likes=c.likes,
        mutual_matches=c.matches,
        seconds=time.perf_counter() - started,
        first_event_at=first,
        last_event_at=last,
    )
