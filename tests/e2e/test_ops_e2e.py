"""The served app's metrics reach Ray's metrics port: requests counted by route template and
mode, stage timings, the sampled gauges, and the Serve metrics the alerts and the dashboard
query (tests/unit/test_observability.py checks the queries against these names)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.conftest import KEYED, bearer
from tests.e2e.test_discovery import seeded_user
from tests.e2e.test_pairing_e2e import _run_cycle
from tests.e2e.test_queue import _ask, _token, _ws_url
from tests.unit.test_observability import SERVE_METRICS

pytestmark = pytest.mark.e2e
WAITING = {"difficulty": "hard", "topic": "behavioral"}  # criteria no other e2e test queues on


def _scrape() -> str:
    import ray

    ports = {n["MetricsExportPort"] for n in ray.nodes() if n["Alive"]}
    return "\n".join(httpx.get(f"http://127.0.0.1:{p}/metrics", timeout=10).text for p in ports)


def _wait_for(patterns: list[str], timeout_s: float = 120) -> str:
    deadline, text = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        text = _scrape()
        if all(re.search(p, text, re.MULTILINE) for p in patterns):
            return text
        time.sleep(3)
    missing = [p for p in patterns if not re.search(p, text, re.MULTILINE)]
    raise AssertionError(f"not exported within {timeout_s}s: {missing}")


def test_service_metrics_are_exported_on_rays_port(served: str) -> None:
    with httpx.Client(base_url=f"{served}/single", timeout=60, headers=KEYED) as client:
        for _ in range(3):
            assert client.get("/health/live").status_code == 200
        user = seeded_user(client)
        assert client.get(f"/v1/users/{user}/discover", params={"limit": 5}).status_code == 200
        assert client.get("/v1/no-such-route").status_code == 404
    text = _wait_for(
        [
            r'^ray_matching_http_requests_total\{.*route="/health/live".*\} [1-9]',
            r'^ray_matching_http_requests_total\{.*mode="discovery".*route="/v1/users/\{user_id\}/discover"',
            r'^ray_matching_http_requests_total\{.*route="\(unmatched\)".*status="404"',
            r'^ray_matching_stage_seconds_bucket\{.*stage="retriever"',
            r"^ray_matching_outbox_pending_rows\{",
            r'^ray_matching_live_version_info\{.*kind="model".*\} 1',
            *[rf"^{name}(_bucket)?\{{" for name in sorted(SERVE_METRICS)],
        ]
    )
    # ids never become label values: only route templates
    assert user not in text


def _chromium(*args: str) -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.fail("chromium not installed (scripts/setup.sh installs Debian's chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    done = subprocess.run(
        [found, *flags, "--virtual-time-budget=20000", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_admin_page_in_a_real_browser(served: str, tmp_path: Path) -> None:
    token = bearer(str(uuid.uuid4()), "admin")["Authorization"].removeprefix("Bearer ")
    url = f"{served}/single/admin#token={token}"
    pool = f"admin-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=f"{served}/single", timeout=60, headers=KEYED) as client:
        assert client.put(f"/v1/pools/{pool}").status_code == 200
    cycle = _run_cycle(pool)  # nobody waiting: a completed cycle of no one
    waiter = str(uuid.uuid4())
    # their socket stays open while the page loads, so the matcher keeps their ticket waiting
    with connect(_ws_url(served, "single", token=_token(waiter))):
        with httpx.Client(base_url=f"{served}/single", timeout=60) as client:
            _ask(client, waiter, WAITING)
        dom = _chromium("--dump-dom", url)
    assert _text(dom, "status").startswith("Loaded "), _text(dom, "status")  # every call answered
    queue = _text(dom, "queue")  # GET /v1/queue/stats: depth per criteria
    assert "waiting;" in queue and "hard|behavioral" in queue, queue
    pairing = _text(dom, "pairing")  # GET /v1/pairing/cycles
    assert f"{pool} {cycle['cycle_id']} completed" in " ".join(pairing.split()), pairing
    live = _text(dom, "live")  # none promoted: the weighted score and the newest snapshot
    assert "weighted score" in live and "newest snapshot" in live, live
    assert "matching_outbox_pending_rows" in _text(dom, "modes")  # this replica's gauges
    assert "no evaluated model yet" in _text(dom, "evaluation")
    shot = tmp_path / "admin.png"
    _chromium("--window-size=1280,1600", f"--screenshot={shot}", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # a user's token is refused by the API, and the page says so
    user = bearer(str(uuid.uuid4()))["Authorization"].removeprefix("Bearer ")
    refused = _chromium("--dump-dom", f"{served}/single/admin#token={user}")
    assert _text(refused, "status") == "That credential is not an admin's."
    assert _text(refused, "live") == "-"


def _text(dom: str, element_id: str) -> str:
    """The rendered text of one element of the page (its script holds the same words as
    literals, so the whole DOM proves nothing)."""
    found = re.search(rf'<(p|div) id="{element_id}"[^>]*>(.*?)</\1>', dom, re.DOTALL)
    assert found, dom[-2000:]
    return re.sub(r"<[^>]+>", " ", found.group(2)).replace("&#39;", "'").strip()
