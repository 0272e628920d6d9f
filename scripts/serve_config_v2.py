"""Write the RayService's serveConfigV2 (k8s/rayservice.yaml) from serve_config.yaml.

serve_config.yaml is the one source of the Serve application. The cluster runs it with one
named, deliberate difference, CLUSTER_OVERLAY: more CPUs per replica on the 8-CPU workers
(and the model versions promoted there). Everything else (options, autoscaling, env) is
copied, so the two cannot drift.

    python scripts/serve_config_v2.py          # rewrite serveConfigV2 in k8s/rayservice.yaml
    python scripts/serve_config_v2.py --check  # exit 1 and list the differences, if any

Only PyYAML is needed (no import of the service), so it runs anywhere, e.g. in a deploy job.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "serve_config.yaml"
RAYSERVICE = ROOT / "k8s" / "rayservice.yaml"
KEY = "  serveConfigV2: |"  # the block scalar under `spec:`
INDENT = " " * 4

# Per deployment, merged into serve_config.yaml's entry; only two kinds of change belong here.
# ray_actor_options: serve_config.yaml is sized to start on 2 cores; a cluster worker has 8,
# so each replica gets what its threads use. user_config: the versions promoted on the
# cluster ({model_version, index_version} on Retriever and Reranker; k8s/README.md).
CLUSTER_OVERLAY: dict[str, dict[str, Any]] = {
    "Ingress": {"ray_actor_options": {"num_cpus": 0.5}},
    # = MATCHING_TORCH_THREADS; on the gpu-workers group see k8s/README.md instead.
    "Embedder": {"ray_actor_options": {"num_cpus": 2}},
    "Retriever": {"ray_actor_options": {"num_cpus": 1}},
    "Reranker": {"ray_actor_options": {"num_cpus": 1}},
}

Config = dict[str, Any]


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as in serve_config.yaml."""

    # PyYAML passes indentless by keyword, so the name stays; it is overridden on purpose.
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)


def _merge(base: Config, overlay: Config) -> Config:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def serve_config_v2(source: Config, overlay: dict[str, Config] = CLUSTER_OVERLAY) -> Config:
    """The cluster's Serve config: the source with the overlay merged into its deployments."""
    config = copy.deepcopy(source)
    seen = set()
    for app in config["applications"]:
        deployments = []
        for deployment in app.get("deployments", []):
            seen.add(deployment["name"])
            deployments.append(_merge(deployment, overlay.get(deployment["name"], {})))
        app["deployments"] = deployments
    if missing := set(overlay) - seen:
        raise ValueError(f"CLUSTER_OVERLAY names deployments not in the source: {sorted(missing)}")
    return config


def embedded(rayservice_text: str) -> Config:
    """The serveConfigV2 currently in the RayService manifest, parsed."""
    for doc in yaml.safe_load_all(rayservice_text):
        if doc and doc.get("kind") == "RayService":
            loaded = yaml.safe_load(doc["spec"]["serveConfigV2"])
            assert isinstance(loaded, dict)
            return loaded
    raise ValueError("no RayService in the manifest")


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two parsed configs differ, as `path: expected != actual` lines."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [
            line
            for key in sorted(set(expected) | set(actual), key=str)
            for line in differences(expected.get(key), actual.get(key), f"{path}.{key}")
        ]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        named = all(isinstance(x, dict) and "name" in x for x in expected + actual)
        return [
            line
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for line in differences(e, a, f"{path}[{e['name'] if named else i}]")
        ]
    return [] if expected == actual else [f"{path or '.'}: {expected!r} != {actual!r}"]


def rewritten(rayservice_text: str, config: Config) -> str:
    """The manifest with its serveConfigV2 block replaced; comments elsewhere are kept."""
    lines = rayservice_text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() == KEY) + 1
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(INDENT)):
        end += 1
    body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    block = [f"{INDENT}{line}\n" if line else "\n" for line in body.splitlines()]
    return "".join(lines[:start] + block + lines[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    expected = serve_config_v2(yaml.safe_load(SOURCE.read_text()))
    text = RAYSERVICE.read_text()
    if args.check:
        drift = differences(expected, embedded(text))
        for line in drift:
            print(f"serveConfigV2{line}", file=sys.stderr)
        return 1 if drift else 0
    RAYSERVICE.write_text(rewritten(text, expected))
    print(f"wrote serveConfigV2 of {RAYSERVICE.relative_to(ROOT)} from {SOURCE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
