"""Shared set-up for the benchmarks: a seeded database and its index snapshot."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import asyncpg
import httpx

from bench.vectors import WordSumEncoder
from matching.core.ml import artifacts
from matching.core.retrieval.candidates import KIND
from matching.core.settings import Settings
from matching.devtools.seed import seed

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def ensure_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def api_key() -> str:
    """The internal API key the benchmarks call with (they act for many people at once):
    the first of INTERNAL_API_KEY, generated when unset; set before Serve starts, so the
    served app (which inherits the environment) accepts it."""
    if not os.environ.get("INTERNAL_API_KEY", "").strip():
        os.environ["INTERNAL_API_KEY"] = secrets.token_urlsafe(24)
    return os.environ["INTERNAL_API_KEY"].split(",")[0].strip()


def prepare(users: int, database: str, artifacts_dir: str) -> Settings:
    """Seed `users` people (idempotent; vectors by WordSumEncoder, not the model) and build
    a snapshot if the data changed."""
    api_key()
    # A replica loads every person in one statement at start: at 100k+ people on a shared
    # 2-core machine that outlasts the 10 s default (see BENCHMARKS.md, Scale).
    os.environ.setdefault("MATCHING_DB_TIMEOUT_S", "120")
    url = os.environ.get("DATABASE_URL") or asyncio.run(ensure_database(database))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("MATCHING_ARTIFACTS_DIR", artifacts_dir)
    settings = Settings.from_env()
    started = time.perf_counter()
    report = asyncio.run(seed(settings, users, encoder=WordSumEncoder(settings.model)))
    print(
        f"seed: {report.inserted} inserted, {report.skipped} present "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )
    if report.inserted or artifacts.latest(settings.index.artifacts_dir, KIND) is None:
        from training.build_index import build_index

        folder, manifest = asyncio.run(build_index(settings))
        print(
            f"index: {folder.name} {manifest['params']['kind']} "
            f"build {manifest['build_seconds']}s recall@10 {manifest['metrics']}",
            flush=True,
        )
    return settings


def wait_ready(url: str, deadline: float, what: str) -> None:
    """Poll `url` every 2 s until it answers 2xx; RuntimeError naming `what` past `deadline`
    (time.monotonic()): a Serve app deployed with wait=False on a busy machine."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise RuntimeError(f"{what} never became ready")
