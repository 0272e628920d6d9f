"""The providers' collection in the Retriever: every provider's columns and vectors (text
and skills, as written with the provider), kept in step with PostgreSQL by replaying
`provider_changes` before each ranking, as the Retriever replays `index_changes` for
people, so a provider write is seen by every replica once it returned. The ranking runs
here, beside the catalogue, and only its answer travels back to the ingress."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from matching.core.settings import Settings
from matching.requests import catalogue
from matching.requests.catalogue import Catalogue, Provider
from matching.requests.ranking import Query, Ranked, rank
from matching.requests.storage import providers as store

log = logging.getLogger(__name__)


class ProviderIndex:
    """The providers as a `Catalogue`, rebuilt after the changes it replays."""

    def __init__(self, model_version: str) -> None:
        self._model_version = model_version
        self._providers: dict[object, Provider] = {}
        self._seq = -1  # nothing loaded yet
        self._catalogue: Catalogue | None = None
        self._previous: Catalogue | None = None  # whose availability windows a rebuild reuses
        self._lock = asyncio.Lock()
        self.reloads = 0  # times the change log was pruned past this index's position
        self.unembedded_skills = 0  # names stored without a vector (match by name only)

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def size(self) -> int | None:
        """Providers in the catalogue last built (None: none built yet)."""
        return None if self._catalogue is None else len(self._catalogue)

    async def current(self, conn: asyncpg.Connection) -> Catalogue:
        """The catalogue with every change committed before this call applied."""
        async with self._lock:
            if self._seq < 0:
                await self._load(conn)
            else:
                try:
                    await self._replay(conn)
                except store.Pruned:  # behind the log's retention: start over
                    self.reloads += 1
                    await self._load(conn)
            if self._catalogue is None:
                self._catalogue = await asyncio.to_thread(self._build)
                self._previous = self._catalogue
            return self._catalogue

    async def _load(self, conn: asyncpg.Connection) -> None:
        seq = await store.last_change(conn)  # first: replaying from it is idempotent
        found = await store.fetch(conn, self._model_version)
        self._providers = {p.provider_id: p for p in found}
        self._seq, self._catalogue = seq, None

    async def _replay(self, conn: asyncpg.Connection) -> None:
        seq, changed = await store.changes_since(conn, self._seq)
        if not changed:
            return
        fresh = {p.provider_id: p for p in await store.fetch(conn, self._model_version, changed)}
        for provider_id in changed:
            if provider_id in fresh:
                self._providers[provider_id] = fresh[provider_id]
            else:  # deleted, or embedded by another model
                self._providers.pop(provider_id, None)
        self._seq, self._catalogue = seq, None

    def _build(self) -> Catalogue:
        providers = sorted(self._providers.values(), key=lambda p: str(p.provider_id))
        vectors, missing = catalogue.vocab_vectors(providers)
        if len(missing) != self.unembedded_skills:
            log.warning("%d skill names have no stored vector: matched by name", len(missing))
        self.unembedded_skills = len(missing)
        built = catalogue.build(providers, vectors)
        catalogue.carry_weeks(self._previous, built)
        return built


class ProviderCollection:
    """The Retriever's `providers` collection (see `matching.core.retrieval.collection`)."""

    def __init__(self, settings: Settings, model_version: str) -> None:
        self._settings = settings.requests
        self.index = ProviderIndex(model_version)

    async def sync(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire(timeout=2) as conn:
            await self.index.current(conn)

    async def query(self, pool: asyncpg.Pool, query: Query, weights: Mapping[str, float]) -> Ranked:
        """Rank `query` over every provider written before this call."""
        async with pool.acquire(timeout=2) as conn:
            cat = await self.index.current(conn)
        return await asyncio.to_thread(rank, cat, query, self._settings, weights)

    def info(self) -> dict[str, Any]:
        return {
            "applied_seq": self.index.seq,
            "providers": self.index.size,
            "reloads": self.index.reloads,
            "unembedded_skills": self.index.unembedded_skills,
        }
