"""The real Serve application on a local Ray, both compositions, over HTTP."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matching.core.auth.tokens import mint_token
from matching.core.settings import Settings
from matching.devtools.services import TansuBroker, free_port
from tests.integration.conftest import ADMIN_URL, _create_database, _drop_database

COMPOSITIONS = ("single", "pipeline")
SEEDED = 150
NO_MODELS = {"model_version": None, "index_version": None}
TOPICS = {"matching.events": 3, "matching.errors": 1, "user.events": 1, "event.events": 1}
# The served apps' credentials: every client below is the platform's backend (the internal
# key) unless a test asks for a user's token (`bearer`).
API_KEY = "e2e-internal-key"
SECRET = "e2e-tests-hs256-secret-0123456789abcdef"
KEYED = {"X-API-Key": API_KEY}


def bearer(user_id: str, *scopes: str) -> dict[str, str]:
    """Headers that make a request the given user's (send them without KEYED)."""
    auth = Settings.from_env({"AUTH_ACCESS_SECRET": SECRET}).auth
    return {"Authorization": f"Bearer {mint_token(auth, uuid.UUID(user_id), frozenset(scopes))}"}


def _wait_ready(url: str, timeout_s: float = 420) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health/ready", timeout=5)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise RuntimeError(f"{url} never became ready: {last}")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """The Kafka-compatible broker the served apps publish to and consume from."""
    with TansuBroker(tmp_path_factory.mktemp("kafka"), topics=TOPICS) as b:
        yield b


@pytest.fixture(scope="session")
def database_url(served: str) -> str:
    assert served
    return os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, broker: TansuBroker) -> Iterator[str]:
    """Seeds a database, starts Ray and Serve, runs both apps; yields the HTTP root."""
    import ray
    from ray import serve

    from matching.devtools.seed import seed
    from serve_app.deploy import app_config, deploy

    name = f"matching_e2e_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(_create_database(name))
    artifacts = tmp_path_factory.mktemp("artifacts")
    env = {
        # On 2 busy cores the proxy can take longer than the 5 s default to answer.
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
        "DATABASE_URL": url,
        "MATCHING_ARTIFACTS_DIR": str(artifacts),
        "MATCHING_DB_POOL_MAX": "4",
        "LOG_LEVEL": "INFO",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "MATCHING_DISCOVER_CACHE_TTL_S": "0",  # e2e checks writes show at once
        "MATCHING_RATE_LIMIT_SWIPES": "0",
        "MATCHING_RATE_LIMIT_DISCOVER": "0",  # the promotion test keeps discover busy
        "MATCHING_RELAY_POLL_S": "0.05",
        "AUTH_ACCESS_SECRET": SECRET,
        "INTERNAL_API_KEY": API_KEY,
        # The queue's keys of this run only (Redis db 13 outlives it); a short WS grace.
        "MATCHING_QUEUE_REDIS_PREFIX": "{e2e" + uuid.uuid4().hex[:10] + "}:",
        "MATCHING_QUEUE_WS_GRACE_S": "2",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # Ray's local workers inherit the driver's environment
    asyncio.run(seed(Settings.from_env(), SEEDED))
    port = free_port()
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, namespace="serve")
    try:
        # Declarative, as in production: promotions are lightweight user_config updates.
        apps = [app_config(c, f"/{c}", c, NO_MODELS) for c in COMPOSITIONS]
        deploy(apps, "127.0.0.1", port, wait=False)
        root = f"http://127.0.0.1:{port}"
        for composition in COMPOSITIONS:
            _wait_ready(f"{root}/{composition}")
        yield root
    finally:
        serve.shutdown()
        ray.shutdown()
        asyncio.run(_drop_database(name))
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(params=COMPOSITIONS)
def api(request: pytest.FixtureRequest, served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{served}/{request.param}", timeout=60, headers=KEYED) as client:
        yield client


@pytest.fixture
def both(served: str) -> Iterator[dict[str, httpx.Client]]:
    clients = {
        c: httpx.Client(base_url=f"{served}/{c}", timeout=60, headers=KEYED) for c in COMPOSITIONS
    }
    try:
        yield clients
    finally:
        for c in clients.values():
            c.close()


__all__ = ["ADMIN_URL", "Path"]
