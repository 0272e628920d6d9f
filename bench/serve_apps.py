"""The applications bench.discover serves: the service as serve_config.yaml deploys it, and
two no-op floors served with the same Ingress options.

Deployed declaratively from serve_config.yaml (its `deployments:` options, runtime_env and
all), so the benchmark measures what ships: `max_ongoing_requests` and the rest are read
from there, never from decorator defaults. A configuration may override the Ingress's
options to measure another value side by side.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from ray import serve
from ray.serve import Application

CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"


@serve.deployment(name="Noop")
class Noop:
    async def __call__(self, _: Any) -> dict[str, bool]:
        return {"ok": True}


_app = FastAPI()


@serve.deployment(name="NoopFastAPI")
@serve.ingress(_app)
class NoopFastAPI:
    @_app.get("/")
    async def root(self) -> dict[str, bool]:
        return {"ok": True}


def noop(_: dict[str, Any]) -> Application:
    """A deployment that answers at once: the serving floor."""
    return Noop.bind()  # type: ignore[attr-defined,no-any-return]


def noop_fastapi(_: dict[str, Any]) -> Application:
    """The same through a FastAPI ingress, as the service's routes are."""
    return NoopFastAPI.bind()  # type: ignore[attr-defined,no-any-return]


def applications(ingress: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """noop, noop_fastapi, single and pipeline, with serve_config.yaml's options and env;
    `ingress`: options merged into the Ingress's (and the no-ops') for this run."""
    shipped = yaml.safe_load(CONFIG.read_text())["applications"][0]
    options = {d["name"]: d for d in copy.deepcopy(shipped["deployments"])}
    options["Ingress"].update(ingress or {})
    front = {k: v for k, v in options["Ingress"].items() if k != "name"}
    env = shipped.get("runtime_env", {})

    def app(
        name: str, import_path: str, deployments: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        return {
            "name": name,
            "route_prefix": f"/{name}",
            "import_path": import_path,
            "runtime_env": env,
            "deployments": deployments,
            **extra,
        }

    return [
        app("noop", "bench.serve_apps:noop", [{**front, "name": "Noop"}]),
        app("noop_fastapi", "bench.serve_apps:noop_fastapi", [{**front, "name": "NoopFastAPI"}]),
        app(
            "single",
            "serve_app.app:build_app",
            [options["Ingress"]],
            args={"composition": "single"},
        ),
        app(
            "pipeline",
            "serve_app.app:build_app",
            list(options.values()),
            args={"composition": "pipeline"},
        ),
    ]
