"""This replica's provider index: every provider's columns and text vectors, kept in step
with PostgreSQL by replaying `provider_changes` before each ranking (as the Retriever
replays `index_changes`), so a provider write is seen by every replica once it returned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import numpy as np

from matching.requests import catalogue
from matching.requests.catalogue import Catalogue, Provider
from matching.requests.skills import SkillVectors
from matching.requests.storage import providers as store

EmbedMany = Callable[[list[str]], Awaitable[np.ndarray]]


class ProviderIndex:
    """The providers as a `Catalogue`, rebuilt after the changes it replays."""

    def __init__(self, embed_many: EmbedMany, model_version: Callable[[], str]) -> None:
        self.skills = SkillVectors(embed_many)
        self._model_version = model_version
        self._providers: dict[object, Provider] = {}
        self._seq = -1  # nothing loaded yet
        self._catalogue: Catalogue | None = None
        self._previous: Catalogue | None = None  # whose availability windows a rebuild reuses
        self._lock = asyncio.Lock()
        self.reloads = 0  # times the change log was pruned past this index's position

    @property
    def seq(self) -> int:
        return self._seq

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
                self._catalogue = await self._build()
                self._previous = self._catalogue
            return self._catalogue

    async def _load(self, conn: asyncpg.Connection) -> None:
        seq = await store.last_change(conn)  # first: replaying from it is idempotent
        found = await store.fetch(conn, self._model_version())
        self._providers = {p.provider_id: p for p in found}
        self._seq, self._catalogue = seq, None

    async def _replay(self, conn: asyncpg.Connection) -> None:
        seq, changed = await store.changes_since(conn, self._seq)
        if not changed:
            return
        fresh = {p.provider_id: p for p in await store.fetch(conn, self._model_version(), changed)}
        for provider_id in changed:
            if provider_id in fresh:
                self._providers[provider_id] = fresh[provider_id]
            else:  # deleted, or embedded by another model
                self._providers.pop(provider_id, None)
        self._seq, self._catalogue = seq, None

    async def _build(self) -> Catalogue:
        providers = sorted(self._providers.values(), key=lambda p: str(p.provider_id))
        names = sorted({n for p in providers for n in catalogue.skill_names(p.body)})
        vectors = await self.skills.vectors(names)
        by_name = dict(zip(names, vectors, strict=True)) if names else {}
        return await asyncio.to_thread(self._columns, providers, by_name)

    def _columns(self, providers: list[Provider], by_name: dict[str, np.ndarray]) -> Catalogue:
        built = catalogue.build(providers, by_name)
        catalogue.carry_weeks(self._previous, built)
        return built
