"""The cluster's manifests derived from the repository's single sources (`matching k8s render`).

- The RayService's serveConfigV2 (k8s/rayservice.yaml) is serve_config.yaml with one named,
  deliberate difference, CLUSTER_OVERLAY: more CPUs per replica on the 8-CPU workers.
  Everything else (options, autoscaling, env) is copied, so the two cannot drift. The model
  versions promoted on a cluster go in as user_config (`matching models promote
  --print-patch` prints the `kubectl patch`).
- The RayCronJobs (k8s/raycronjobs.yaml) are RayJobs of RAYJOB_SOURCES on a schedule
  (CRON_JOBS), so a scheduled job is the same pod spec as the one run by hand.

Only PyYAML is needed, so it runs anywhere, e.g. in a deploy job.
"""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

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


def serve_config_v2(
    source: Config,
    overlay: dict[str, Config] = CLUSTER_OVERLAY,
    user_config: Config | None = None,
) -> Config:
    """The cluster's Serve config: the source with the overlay merged into its deployments and,
    given `user_config` (`{model_version, index_version}`), the promoted versions set on the
    deployments that hold a model or an index."""
    config = copy.deepcopy(source)
    seen = set()
    for app in config["applications"]:
        holders = _model_deployments(app) if user_config is not None else ()
        named = {d["name"]: d for d in app.get("deployments", [])}
        for name in holders:
            named.setdefault(name, {"name": name})
        deployments = []
        for name, deployment in named.items():
            seen.add(name)
            merged = _merge(deployment, overlay.get(name, {}))
            if name in holders:
                merged["user_config"] = dict(user_config or {})
            deployments.append(merged)
        app["deployments"] = deployments
    if missing := set(overlay) - seen:
        raise ValueError(f"CLUSTER_OVERLAY names deployments not in the source: {sorted(missing)}")
    return config


def _model_deployments(app: Config) -> tuple[str, ...]:
    from serve_app.deploy import IMPORT_PATH, MODEL_DEPLOYMENTS

    if app.get("import_path") != IMPORT_PATH:
        return ()
    return MODEL_DEPLOYMENTS[(app.get("args") or {}).get("composition", "pipeline")]


def rayservice_patch(rayservice: str, config: Config) -> str:
    """A `kubectl patch` that sets the RayService's serveConfigV2 to `config` (applied in
    place: a user_config change reaches the running replicas through reconfigure())."""
    body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    patch = json.dumps({"spec": {"serveConfigV2": body}})
    return (
        f"kubectl patch rayservice {shlex.quote(rayservice)} --type merge -p {shlex.quote(patch)}"
    )


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


@dataclass(frozen=True)
class CronJob:
    """A RayJob of RAYJOB_SOURCES on a schedule (cron syntax, in `TIME_ZONE`)."""

    name: str
    job: str  # the RayJob whose spec is the template
    schedule: str
    entrypoint: str | None = None  # None: the RayJob's own
    workers: int | None = None  # None: the RayJob's worker groups as they are


TIME_ZONE = "Etc/UTC"
# The manifests (under k8s/) whose RayJobs a cron job may take as its template.
RAYJOB_SOURCES = ("rayjobs.yaml", "pairing.yaml")
CRON_JOBS = (
    # Features, embeddings, index, training and evaluation every night; promotion stays a
    # person's (or a pipeline's) decision: `matching models promote`, gated by the evaluation.
    CronJob("matching-nightly-jobs", "matching-job-all", "0 3 * * *"),
    # Matches past their TTL. The service's maintenance loop does this too; the cron job keeps
    # it going while the service is scaled to zero or down.
    CronJob(
        "matching-expire-matches",
        "matching-job-features",
        "*/15 * * * *",
        entrypoint="matching expire-matches",
        workers=0,
    ),
    # One pairing cycle of the weekly pool, Mondays 08:00: "someone new every week". Two runs
    # at once are safe (the pool's lease), and a run that died is finished by the next one.
    CronJob("matching-pairing-weekly", "matching-pairing-run", "0 8 * * 1"),
)
CRON_HEADER = """\
# GENERATED by `matching k8s render` from the RayJobs in k8s/rayjobs.yaml and k8s/pairing.yaml
# and CRON_JOBS in matching/cli/manifests.py: edit those, then rerun it; never this file.
# Each RayCronJob creates, on its schedule, the RayJob of the same spec as the one run by hand
# (its own Ray cluster, torn down after the job).
"""


def raycronjobs(rayjobs: list[Config], cron_jobs: tuple[CronJob, ...] = CRON_JOBS) -> list[Config]:
    """The RayCronJob documents of `cron_jobs`, each built from its RayJob in `rayjobs`."""
    by_name = {d["metadata"]["name"]: d for d in rayjobs if d and d.get("kind") == "RayJob"}
    docs = []
    for cron in cron_jobs:
        if cron.job not in by_name:
            sources = " or ".join(f"k8s/{name}" for name in RAYJOB_SOURCES)
            raise ValueError(f"{cron.name}: no RayJob named {cron.job!r} in {sources}")
        source = by_name[cron.job]
        spec = _relabelled(copy.deepcopy(source["spec"]), cron.job, cron.name)
        if cron.entrypoint is not None:
            spec["entrypoint"] = cron.entrypoint
        if cron.workers is not None:
            for group in spec["rayClusterSpec"]["workerGroupSpecs"]:
                group.update(replicas=cron.workers, minReplicas=cron.workers)
        labels = dict(
            source["metadata"].get("labels", {}), **{"app.kubernetes.io/component": cron.name}
        )
        docs.append(
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayCronJob",
                "metadata": {"name": cron.name, "labels": labels},
                "spec": {"schedule": cron.schedule, "timeZone": TIME_ZONE, "jobTemplate": spec},
            }
        )
    return docs


def _relabelled(node: Any, old: str, new: str) -> Any:
    """`node` with the instance label `old` (the RayJob's name) replaced by `new`."""
    if isinstance(node, dict):
        return {
            k: (new if k == "app.kubernetes.io/instance" and v == old else _relabelled(v, old, new))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_relabelled(v, old, new) for v in node]
    return node


def raycronjobs_text(docs: list[Config]) -> str:
    """The generated k8s/raycronjobs.yaml."""
    body = yaml.dump_all(
        docs,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
        explicit_start=True,
    )
    return CRON_HEADER + body
