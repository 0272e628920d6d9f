"""The admin page and the admin API behind it: the page is a shell with no data, the
evaluation files and metrics need the admin scope or a key, and only evaluation files can be
read from the registry."""

from __future__ import annotations

import json
import uuid

from tests.integration.conftest import App

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _evaluated_version(app: App, version: str) -> None:
    root = app.resources.settings.index.artifacts_dir / "models" / version  # the registry
    (root / "evaluation").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"version": version, "metrics": {}}))
    (root / "evaluation" / "roc.png").write_bytes(PNG)
    (root / "evaluation" / "report.md").write_text("# report")
    (root / "model.bin").write_bytes(b"secret weights")


async def test_the_page_is_a_shell_anyone_may_load(app: App) -> None:
    page = await app.bare.get("/admin")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "v1/admin/models" in page.text and "weighted-v1" not in page.text  # no data in it
    # the modes' own admin routes (each guarded as the rest of the admin API)
    assert "v1/queue/stats" in page.text and "v1/pairing/cycles" in page.text


async def test_evaluation_files_need_an_admin_and_stay_in_their_folder(app: App) -> None:
    _evaluated_version(app, "20261201T000000-abcd")
    base = "/v1/admin/models/models/20261201T000000-abcd/evaluation"
    assert (await app.bare.get(f"{base}/roc.png")).status_code == 401
    user = app.bearer(uuid.uuid4())
    assert (await app.bare.get(f"{base}/roc.png", headers=user)).status_code == 403
    admin = app.bearer(uuid.uuid4(), "admin")
    plot = await app.bare.get(f"{base}/roc.png", headers=admin)
    assert plot.status_code == 200 and plot.content == PNG
    assert plot.headers["content-type"] == "image/png"
    report = await app.client.get(f"{base}/report.md")  # the internal key is an admin too
    assert report.status_code == 200 and report.text == "# report"
    for name in ("missing.png", "model.bin", "..%2Fmodel.bin", "..%2F..%2Flive.json"):
        response = await app.client.get(f"{base}/{name}")
        assert response.status_code == 404, name
        assert response.json()["field"] in ("name", None), response.text
    assert (await app.client.get("/v1/admin/models/nope/x/evaluation/roc.png")).status_code == 422


async def test_replica_metrics_are_for_admins(app: App) -> None:
    await app.client.get("/health/live")
    assert (
        await app.bare.get("/v1/admin/metrics", headers=app.bearer(uuid.uuid4()))
    ).status_code == 403
    snapshot = (await app.client.get("/v1/admin/metrics")).json()
    assert any(r["route"] == "/health/live" for r in snapshot["matching_http_requests_total"])
