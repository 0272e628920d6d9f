"""The queue over real Redis and PostgreSQL: tickets, matching, confirmation, sessions."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from deployments.embedder import Embedder
from matching.core import metrics
from tests.integration.queue_support import CRITERIA, QueueApp, queue_app, queue_app_for

__all__ = ["queue_app"]


async def test_ticket_lifecycle_and_its_errors(queue_app: QueueApp) -> None:
    user = uuid.uuid4()
    first = await queue_app.ask(user, client_request_id="r-1")
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert ticket["status"] == "pending" and ticket["position"] == 1
    again = await queue_app.ask(user, client_request_id="r-1")
    assert again.status_code == 200 and again.json()["ticket_id"] == ticket["ticket_id"]
    other = await queue_app.ask(user, client_request_id="r-2")
    assert other.status_code == 409 and ticket["ticket_id"] in other.json()["message"]
    bad = await queue_app.ask(uuid.uuid4(), {"difficulty": "extreme", "topic": "arrays"})
    assert bad.status_code == 422 and bad.json()["field"] == "criteria.difficulty"
    unknown = await queue_app.ask(uuid.uuid4(), {**CRITERIA, "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "criteria.colour"
    missing = await queue_app.ask(uuid.uuid4(), {"difficulty": "easy"})
    assert missing.status_code == 422 and missing.json()["field"] == "criteria.topic"
    url = f"/v1/queue/requests/{ticket['ticket_id']}"
    stranger = await queue_app.bare.get(url, headers=queue_app.bearer(uuid.uuid4()))
    assert stranger.status_code == 403 and stranger.json()["field"] == "ticket_id"
    gone = await queue_app.bare.delete(url, headers=queue_app.bearer(user))
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    twice = await queue_app.bare.delete(url, headers=queue_app.bearer(user))
    assert twice.status_code == 409
    await queue_app.round()
    async with queue_app.resources.connection() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM queue_tickets WHERE id = $1", uuid.UUID(ticket["ticket_id"])
        )
    assert row["status"] == "cancelled" and row["client_request_id"] == "r-1"


async def test_a_user_cannot_queue_as_someone_else(queue_app: QueueApp) -> None:
    me, them = uuid.uuid4(), uuid.uuid4()
    body = {"criteria": CRITERIA, "user_id": str(them)}
    response = await queue_app.bare.post(
        "/v1/queue/requests", json=body, headers=queue_app.bearer(me)
    )
    assert response.status_code == 403 and response.json()["field"] == "user_id"
    keyed = await queue_app.client.post("/v1/queue/requests", json={"criteria": CRITERIA})
    assert keyed.status_code == 422 and keyed.json()["field"] == "user_id"


async def _matched(app: QueueApp, a: uuid.UUID, b: uuid.UUID) -> tuple[str, str, str]:
    ta = (await app.ask(a)).json()["ticket_id"]
    tb = (await app.ask(b)).json()["ticket_id"]
    assert (await app.round())["matched"] == 1
    got = (await app.bare.get(f"/v1/queue/requests/{ta}", headers=app.bearer(a))).json()
    assert got["status"] == "matched"
    return ta, tb, got["match_id"]


async def _confirm(app: QueueApp, user: uuid.UUID, match_id: str, yes: bool = True) -> dict:
    response = await app.bare.post(
        "/v1/queue/confirm", json={"match_id": match_id, "confirmed": yes}, headers=app.bearer(user)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_two_confirm_and_get_a_session_recorded_with_match_found(queue_app: QueueApp) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    _ta, _tb, match_id = await _matched(queue_app, a, b)
    half = await _confirm(queue_app, a, match_id)
    assert half["status"] == "pending"
    assert {m["user_id"]: m["confirmed"] for m in half["members"]} == {str(a): True, str(b): False}
    stranger = await queue_app.bare.post(
        "/v1/queue/confirm",
        json={"match_id": match_id, "confirmed": True},
        headers=queue_app.bearer(uuid.uuid4()),
    )
    assert stranger.status_code == 403
    done = await _confirm(queue_app, b, match_id)
    assert done["status"] == "confirmed" and done["session"]["status"] == "active"
    session = done["session"]
    assert set(session["user_ids"]) == {str(a), str(b)} and session["criteria"] == CRITERIA
    active = await queue_app.bare.get("/v1/queue/sessions/active", headers=queue_app.bearer(a))
    assert active.json()["session_id"] == session["session_id"]
    kinds = [e["type"] for e in await queue_app.events(a)]
    assert kinds == ["match_found", "match_ready"]
    assert [e["seq"] for e in await queue_app.events(a)] == [1, 2]
    late = await queue_app.bare.post(
        "/v1/queue/confirm",
        json={"match_id": match_id, "confirmed": False},
        headers=queue_app.bearer(a),
    )
    assert late.status_code == 409
    await queue_app.round()
    async with queue_app.resources.connection() as conn:
        tickets = await conn.fetch("SELECT status, match_id FROM queue_tickets")
        match = await conn.fetchrow("SELECT * FROM queue_matches")
        row = await conn.fetchrow("SELECT * FROM queue_sessions")
        events = await conn.fetch(
            "SELECT payload FROM event_outbox WHERE event_type = 'match.found'"
        )
    assert [t["status"] for t in tickets] == ["confirmed", "confirmed"]
    assert {str(t["match_id"]) for t in tickets} == {match_id}
    assert match["status"] == "confirmed" and match["a_confirmed_at"] and match["b_confirmed_at"]
    assert str(row["id"]) == session["session_id"]
    assert len(events) == 1 and events[0]["payload"]["session_id"] == session["session_id"]
    # A second writer pass (a replay) changes nothing: the cursor moved with the rows.
    await queue_app.queue.matcher.write_history()
    async with queue_app.resources.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM event_outbox") == 1
    left = await queue_app.bare.post(
        "/v1/queue/sessions/leave", json={}, headers=queue_app.bearer(a)
    )
    assert left.status_code == 200 and left.json()["left_by"] == str(a)
    assert (await queue_app.events(b))[-1]["type"] == "partner_left"
    none = await queue_app.bare.get("/v1/queue/sessions/active", headers=queue_app.bearer(b))
    assert none.status_code == 404


async def test_a_decline_requeues_the_partner_at_their_place(queue_app: QueueApp) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ta, tb, match_id = await _matched(queue_app, a, b)
    tc = (await queue_app.ask(c)).json()["ticket_id"]  # newer than a's
    await _confirm(queue_app, a, match_id)
    declined = await _confirm(queue_app, b, match_id, yes=False)
    assert declined["status"] == "declined"
    back = (
        await queue_app.bare.get(f"/v1/queue/requests/{ta}", headers=queue_app.bearer(a))
    ).json()
    assert back["status"] == "pending" and back["position"] == 1 and back["match_id"] is None
    own = (await queue_app.bare.get(f"/v1/queue/requests/{tb}", headers=queue_app.bearer(b))).json()
    assert own["status"] == "cancelled"
    third = (
        await queue_app.bare.get(f"/v1/queue/requests/{tc}", headers=queue_app.bearer(c))
    ).json()
    assert third["position"] == 2
    cooling = await queue_app.ask(b)
    assert cooling.status_code == 409 and "cooling down" in cooling.json()["message"]
    expired = [e for e in await queue_app.events(a) if e["type"] == "match_expired"]
    assert expired[-1]["requeued"] is True and expired[-1]["reason"] == "declined"
    await queue_app.round()  # a and c meet now
    assert (
        await queue_app.bare.get(f"/v1/queue/requests/{tc}", headers=queue_app.bearer(c))
    ).json()["status"] == "matched"


async def test_a_timeout_requeues_who_confirmed_and_cools_down_who_did_not(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    import asyncio

    async with queue_app_for(
        fresh_database, tmp_path, embedder, CONFIRM_MATCH_TIMEOUT_SECONDS="0.3"
    ) as app:
        a, b = uuid.uuid4(), uuid.uuid4()
        ta, tb, match_id = await _matched(app, a, b)
        await _confirm(app, a, match_id)
        await asyncio.sleep(0.5)
        assert (await app.round())["deadlines"] == 1
        got = await app.bare.get(f"/v1/queue/matches/{match_id}", headers=app.bearer(a))
        assert got.json()["status"] == "expired" and got.json()["reason"] == "timeout"
        tickets = {
            t: (await app.client.get(f"/v1/queue/requests/{t}")).json()["status"] for t in (ta, tb)
        }
        assert tickets == {ta: "pending", tb: "expired"}
        assert (await app.ask(b)).status_code == 409


async def test_an_unmatched_ticket_expires_with_a_notice(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    import asyncio

    async with queue_app_for(
        fresh_database, tmp_path, embedder, MATCHING_TIMEOUT_SECONDS="0.3"
    ) as app:
        a = uuid.uuid4()
        ta = (await app.ask(a)).json()["ticket_id"]
        await asyncio.sleep(0.5)
        assert (await app.round())["expiry"] == 1
        assert (await app.client.get(f"/v1/queue/requests/{ta}")).json()["status"] == "expired"
        notice = (await app.events(a))[-1]
        assert notice["type"] == "match_expired" and notice["reason"] == "no_match"
        assert (await app.ask(a)).status_code == 201  # expiry is no penalty


async def test_cancel_in_the_window_frees_the_partner(queue_app: QueueApp) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    ta, tb, match_id = await _matched(queue_app, a, b)
    gone = await queue_app.bare.delete(f"/v1/queue/requests/{tb}", headers=queue_app.bearer(b))
    assert gone.json()["status"] == "cancelled"
    back = await queue_app.bare.get(f"/v1/queue/requests/{ta}", headers=queue_app.bearer(a))
    assert back.json()["status"] == "pending" and back.json()["position"] == 1
    match = (await queue_app.client.get(f"/v1/queue/matches/{match_id}")).json()
    assert match["status"] == "cancelled"


async def test_criteria_relax_after_the_wait(
    fresh_database: str, tmp_path: Path, embedder: Embedder
) -> None:
    import asyncio

    async with queue_app_for(
        fresh_database, tmp_path, embedder, MATCHING_QUEUE_RELAX_AFTER_S="0.2"
    ) as app:
        easy, medium, hard = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        te = (await app.ask(easy, {"difficulty": "easy", "topic": "arrays"})).json()["ticket_id"]
        await app.ask(hard, {"difficulty": "hard", "topic": "graphs"})
        assert (await app.round())["matched"] == 0  # too early
        await asyncio.sleep(0.3)
        # easy and hard are not adjacent: no match even after the wait
        assert (await app.round())["matched"] == 0
        await app.ask(medium, {"difficulty": "medium", "topic": "arrays"})
        await asyncio.sleep(0.3)
        assert (await app.round())["matched"] == 1
        match_id = (await app.client.get(f"/v1/queue/requests/{te}")).json()["match_id"]
        match = (await app.client.get(f"/v1/queue/matches/{match_id}")).json()
        assert match["relaxation"] == {"difficulty": "adjacent"}
        assert match["criteria"] == {"difficulty": "easy", "topic": "arrays"}


async def test_stats_report_depth_time_to_match_and_confirm_rate(queue_app: QueueApp) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _, _, match_id = await _matched(queue_app, a, b)
    await _confirm(queue_app, a, match_id)
    await _confirm(queue_app, b, match_id)
    await queue_app.ask(c, {"difficulty": "hard", "topic": "sql"})
    await queue_app.round()
    user = await queue_app.bare.get("/v1/queue/stats", headers=queue_app.bearer(a))
    assert user.status_code == 403
    stats = (await queue_app.client.get("/v1/queue/stats")).json()
    assert stats["depth"] == {"hard|sql": 1} and stats["waiting"] == 1
    assert stats["matches"] == 1 and stats["confirm_rate"] == 1.0 and stats["sessions"] == 1
    assert stats["median_time_to_match_s"] is not None and stats["median_time_to_match_s"] >= 0


async def test_the_matcher_loop_reports_depth_and_time_to_match(queue_app: QueueApp) -> None:
    depth, waited = "matching_queue_depth_tickets", "matching_queue_time_to_match_seconds"
    matched_before = metrics.value(waited)
    await _matched(queue_app, uuid.uuid4(), uuid.uuid4())
    assert metrics.value(waited) == matched_before + 2  # both tickets of the pair
    await queue_app.ask(uuid.uuid4(), {"difficulty": "hard", "topic": "sql"})
    queue = queue_app.queue
    queue.matcher.start(queue.hub)  # the loop every replica runs, lease or not
    try:
        for _ in range(200):
            if metrics.value(depth, criteria="hard|sql") == 1:
                break
            await asyncio.sleep(0.02)
    finally:
        await queue.matcher.stop()
    assert metrics.value(depth, criteria="hard|sql") == 1
    assert metrics.value(depth, criteria="easy|arrays") == 0
    assert metrics.value(waited) == matched_before + 2  # alone: not matched
    stats = (await queue_app.client.get("/v1/queue/stats")).json()
    assert stats["depth"] == {"hard|sql": 1}
