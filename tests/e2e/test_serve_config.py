"""serve_config.yaml exactly as committed: `serve run` starts it on this machine (2 cores),
it becomes ready, answers a write and a discover, and shuts down on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from matching.core.settings import known_env_names
from matching.core.storage.migrate import migrate_url
from tests.integration.conftest import _create_database, _drop_database
from tests.support import profile_body

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "serve_config.yaml"
READY_TIMEOUT_S = 240
STOP_TIMEOUT_S = 60


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve run exited with {proc.returncode}:\n{_tail(log)}")
        try:
            response = httpx.get(f"{url}/health/ready", timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(2)
    pytest.fail(f"not ready after {READY_TIMEOUT_S} s ({last}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """Ctrl-C, as a person stops `serve run`; returns None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: Ray's processes go with it
        proc.wait(timeout=30)
        return None


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, migrated database (deploys run `matching migrate` before the app starts)."""
    name = f"matching_e2e_cfg_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(_create_database(name))
    try:
        asyncio.run(migrate_url(url))
        yield url
    finally:
        asyncio.run(_drop_database(name))


def test_serve_config_starts_as_committed_and_serves(database: str, tmp_path: Path) -> None:
    port = yaml.safe_load(CONFIG.read_text())["http_options"]["port"]
    if _port_in_use(port):
        pytest.fail(f"port {port} (http_options in serve_config.yaml) is already in use")
    # Only the environment differs from a deploy: the database, Redis and artifacts of this
    # test. Settings left by other e2e fixtures are dropped, so the file's runtime_env rules;
    # no KAFKA_BOOTSTRAP_SERVERS, as no broker is needed: the app runs without events.
    inherited = known_env_names() | {"RAY_ADDRESS", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env |= {
        "DATABASE_URL": database,
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "MATCHING_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        # Credentials come from the environment (a Secret), never from the file.
        "INTERNAL_API_KEY": "serve-config-test-key",
        # On 2 busy cores the proxy can take longer than the 5 s default to answer.
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
    }
    log = tmp_path / "serve.log"
    serve = Path(sys.executable).parent / "serve"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(serve), "run", str(CONFIG)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        keyed = {"X-API-Key": "serve-config-test-key"}
        with httpx.Client(base_url=url, timeout=60, headers=keyed) as api:
            ada, bob = str(uuid.uuid4()), str(uuid.uuid4())
            for uid, name in ((ada, "Ada"), (bob, "Bob")):
                response = api.put(f"/v1/profiles/{uid}", json=profile_body(name))
                assert response.status_code == 201, response.text
            response = api.get(f"/v1/users/{ada}/discover", params={"limit": 10})
            assert response.status_code == 200, response.text
            assert [c["user_id"] for c in response.json()["candidates"]] == [bob]
            health = api.get("/health").json()
            assert health["dependencies"]["database"] == "up"
            assert health["ml_models"]["index"]["size"] == 2
    finally:
        code = _stop(proc)
    assert code == 0, f"serve run did not stop cleanly on Ctrl-C ({code}):\n{_tail(log)}"
    assert not _port_in_use(port)
