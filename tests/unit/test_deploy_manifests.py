"""Deployment artifacts: KubeRay docs against the KubeRay CRDs, core kinds with
kubernetes-validate, the Dockerfile with hadolint, and the Serve configs: serve_config.yaml and
the RayService's serveConfigV2 and the RayCronJobs, which `matching k8s render` generates from
serve_config.yaml and the RayJobs (matching.cli.manifests)."""

from __future__ import annotations

import copy
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from matching.cli import k8s, manifests

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.37.0"
PIPELINE = {"Ingress", "Embedder", "Retriever", "Reranker"}
SECRET_ENV = {"DATABASE_URL": "postgresql://u@db/matching", "REDIS_URL": "redis://redis:6379/0"}
# The replicas reserve at most this much, so Ray's own processes keep some of the 2 cores.
TWO_CORE_BUDGET = 1.8

Doc = dict[str, Any]


def _load_docs() -> list[tuple[str, Doc]]:
    docs = []
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                docs.append((f"{path.name}#{i}-{doc['kind']}", doc))
    return docs


DOCS = _load_docs()
KUBERAY_DOCS = [(name, d) for name, d in DOCS if d["apiVersion"].startswith("ray.io/")]
# Prometheus Operator kinds: tests/unit/test_observability.py validates them against their CRDs.
CORE_DOCS = [
    (name, d)
    for name, d in DOCS
    if not d["apiVersion"].startswith(("ray.io/", "monitoring.coreos.com/"))
]


def _crds_dir() -> Path:
    env = os.environ.get("KUBERAY_CRDS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "kuberay-crds"
    if not path.is_dir():
        pytest.fail(f"KubeRay CRDs not found at {path} (set KUBERAY_CRDS_DIR)")
    return path


def _closed(schema: Doc) -> Doc:
    """Reject unknown fields, as the API server's strict field validation does: CRD schemas
    leave objects open (the server prunes), so a typo would otherwise validate."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _closed(v) for k, v in out["properties"].items()}
        opted_out = out.get("x-kubernetes-preserve-unknown-fields")
        if "additionalProperties" not in out and not opted_out:
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _closed(out[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_closed(s) for s in out[key]]
    return out


# The CRDs are ~1 MB each: the C loader takes a fraction of PyYAML's pure-Python time.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _crd_schemas() -> dict[str, Doc]:
    schemas = {}
    for path in sorted(_crds_dir().glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_Loader)
        for version in crd["spec"]["versions"]:
            if version["name"] == "v1":
                schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    if not schemas:
        pytest.fail(f"no ray.io/v1 CRDs in {_crds_dir()}")
    return schemas


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    schema = _crd_schemas().get(kind)
    if schema is None:
        pytest.fail(f"no CRD for kind {kind}")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_closed(schema))


def _crd_errors(doc: Doc) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in _validator(doc["kind"]).iter_errors(doc)]


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # not resolved: keep the venv's bin
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not installed (pip install -e '.[dev]')")
    return found


def _rayservice() -> Doc:
    services = [d for _, d in KUBERAY_DOCS if d["kind"] == "RayService"]
    assert len(services) == 1
    return services[0]


def _serve_config() -> Doc:
    config = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    assert isinstance(config, dict)
    return config


def _serve_config_yaml() -> Doc:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    assert isinstance(config, dict)
    return config


SERVE_CONFIGS = {"serve_config.yaml": _serve_config_yaml, "serveConfigV2": _serve_config}


def _generator() -> ModuleType:
    return manifests


def _ray_pod_specs() -> list[Doc]:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [g["template"]["spec"] for g in groups]


def test_manifests_have_the_expected_kinds() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS}
    assert {("RayService", "matching"), ("PersistentVolumeClaim", "matching-artifacts")} <= kinds
    assert {
        ("NetworkPolicy", "matching-serve-gateway"),
        ("PodDisruptionBudget", "matching-serve-workers"),
    } <= kinds
    assert "Secret" not in {kind for kind, _ in kinds}


def test_pairing_runs_as_a_rayjob_and_on_a_schedule() -> None:
    from matching.cli.main import parser

    (rayjob,) = [d for n, d in KUBERAY_DOCS if n.startswith("pairing.yaml")]
    assert rayjob["kind"] == "RayJob"  # its schedule is generated, from this one source
    (cron_doc,) = [
        d
        for n, d in KUBERAY_DOCS
        if n.startswith("raycronjobs.yaml") and d["metadata"]["name"] == "matching-pairing-weekly"
    ]
    cron = cron_doc["spec"]
    assert cron["schedule"] == "0 8 * * 1" and cron["jobTemplate"] == rayjob["spec"]
    args = parser().parse_args(cron["jobTemplate"]["entrypoint"].split()[1:])
    assert (args.pool, args.ray) == ("weekly", True)


@pytest.mark.parametrize(("name", "doc"), KUBERAY_DOCS, ids=[n for n, _ in KUBERAY_DOCS])
def test_kuberay_doc_matches_its_crd(name: str, doc: Doc) -> None:
    assert _crd_errors(doc) == [], name


def _drop_head(d: Doc) -> None:
    del d["spec"]["rayClusterConfig"]["headGroupSpec"]


def _string_replicas(d: Doc) -> None:
    d["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplicas"] = "four"


def _typo(d: Doc) -> None:
    d["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["minReplica"] = 1


@pytest.mark.parametrize("breakage", [_drop_head, _string_replicas, _typo])
def test_crd_validation_rejects_a_broken_rayservice(breakage: Callable[[Doc], None]) -> None:
    broken = copy.deepcopy(_rayservice())
    breakage(broken)
    assert _crd_errors(broken)


def _kubernetes_validate(docs: list[Doc], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "core.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    cmd = [_tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_core_docs_pass_kubernetes_validate(tmp_path: Path) -> None:
    assert CORE_DOCS
    result = _kubernetes_validate([d for _, d in CORE_DOCS], tmp_path)
    output = result.stdout + result.stderr
    # An unknown kind is only a WARN with exit 0; core kinds must all be checked.
    assert result.returncode == 0 and "WARN" not in output, output
    assert output.count(" passed ") == len(CORE_DOCS), output


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    pvc = copy.deepcopy(next(d for _, d in CORE_DOCS if d["kind"] == "PersistentVolumeClaim"))
    pvc["spec"]["accessMode"] = pvc["spec"].pop("accessModes")
    assert _kubernetes_validate([pvc], tmp_path).returncode != 0


def test_dockerfile_passes_hadolint() -> None:
    # Stricter than error-level: the Dockerfile is warning-free (pins included), keep it so.
    cmd = [_tool("hadolint"), "--no-color", "--failure-threshold", "warning", "Dockerfile"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", SERVE_CONFIGS)
def test_serve_config_runs_the_pipeline_app(source: str) -> None:
    (app,) = SERVE_CONFIGS[source]()["applications"]
    assert app["import_path"] == "serve_app.app:build_app"
    assert app["route_prefix"] == "/"
    assert app["args"] == {"composition": "pipeline"}
    deployments = {d["name"]: d for d in app["deployments"]}
    assert set(deployments) == PIPELINE
    for d in deployments.values():
        assert {"min_replicas", "max_replicas", "target_ongoing_requests"} <= set(
            d["autoscaling_config"]
        )
        assert d["ray_actor_options"]["num_cpus"] > 0
    # CPU clusters must be able to place the Embedder; the GPU switch is opt-in.
    assert deployments["Embedder"]["ray_actor_options"].get("num_gpus", 0) == 0


@pytest.mark.parametrize("source", SERVE_CONFIGS)
def test_serve_config_matches_ray_serve_schema(source: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ray's own pydantic usage
        from ray.serve.config import AutoscalingConfig
        from ray.serve.schema import DeploymentSchema, ServeDeploySchema

    config = SERVE_CONFIGS[source]()
    ServeDeploySchema.model_validate(config)
    # DeploymentSchema ignores unknown keys; catch typos here.
    known = set(DeploymentSchema.model_fields)
    for d in config["applications"][0]["deployments"]:
        assert set(d) <= known, set(d) - known
        scaling = AutoscalingConfig.model_validate(d["autoscaling_config"])
        assert scaling.target_ongoing_requests <= d["max_ongoing_requests"]


def test_serve_config_yaml_starts_on_two_cores() -> None:
    (app,) = _serve_config_yaml()["applications"]
    asked = sum(
        d["autoscaling_config"]["min_replicas"] * d["ray_actor_options"]["num_cpus"]
        for d in app["deployments"]
    )
    assert asked <= TWO_CORE_BUDGET
    assert all("num_gpus" not in d["ray_actor_options"] for d in app["deployments"])


def test_serve_config_v2_is_serve_config_yaml_plus_the_cluster_overlay() -> None:
    gen = _generator()
    expected = gen.serve_config_v2(_serve_config_yaml())
    drift = gen.differences(expected, _serve_config())
    assert drift == [], "run `matching k8s render`:\n" + "\n".join(drift)
    assert gen.embedded((ROOT / "k8s" / "rayservice.yaml").read_text()) == _serve_config()


def test_drift_is_reported_by_field() -> None:
    gen = _generator()
    drifted = copy.deepcopy(_serve_config())
    drifted["applications"][0]["deployments"][0]["max_ongoing_requests"] += 1
    del drifted["logging_config"]
    drift = gen.differences(gen.serve_config_v2(_serve_config_yaml()), drifted)
    assert [line.split(":")[0] for line in drift] == [
        ".applications[matching].deployments[Ingress].max_ongoing_requests",
        ".logging_config",
    ]


def test_the_cluster_overlay_only_sizes_replicas_and_pins_versions() -> None:
    overlay = _generator().CLUSTER_OVERLAY
    assert set(overlay) <= PIPELINE
    for changes in overlay.values():
        assert set(changes) <= {"ray_actor_options", "user_config"}
        assert set(changes.get("user_config", {})) <= {"model_version", "index_version"}
    with pytest.raises(ValueError, match="Ranker"):
        _generator().serve_config_v2(_serve_config_yaml(), {"Ranker": {}})


def test_rewriting_the_manifest_changes_only_serve_config_v2() -> None:
    gen = _generator()
    text = (ROOT / "k8s" / "rayservice.yaml").read_text()
    config = gen.serve_config_v2(_serve_config_yaml())
    assert gen.rewritten(text, config) == text  # the committed file is the script's output
    changed = copy.deepcopy(config)
    changed["applications"][0]["deployments"][1]["ray_actor_options"]["num_cpus"] = 3
    out = gen.rewritten(text, changed)
    assert gen.embedded(out) == changed
    assert gen.rewritten(out, config) == text  # and the rest of the file is untouched


@pytest.mark.parametrize("source", SERVE_CONFIGS)
def test_serve_config_env_is_valid_for_settings(source: str) -> None:
    from matching.core.settings import Settings

    env = dict(SERVE_CONFIGS[source]()["applications"][0]["runtime_env"]["env_vars"])
    Settings.from_env(env | SECRET_ENV)


def _app_env(secrets: dict[str, str]) -> dict[str, str]:
    """The Serve pods' environment with `secrets` as the Secret's keys; optional keys it lacks
    are unset, as the kubelet leaves them."""
    env = dict(_serve_config()["applications"][0]["runtime_env"]["env_vars"])
    for spec in _ray_pod_specs():
        for var in spec["containers"][0]["env"]:
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                env[var["name"]] = var["value"]
                continue
            assert ref["name"] == "matching-secrets" and ref["key"] == var["name"]
            if var["name"] in secrets:
                env[var["name"]] = secrets[var["name"]]
            else:
                assert ref.get("optional") is True, f"{var['name']} is required but not given"
    return env


def test_app_env_is_valid_for_settings() -> None:
    from matching.core.settings import Settings

    env = _app_env(SECRET_ENV)
    assert {"DATABASE_URL", "REDIS_URL", "MATCHING_ARTIFACTS_DIR"} <= set(env)
    settings = Settings.from_env(env)  # raises on unknown MATCHING_* names, bad values, ...
    assert settings.kafka.security_protocol == "PLAINTEXT"  # no Kafka keys in the Secret


def test_kafka_security_comes_from_the_secret() -> None:
    from matching.core.settings import Settings

    names = {
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CAFILE",
        "KAFKA_SSL_CERTFILE",
        "KAFKA_SSL_KEYFILE",
    }
    for spec in _ray_pod_specs():
        given = {v["name"]: v for v in spec["containers"][0]["env"] if v["name"] in names}
        assert set(given) == names
        assert all("value" not in v for v in given.values())  # never in the manifest
    sasl = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "matching",
        "KAFKA_SASL_PASSWORD": "from-the-secret",
    }
    kafka = Settings.from_env(_app_env(SECRET_ENV | sasl)).kafka
    assert kafka.uses_sasl and kafka.uses_tls


def test_every_container_has_resources_and_probes() -> None:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert {"requests", "limits"} <= set(cluster["autoscalerOptions"]["resources"])
    for spec in _ray_pod_specs():
        for container in spec["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), container["name"]
            assert "livenessProbe" in container and "readinessProbe" in container
            assert any(m["mountPath"] == "/artifacts" for m in container["volumeMounts"])


def test_gpu_group_scales_from_zero_and_offers_embedder_gpu() -> None:
    groups = _rayservice()["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    gpu = next(g for g in groups if g["groupName"] == "gpu-workers")
    assert (gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (0, 0, 2)
    (container,) = gpu["template"]["spec"]["containers"]
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    assert gpu["template"]["spec"]["nodeSelector"] and gpu["template"]["spec"]["tolerations"]
    # KubeRay passes the value to the shell, hence the extra quotes around the JSON.
    resources = json.loads(gpu["rayStartParams"]["resources"].strip('"').replace('\\"', '"'))
    assert resources == {"embedder_gpu": 1}


def test_one_rayjob_per_offline_job() -> None:
    from matching.core.settings import Settings
    from training.jobs import JOBS

    rayjobs = {
        d["spec"]["entrypoint"]: d
        for _, d in KUBERAY_DOCS
        if d["kind"] == "RayJob" and d["spec"]["entrypoint"].startswith("matching jobs")
    }
    assert set(rayjobs) == {f"matching jobs {job}" for job in [*JOBS, "all"]}
    for job in rayjobs.values():
        assert job["spec"]["shutdownAfterJobFinishes"] is True
        cluster = job["spec"]["rayClusterSpec"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
            (container,) = group["template"]["spec"]["containers"]
            env = {
                v["name"]: SECRET_ENV[v["name"]] if "valueFrom" in v else v["value"]
                for v in container["env"]
            }
            assert env["MATCHING_ARTIFACTS_DIR"] == "/artifacts"  # the registry volume
            Settings.from_env(env)


def test_generated_manifests_have_not_drifted() -> None:
    """serveConfigV2 and k8s/raycronjobs.yaml are what `matching k8s render` writes."""
    assert k8s.drift(ROOT) == [], "run `matching k8s render`"


def test_render_check_names_a_drifted_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    shutil.copy(ROOT / "serve_config.yaml", tmp_path / "serve_config.yaml")
    cron = tmp_path / "k8s" / "raycronjobs.yaml"
    cron.write_text(cron.read_text().replace("0 3 * * *", "0 4 * * *"))
    assert any("spec.schedule" in line for line in k8s.drift(tmp_path))
    main = subprocess.run(
        [sys.executable, "-m", "matching.cli.main", "k8s", "render", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "raycronjobs.yaml" in main.stdout and k8s.drift(tmp_path) == []


def test_cron_jobs_are_the_rayjobs_on_a_schedule() -> None:
    rayjobs = {d["metadata"]["name"]: d for _, d in KUBERAY_DOCS if d["kind"] == "RayJob"}
    crons = {d["metadata"]["name"]: d for _, d in KUBERAY_DOCS if d["kind"] == "RayCronJob"}
    assert {c.name for c in manifests.CRON_JOBS} <= set(crons)
    entrypoints = {n: c["spec"]["jobTemplate"]["entrypoint"] for n, c in crons.items()}
    assert entrypoints == {
        "matching-nightly-jobs": "matching jobs all",
        "matching-expire-matches": "matching expire-matches",
        "matching-pairing-weekly": "matching pairing run --pool weekly --ray",
    }
    nightly = crons["matching-nightly-jobs"]["spec"]["jobTemplate"]
    source = rayjobs["matching-job-all"]["spec"]
    # the same pods as the RayJob run by hand, only their instance label differs
    assert (
        nightly["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
        == (source["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"])
    )


def test_a_cron_job_of_an_unknown_rayjob_is_refused() -> None:
    rayjobs = [d for _, d in KUBERAY_DOCS if d["kind"] == "RayJob"]
    with pytest.raises(ValueError, match="no RayJob named 'matching-job-nope'"):
        manifests.raycronjobs(rayjobs, (manifests.CronJob("x", "matching-job-nope", "* * * * *"),))


def test_promoted_versions_patch_only_the_model_deployments() -> None:
    versions = {"model_version": "20261201T000000-abc", "index_version": "20261201T000001-def"}
    patch = manifests.rayservice_patch(
        "matching", manifests.serve_config_v2(_serve_config_yaml(), user_config=versions)
    )
    argv = shlex.split(patch)
    assert argv[:6] == ["kubectl", "patch", "rayservice", "matching", "--type", "merge"]
    patched = yaml.safe_load(json.loads(argv[-1])["spec"]["serveConfigV2"])
    (app,) = patched["applications"]
    with_versions = {d["name"] for d in app["deployments"] if d.get("user_config") == versions}
    assert with_versions == {"Retriever", "Reranker"}
    for deployment in app["deployments"]:
        deployment.pop("user_config", None)
    assert manifests.differences(manifests.serve_config_v2(_serve_config_yaml()), patched) == []


def test_serve_survives_a_head_restart_through_an_external_gcs_redis() -> None:
    ft = _rayservice()["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"]
    assert ft["redisAddress"].endswith(":6379")
    assert ft["redisPassword"]["valueFrom"]["secretKeyRef"]["name"] == "matching-secrets"
