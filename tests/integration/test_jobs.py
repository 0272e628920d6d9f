"""The offline jobs on a local Ray against a real PostgreSQL: features (and its skew against
the online endpoint), the index build, and the CLI's failure exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from matching.core.domain.features import FEATURE_NAMES
from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from tests.integration.conftest import App
from tests.support import connect, profile_body
from training import jobs

TIME_FEATURES = {"days_since_signup", "days_since_active", "activity_score"}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    jobs.init_ray(num_cpus=2)
    try:
        yield
    finally:
        ray.shutdown()


async def _population(app: App, url: str) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(8)]
    for i, uid in enumerate(ids):
        body = profile_body(f"Person {i}", company=f"Company {i % 3}", bio="x" * (10 * i))
        assert (await app.client.put(f"/v1/profiles/{uid}", json=body)).status_code == 201
    swipes = [(0, 1, "like"), (1, 0, "like"), (0, 2, "pass"), (3, 0, "super_like"), (2, 1, "like")]
    for a, b, action in swipes:
        body = {"swiper_id": str(ids[a]), "swiped_id": str(ids[b]), "action": action}
        assert (await app.client.post("/v1/swipes", json=body)).status_code == 200
    conn = await connect(url)
    try:
        await conn.execute(
            "UPDATE profiles SET photo_url = 'https://img.example/p.jpg', "
            "created_at = now() - interval '40 days', last_active_at = now() - interval '3 days' "
            "WHERE id = $1",
            ids[0],
        )
        await conn.execute(
            "INSERT INTO event_registrations (event_id, user_id) VALUES ('e1', $1), ('e2', $1)",
            ids[0],
        )
    finally:
        await conn.close()
    return ids


@pytest.mark.usefixtures("local_ray")
async def test_features_job_writes_what_the_online_path_computes(
    app: App, settings: Settings
) -> None:
    assert settings.database.url
    ids = await _population(app, settings.database.url)

    # a job is a blocking program (the CLI's), so off the test's event loop
    summary = await asyncio.to_thread(
        jobs.run_job, "features", settings, jobs.load_config("features")
    )
    assert summary["read"] == len(ids) and summary["written"] == len(ids)

    conn = await connect(settings.database.url)
    try:
        rows = {
            r["user_id"]: r
            for r in await conn.fetch(
                "SELECT user_id, feature_names, feature_vector, computed_at FROM user_features"
            )
        }
    finally:
        await conn.close()
    for uid in ids:
        stored = dict(zip(rows[uid]["feature_names"], rows[uid]["feature_vector"], strict=True))
        assert list(stored) == list(FEATURE_NAMES)
        online = (await app.client.get(f"/v1/profiles/{uid}/features")).json()["features"]
        for name in FEATURE_NAMES:  # same code, same inputs: equal up to float32 storage
            tolerance = 1e-3 if name in TIME_FEATURES else 1e-6 * max(1.0, abs(online[name]))
            assert stored[name] == pytest.approx(online[name], abs=tolerance), name

    first = dict(zip(rows[ids[0]]["feature_names"], rows[ids[0]]["feature_vector"], strict=True))
    assert first["has_photo"] == 1.0 and first["events_attended"] == 2.0
    assert first["connection_count"] == 1.0  # 0 and 1 liked each other
    assert first["swipe_ratio"] == 0.5 and first["likes_received"] == 2.0
    assert first["response_rate"] == 0.5  # answered 1's like, not 3's super like
    assert first["days_since_signup"] == pytest.approx(40, abs=0.01)
    assert first["company_hash"] > 0 and "name" not in FEATURE_NAMES

    table = pq.read_table(Path(summary["parquet"]) / "data")
    assert table.num_rows == len(ids)
    assert set(table.column_names) == {"user_id", *FEATURE_NAMES}


@pytest.mark.usefixtures("local_ray")
async def test_build_index_job_publishes_a_versioned_snapshot(app: App, settings: Settings) -> None:
    assert settings.database.url
    ids = await _population(app, settings.database.url)
    summary = await asyncio.to_thread(
        jobs.run_job, "build-index", settings, jobs.load_config("build-index")
    )
    assert summary["read"] == len(ids) and summary["recall_at_10"] == 1.0
    (listed,) = Registry.from_settings(settings).versions("index")
    assert listed["version"] == summary["version"]
    assert listed["row_count"] == len(ids) and listed["params"]["kind"] == "flat"
    assert listed["model_version"].startswith("all-MiniLM-L6-v2")
    assert datetime.fromisoformat(listed["created_at"]) > datetime.now(UTC) - timedelta(minutes=5)


async def test_an_index_below_min_recall_is_not_published(app: App, settings: Settings) -> None:
    assert settings.database.url
    await _population(app, settings.database.url)
    config = {**jobs.load_config("build-index"), "min_recall": 1.01}  # exact search gives 1.0
    with pytest.raises(jobs.JobError, match=r"below min_recall 1.01; nothing was published"):
        await asyncio.to_thread(jobs.run_job, "build-index", settings, config)
    assert Registry.from_settings(settings).versions("index") == []


def test_a_failing_job_exits_non_zero_with_the_reason(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": str(settings.database.url)}
    result = subprocess.run(
        [sys.executable, "-m", "matching.cli.main", "jobs", "features", "--set", "shardz=2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "matching jobs features: failed" in result.stderr and "shardz" in result.stderr


def test_configs_are_packaged_unless_a_folder_or_a_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATCHING_CONFIG_DIR", raising=False)
    packaged = Path(jobs.__file__).parent / "configs" / "build_index.yaml"
    assert jobs.load_config("build-index") == yaml.safe_load(packaged.read_text())

    (tmp_path / "build_index.yaml").write_text("recall_queries: 5\nmin_recall: 0.5\n")
    monkeypatch.setenv("MATCHING_CONFIG_DIR", str(tmp_path))
    assert jobs.load_config("build-index") == {"recall_queries": 5, "min_recall": 0.5}
    with pytest.raises(jobs.JobError, match=r"no config file for job 'train' at .*train.yaml"):
        jobs.load_config("train")

    own = tmp_path / "mine.yaml"  # --config FILE wins over the folder; --set over both
    own.write_text("recall_queries: 7\nmin_recall: 0.8\n")
    loaded = jobs.load_config("build-index", own, ["min_recall=0.95"])
    assert loaded == {"recall_queries": 7, "min_recall": 0.95}
