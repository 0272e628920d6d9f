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

from tests.e2e.conftest import KEYED, bearer
from tests.e2e.test_discovery import seeded_user
from tests.unit.test_observability import SERVE_METRICS

pytestmark = pytest.mark.e2e


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
    dom = _chromium("--dump-dom", url)
    assert _text(dom, "status").startswith("Loaded "), _text(dom, "status")  # every call answered
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
