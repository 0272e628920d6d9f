"""Analytics events and swipe/match statistics against a real, fresh PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from matching.discovery.storage.analytics import (
    AnalyticsEvent,
    record_events,
    refresh_stats,
    service_stats,
    user_stats,
)
from matching.discovery.storage.swipes import record_swipe
from tests.support import connect, make_users

TOPIC = "matching.events"


async def score(_a: uuid.UUID, _b: uuid.UUID) -> tuple[float, dict[str, Any], str]:
    return 0.5, {}, "test-v1"


async def swipe(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID, action: str) -> None:
    await record_swipe(conn, a, b, action, {}, TOPIC, score)


async def backdate(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID, days: int) -> None:
    await conn.execute(
        "UPDATE swipe_history SET updated_at = now() - $3::int * interval '1 day' "
        "WHERE swiper_id = $1 AND swiped_id = $2",
        a,
        b,
        days,
    )


def today() -> Any:
    return datetime.now(UTC).date()


async def test_record_events_in_bulk(conn: asyncpg.Connection) -> None:
    me, *shown = await make_users(conn, 1201)
    impressions = [
        AnalyticsEvent(me, "match_shown", t, "v1", {"position": i}) for i, t in enumerate(shown)
    ]
    gone = uuid.uuid4()  # a candidate deleted since the page was served
    rows = [
        *impressions,
        AnalyticsEvent(me, "match_shown", gone, "v1"),
        AnalyticsEvent(gone, "match_liked", me),
        AnalyticsEvent(me, "conversation_started", shown[0], payload={"channel": "chat"}),
        AnalyticsEvent(me, "app_opened"),
    ]
    assert await record_events(conn, rows) == len(impressions) + 2
    assert await record_events(conn, []) == 0
    counts = dict(
        await conn.fetch("SELECT event_type, count(*) FROM matching_analytics GROUP BY 1")
    )
    assert counts == {"match_shown": 1200, "conversation_started": 1, "app_opened": 1}
    row = await conn.fetchrow(
        "SELECT * FROM matching_analytics WHERE event_type = 'match_shown' AND target_user_id = $1",
        shown[7],
    )
    assert row is not None
    assert (row["user_id"], row["algorithm_version"], row["payload"]) == (me, "v1", {"position": 7})
    assert await conn.fetchval(
        "SELECT payload FROM matching_analytics WHERE event_type = 'conversation_started'"
    ) == {"channel": "chat"}
    with pytest.raises(ValueError):
        await record_events(conn, [AnalyticsEvent(me, "")])
    with pytest.raises(ValueError):
        await record_events(conn, [AnalyticsEvent(me, "x" * 65)])


async def test_user_and_service_stats_on_a_known_history(conn: asyncpg.Connection) -> None:
    a, b, c, d, e, f = await make_users(conn, 6)
    # a: likes b (mutual), super_likes c (c passes), passes d, likes e (e never answers),
    # and liked f 40 days ago (outside the daily window, still in the totals).
    await swipe(conn, a, b, "like")
    await swipe(conn, b, a, "like")
    await swipe(conn, a, c, "super_like")
    await swipe(conn, c, a, "pass")
    await swipe(conn, a, d, "pass")
    await swipe(conn, d, a, "super_like")
    await swipe(conn, a, e, "like")
    await swipe(conn, a, f, "like")
    await backdate(conn, a, e, 2)
    await backdate(conn, a, f, 40)
    await backdate(conn, c, a, 5)

    stats = await user_stats(conn, a)
    assert {k: v for k, v in stats.items() if k != "daily_swipes"} == {
        "user_id": a,
        "swipes_given": 5,
        "swipes_received": 3,
        "likes_given": 4,
        "likes_received": 2,
        "super_likes_given": 1,
        "super_likes_received": 1,
        "passes_given": 1,
        "passes_received": 1,
        "mutual_likes": 1,
        "mutual_rate": 0.25,
        "matches_total": 1,
        "matches_by_status": {"pending": 0, "mutual": 1, "declined": 0, "expired": 0},
    }
    daily = stats["daily_swipes"]
    assert len(daily) == 30
    assert daily[-1]["day"] == today() and daily[0]["day"] == today() - timedelta(days=29)
    assert daily[-1] == {
        "day": today(),
        "swipes": 3,
        "likes": 1,
        "passes": 1,
        "super_likes": 1,
    }
    two_days_ago = {"day": today() - timedelta(days=2), "swipes": 1, "likes": 1}
    assert daily[-3] == {**two_days_ago, "passes": 0, "super_likes": 0}
    assert sum(x["swipes"] for x in daily) == 4

    lonely = await user_stats(conn, f)
    assert lonely["likes_given"] == 0 and lonely["mutual_rate"] == 0.0
    assert lonely["swipes_received"] == 1 and sum(x["swipes"] for x in lonely["daily_swipes"]) == 0

    # The service's daily numbers come from the view: stale until refreshed.
    before = await service_stats(conn)
    assert sum(x["swipes"] for x in before["daily_swipes"]) == 0
    assert before["swipes"] == 8  # totals are live
    await refresh_stats(conn)
    service = await service_stats(conn)
    assert {k: v for k, v in service.items() if k != "daily_swipes"} == {
        "users": 6,
        "active_users": 6,
        "swipes": 8,
        "likes": 6,
        "super_likes": 2,
        "passes": 2,
        "mutual_likes": 2,
        "mutual_rate": 2 / 6,
        "matches_total": 1,
        "matches_by_status": {"pending": 0, "mutual": 1, "declined": 0, "expired": 0},
    }
    sdaily = service["daily_swipes"]
    assert len(sdaily) == 30
    assert sdaily[-1] == {"day": today(), "swipes": 5, "likes": 2, "passes": 1, "super_likes": 2}
    assert sdaily[-3]["swipes"] == 1 and sdaily[-6] == {
        "day": today() - timedelta(days=5),
        "swipes": 1,
        "likes": 0,
        "passes": 1,
        "super_likes": 0,
    }
    assert sum(x["swipes"] for x in sdaily) == 7  # the 40-day-old like is outside
    view = await conn.fetchval("SELECT sum(swipes) FROM daily_swipe_stats")
    assert view == 8


async def test_refresh_concurrently_does_not_block_writers_or_readers(
    fresh_database: str,
) -> None:
    writer, reader, refresher = [await connect(fresh_database) for _ in range(3)]
    try:
        users = await make_users(writer, 40)
        await refresher.execute("SET lock_timeout = '3s'")
        # An open write transaction on swipe_history and an open reader of the view.
        async with writer.transaction(), reader.transaction():
            await writer.execute(
                "INSERT INTO swipe_history (swiper_id, swiped_id, action) VALUES ($1, $2, 'like')",
                users[0],
                users[1],
            )
            await reader.fetch("SELECT * FROM daily_swipe_stats")
            await asyncio.wait_for(refresh_stats(refresher), timeout=10)
            # the uncommitted swipe is not in the view
            assert await refresher.fetchval("SELECT count(*) FROM daily_swipe_stats") == 0

        # Swipes written while the view is refreshed over and over.
        async def write() -> None:
            for i in range(1, 40):
                await swipe(writer, users[i], users[(i + 1) % 40 or 1], "pass")
                await swipe(writer, users[i], users[0], "like")

        async def refresh() -> None:
            for _ in range(15):
                await refresh_stats(refresher)
                await asyncio.sleep(0.005)

        async def read() -> None:
            for _ in range(30):
                await reader.fetch("SELECT * FROM daily_swipe_stats")
                await asyncio.sleep(0.002)

        await asyncio.gather(write(), refresh(), read())
        await refresh_stats(refresher)
        total = await writer.fetchval("SELECT count(*) FROM swipe_history")
        assert await reader.fetchval("SELECT sum(swipes) FROM daily_swipe_stats") == total
        today_row = await reader.fetchrow("SELECT * FROM daily_swipe_stats")
        assert today_row is not None and today_row["likes"] + today_row["passes"] == total
    finally:
        for c in (writer, reader, refresher):
            await c.close()
