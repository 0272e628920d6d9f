"""Request matching end to end: providers, ranked requests (sync, async, repeated) and
outcomes through the served app over HTTP, in both compositions."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import bearer
from tests.support_requests import provider_body, request_body


def unique_skill() -> str:
    # Names alike embed alike (two such skills would be "the same skill"), so a test's own
    # providers are told apart by a language only they speak; the name reads the same.
    return f"Quillscript-{uuid.uuid4().hex[:8]}"


def _language(skill: str) -> str:
    return f"Lang-{skill.rsplit('-', 1)[-1]}"


def put(api: httpx.Client, skill: str, name: str = "Ada", **over: Any) -> str:
    provider_id = str(uuid.uuid4())
    skills = [{"name": skill, "level": "expert", "years": 6}]
    languages = ["English", _language(skill)]
    body = provider_body(name, skills=skills, languages=languages, **over)
    response = api.put(f"/v1/providers/{provider_id}", json=body)
    assert response.status_code == 200, response.text
    return provider_id


def ask(skill: str, **over: Any) -> dict[str, Any]:
    needs = [{"name": skill, "level": "advanced", "mandatory": True}]
    return request_body(skills_required=needs, languages=[_language(skill)], **over)


def test_a_request_ranks_the_providers_that_fit(api: httpx.Client) -> None:
    skill = unique_skill()
    good = put(api, skill)
    put(api, skill, "Dear", hourly_rate=170)
    response = api.post("/v1/requests", json=ask(skill))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["provider_id"] for m in body["matches"]] == [good]
    assert body["matches"][0]["matching_skills"] == [skill]
    assert body["filtered_out"]["budget"] >= 1  # others' providers may cost more too
    budget = [r for r in body["relaxations"] if r["filter"] == "budget"]
    assert budget == [
        {"filter": "budget", "adds": 1, "suggestion": "budget up to $170 adds 1 providers"}
    ]


def test_the_same_request_id_answers_the_same_result(api: httpx.Client) -> None:
    skill = unique_skill()
    put(api, skill)
    request_id = f"e2e-{uuid.uuid4().hex}"
    first = api.post("/v1/requests", json=ask(skill, request_id=request_id))
    second = api.post("/v1/requests", json=ask(skill, request_id=request_id))
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    stored = api.get(f"/v1/requests/{request_id}").json()
    assert stored["status"] == "completed" and stored["result"] == first.json()


def test_respond_async_then_poll(api: httpx.Client) -> None:
    skill = unique_skill()
    provider = put(api, skill)
    request_id = f"e2e-async-{uuid.uuid4().hex}"
    accepted = api.post(
        "/v1/requests",
        json=ask(skill, request_id=request_id),
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 202 and accepted.json()["status"] == "pending"
    deadline = time.monotonic() + 60
    while (state := api.get(f"/v1/requests/{request_id}").json())["status"] == "pending":
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert [m["provider_id"] for m in state["result"]["matches"]] == [provider]
    outcome = api.post(
        f"/v1/requests/{request_id}/outcome", json={"provider_id": provider, "outcome": "booked"}
    )
    assert outcome.status_code == 201 and outcome.json()["rank"] == 1


def test_users_act_and_read_only_as_themselves(api: httpx.Client) -> None:
    me, other = str(uuid.uuid4()), str(uuid.uuid4())
    url = str(api.base_url)
    with httpx.Client(base_url=url, timeout=60) as bare:
        assert (
            bare.put(f"/v1/providers/{other}", json=provider_body(), headers=bearer(me)).status_code
            == 403
        )
        request_id = f"e2e-mine-{uuid.uuid4().hex}"
        mine = bare.post(
            "/v1/requests", json=ask(unique_skill(), request_id=request_id), headers=bearer(me)
        )
        assert mine.status_code == 200
        history = bare.get("/v1/requests", params={"requester": "me"}, headers=bearer(me)).json()
        assert [r["request_id"] for r in history["requests"]] == [request_id]
        assert bare.get(f"/v1/requests/{request_id}", headers=bearer(other)).status_code == 404
        assert bare.post("/v1/requests", json=ask("x")).status_code == 401


def test_bad_input_is_a_422_naming_the_field(api: httpx.Client) -> None:
    body = ask(unique_skill())
    body["availability"]["timezone"] = "Not/AZone"
    response = api.post("/v1/requests", json=body)
    assert response.status_code == 422 and "timezone" in response.json()["field"]
