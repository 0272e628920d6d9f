"""Retriever: FAISS candidates under two-sided hard filters, in step with PostgreSQL.

Every profile write appends to `index_changes` in its own transaction; each replica replays
that log before it answers, so any replica sees a write as soon as the write has returned.
A caller that has just read the log's position (discovery reads it with its context) passes
it as `seen_seq`: a replica already there answers without a round trip of its own.
Last activity (a swipe moves it) is read apart from the log, every ACTIVITY_REFRESH_S.
The log is pruned after MATCHING_CHANGE_LOG_RETENTION_HOURS: a replica whose position was
pruned past reloads from the database. Snapshots are loaded only once their files match the
sha256 their manifest recorded, and only people in `profiles` now are served from them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from matching.core.domain.filters import SearchFilters
from matching.core.domain.person import Person
from matching.core.ml import artifacts
from matching.core.ml.embedding import model_path, model_version
from matching.core.retrieval import collection
from matching.core.retrieval.candidates import KIND, Candidate, CandidateIndex
from matching.core.retrieval.handoff import CandidateList
from matching.core.retrieval.index import set_threads
from matching.core.settings import Settings
from matching.core.storage import profiles
from matching.core.storage.db import create_pool
from matching.core.storage.migrate import migrate

log = logging.getLogger(__name__)
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# Activity halves over 14 days: a view of it seconds old scores the same. The slack re-reads
# the recent past, for swipes whose transaction began before the last read and committed after.
ACTIVITY_REFRESH_S = 30.0
ACTIVITY_SLACK = timedelta(minutes=5)
SNAPSHOT_FILES = ("index.faiss", "user_ids.npy")  # what CandidateIndex.from_snapshot reads
REPLAY_PAGE = 5000  # changes read per round trip while replaying the log


class UnknownUser(LookupError):
    """The user has no live profile in the index."""


@dataclass(frozen=True, slots=True)
class Retrieval:
    requester: Person | None
    candidates: Sequence[Candidate]  # a CandidateList: columns when it leaves the process


class Retriever:
    """Holds the CandidateIndex; `start()` loads it (snapshot, else a build from the DB)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or Settings.from_env()
        self.model_version = model_version(model_path(self._settings.model))
        self._pool: asyncpg.Pool | None = None
        self._index: CandidateIndex | None = None
        self._seq = 0
        self._sync_lock = asyncio.Lock()
        # person() is a sync method: Serve (pipeline) and LocalStage (single) run it in a
        # worker thread, where an upsert between its two reads would show someone as unknown.
        self._rows_lock = threading.Lock()
        self._stale_since: float | None = None
        self._index_version: str | None = None  # None: the newest snapshot
        self._active_at: datetime | None = None  # the database's clock at the last read
        self._refused: dict[str, Any] | None = None  # the last snapshot refused, and why
        self._reloads = 0  # times the change log was pruned past this replica's position
        self._activity_due = 0.0
        self.activity_refresh_s = ACTIVITY_REFRESH_S
        self._collections: dict[str, collection.Collection] = {}
        self._collections_lock = asyncio.Lock()
        set_threads(self._settings.index.faiss_threads)

    async def start(self) -> None:
        self._pool = await create_pool(self._settings.database)
        async with self._pool.acquire() as conn:
            # A replica may start before the ingress on a fresh database: migrating is
            # idempotent and serialised by its advisory lock, so every stage may do it.
            await migrate(conn)
            await self._reload(conn)
        await self.sync()
        log.info("retriever ready: %s", self.index.stats())

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config {"index_version": V | None}: serve index snapshot V from the registry
        (None: the newest snapshot). The new index is built beside the old one, brought up
        to date from the change log, then swapped in; requests keep using the old one until
        then."""
        if "index_version" not in config or config["index_version"] == self._index_version:
            return
        if self._pool is None:  # not started yet: start() loads it
            self._index_version = config["index_version"]
            return
        wanted = config["index_version"]
        async with self._sync_lock:
            previous = self._index_version
            self._index_version = wanted
            try:
                async with self._pool.acquire() as conn:
                    await self._reload(conn, refuse=True)
            except artifacts.ArtifactMismatch as exc:
                self._index_version = previous  # keep serving what this replica has
                self._refused = {"index_version": wanted, "reason": str(exc)}
                log.error("refusing index %s, serving %s: %s", wanted, self.index.version, exc)
                return
            except Exception:
                self._index_version = previous
                raise
        await self.sync()
        log.info("retriever: index %s live: %s", wanted or "newest", self.index.stats())

    async def _reload(self, conn: asyncpg.Connection, *, refuse: bool = False) -> None:
        """Load the snapshot and reconcile it with the database's people, or build the
        index from them; the caller holds the sync lock (or nothing runs yet)."""
        # Read the log position first: replaying from it is idempotent. Only people in
        # `profiles` now are served from a snapshot, so an older one never brings back
        # someone erased since it was written, even once the change log forgot the erasure.
        seq = await profiles.last_change_seq(conn)
        active_at, _ = await profiles.active_since(conn, None)
        people = await profiles.fetch_people(conn, self.model_version)
        index, refused = await asyncio.to_thread(self._load, people, refuse)
        self._index, self._seq, self._active_at = index, seq, active_at
        self._refused = refused

    def _snapshot(self) -> Path | None:
        if self._index_version is None:
            return artifacts.latest(self._settings.index.artifacts_dir, KIND)
        from matching.core.ml.registry import Registry

        registry = Registry.from_settings(self._settings)
        return registry.local_copy("index", str(self._index_version))

    def _load(
        self, people: list[profiles.IndexedPerson], refuse: bool
    ) -> tuple[CandidateIndex, dict[str, Any] | None]:
        """The snapshot once its files match their sha256, else a build from `people`;
        with `refuse`, a mismatch raises instead. Returns the index and what was refused."""
        refused = None
        snapshot = self._snapshot()
        if snapshot is not None:
            try:
                manifest = artifacts.verify(snapshot, SNAPSHOT_FILES)
            except artifacts.ArtifactMismatch as exc:
                if refuse:
                    raise
                log.error("refusing index snapshot; building from the database: %s", exc)
                refused = {"index_version": snapshot.name, "reason": str(exc)}
            else:
                if manifest.get("model_version") == self.model_version:
                    index = CandidateIndex.from_snapshot(snapshot, people, self._settings.index)
                    return index, None
                log.warning("snapshot %s is for another model; rebuilding", snapshot.name)
        dim = len(people[0].embedding) if people else 384
        version = artifacts.new_version()
        return CandidateIndex.build(people, dim, self._settings.index, version), refused

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def index(self) -> CandidateIndex:
        if self._index is None:
            raise RuntimeError("retriever is not started")
        return self._index

    def _current(self, seen: int | None) -> bool:
        """Whether a caller that read the log at `seen` needs nothing replayed, and the
        activity is not due for a refresh."""
        return seen is not None and seen <= self._seq and time.monotonic() < self._activity_due

    async def sync(self, seen: int | None = None) -> int:
        """Replay the change log past what this replica has applied; returns the position.
        With `seen` (a log position the caller read after the writes it must see) and this
        replica already past it, nothing is read."""
        assert self._pool is not None
        if self._current(seen):
            return self._seq
        async with self._sync_lock:
            if self._current(seen):  # another request replayed it while this one waited
                return self._seq
            async with self._pool.acquire(timeout=2) as conn:
                while True:
                    pruned_through, changes = await profiles.changes_since(
                        conn, self._seq, REPLAY_PAGE
                    )
                    if pruned_through > self._seq:
                        # changes this replica never saw were pruned (it fell further behind
                        # than MATCHING_CHANGE_LOG_RETENTION_HOURS): replaying cannot catch up
                        log.warning("change log pruned past seq %d: reloading", self._seq)
                        self._reloads += 1
                        await self._reload(conn)
                        continue
                    if changes:
                        await self._apply(conn, changes)
                        self._seq = int(changes[-1]["seq"])
                    if len(changes) < REPLAY_PAGE:  # a short page was the end of the log
                        break
                await self._refresh_activity(conn)
                return self._seq

    async def _refresh_activity(self, conn: asyncpg.Connection) -> None:
        """Everyone's last activity since the previous read, at most every refresh period."""
        if time.monotonic() < self._activity_due:
            return
        since = None if self._active_at is None else self._active_at - ACTIVITY_SLACK
        clock, active = await profiles.active_since(conn, since)
        for user_id, at in active:
            self.index.store.set_last_active(user_id, at)
        self._active_at, self._activity_due = clock, time.monotonic() + self.activity_refresh_s

    async def _apply(self, conn: asyncpg.Connection, changes: list[Any]) -> None:
        upserts = {c["user_id"] for c in changes if c["op"] == "upsert"}
        fresh = {
            p.person.user_id: p
            for p in await profiles.fetch_people(conn, self.model_version, sorted(upserts))
        }
        with self._rows_lock:
            for user_id in {c["user_id"] for c in changes}:
                if user_id in fresh:
                    self.index.upsert(fresh[user_id].person, fresh[user_id].embedding)
                else:  # deleted, deactivated, or embedded by another model
                    self.index.remove(user_id)

    async def _catch_up(self, seen: int | None = None) -> None:
        """Replay before answering; with the database unreachable, answer from what this
        replica has (no write can have succeeded meanwhile) and say so in info()."""
        try:
            await self.sync(seen)
        except _DB_ERRORS as exc:
            if self._stale_since is None:
                log.warning(
                    "change log unreachable, serving the index as of seq %d: %s", self._seq, exc
                )
                self._stale_since = time.time()
        else:
            self._stale_since = None

    async def discover(
        self,
        user_id: UUID,
        k: int,
        exclude: frozenset[UUID] = frozenset(),
        seen_seq: int | None = None,
    ) -> Retrieval:
        await self._catch_up(seen_seq)
        return await asyncio.to_thread(self._discover, user_id, k, exclude)

    def _discover(self, user_id: UUID, k: int, exclude: frozenset[UUID]) -> Retrieval:
        with self._searching() as index:
            requester = index.store.person(user_id)
            vector = index.vector_of(user_id)
            if requester is None or vector is None:
                raise UnknownUser(str(user_id))
            found = index.search(vector, k, requester=requester, exclude=exclude)
        return Retrieval(requester, CandidateList(_with_affinity(c, c.similarity) for c in found))

    @contextmanager
    def _searching(self) -> Iterator[CandidateIndex]:
        """A search in a worker thread: off the replica's event loop (whose change-log
        replays hold the same lock while they write rows), with this replica's FAISS
        threads (OpenMP's thread count is per thread)."""
        with self._rows_lock:
            set_threads(self._settings.index.faiss_threads)
            yield self.index  # one index throughout, even if a reload swaps it meanwhile

    async def search(
        self,
        query: np.ndarray,
        k: int,
        filters: SearchFilters,
        requester_id: UUID | None = None,
        exclude: frozenset[UUID] = frozenset(),
    ) -> Retrieval:
        await self._catch_up()
        return await asyncio.to_thread(self._search, query, k, filters, requester_id, exclude)

    def _search(
        self,
        query: np.ndarray,
        k: int,
        filters: SearchFilters,
        requester_id: UUID | None,
        exclude: frozenset[UUID],
    ) -> Retrieval:
        with self._searching() as index:
            requester, mine = None, None
            if requester_id is not None:
                requester = index.store.person(requester_id)
                mine = index.vector_of(requester_id)
                if requester is None or mine is None:
                    raise UnknownUser(str(requester_id))
            found = index.search(query, k, requester=requester, filters=filters, exclude=exclude)
            if mine is None:
                return Retrieval(None, CandidateList(found))
            return Retrieval(
                requester,
                CandidateList(
                    _with_affinity(c, float(index.vector_of(c.person.user_id) @ mine))
                    for c in found
                ),
            )

    async def pair(self, a: UUID, b: UUID) -> Retrieval:
        """The two people and their cosine, for scoring a new match (no filters)."""
        await self._catch_up()
        first, second = self.index.store.person(a), self.index.store.person(b)
        va, vb = self.index.vector_of(a), self.index.vector_of(b)
        if first is None or va is None:
            raise UnknownUser(str(a))
        if second is None or vb is None:
            raise UnknownUser(str(b))
        similarity = float(va @ vb)
        return Retrieval(first, [Candidate(second, similarity, similarity)])

    async def open_collection(self, name: str) -> collection.Collection:
        """The collection `name` (see `matching.core.retrieval.collection`), opened and
        loaded on this replica's first use of it."""
        found = self._collections.get(name)
        if found is not None:
            return found
        async with self._collections_lock:
            if name not in self._collections:
                assert self._pool is not None, "retriever is not started"
                opened = collection.factory(name)(self._settings, self.model_version)
                await opened.sync(self._pool)
                self._collections[name] = opened
                log.info("retriever: collection %s open: %s", name, opened.info())
            return self._collections[name]

    async def sync_collection(self, name: str) -> None:
        """Replay the collection's change log now (a write's caller, before it returns)."""
        assert self._pool is not None
        await (await self.open_collection(name)).sync(self._pool)

    async def query(self, name: str, *args: Any) -> Any:
        """The collection's answer over every item written before this call."""
        assert self._pool is not None
        return await (await self.open_collection(name)).query(self._pool, *args)

    def person(self, user_id: UUID) -> Person | None:
        with self._rows_lock:
            return self.index.store.person(user_id)

    def info(self) -> dict[str, Any]:
        if self._index is None:
            return {"ready": False}
        return {
            "ready": True,
            "model_version": self.model_version,
            "applied_seq": self._seq,
            "index_version": self._index_version,
            "reloads": self._reloads,
            "collections": {name: c.info() for name, c in self._collections.items()},
            **({"refused": self._refused} if self._refused is not None else {}),
            **self._index.stats(),
        }

    async def check_health(self) -> None:
        if self._index is None or self._pool is None:
            raise RuntimeError("retriever index not loaded")


def _with_affinity(c: Candidate, affinity: float) -> Candidate:
    return Candidate(c.person, c.similarity, affinity)
