"""Deploying the Serve application from a config, and swapping models into it live.

Applications are deployed declaratively (the path `serve deploy` and a RayService take), so
that changing only a deployment's `user_config` is a lightweight update: Serve calls each
running replica's `reconfigure()` instead of replacing it, and no request fails. The
user_config of the model-holding deployments is `{"model_version": V, "index_version": V}`
(None: the weighted score / the newest index snapshot).

`apply_live(registry)` re-applies the running declarative applications with the registry's
live versions; `matching models promote` calls it. On Kubernetes, set the same user_config
in the RayService's serveConfigV2 instead (k8s/README.md).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from matching.core.ml.registry import Registry

log = logging.getLogger(__name__)

IMPORT_PATH = "serve_app.app:build_app"
# The deployments that hold a model or an index, per composition.
MODEL_DEPLOYMENTS = {"pipeline": ("Retriever", "Reranker"), "single": ("Ingress",)}


def live_user_config(registry: Registry) -> dict[str, Any]:
    live = registry.live()
    return {"model_version": live["models"], "index_version": live["index"]}


def app_config(
    name: str,
    route_prefix: str,
    composition: str,
    user_config: dict[str, Any],
    deployments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One application of a Serve config (the `applications:` item of serve_config.yaml)."""
    by_name = {d["name"]: dict(d) for d in deployments or []}
    for deployment in MODEL_DEPLOYMENTS[composition]:
        by_name.setdefault(deployment, {"name": deployment})["user_config"] = user_config
    return {
        "name": name,
        "route_prefix": route_prefix,
        "import_path": IMPORT_PATH,
        "args": {"composition": composition},
        "deployments": list(by_name.values()),
    }


def deploy(applications: list[dict[str, Any]], host: str, port: int, wait: bool = True) -> None:
    """Start Serve if needed and apply the applications as one declarative config.

    Uses the controller client the `serve run CONFIG` command uses (Ray has no public
    Python API for declarative deploys besides the dashboard's REST endpoint).
    """
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    client = serve_api.serve_start(http_options={"host": host, "port": port})
    config = ServeDeploySchema.model_validate(
        {"http_options": {"host": host, "port": port}, "applications": applications}
    )
    client.deploy_apps(config, _blocking=wait)


def _client() -> Any:
    import ray
    from ray.serve.context import _get_global_client

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), namespace="serve")
    return _get_global_client()


def apply_live(registry: Registry) -> list[str]:
    """Give every running declarative app of this service the registry's live versions.

    Returns the applications updated; [] when no Ray cluster or no such app is running.
    """
    from ray.serve.schema import ServeDeploySchema

    try:
        client = _client()
    except Exception as exc:  # no cluster here: nothing running to update
        log.info("no Serve instance reachable (%s)", exc)
        return []
    details = client.get_serve_details()
    applications, updated = [], []
    for name, app in details.get("applications", {}).items():
        config = app.get("deployed_app_config")
        if not config:
            continue  # deployed imperatively (serve.run): cannot be updated in place
        if config.get("import_path") == IMPORT_PATH:
            composition = (config.get("args") or {}).get("composition", "pipeline")
            config = app_config(
                name,
                config.get("route_prefix", "/"),
                composition,
                live_user_config(registry),
                config.get("deployments"),
            ) | {k: v for k, v in config.items() if k not in ("deployments", "args")}
            updated.append(name)
        applications.append(config)
    if updated:
        http = details.get("http_options") or {}
        body: dict[str, Any] = {"applications": applications}
        if http:
            body["http_options"] = {k: http[k] for k in ("host", "port") if k in http}
        client.deploy_apps(ServeDeploySchema.model_validate(body), _blocking=False)
    return updated
