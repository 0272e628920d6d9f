"""The queue through the served app: HTTP and WebSocket, across both applications (each
its own ingress replica, one queue in Redis)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import bearer

CRITERIA = {"difficulty": "medium", "topic": "graphs"}


@pytest.fixture
def user_clients(served: str) -> Iterator[dict[str, httpx.Client]]:
    """Credential-less clients on both applications (each request carries a user's token)."""
    clients = {
        c: httpx.Client(base_url=f"{served}/{c}", timeout=60) for c in ("single", "pipeline")
    }
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def _ws_url(served: str, app: str, **query: Any) -> str:
    base = served.replace("http://", "ws://") + f"/{app}/v1/queue/ws"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _token(user: str) -> str:
    return bearer(user)["Authorization"].removeprefix("Bearer ")


def _next(ws: ClientConnection, kind: str, timeout_s: float = 20) -> dict[str, Any]:
    """The next event of this type (positions and others before it are skipped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} event within {timeout_s}s"
        event = json.loads(ws.recv(timeout=left))
        if event["type"] == kind:
            return event


def _ask(client: httpx.Client, user: str, criteria: dict[str, str] = CRITERIA) -> dict[str, Any]:
    response = client.post("/v1/queue/requests", json={"criteria": criteria}, headers=bearer(user))
    assert response.status_code == 201, response.text
    return response.json()


def _confirm(client: httpx.Client, user: str, match_id: str) -> dict[str, Any]:
    body = {"match_id": match_id, "confirmed": True}
    response = client.post("/v1/queue/confirm", json=body, headers=bearer(user))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.e2e
def test_two_users_meet_confirm_and_get_a_session_over_websockets(
    served: str, user_clients: dict[str, httpx.Client]
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    single, pipeline = user_clients["single"], user_clients["pipeline"]
    # a's token in the query, b's as a header; each socket on a different application.
    with (
        connect(_ws_url(served, "single", token=_token(a))) as wa,
        connect(_ws_url(served, "pipeline"), additional_headers=bearer(b)) as wb,
    ):
        ta = _ask(single, a)
        assert _next(wa, "position")["ticket_id"] == ta["ticket_id"]
        _ask(pipeline, b)
        found_a, found_b = _next(wa, "match_found"), _next(wb, "match_found")
        assert found_a["match_id"] == found_b["match_id"] and found_a["relaxation"] == {}
        match_id = found_a["match_id"]
        _confirm(pipeline, a, match_id)  # through the other application than a's socket
        done = _confirm(single, b, match_id)
        ready_a, ready_b = _next(wa, "match_ready"), _next(wb, "match_ready")
        session = done["session"]
        assert ready_a["session"]["session_id"] == ready_b["session"]["session_id"]
        assert ready_a["session"]["session_id"] == session["session_id"]
        assert ready_a["seq"] == found_a["seq"] + 1
    active = single.get("/v1/queue/sessions/active", headers=bearer(b))
    assert active.status_code == 200 and active.json()["session_id"] == session["session_id"]


@pytest.mark.e2e
def test_a_reconnect_with_last_seq_gets_what_it_missed(
    served: str, user_clients: dict[str, httpx.Client]
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    client = user_clients["pipeline"]
    with connect(_ws_url(served, "pipeline", token=_token(a))) as wa:
        _ask(client, a)
        _ask(client, b)
        found = _next(wa, "match_found")
    for user in (a, b):
        _confirm(client, user, found["match_id"])
    left = client.post("/v1/queue/sessions/leave", json={}, headers=bearer(b))
    assert left.status_code == 200
    # Missed while away: match_ready and partner_left, in order, on the other application.
    with connect(_ws_url(served, "single", token=_token(a), last_seq=found["seq"])) as wa:
        ready = json.loads(wa.recv(timeout=20))
        gone = json.loads(wa.recv(timeout=20))
    assert (ready["type"], ready["seq"]) == ("match_ready", found["seq"] + 1)
    assert (gone["type"], gone["seq"]) == ("partner_left", found["seq"] + 2)


@pytest.mark.e2e
def test_a_dropped_socket_keeps_the_ticket_for_the_grace_period_only(
    served: str, user_clients: dict[str, httpx.Client]
) -> None:
    a = str(uuid.uuid4())
    client = user_clients["single"]
    lonely = {"difficulty": "hard", "topic": "sql"}
    with connect(_ws_url(served, "single", token=_token(a))) as wa:
        ticket = _ask(client, a, lonely)
        _next(wa, "position")
    url = f"/v1/queue/requests/{ticket['ticket_id']}"
    assert client.get(url, headers=bearer(a)).json()["status"] == "pending"
    deadline = time.monotonic() + 30  # grace 2 s (conftest), then the matcher's next round
    while client.get(url, headers=bearer(a)).json()["status"] == "pending":
        assert time.monotonic() < deadline, "the ticket outlived the grace period"
        time.sleep(0.5)
    assert client.get(url, headers=bearer(a)).json()["status"] == "cancelled"


@pytest.mark.e2e
def test_a_socket_without_valid_credentials_is_closed(served: str) -> None:
    for url in (_ws_url(served, "single"), _ws_url(served, "single", token="not-a-jwt")):
        with connect(url) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "authorization" in closed.value.rcvd.reason


@pytest.mark.e2e
def test_queue_http_errors_name_the_field(user_clients: dict[str, httpx.Client]) -> None:
    client, a = user_clients["single"], str(uuid.uuid4())
    bad = client.post(
        "/v1/queue/requests", json={"criteria": {"difficulty": "x"}}, headers=bearer(a)
    )
    assert bad.status_code == 422 and bad.json()["field"] == "criteria.difficulty"
    unknown = client.get(f"/v1/queue/requests/{uuid.uuid4()}", headers=bearer(a))
    assert unknown.status_code == 404 and unknown.json()["field"] == "ticket_id"
    anonymous = client.post("/v1/queue/requests", json={"criteria": CRITERIA})
    assert anonymous.status_code == 401
