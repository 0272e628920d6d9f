"""`matching jobs train` (trainer: ray) on synthetic swipe histories of growing size: wall time,
peak driver RSS and peak Ray worker RSS, written to the "Distributed training" section of --out.

The history comes from a numpy generator written straight to PostgreSQL with COPY (one
database per size, kept between runs): a fixed population, swipes between random pairs over
14 days, liked with a chance that rises with the swiped's hidden popularity, the swiper's
hidden eagerness and their shared interests (the test market's tastes, tests/integration/
test_train_evaluate.py). The job runs in its own process, as a RayJob runs it; psutil samples
that process (the driver) and every Ray worker process under it twice a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import psutil

from bench.common import ensure_database
from bench.report import read_report, replace_section
from matching.core.storage.migrate import migrate_url

SECTION = "## Distributed training"
EMBEDDER = "bench-train@1"
INTERESTS = [f"interest-{i}" for i in range(12)]
DAYS = 14


def _people(rng: np.random.Generator, n: int, now: datetime) -> list[tuple[Any, ...]]:
    ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(n)]
    picks = rng.random((n, len(INTERESTS))) < 0.25
    return [
        (
            ids[i], f"p{i}", ["software", "media", "energy", "fintech"][i % 4],
            ["entry", "mid", "senior", "lead"][(i // 4) % 4],
            [INTERESTS[j] for j in np.flatnonzero(picks[i])] or [INTERESTS[i % 12]],
            ["english"], 52.5 + rng.uniform(-0.3, 0.3), 13.4 + rng.uniform(-0.3, 0.3),
            int(rng.integers(22, 60)), now - timedelta(days=float(rng.uniform(0, 3))),
        )
        for i in range(n)
    ]  # fmt: skip


def _swipes(
    rng: np.random.Generator, people: list[tuple[Any, ...]], n: int, now: datetime
) -> list[tuple[Any, ...]]:
    """`n` swipes between distinct random ordered pairs, liked by the hidden tastes."""
    size = len(people)
    a = rng.integers(0, size, int(n * 1.1))
    b = rng.integers(0, size, int(n * 1.1))
    keep = a != b
    key = np.unique(a[keep].astype(np.int64) * size + b[keep])[:n]
    rng.shuffle(key)
    a, b = key // size, key % size
    interests = np.array([[i in p[4] for i in INTERESTS] for p in people], dtype=np.float64)
    shared = (interests[a] * interests[b]).sum(axis=1)
    popularity, eagerness = rng.normal(0, 1.2, size), rng.normal(0, 1.0, size)
    z = -1.0 + 1.5 * popularity[b] + 1.0 * eagerness[a] + 0.6 * shared
    liked = rng.random(len(a)) < 1 / (1 + np.exp(-z))
    ages = rng.uniform(0.01, DAYS, len(a))
    ids = [p[0] for p in people]
    return [
        (ids[x], ids[y], "like" if lk else "pass", now - timedelta(days=float(d)),
         now - timedelta(days=float(d)))
        for x, y, lk, d in zip(a.tolist(), b.tolist(), liked.tolist(), ages.tolist(), strict=True)
    ]  # fmt: skip


async def fill(url: str, people_n: int, swipes_n: int, seed: int = 7) -> int:
    """The population and history, unless this database has them already; returns swipes."""
    conn = await asyncpg.connect(url)
    try:
        have = await conn.fetchval("SELECT count(*) FROM swipe_history")
        if have:
            return int(have)
        rng, now = np.random.default_rng(seed), datetime.now(UTC)
        people = _people(rng, people_n, now)
        columns = ["id", "name", "industry", "job_level", "interests", "languages",
                   "latitude", "longitude", "age", "last_active_at"]  # fmt: skip
        await conn.copy_records_to_table("profiles", records=people, columns=columns)
        vectors = rng.standard_normal((people_n, 8)).astype("<f4")
        await conn.copy_records_to_table(
            "user_features",
            records=[
                (p[0], v.tobytes(), 8, EMBEDDER) for p, v in zip(people, vectors, strict=True)
            ],
            columns=["user_id", "embedding", "embedding_dim", "model_version"],
        )
        swipes = _swipes(rng, people, swipes_n, now)
        await conn.copy_records_to_table(
            "swipe_history",
            records=swipes,
            columns=["swiper_id", "swiped_id", "action", "created_at", "updated_at"],
        )
        await conn.execute("ANALYZE")
        return len(swipes)
    finally:
        await conn.close()


class Sampler(threading.Thread):
    """Peak RSS of a process and of the Ray workers under it, sampled twice a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._root = psutil.Process(pid)
        self.driver = self.worker = self.workers = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.5):
            try:
                self.driver = max(self.driver, self._root.memory_info().rss)
                rss = [p.memory_info().rss for p in self._ray_workers()]
            except psutil.Error:
                continue
            if rss:
                self.worker, self.workers = max(self.worker, max(rss)), max(self.workers, sum(rss))

    def _ray_workers(self) -> list[psutil.Process]:
        out = []
        for p in self._root.children(recursive=True):
            try:
                if p.name().startswith("ray::") or "default_worker.py" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_job(url: str, artifacts: Path, sets: list[str]) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url, "MATCHING_ARTIFACTS_DIR": str(artifacts)}
    env.pop("RAY_ADDRESS", None)
    args = [sys.executable, "-m", "matching.cli.main", "--log-level", "WARNING", "jobs", "train"]
    for item in sets:
        args += ["--set", item]
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    sampler.stop()
    wall = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"matching jobs train failed ({proc.returncode})")
    summary: dict[str, Any] = json.JSONDecoder().raw_decode(out[out.find("{") :])[0]
    return {"wall_s": wall, "driver": sampler.driver, "worker": sampler.worker,
            "workers": sampler.workers, "summary": summary}  # fmt: skip


def section(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    mib = 1 << 20
    lines = [
        SECTION, "",
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}; `python -m bench.train --sizes "
        f"{' '.join(str(s) for s in args.sizes)}`. `matching jobs train` with `trainer: ray` "
        f"on local Ray (2 workers of 1 CPU, shards 2), {args.people:,} people, synthetic "
        "swipes over 14 days (the last 7 held out), max_iter "
        f"{args.max_iter}. Wall time includes starting Ray. RSS peaks: the job's own process "
        "(driver), the largest single Ray worker, and all Ray workers together, sampled "
        "every 0.5 s with psutil.", "",
        "| swipes | wall (s) | driver peak RSS (MiB) | largest worker peak (MiB) "
        "| all workers peak (MiB) | held-out like AUC |",
        "|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in rows:
        auc = r["summary"]["metrics"]["like_auc"]
        lines.append(
            f"| {r['swipes']:,} | {r['wall_s']:.0f} | {r['driver'] / mib:.0f} "
            f"| {r['worker'] / mib:.0f} | {r['workers'] / mib:.0f} | {auc:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--artifacts", type=Path, default=Path("/tmp/bench-train-artifacts"))
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = p.parse_args()
    rows = []
    for size in args.sizes:
        url = asyncio.run(ensure_database(f"bench_train_{size}"))
        asyncio.run(migrate_url(url))
        swipes = asyncio.run(fill(url, args.people, size))
        sets = ["trainer=ray", f"embedding_model_version={EMBEDDER}", f"max_iter={args.max_iter}",
                "min_swipes=1000", "min_positives=100"]  # fmt: skip
        result = run_job(url, args.artifacts / str(size), sets)
        rows.append({"swipes": swipes, **result})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "summary"}), flush=True)
    args.out.write_text(replace_section(read_report(args.out), section(args, rows), SECTION))


if __name__ == "__main__":
    main()
