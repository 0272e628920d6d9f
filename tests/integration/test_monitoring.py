"""Live monitoring over the HTTP app: impressions served by each ranking version, joined with
the swipes that followed, give accuracy, precision and recall per version; a version below
MATCHING_MONITOR_MIN_ACCURACY is flagged once it has enough outcomes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from deployments.embedder import Embedder
from tests.integration.conftest import App, make_settings, running_app
from tests.support import profile_body

DECISION = 0.3


@pytest_asyncio.fixture
async def monitored(fresh_database: str, tmp_path: Path, embedder: Embedder) -> AsyncIterator[App]:
    settings = make_settings(
        fresh_database,
        tmp_path,
        MATCHING_MONITOR_DECISION=str(DECISION),
        MATCHING_MONITOR_MIN_ACCURACY="0.6",
        MATCHING_MONITOR_MIN_OUTCOMES="4",
    )
    async with running_app(settings, embedder) as app:
        yield app


async def _people(app: App, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for i, uid in enumerate(ids):
        body = profile_body(f"P{i}", company=f"C{i}", interests=["hiking", f"topic {i % 3}"])
        assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    return ids


async def _session(app: App, user: str, agree: bool, skip_last: bool = False) -> dict[str, int]:
    """Discover, then swipe every card but maybe the last: like what the served prediction
    says will be liked (agree) or the opposite; returns the confusion counts expected."""
    shown = (await app.client.get(f"/v1/users/{user}/discover?limit=20")).json()["candidates"]
    counts = {"served": len(shown), "outcomes": 0, "tp": 0, "fp": 0, "fn": 0, "correct": 0}
    for card in shown[:-1] if skip_last else shown:
        predicted = card["compatibility_score"] >= DECISION
        liked = predicted if agree else not predicted
        body = {
            "swiper_id": user,
            "swiped_id": card["user_id"],
            "action": "like" if liked else "pass",
        }
        assert (await app.client.post("/v1/swipes", json=body)).status_code == 200
        counts["outcomes"] += 1
        counts["correct"] += predicted == liked
        counts["tp"] += predicted and liked
        counts["fp"] += predicted and not liked
        counts["fn"] += liked and not predicted
    return counts


def _expected(c: dict[str, int]) -> dict[str, Any]:
    def ratio(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "served": c["served"],
        "outcomes": c["outcomes"],
        "accuracy": ratio(c["correct"], c["outcomes"]),
        "precision": ratio(c["tp"], c["tp"] + c["fp"]),
        "recall": ratio(c["tp"], c["tp"] + c["fn"]),
    }


async def test_accuracy_precision_recall_per_version_and_the_flag(monitored: App) -> None:
    app = monitored
    ids = await _people(app, 8)
    good = await _session(app, ids[0], agree=True, skip_last=True)
    await app.resources.reranker.reconfigure.remote(
        {"weights": {"interest_overlap": 1.0}, "version": "contrarian"}
    )
    bad = await _session(app, ids[1], agree=False)
    assert good["outcomes"] >= 4 and bad["outcomes"] >= 4

    response = await app.client.get("/v1/admin/monitoring?days=1")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["decision_threshold"] == DECISION and report["min_accuracy"] == 0.6
    versions = {v["algorithm_version"]: v for v in report["versions"]}
    assert set(versions) == {"weighted-v1", "contrarian"}
    for version, counts in (("weighted-v1", good), ("contrarian", bad)):
        got = versions[version]
        assert {k: got[k] for k in _expected(counts)} == _expected(counts), version
        assert got["enough_outcomes"] is True
    assert versions["weighted-v1"]["accuracy"] == 1.0  # the last card: served, no outcome yet
    assert versions["weighted-v1"]["served"] == versions["weighted-v1"]["outcomes"] + 1
    assert versions["contrarian"]["accuracy"] == 0.0
    assert report["flagged"] == ["contrarian"]
    assert versions["contrarian"]["flagged"] and not versions["weighted-v1"]["flagged"]


async def test_too_few_outcomes_are_not_flagged_and_old_impressions_drop_out(
    monitored: App,
) -> None:
    app = monitored
    ids = await _people(app, 3)  # two cards at most: below MIN_OUTCOMES
    counts = await _session(app, ids[0], agree=False)
    assert 0 < counts["outcomes"] < 4
    (version,) = (await app.client.get("/v1/admin/monitoring")).json()["versions"]
    assert version["accuracy"] == 0.0 and version["enough_outcomes"] is False
    assert version["flagged"] is False
    async with app.resources.pool.acquire() as conn:
        await conn.execute("UPDATE matching_analytics SET created_at = now() - interval '3 days'")
    assert (await app.client.get("/v1/admin/monitoring?days=2")).json()["versions"] == []


async def test_bad_window_is_422_naming_days(monitored: App) -> None:
    for days in ("0", "366", "soon"):
        response = await monitored.client.get(f"/v1/admin/monitoring?days={days}")
        assert response.status_code == 422 and response.json()["field"] == "days", response.text
