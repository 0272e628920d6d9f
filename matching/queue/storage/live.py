"""The queue's live state in Redis: every transition is one of lua_scripts' scripts; reads
are plain commands. Ids are UUID text; times are Redis's clock in milliseconds."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from matching.core.settings import QueueSettings
from matching.queue.storage import lua_scripts


@dataclass(frozen=True, slots=True)
class Place:
    """A waiting ticket's place in its queue (from 1) and estimated wait in seconds."""

    ticket_id: str
    position: int | None
    estimated_wait_s: float | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A ticket at the head of a criteria's queue."""

    ticket_id: str
    score_ms: float


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _result(raw: Any) -> Any:
    """A script's reply: lists (nested too) of text; a number alone stays a number."""
    if not isinstance(raw, list):
        return raw
    return [_result(x) if isinstance(x, list) else _text(x) for x in raw]


def _estimate_s(waits: list[Any]) -> float | None:
    """The estimated wait: the median of the criteria's recent waits (ms)."""
    return statistics.median(float(w) for w in waits) / 1000 if waits else None


class LiveQueue:
    """One queue's keys (all under `settings.redis_prefix`) and its scripts."""

    def __init__(self, redis: Redis, settings: QueueSettings) -> None:
        self.redis, self.settings = redis, settings
        self.prefix = settings.redis_prefix
        self._follow = redis.register_script(lua_scripts.FOLLOW)
        self._scripts = {
            name: redis.register_script(getattr(lua_scripts, name))
            for name in (
                "ENQUEUE",
                "CLAIM",
                "CONFIRM",
                "TIMEOUT",
                "EXPIRE",
                "CANCEL",
                "LEAVE",
                "PRESENCE",
                "GONE",
            )
        }

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _common(self) -> tuple[str | int, ...]:
        """The arguments every script takes first (see lua_prelude)."""
        s = self.settings
        return (
            self.prefix,
            s.events_maxlen,
            int(s.matching_timeout_s * 1000),
            int(s.cooldown_s * 1000),
            int(s.cooldown_max_s * 1000),
        )

    async def run(self, script: str, *args: str | int | float) -> Any:
        """Run a script with the common arguments first."""
        keys = [self.key("history")]
        return _result(await self._scripts[script](keys=keys, args=[*self._common(), *args]))

    async def run_many(
        self, script: str, calls: Sequence[Sequence[str | int | float]]
    ) -> list[Any]:
        """Run a script once per argument list in one round trip (a pipeline, not a
        transaction: each run is atomic on its own, as with `run`)."""
        if not calls:
            return []
        pipe = self.redis.pipeline(transaction=False)
        keys, common = [self.key("history")], self._common()
        for args in calls:
            await self._scripts[script](keys=keys, args=[*common, *args], client=pipe)
        return [_result(r) for r in await pipe.execute()]

    async def enqueue(
        self, user: UUID, ticket_id: UUID, crid: str | None, ckey: str, criteria: dict[str, str]
    ) -> tuple[str, str, tuple[dict[str, str], Place] | None]:
        """(outcome, its value, and for a created ticket its hash and place)."""
        result = await self.run(
            "ENQUEUE", str(user), str(ticket_id), crid or "", ckey, json.dumps(criteria)
        )
        if result[0] != "created":
            return result[0], result[1], None
        _, tid, flat, rank, waits = result
        ticket = dict(zip(flat[::2], flat[1::2], strict=True))
        return "created", tid, (ticket, Place(tid, int(rank) + 1, _estimate_s(waits)))

    async def claim(self, pairs: Sequence[tuple[str, str, UUID, dict[str, str]]]) -> list[bool]:
        """Claim each (older, other, match id, relaxation) that still stands; which did."""
        window_ms = int(self.settings.confirm_timeout_s * 1000)
        calls = [(a, b, str(mid), window_ms, json.dumps(r)) for a, b, mid, r in pairs]
        return [bool(done) for done in await self.run_many("CLAIM", calls)]

    async def ticket(self, ticket_id: UUID) -> dict[str, str]:
        return _hash(await self.redis.hgetall(self.key("t", str(ticket_id))))

    async def match(self, match_id: UUID) -> dict[str, str]:
        return _hash(await self.redis.hgetall(self.key("m", str(match_id))))

    async def session(self, session_id: str) -> dict[str, str]:
        return _hash(await self.redis.hgetall(self.key("s", session_id)))

    async def active_session_id(self, user: UUID) -> str | None:
        sid = await self.redis.get(self.key("us", str(user)))
        return None if sid is None else _text(sid)

    async def heads(self, ckeys: Sequence[str], depth: int) -> dict[str, list[Waiting]]:
        """The oldest `depth` tickets of each criteria key (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for ckey in ckeys:
            pipe.zrange(self.key("w", ckey), 0, depth - 1, withscores=True)
        rows = await pipe.execute()
        return {
            ckey: [Waiting(_text(t), float(s)) for t, s in row]
            for ckey, row in zip(ckeys, rows, strict=True)
            if row
        }

    async def depths(self, ckeys: Sequence[str]) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for ckey in ckeys:
            pipe.zcard(self.key("w", ckey))
        return dict(zip(ckeys, [int(n) for n in await pipe.execute()], strict=True))

    async def position(self, ticket_id: UUID, ckey: str) -> tuple[int | None, float | None]:
        """(place in its queue from 1, estimated wait in seconds from recent waits)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrank(self.key("w", ckey), str(ticket_id))
        pipe.lrange(self.key("waits", ckey), 0, -1)
        rank, waits = await pipe.execute()
        return (None if rank is None else int(rank) + 1), _estimate_s(waits)

    async def due(self, name: str, limit: int = 200) -> list[str]:
        """Members of the `expiry`, `deadlines` or `gone` set whose time has come."""
        now_s, now_us = await self.redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        found = await self.redis.zrangebyscore(self.key(name), "-inf", now_ms, start=0, num=limit)
        return [_text(x) for x in found]

    async def follow(
        self, user: UUID, last_seq: int, count: int = 100
    ) -> tuple[list[str], Place | None]:
        """`events_after` and the user's waiting ticket's place, in one round trip."""
        events, place, waits = await self._follow(
            args=[self.prefix, str(user), f"{last_seq + 1}-0", count]
        )
        if not place:
            return [_text(e) for e in events], None
        rank = int(place[1])
        found = Place(_text(place[0]), None if rank < 0 else rank + 1, _estimate_s(waits))
        return [_text(e) for e in events], found

    async def events_after(self, user: UUID, last_seq: int, count: int = 100) -> list[str]:
        """The user's events after sequence `last_seq`, oldest first, as JSON text."""
        rows: Any = await self.redis.xrange(
            self.key("ev", str(user)), f"{last_seq + 1}-0", "+", count=count
        )
        return [_text(fields[b"e"]) for _, fields in rows]
