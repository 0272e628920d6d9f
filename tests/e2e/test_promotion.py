"""Hot swap: requests keep flowing while a trained model and a fresh index snapshot are
promoted and rolled back; none fails, answers switch to the new algorithm_version, and the
retrievers serve the promoted index (both compositions)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from matching.core.ml.registry import Registry
from matching.core.settings import Settings
from serve_app.deploy import apply_live
from tests.e2e.conftest import COMPOSITIONS, KEYED
from training import build_index, train

WEIGHTED = "weighted-v1"


async def _history(url: str) -> list[str]:
    """Swipes among the seeded people over 20 days, with a signal: popular people (a hidden
    score) get liked, choosy people like less."""
    conn = await asyncpg.connect(url)
    try:
        ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM profiles ORDER BY id")]
        rng = np.random.default_rng(3)
        appeal = dict(zip(ids, rng.normal(size=len(ids)), strict=True))
        choosy = dict(zip(ids, rng.normal(size=len(ids)), strict=True))
        rows = []
        for a in ids[:120]:
            for b in rng.choice(ids, size=25, replace=False):
                if a == b:
                    continue
                p = 1 / (1 + np.exp(-(1.5 * appeal[b] - choosy[a])))
                day = float(rng.uniform(0, 20))
                action = "like" if rng.random() < p else "pass"
                rows.append((a, str(b), action, day))
        await conn.executemany(
            "INSERT INTO swipe_history (swiper_id, swiped_id, action, created_at, updated_at) "
            "VALUES ($1::uuid, $2::uuid, $3, now() - make_interval(secs => $4 * 86400), "
            "now() - make_interval(secs => $4 * 86400)) ON CONFLICT DO NOTHING",
            rows,
        )
        return ids
    finally:
        await conn.close()


class Traffic:
    """Discover requests in a loop against one app until stopped; records every answer."""

    def __init__(self, base: str, users: list[str]) -> None:
        self.base, self.users = base, users
        self.statuses: Counter[int] = Counter()
        self.versions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60, headers=KEYED) as client:
            i = 0
            while not self._stop.is_set():
                user = self.users[i % len(self.users)]
                i += 1
                r = client.get(f"/v1/users/{user}/discover?limit=5")
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    self.versions += [c["algorithm_version"] for c in r.json()["candidates"]]

    def serving(self) -> dict[str, Any]:
        listed = httpx.get(f"{self.base}/v1/admin/models", headers=KEYED, timeout=30)
        return dict(listed.json()["serving"])

    def until_index(self, version: str | None, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.serving()["retriever"]["index_version"] == version:
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.base} never served index {version}: {self.serving()}")

    def until(self, version: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.versions and self.versions[-1] == version:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.base} never answered with {version}: {self.versions[-3:]}")

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_promote_and_roll_back_without_a_failed_request(served: str, database_url: str) -> None:
    ids = asyncio.run(_history(database_url))
    settings = Settings.from_env()
    summary = train.run(settings, {"min_swipes": 300, "min_positives": 50, "max_iter": 50})
    version, learned = summary["version"], summary["algorithm_version"]
    assert Path(summary["folder"]).is_dir()
    snapshot = build_index.run(settings, {"recall_queries": 50, "min_recall": 0.9})["version"]
    registry = Registry.from_settings(settings)
    assert os.environ["MATCHING_ARTIFACTS_DIR"] in registry.uri

    apps = [Traffic(f"{served}/{c}", ids[:100]) for c in COMPOSITIONS]
    for app in apps:
        app.__enter__()
    try:
        for app in apps:
            app.until(WEIGHTED)
        # The gate has tests of its own (unit, test_train_evaluate, the simulator's); this
        # one is about the swap, on a history too small to evaluate well.
        registry.promote("models", version, force=True, by="e2e")
        registry.promote("index", snapshot, by="e2e")
        assert set(apply_live(registry)) == set(COMPOSITIONS)
        for app in apps:
            app.until(learned)
            app.until_index(snapshot)
        listed = httpx.get(f"{served}/single/v1/admin/models", headers=KEYED, timeout=30).json()
        assert listed["live"]["models"] == version and listed["live"]["index"] == snapshot
        assert listed["serving"]["reranker"]["version"] == learned
        assert listed["serving"]["retriever"]["version"] == snapshot  # loaded, not rebuilt

        registry.rollback("models", by="e2e")
        registry.rollback("index", by="e2e")
        apply_live(registry)
        for app in apps:
            app.until(WEIGHTED)
            app.until_index(None)
    finally:
        for app in apps:
            app.__exit__()

    for app in apps:
        assert set(app.statuses) == {200}, app.statuses  # no failed request, in any swap
        switches = [v for i, v in enumerate(app.versions) if i == 0 or app.versions[i - 1] != v]
        assert switches == [WEIGHTED, learned, WEIGHTED], switches
