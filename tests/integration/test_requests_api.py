"""Request matching over HTTP in-process, on real PostgreSQL, Redis and the real model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.ml.embedding import ModelEncoder
from matching.core.retrieval.collection import UnknownCollection
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from matching.devtools.demo_requests import seed_providers
from matching.requests.index import ProviderCollection
from matching.requests.mode import Requests
from matching.requests.storage import providers as providers_store
from matching.requests.storage import requests as store
from serve_app.services import ModeName, build_services
from tests.integration.conftest import App, stop_app
from tests.support import profile_body
from tests.support_requests import provider_body, request_body


async def start(settings: Settings, embedder: Embedder, *modes: ModeName) -> App:
    retriever = Retriever(settings)
    await retriever.start()
    resources = Resources(
        settings, LocalStage(embedder), LocalStage(retriever), LocalStage(Reranker(settings))
    )
    await resources.start()
    return App(build_services(resources, modes), retriever)


@pytest_asyncio.fixture
async def app(settings: Settings, embedder: Embedder) -> AsyncIterator[App]:
    """The app with discovery and requests (profiles' DELETE erases both)."""
    started = await start(settings, embedder, "discovery", "requests")
    try:
        yield started
    finally:
        await stop_app(started)


def mode(app: App) -> Requests:
    found = app.services.mode("requests")
    assert isinstance(found, Requests)
    return found


async def put(app: App, name: str = "Ada", **over: Any) -> str:
    provider_id = str(uuid.uuid4())
    r = await app.client.put(f"/v1/providers/{provider_id}", json=provider_body(name, **over))
    assert r.status_code == 200, r.text
    return provider_id


async def test_a_provider_is_ranked_once_put_and_gone_once_deleted(app: App) -> None:
    ada = await put(app)
    got = await app.client.get(f"/v1/providers/{ada}")
    assert got.status_code == 200 and got.json()["skills"][1]["name"] == "React.js"
    listed = await app.client.get("/v1/providers", params={"skill": "python"})
    assert [p["provider_id"] for p in listed.json()["providers"]] == [ada]
    r = await app.client.post("/v1/requests", json=request_body())
    assert r.status_code == 200, r.text
    [match] = r.json()["matches"]
    # "React" is "React.js" by embedding similarity, "ML" is "Machine Learning" by acronym
    assert match["provider_id"] == ada
    assert match["matching_skills"] == ["React", "ML"] and match["missing_skills"] == []
    assert match["recommendation_reason"].startswith("Knows React, ML")
    assert (await app.client.delete(f"/v1/providers/{ada}")).status_code == 204
    again = await app.client.post("/v1/requests", json=request_body())
    assert again.json()["matches"] == [] and again.json()["total_providers"] == 0
    assert (await app.client.get(f"/v1/providers/{ada}")).status_code == 404


async def test_providers_are_a_collection_of_the_retriever_that_every_replica_replays(
    app: App, settings: Settings, embedder: Embedder
) -> None:
    """Another replica (its own Retriever, opened after the writes) ranks the providers from
    what the writes stored: text and skill vectors, no Embedder of its own."""
    assert app.retriever.info()["collections"] == {}  # opened on first use only
    ada = await put(app)
    other = await start(settings, embedder, "requests")
    try:
        r = await other.client.post("/v1/requests", json=request_body())
        [match] = r.json()["matches"]
        assert match["provider_id"] == ada and match["matching_skills"] == ["React", "ML"]
        seen = other.retriever.info()["collections"]["providers"]
        assert seen["providers"] == 1 and seen["unembedded_skills"] == 0
        bob = await put(app, "Bob")  # written through the first replica: replayed here
        assert (await app.client.delete(f"/v1/providers/{ada}")).status_code == 204
        again = await other.client.post("/v1/requests", json=request_body(request_id="2"))
        assert [m["provider_id"] for m in again.json()["matches"]] == [bob]
        # a provider stored before skills were embedded: its skills match by name only
        # ("React.js" is "React" by name too), and the collection says how many such names
        async with app.resources.connection() as conn:
            await conn.execute("UPDATE providers SET skill_embeddings = NULL")
            await conn.execute(
                "INSERT INTO provider_changes (provider_id) VALUES ($1)", uuid.UUID(bob)
            )
        named = await other.client.post("/v1/requests", json=request_body(request_id="3"))
        assert [m["provider_id"] for m in named.json()["matches"]] == [bob]
        info = other.retriever.info()["collections"]["providers"]
        assert info["unembedded_skills"] == 3
        with pytest.raises(UnknownCollection, match="no collection 'people'"):
            await other.retriever.query("people")
    finally:
        await stop_app(other)


async def test_filters_are_counted_and_a_relaxation_suggested(app: App) -> None:
    await put(app, "Cheap")
    for name, rate in (("Dear", 170), ("Dearer", 160)):
        await put(app, name, hourly_rate=rate)
    await put(app, "Groups", session_types=["workshop"])
    body = (await app.client.post("/v1/requests", json=request_body())).json()
    assert [m["name"] for m in body["matches"]] == ["Cheap"]
    assert body["filtered_out"]["budget"] == 2 and body["filtered_out"]["session_type"] == 1
    assert body["relaxations"][0]["suggestion"] == "budget up to $170 adds 2 providers"


async def test_a_user_acts_only_as_themselves(app: App) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    mine = await app.bare.put(f"/v1/providers/{me}", json=provider_body(), headers=app.bearer(me))
    assert mine.status_code == 200
    theirs = await app.bare.put(
        f"/v1/providers/{other}", json=provider_body(), headers=app.bearer(me)
    )
    assert theirs.status_code == 403 and theirs.json()["field"] == "provider_id"
    as_other = request_body(requester_id=str(other))
    refused = await app.bare.post("/v1/requests", json=as_other, headers=app.bearer(me))
    assert refused.status_code == 403 and refused.json()["field"] == "requester_id"
    sent = await app.bare.post(
        "/v1/requests", json=request_body(request_id="mine-1"), headers=app.bearer(me)
    )
    assert sent.status_code == 200
    history = await app.bare.get("/v1/requests?requester=me", headers=app.bearer(me))
    assert [h["request_id"] for h in history.json()["requests"]] == ["mine-1"]
    peek = await app.bare.get("/v1/requests/mine-1", headers=app.bearer(other))
    assert peek.status_code == 404
    reuse = await app.bare.post(
        "/v1/requests", json=request_body(request_id="mine-1"), headers=app.bearer(other)
    )
    assert reuse.status_code == 409 and reuse.json()["field"] == "request_id"
    foreign = await app.bare.get(f"/v1/requests?requester={other}", headers=app.bearer(me))
    assert foreign.status_code == 403


async def test_one_request_id_is_ranked_once_even_when_sent_at_once(app: App) -> None:
    await put(app)
    request_id = f"dup-{uuid.uuid4().hex}"  # Redis db 15 outlives this test's database
    body = request_body(request_id=request_id)
    answers = await asyncio.gather(*(app.client.post("/v1/requests", json=body) for _ in range(4)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["ranked_at"] for a in answers}) == 1
    later = await app.client.post("/v1/requests", json=body)
    assert later.json() == answers[0].json()
    async with app.resources.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM match_requests") == 1
    cached = await app.resources.redis.get(f"match_result:{request_id}")
    ttl = await app.resources.redis.ttl(f"match_result:{request_id}")
    assert cached is not None and 0 < ttl <= 3600


async def test_respond_async_answers_202_then_the_result(app: App) -> None:
    await put(app)
    body = request_body(request_id=f"async-{uuid.uuid4().hex}")
    r = await app.client.post("/v1/requests", json=body, headers={"Prefer": "respond-async"})
    assert r.status_code == 202 and r.json()["status"] == "pending"
    for _ in range(200):
        state = (await app.client.get(f"/v1/requests/{body['request_id']}")).json()
        if state["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "completed" and len(state["result"]["matches"]) == 1


async def test_maintenance_finishes_a_request_whose_task_was_lost(app: App) -> None:
    await put(app)
    async with app.resources.connection() as conn:
        await store.claim(conn, "lost-1", "service", request_body(request_id="lost-1"))
        await conn.execute("UPDATE match_requests SET updated_at = now() - interval '1 hour'")
    assert await mode(app).maintain() == {"finished": 1, "failed": 0, "provider_changes_pruned": 0}
    state = (await app.client.get("/v1/requests/lost-1")).json()
    assert state["status"] == "completed" and len(state["result"]["matches"]) == 1


async def test_the_provider_change_log_is_pruned_and_an_index_behind_it_reloads(
    app: App,
) -> None:
    ada, bob = await put(app), await put(app, "Bob")
    ranked = await app.client.post("/v1/requests", json=request_body())
    assert {m["provider_id"] for m in ranked.json()["matches"]} == {ada, bob}
    providers = await app.retriever.open_collection("providers")
    assert isinstance(providers, ProviderCollection)  # the Retriever holds the providers
    index = providers.index
    async with app.resources.connection() as conn:
        # another replica deletes Bob: this index has not replayed that change yet
        assert await providers_store.delete(conn, uuid.UUID(bob))
        await conn.execute("UPDATE provider_changes SET changed_at = now() - interval '2 days'")
    assert (await mode(app).maintain())["provider_changes_pruned"] == 3
    async with app.resources.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM provider_changes") == 0
    # the change that removed Bob is gone from the log: replaying cannot give it, reloading does
    again = await app.client.post("/v1/requests", json=request_body(request_id="after-prune"))
    assert [m["provider_id"] for m in again.json()["matches"]] == [ada]
    assert index.reloads == 1
    # and the position it reloaded at replays later changes as before
    carol = await put(app, "Carol")
    last = await app.client.post("/v1/requests", json=request_body(request_id="after-put"))
    assert {m["provider_id"] for m in last.json()["matches"]} == {ada, carol}
    assert index.reloads == 1


async def test_an_outcome_is_kept_with_the_rank_it_had(app: App) -> None:
    ada = await put(app)
    await app.client.post("/v1/requests", json=request_body(request_id="out-1"))
    r = await app.client.post(
        "/v1/requests/out-1/outcome", json={"provider_id": ada, "outcome": "booked"}
    )
    assert r.status_code == 201 and r.json()["rank"] == 1
    missing = await app.client.post(
        "/v1/requests/nope/outcome", json={"provider_id": ada, "outcome": "booked"}
    )
    assert missing.status_code == 404 and missing.json()["field"] == "request_id"


async def test_bad_input_names_the_field(app: App) -> None:
    zone = request_body()
    zone["availability"]["timezone"] = "Mars/Olympus"
    r = await app.client.post("/v1/requests", json=zone)
    assert r.status_code == 422 and "timezone" in r.json()["field"]
    slot = provider_body(
        availability=[{"day_of_week": 0, "start": "10:00", "end": "09:00", "timezone": "UTC"}]
    )
    r = await app.client.put(f"/v1/providers/{uuid.uuid4()}", json=slot)
    assert r.status_code == 422 and r.json()["field"].endswith("end")


async def test_erasing_a_person_erases_them_as_provider_and_requester(app: App) -> None:
    person = uuid.uuid4()
    assert (await app.client.put(f"/v1/profiles/{person}", json=profile_body())).status_code in (
        200,
        201,
    )
    await app.client.put(f"/v1/providers/{person}", json=provider_body())
    body = request_body(request_id="erase-1", requester_id=str(person))
    other = await app.client.post("/v1/requests", json=request_body(request_id="other-1"))
    assert [m["provider_id"] for m in other.json()["matches"]] == [str(person)]
    await app.client.post("/v1/requests", json=body)
    assert (await app.client.delete(f"/v1/profiles/{person}")).status_code == 204
    assert (await app.client.get(f"/v1/providers/{person}")).status_code == 404
    assert (await app.client.get("/v1/requests/erase-1")).status_code == 404
    scrubbed = (await app.client.get("/v1/requests/other-1")).json()
    assert scrubbed["result"]["matches"] == []
    after = await app.client.post("/v1/requests", json=request_body())
    assert after.json()["matches"] == []


async def test_outcomes_evaluate_weightings_and_the_promoted_one_ranks(app: App) -> None:
    from matching.core.ml.registry import Registry
    from training.evaluate_requests import run

    cheap = await put(app, "Cheap", hourly_rate=40, rating_count=2, rating_average=3.9)
    await put(app, "Rated", hourly_rate=140, rating_count=400, rating_average=4.9)
    for i in range(3):  # clients keep booking the cheap one
        await app.client.post("/v1/requests", json=request_body(request_id=f"ev-{i}"))
        await app.client.post(
            f"/v1/requests/ev-{i}/outcome", json={"provider_id": cheap, "outcome": "booked"}
        )
    settings = app.resources.settings
    report = await run(settings)
    assert report["weightings"]["serving"]["outcomes"] == 3
    best = report["best"]
    assert report["weightings"][best]["booked_mrr"] >= report["weightings"]["serving"]["booked_mrr"]
    live = Registry.from_settings(settings).promote("weightings", report["version"])
    assert live["weightings"] == report["version"]
    service = mode(app).service
    service.weights.expire()  # the test does not wait out the 30 s re-read
    answer = (await app.client.post("/v1/requests", json=request_body())).json()
    assert answer["weights"] == pytest.approx(await service.weights.get())
    assert answer["weights"] != settings.requests.weights


async def test_the_demo_catalogue_is_seeded_with_skill_vectors_the_retriever_ranks(
    app: App, settings: Settings
) -> None:
    """`matching up`'s providers carry vectors for their skills as a PUT's do."""
    encoder = ModelEncoder(settings.model)
    assert await seed_providers(settings, 40, encoder) == 40
    assert await seed_providers(settings, 40, encoder) == 0  # kept, not duplicated
    r = await app.client.post("/v1/requests", json=request_body(skills_required=[]))
    assert r.status_code == 200 and r.json()["total_providers"] == 40
    seen = app.retriever.info()["collections"]["providers"]
    assert seen["providers"] == 40 and seen["unembedded_skills"] == 0
