"""Swipes, mutual matches and the match lifecycle against a real, fresh PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from matching.core.domain.pairs import ordered_pair, pair_key
from matching.core.storage.blocks import block, blocked_ids, unblock
from matching.discovery.storage.errors import (
    IllegalSwipeChange,
    IllegalTransition,
    InvalidCursor,
    MatchNotFound,
    NotAMember,
    UnknownUser,
)
from matching.discovery.storage.matches import (
    STATUSES,
    TRANSITIONS,
    expire_matches,
    get_match,
    list_matches,
    update_status,
)
from matching.discovery.storage.scoring import score_pending
from matching.discovery.storage.swipes import (
    SwipeResult,
    excluded_ids,
    matched_ids,
    record_swipe,
    swiped_ids,
)
from tests.support import connect, make_users

TOPIC = "matching.events"


class Scorer:
    """A fake score_pair that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def __call__(self, a: uuid.UUID, b: uuid.UUID) -> tuple[float, dict[str, Any], str]:
        self.calls.append((a, b))
        await asyncio.sleep(0)
        return 0.87654, {"shared_interests": ["hiking"]}, "test-v1"


async def swipe(
    conn: asyncpg.Connection,
    a: uuid.UUID,
    b: uuid.UUID,
    action: str,
    scorer: Scorer | None = None,
    **context: Any,
) -> SwipeResult:
    return await record_swipe(conn, a, b, action, context, TOPIC, scorer or Scorer())


async def outbox(conn: asyncpg.Connection, event_type: str | None = None) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT event_id, topic, message_key, event_type, payload FROM event_outbox "
            "WHERE $1::text IS NULL OR event_type = $1 ORDER BY id",
            event_type,
        )
    )


async def insert_match(
    conn: asyncpg.Connection,
    a: uuid.UUID,
    b: uuid.UUID,
    status: str = "mutual",
    *,
    updated_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> uuid.UUID:
    u1, u2 = ordered_pair(a, b)
    mid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO user_matches (id, user1_id, user2_id, status, compatibility_score, "
        "updated_at, expires_at) VALUES ($1, $2, $3, $4, 0.5, coalesce($5, now()), $6)",
        mid,
        u1,
        u2,
        status,
        updated_at,
        expires_at,
    )
    return mid


# --- swipes and mutual matches ------------------------------------------------------------


async def test_reciprocal_likes_at_once_make_exactly_one_match(fresh_database: str) -> None:
    c1, c2, gate = [await connect(fresh_database) for _ in range(3)]
    try:
        users = await make_users(c1, 60)
        pairs = [(users[i], users[i + 1]) for i in range(0, 60, 2)]
        scorer = Scorer()
        for n, (a, b) in enumerate(pairs):
            held = n % 2 == 0
            if held:
                # Make the two swipes truly simultaneous: both queue behind the pair lock.
                tx = gate.transaction()
                await tx.start()
                await gate.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", pair_key(a, b)
                )
            tasks = [
                asyncio.ensure_future(swipe(c1, a, b, "like", scorer)),
                asyncio.ensure_future(swipe(c2, b, a, "like" if n % 3 else "super_like", scorer)),
            ]
            if held:
                for _ in range(500):  # until both wait on the lock
                    waiting = await gate.fetchval(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                        "WHERE l.locktype = 'advisory' AND NOT l.granted "
                        "AND d.datname = current_database()"
                    )
                    if waiting == 2:
                        break
                    await asyncio.sleep(0.01)
                assert waiting == 2
                await tx.commit()
            results = await asyncio.gather(*tasks)
            assert all(r.changed for r in results)
            assert sum(r.match_created for r in results) == 1
            assert any(r.mutual for r in results)
            u1, u2 = ordered_pair(a, b)
            rows = await c1.fetch(
                "SELECT id, status, compatibility_score, match_reason, algorithm_version, "
                "expires_at - created_at AS ttl FROM user_matches "
                "WHERE user1_id = $1 AND user2_id = $2",
                u1,
                u2,
            )
            assert len(rows) == 1
            (row,) = rows
            assert row["status"] == "mutual"
            assert float(row["compatibility_score"]) == 0.8765
            assert row["match_reason"] == {"shared_interests": ["hiking"]}
            assert row["algorithm_version"] == "test-v1"
            assert row["ttl"] == timedelta(days=30)
            assert {r.match_id for r in results if r.mutual} == {row["id"]}
            created = await c1.fetch(
                "SELECT payload FROM event_outbox WHERE event_type = 'match.created' "
                "AND message_key = $1",
                pair_key(a, b),
            )
            assert len(created) == 1 and created[0]["payload"]["match_id"] == str(row["id"])
        # The score is computed once per match, never for a swipe that makes none.
        assert len(scorer.calls) == len(pairs)
        assert await c1.fetchval("SELECT count(*) FROM user_matches") == len(pairs)
        assert len(await outbox(c1, "swipe.performed")) == 2 * len(pairs)
    finally:
        for c in (c1, c2, gate):
            await c.close()


async def test_repeating_a_swipe_is_idempotent(conn: asyncpg.Connection) -> None:
    a, b = await make_users(conn, 2)
    first = await swipe(conn, a, b, "like")
    assert first.changed and not first.mutual and len(first.event_ids) == 1
    before = len(await outbox(conn))
    again = await swipe(conn, a, b, "like", note="ignored")
    assert (again.changed, again.mutual, again.match_id, again.event_ids) == (
        False,
        False,
        None,
        [],
    )
    assert len(await outbox(conn)) == before
    assert await conn.fetchval("SELECT context FROM swipe_history WHERE swiper_id = $1", a) == {}

    back = await swipe(conn, b, a, "like")
    assert back.mutual and back.match_created and back.match_id is not None
    scorer = Scorer()
    repeat = await swipe(conn, b, a, "like", scorer)
    assert repeat.mutual and not repeat.changed and repeat.match_id == back.match_id
    assert repeat.event_ids == [] and scorer.calls == []
    assert await conn.fetchval("SELECT count(*) FROM user_matches") == 1


async def test_swipes_only_move_up(conn: asyncpg.Connection) -> None:
    a, b, c = await make_users(conn, 3)
    await swipe(conn, a, b, "pass")
    upgraded = await swipe(conn, a, b, "like")
    assert upgraded.changed and upgraded.action == "like"
    assert await conn.fetchval("SELECT action FROM swipe_history WHERE swiper_id = $1", a) == (
        "like"
    )
    events = await outbox(conn, "swipe.performed")
    assert events[-1]["payload"]["previous_action"] == "pass"

    before = (len(await outbox(conn)), await conn.fetchrow("SELECT * FROM swipe_history"))
    with pytest.raises(IllegalSwipeChange):
        await swipe(conn, a, b, "pass")
    after = (len(await outbox(conn)), await conn.fetchrow("SELECT * FROM swipe_history"))
    assert before == after

    assert (await swipe(conn, a, b, "super_like")).changed
    for down in ("like", "pass"):
        with pytest.raises(IllegalSwipeChange):
            await swipe(conn, a, b, down)
    await swipe(conn, a, c, "pass")
    assert (await swipe(conn, a, c, "super_like")).action == "super_like"


async def test_super_like_counts_as_like(conn: asyncpg.Connection) -> None:
    a, b = await make_users(conn, 2)
    await swipe(conn, a, b, "super_like")
    result = await swipe(conn, b, a, "super_like")
    assert result.mutual and result.match_created
    match = await get_match(conn, result.match_id) if result.match_id else None
    assert match is not None and match.status == "mutual"
    assert (match.user1_id, match.user2_id) == ordered_pair(a, b)


async def test_a_pass_never_makes_a_match(conn: asyncpg.Connection) -> None:
    a, b = await make_users(conn, 2)
    scorer = Scorer()
    await swipe(conn, a, b, "like", scorer)
    result = await swipe(conn, b, a, "pass", scorer)
    assert not result.mutual and result.match_id is None
    assert scorer.calls == []
    assert await conn.fetchval("SELECT count(*) FROM user_matches") == 0


async def test_invalid_swipes_write_nothing(conn: asyncpg.Connection) -> None:
    (a,) = await make_users(conn, 1)
    with pytest.raises(ValueError, match="oneself"):
        await swipe(conn, a, a, "like")
    with pytest.raises(ValueError, match="action"):
        await swipe(conn, a, uuid.uuid4(), "love")
    ghost = uuid.uuid4()
    with pytest.raises(UnknownUser) as err:
        await swipe(conn, a, ghost, "like")
    assert err.value.user_id == ghost
    with pytest.raises(UnknownUser) as err:
        await swipe(conn, ghost, a, "like")
    assert err.value.user_id == ghost
    assert await conn.fetchval("SELECT count(*) FROM swipe_history") == 0
    assert await outbox(conn) == []


async def test_events_are_written_with_the_pair_key(conn: asyncpg.Connection) -> None:
    a, b = await make_users(conn, 2)
    first = await swipe(conn, a, b, "like", source="discover", position=3)
    second = await swipe(conn, b, a, "super_like")
    events = await outbox(conn)
    assert [e["event_type"] for e in events] == [
        "swipe.performed",
        "swipe.performed",
        "match.created",
    ]
    assert [e["event_id"] for e in events] == first.event_ids + second.event_ids
    assert {e["topic"] for e in events} == {TOPIC}
    assert {e["message_key"] for e in events} == {pair_key(a, b)}
    u1, u2 = ordered_pair(a, b)
    assert pair_key(a, b) == f"{u1}:{u2}"
    performed = events[0]["payload"]
    assert performed["event_type"] == "swipe.performed"
    assert performed["event_id"] == str(first.event_ids[0])
    assert {k: performed[k] for k in ("swiper_id", "swiped_id", "action", "context")} == {
        "swiper_id": str(a),
        "swiped_id": str(b),
        "action": "like",
        "context": {"source": "discover", "position": 3},
    }
    created = events[2]["payload"]
    assert created["match_id"] == str(second.match_id)
    assert (created["user1_id"], created["user2_id"]) == (str(u1), str(u2))
    assert created["compatibility_score"] == 0.8765
    # ids, numbers and factor names only: the interests stay in the table (asserted above)
    assert created["match_reason"] == {
        "primary_factors": [],
        "shared_interest_count": 1,
        "shared_event_count": 0,
        "industry_match": False,
    }
    assert created["algorithm_version"] == "test-v1"


async def test_a_pending_match_becomes_mutual(conn: asyncpg.Connection) -> None:
    a, b = await make_users(conn, 2)
    mid = await insert_match(conn, a, b, "pending")
    await swipe(conn, a, b, "like")
    result = await swipe(conn, b, a, "like")
    assert result.mutual and result.match_created and result.match_id == mid
    match = await get_match(conn, mid)
    assert match is not None and match.status == "mutual" and match.compatibility_score == 0.8765
    (event,) = await outbox(conn, "match.status_updated")
    assert event["payload"]["old_status"] == "pending"
    assert event["payload"]["updated_by"] == str(b)


async def test_blocks_stop_matches_and_hide_people(conn: asyncpg.Connection) -> None:
    a, b, c, d, e = await make_users(conn, 5)
    assert await block(conn, b, a)
    assert not await block(conn, b, a)  # already blocked
    await swipe(conn, a, b, "like")
    result = await swipe(conn, b, a, "like")
    assert not result.mutual and await conn.fetchval("SELECT count(*) FROM user_matches") == 0
    assert await blocked_ids(conn, a) == {b}
    assert await blocked_ids(conn, b) == {a}
    with pytest.raises(ValueError):
        await block(conn, a, a)
    with pytest.raises(UnknownUser):
        await block(conn, a, uuid.uuid4())
    async with conn.transaction():  # the FK error does not break the caller's transaction
        with pytest.raises(UnknownUser):
            await block(conn, a, uuid.uuid4())
        assert await conn.fetchval("SELECT 1") == 1
    assert await unblock(conn, b, a) and not await unblock(conn, b, a)

    # Exclusions for discovery: swipes (old passes only without a cooldown), matches, blocks.
    await swipe(conn, a, c, "pass")
    await conn.execute(
        "UPDATE swipe_history SET updated_at = now() - interval '10 days' "
        "WHERE swiper_id = $1 AND swiped_id = $2",
        a,
        c,
    )
    await swipe(conn, a, d, "pass")
    await insert_match(conn, a, e, "declined")
    assert await swiped_ids(conn, a, None) == {b, c, d}
    assert await swiped_ids(conn, a, 7) == {b, d}
    assert await swiped_ids(conn, a, 30) == {b, c, d}
    assert await matched_ids(conn, a) == {e}
    assert await matched_ids(conn, e) == {a}
    await block(conn, c, a)
    assert await excluded_ids(conn, a, 7) == {b, c, d, e}


# --- the match lifecycle ------------------------------------------------------------------


async def test_status_transitions(conn: asyncpg.Connection) -> None:
    users = await make_users(conn, 2 * len(STATUSES) ** 2)
    pairs = iter(zip(users[::2], users[1::2], strict=True))
    for old, new in itertools.product(STATUSES, STATUSES):
        a, b = next(pairs)
        mid = await insert_match(conn, a, b, old)
        before = len(await outbox(conn))
        if new in TRANSITIONS[old] or new == old:
            match = await update_status(conn, mid, new, b, TOPIC)
            assert match.status == new
            stored = await get_match(conn, mid)
            assert stored == match
            events = (await outbox(conn))[before:]
            if new == old:
                assert events == []
                continue
            (event,) = events
            assert event["event_type"] == "match.status_updated"
            assert event["message_key"] == pair_key(a, b)
            payload = event["payload"]
            assert (payload["old_status"], payload["new_status"]) == (old, new)
            assert payload["updated_by"] == str(b) and payload["match_id"] == str(mid)
        else:
            with pytest.raises(IllegalTransition):
                await update_status(conn, mid, new, a, TOPIC)
            stored = await get_match(conn, mid)
            assert stored is not None and stored.status == old
            assert len(await outbox(conn)) == before
    assert set(TRANSITIONS["pending"]) == {"mutual", "declined", "expired"}
    assert set(TRANSITIONS["mutual"]) == {"declined", "expired"}


async def test_status_update_errors(conn: asyncpg.Connection) -> None:
    a, b, c = await make_users(conn, 3)
    mid = await insert_match(conn, a, b)
    with pytest.raises(NotAMember):
        await update_status(conn, mid, "declined", c, TOPIC)
    with pytest.raises(MatchNotFound):
        await update_status(conn, uuid.uuid4(), "declined", a, TOPIC)
    with pytest.raises(ValueError):
        await update_status(conn, mid, "ghosted", a, TOPIC)
    assert await get_match(conn, uuid.uuid4()) is None
    stored = await get_match(conn, mid)
    assert stored is not None and stored.status == "mutual" and await outbox(conn) == []
    assert stored.other(a) == b and stored.other(b) == a


async def test_keyset_pagination_walks_everything_once(conn: asyncpg.Connection) -> None:
    me, *others = await make_users(conn, 48)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    statuses = ["mutual", "pending", "declined", "expired"]
    ids = {}
    for i, other in enumerate(others):
        # Many share an updated_at, so the id tie-break matters.
        ids[other] = await insert_match(
            conn, me, other, statuses[i % 4], updated_at=base + timedelta(minutes=i // 3)
        )
    # Someone else's match never shows up.
    await insert_match(conn, others[0], others[1])
    expected = [
        (r["id"], r["status"])
        for r in await conn.fetch(
            "SELECT id, status FROM user_matches WHERE $1 IN (user1_id, user2_id) "
            "ORDER BY updated_at DESC, id DESC",
            me,
        )
    ]
    assert len(expected) == len(others)

    async def walk(status: str | None, limit: int) -> list[tuple[uuid.UUID, str]]:
        seen: list[tuple[uuid.UUID, str]] = []
        cursor: str | None = None
        while True:
            page, cursor = await list_matches(conn, me, status, limit, cursor)
            assert len(page) <= limit
            seen.extend((m.id, m.status) for m in page)
            if cursor is None:
                return seen
            assert len(page) == limit

    for limit in (1, 5, 47, 100):
        assert await walk(None, limit) == expected
    for status in STATUSES:
        assert await walk(status, 4) == [e for e in expected if e[1] == status]
    page, cursor = await list_matches(conn, others[2])
    assert [(m.id, m.other(others[2])) for m in page] == [(ids[others[2]], me)]
    assert cursor is None


async def test_invalid_cursor(conn: asyncpg.Connection) -> None:
    (me,) = await make_users(conn, 1)
    naive = base64.urlsafe_b64encode(f"2025-01-01T00:00:00|{uuid.uuid4()}".encode()).decode()
    for garbage in ("not a cursor!", "AAAA", "", naive, base64.b64encode(b"\xff\xfe").decode()):
        with pytest.raises(InvalidCursor):
            await list_matches(conn, me, cursor=garbage)
    with pytest.raises(ValueError):
        await list_matches(conn, me, limit=0)
    with pytest.raises(ValueError):
        await list_matches(conn, me, status="ghosted")


async def test_expire_concurrently_expires_each_match_once(fresh_database: str) -> None:
    c1, c2 = await connect(fresh_database), await connect(fresh_database)
    try:
        users = await make_users(c1, 140)
        now = datetime.now(UTC)
        past, future = now - timedelta(days=1), now + timedelta(days=1)
        pairs = list(zip(users[::2], users[1::2], strict=True))
        due = [
            await insert_match(c1, a, b, "mutual" if i % 2 else "pending", expires_at=past)
            for i, (a, b) in enumerate(pairs[:50])
        ]
        later = [await insert_match(c1, a, b, expires_at=future) for a, b in pairs[50:60]]
        final = [await insert_match(c1, a, b, "declined", expires_at=past) for a, b in pairs[60:70]]
        counts = await asyncio.gather(
            expire_matches(c1, now, TOPIC, batch=7), expire_matches(c2, now, TOPIC, batch=7)
        )
        assert sum(counts) == len(due)
        statuses = dict(await c1.fetch("SELECT id, status FROM user_matches"))
        assert all(statuses[m] == "expired" for m in due)
        assert all(statuses[m] == "mutual" for m in later)
        assert all(statuses[m] == "declined" for m in final)
        events = await outbox(c1, "match.status_updated")
        assert sorted(e["payload"]["match_id"] for e in events) == sorted(map(str, due))
        assert all(e["payload"]["new_status"] == "expired" for e in events)
        assert all(e["payload"]["updated_by"] is None for e in events)
        assert {e["payload"]["old_status"] for e in events} == {"pending", "mutual"}
        # Again, twice at once: nothing left to do.
        assert await asyncio.gather(
            expire_matches(c1, now, TOPIC), expire_matches(c2, now, TOPIC)
        ) == [0, 0]
        assert len(await outbox(c1, "match.status_updated")) == len(due)
        # With `now` past the rest, they expire too.
        assert await expire_matches(c1, future, TOPIC) == len(later)
    finally:
        await c1.close()
        await c2.close()


async def test_expire_skips_a_match_being_changed(fresh_database: str) -> None:
    c1, c2 = await connect(fresh_database), await connect(fresh_database)
    try:
        a, b, c, d = await make_users(c1, 4)
        past = datetime.now(UTC) - timedelta(days=1)
        busy = await insert_match(c1, a, b, expires_at=past)
        free = await insert_match(c1, c, d, expires_at=past)
        async with c2.transaction():  # a swipe on the busy pair holds its lock
            await c2.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", pair_key(a, b)
            )
            assert await expire_matches(c1, datetime.now(UTC), TOPIC) == 1
        assert (await get_match(c1, free)) is not None
        assert [m.status for m in [await get_match(c1, busy)] if m] == ["mutual"]
        assert await expire_matches(c1, datetime.now(UTC), TOPIC) == 1
    finally:
        await c1.close()
        await c2.close()


# --- a score that cannot be computed now ------------------------------------------------


class DownScorer(Scorer):
    """score_pair while the scoring stages are down or too slow: no score now."""

    async def __call__(  # type: ignore[override]
        self, a: uuid.UUID, b: uuid.UUID
    ) -> tuple[float, dict[str, Any], str] | None:
        self.calls.append((a, b))
        return None


async def test_a_like_while_scoring_is_down_makes_the_match_with_its_score_pending(
    conn: asyncpg.Connection,
) -> None:
    a, b = await make_users(conn, 2)
    await swipe(conn, a, b, "like")
    down = DownScorer()
    result = await swipe(conn, b, a, "like", down)
    assert result.changed and result.mutual and result.match_created
    assert down.calls == [ordered_pair(a, b)]
    assert await conn.fetchval("SELECT count(*) FROM swipe_history") == 2  # the like is kept
    assert result.match_id is not None
    match = await get_match(conn, result.match_id)
    assert match is not None and match.status == "mutual"
    assert match.compatibility_score is None and match.algorithm_version is None
    assert match.match_reason["score_pending"] is True
    (created,) = await outbox(conn, "match.created")
    assert created["payload"]["compatibility_score"] is None
    assert created["payload"]["match_reason"]["score_pending"] is True

    assert await score_pending(conn, down, TOPIC) == 0  # still down: stays pending
    still = await get_match(conn, result.match_id)
    assert still is not None and still.compatibility_score is None
    assert await outbox(conn, "match.scored") == []

    assert await score_pending(conn, Scorer(), TOPIC) == 1
    scored = await get_match(conn, result.match_id)
    assert scored is not None and scored.compatibility_score == 0.8765
    assert scored.algorithm_version == "test-v1" and "score_pending" not in scored.match_reason
    (event,) = await outbox(conn, "match.scored")
    assert event["message_key"] == pair_key(a, b)
    payload = event["payload"]
    assert payload["match_id"] == str(result.match_id)
    assert payload["compatibility_score"] == 0.8765
    assert payload["match_reason"]["shared_interest_count"] == 1  # counts, not the interests
    assert await score_pending(conn, Scorer(), TOPIC) == 0  # scored once
    assert len(await outbox(conn, "match.created")) == 1


async def test_score_pending_scores_every_open_pending_match_and_nothing_else(
    conn: asyncpg.Connection,
) -> None:
    users = await make_users(conn, 8)
    pairs = [(users[i], users[i + 1]) for i in range(0, 8, 2)]
    ids = []
    for x, y in pairs:
        await swipe(conn, x, y, "like")
        result = await swipe(conn, y, x, "like", DownScorer())
        ids.append(result.match_id)
    # a pending match declined before it was scored is left as it is
    declined = await update_status(conn, ids[0], "declined", pairs[0][0], TOPIC)
    assert declined.compatibility_score is None
    scorer = Scorer()
    assert await score_pending(conn, scorer, TOPIC, batch=2) == 3  # several batches
    assert sorted(scorer.calls) == sorted(ordered_pair(x, y) for x, y in pairs[1:])
    first = await get_match(conn, ids[0])
    assert first is not None and first.status == "declined" and first.compatibility_score is None
    for mid in ids[1:]:
        match = await get_match(conn, mid)
        assert match is not None and match.compatibility_score == 0.8765
    assert len(await outbox(conn, "match.scored")) == 3
