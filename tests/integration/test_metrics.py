"""The service's metrics recorded where things happen, in-process over the real PostgreSQL and
Redis: requests by route template, mode and status, stage timings, rate-limited calls,
erasures, and the sampled gauges (outbox backlog, live versions)."""

from __future__ import annotations

from pathlib import Path

from matching.core import metrics
from matching.core.storage import outbox
from serve_app.telemetry import Sampler
from tests.integration.conftest import App, make_settings, running_app
from tests.integration.test_api_discover import put

REQUESTS = "matching_http_requests_total"


def _count(route: str, mode: str, status: str, method: str = "GET") -> float:
    return metrics.value(REQUESTS, route=route, method=method, mode=mode, status=status)


async def test_requests_are_counted_by_route_template_mode_and_status(app: App) -> None:
    me = await put(app, "Metrics Person")
    discover = "/v1/users/{user_id}/discover"
    before = (_count("/health/live", "core", "200"), _count(discover, "discovery", "200"))
    unmatched = _count("(unmatched)", "core", "404")
    assert (await app.client.get("/health/live")).status_code == 200
    assert (await app.client.get(f"/v1/users/{me}/discover")).status_code == 200
    assert (await app.client.get("/v1/nothing/here")).status_code == 404
    assert _count("/health/live", "core", "200") == before[0] + 1
    assert _count(discover, "discovery", "200") == before[1] + 1
    assert _count("(unmatched)", "core", "404") == unmatched + 1
    stages = {(r["stage"], r["method"]) for r in metrics.snapshot()["matching_stage_seconds"]}
    assert {("retriever", "discover"), ("reranker", "rank")} <= stages


async def test_refused_calls_and_erasures_are_counted(
    fresh_database: str, tmp_path: Path, embedder: object
) -> None:
    settings = make_settings(
        fresh_database, tmp_path / "artifacts", MATCHING_RATE_LIMIT_DISCOVER="1"
    )
    async with running_app(settings, embedder) as app:  # type: ignore[arg-type]
        me = await put(app, "Limited Person")
        headers = app.bearer(me)
        limited = metrics.value("matching_rate_limited_total", endpoint="discover")
        erased = metrics.value("matching_erasures_total", source="api")
        statuses = [
            (await app.bare.get(f"/v1/users/{me}/discover", headers=headers)).status_code
            for _ in range(2)
        ]
        assert statuses == [200, 429]
        assert metrics.value("matching_rate_limited_total", endpoint="discover") == limited + 1
        assert (await app.client.delete(f"/v1/profiles/{me}")).status_code == 204
        assert metrics.value("matching_erasures_total", source="api") == erased + 1


async def test_sampler_reads_the_outbox_backlog_and_live_versions(app: App) -> None:
    async with app.resources.connection() as conn:  # no relay runs here: it stays pending
        await outbox.enqueue(conn, "matching.events", "k", "test.event", {"n": 1})
    sampler = Sampler(app.services, lambda: {"consumer": {"lag": {"user.events:0": 7}}})
    await sampler.sample_once()
    assert metrics.value("matching_outbox_pending_rows") >= 1
    assert metrics.value("matching_outbox_oldest_age_seconds") >= 0
    assert metrics.value("matching_consumer_lag_messages", topic="user.events", partition="0") == 7
    assert metrics.value("matching_live_version_info", kind="model", version="weighted") == 1
    sampler._live("model", "v2")
    assert metrics.value("matching_live_version_info", kind="model", version="weighted") == 0
    assert metrics.value("matching_live_version_info", kind="model", version="v2") == 1
