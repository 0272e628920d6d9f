"""Cluster hardening in k8s/: every Ray pod (RayService head and workers, RayJob submitters,
heads and workers) runs without a service-account token, as the image's non-root user, on a
read-only root filesystem; the NetworkPolicies admit only the gateway to Serve's port and keep
Ray's ports inside each cluster; the PodDisruptionBudgets select pods that exist.
(Schema validation of the same files: test_deploy_manifests.py.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
GATEWAY = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "api-gateway"}},
}
# Ray's own ports, which nothing outside a Ray cluster may reach (8265 only for the operator).
RAY_PORTS = {6379, 8080, 8265, 10001, 52365}
# Where the pods may connect outside their cluster: DNS, PostgreSQL, Redis, Kafka.
EGRESS_PORTS = {53, 5432, 6379, 9092, 9093, 9094}
API_SERVER_PORTS = {443, 6443}
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}

Doc = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    """One pod template, with the labels its pods will carry."""

    name: str
    labels: dict[str, str]
    spec: Doc


def _docs() -> list[Doc]:
    docs = []
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


DOCS = _docs()


def _of_kind(kind: str) -> list[Doc]:
    return [d for d in DOCS if d["kind"] == kind]


def _cluster(doc: Doc) -> Doc:
    spec = doc["spec"]
    return spec["rayClusterConfig"] if doc["kind"] == "RayService" else spec["rayClusterSpec"]


def _pods() -> list[Pod]:
    pods = []
    # A RayCronJob's template is a RayJob spec: the RayJobs it creates run these pods.
    crons = [
        {"kind": "RayJob", "metadata": d["metadata"], "spec": d["spec"]["jobTemplate"]}
        for d in _of_kind("RayCronJob")
    ]
    for doc in _of_kind("RayService") + _of_kind("RayJob") + crons:
        cluster, name = _cluster(doc), doc["metadata"]["name"]
        groups = [("head", "head", cluster["headGroupSpec"])]
        groups += [(g["groupName"], "worker", g) for g in cluster["workerGroupSpecs"]]
        for group, node_type, spec in groups:
            template = spec["template"]
            # KubeRay adds ray.io/node-type to every Ray pod (and lets no template override it).
            labels = {**template["metadata"]["labels"], "ray.io/node-type": node_type}
            pods.append(Pod(f"{name}/{group}", labels, template["spec"]))
        if doc["kind"] == "RayJob":
            template = doc["spec"]["submitterPodTemplate"]
            pods.append(Pod(f"{name}/submitter", template["metadata"]["labels"], template["spec"]))
    return pods


PODS = _pods()
SERVE = [p for p in PODS if p.name.startswith("matching/")]
JOB_PODS = [p for p in PODS if not p.name.startswith("matching/")]


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _policies(pod: Pod, policy_type: str) -> list[Doc]:
    return [
        p
        for p in _of_kind("NetworkPolicy")
        if policy_type in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]


def _rules(pod: Pod, policy_type: str) -> list[Doc]:
    key = "ingress" if policy_type == "Ingress" else "egress"
    return [r for p in _policies(pod, policy_type) for r in p["spec"].get(key, [])]


def _peers(rule: Doc) -> list[Doc]:
    return rule.get("from", rule.get("to", []))


def _ports(rule: Doc) -> set[int]:
    out = set()
    for port in rule.get("ports", []):
        out |= set(range(port["port"], port.get("endPort", port["port"]) + 1))
    return out


def _same_namespace_pods(peer: Doc) -> list[Pod]:
    """The pods of this service a peer admits (a namespaceSelector points elsewhere)."""
    if "podSelector" not in peer or "namespaceSelector" in peer:
        return []
    return [p for p in PODS if _selects(peer["podSelector"], p.labels)]


def _containers(pod: Pod) -> list[Doc]:
    return pod.spec["containers"] + pod.spec.get("initContainers", [])


def _image_uid() -> int:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^ARG APP_UID=(\d+)$", dockerfile, re.MULTILINE)
    assert match and "USER ${APP_UID}" in dockerfile
    return int(match.group(1))


def test_every_pod_template_is_found() -> None:
    assert len(SERVE) == 3  # head, cpu-workers, gpu-workers
    rayjobs = len(_of_kind("RayJob")) + len(_of_kind("RayCronJob"))
    # + the GPU groups of the embed and all jobs, and of the nightly cron job made from all
    assert len(JOB_PODS) == 3 * rayjobs + 3


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_pod_runs_as_the_image_user_without_a_token(pod: Pod) -> None:
    assert pod.spec["automountServiceAccountToken"] is False
    security = pod.spec["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == _image_uid()
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def _assert_hardened(container: Doc) -> None:
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert not security.get("privileged", False)


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_containers_drop_everything_and_write_only_scratch(pod: Pod) -> None:
    volumes = {v["name"]: v for v in pod.spec["volumes"]}
    for container in _containers(pod):
        _assert_hardened(container)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert set(mounts.values()) <= set(volumes), container["name"]
        # Ray's temp dir is /tmp/ray; caches go under $HOME. Both must be writable.
        for path in ("/tmp", "/home/matching"):
            assert "emptyDir" in volumes[mounts[path]], (container["name"], path)
        assert TOKEN_PATH not in mounts  # the token is the autoscaler's alone


@pytest.mark.parametrize(
    "doc", _of_kind("RayService") + _of_kind("RayJob"), ids=lambda d: d["metadata"]["name"]
)
def test_only_the_autoscaler_holds_a_service_account_token(doc: Doc) -> None:
    cluster = _cluster(doc)
    if not cluster.get("enableInTreeAutoscaling"):  # a fixed-size cluster: no token at all
        assert "autoscalerOptions" not in cluster
        volumes = cluster["headGroupSpec"]["template"]["spec"].get("volumes", [])
        assert not [v for v in volumes if "projected" in v]
        return
    options = cluster["autoscalerOptions"]
    _assert_hardened(options)
    head_volumes = {v["name"]: v for v in cluster["headGroupSpec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in options["volumeMounts"]}
    sources = head_volumes[mounts[TOKEN_PATH]["name"]]["projected"]["sources"]
    # What the kubelet's own kube-api-access volume holds, so in-cluster clients find it all.
    paths = {
        item["path"]
        for source in sources
        for body in source.values()
        for item in body.get("items", [body])
    }
    assert paths == {"token", "ca.crt", "namespace"}
    assert mounts[TOKEN_PATH]["readOnly"] is True
    assert {"/tmp", "/home/matching"} <= set(mounts)
    tokens = [v for v in head_volumes.values() if "projected" in v]
    assert len(tokens) == 1


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_every_pod_is_isolated_both_ways(pod: Pod) -> None:
    assert _policies(pod, "Ingress"), "no ingress policy: the pod would accept anything"
    assert _policies(pod, "Egress"), "no egress policy: the pod could call anything"


def test_only_the_gateway_reaches_serve_and_only_on_8000() -> None:
    workers = [p for p in SERVE if p.labels["ray.io/node-type"] == "worker"]
    for pod in SERVE:
        outside = [
            r for r in _rules(pod, "Ingress") if not _from_own_cluster(r, pod) and not _is_scrape(r)
        ]
        gateway = [r for r in outside if _peers(r) == [GATEWAY]]
        assert all(_ports(r) == {8000} for r in gateway)
        assert bool(gateway) == (pod in workers), pod.name  # the head is not behind the Service
        for rule in outside:
            assert _ports(rule), f"{pod.name}: a rule from outside admits every port"
            assert rule in gateway or _ports(rule) == {8265}, rule  # the operator, below


def _is_scrape(rule: Doc) -> bool:
    """Prometheus, on the metrics port only."""
    return _peers(rule) == [PROMETHEUS] and _ports(rule) == {8080}


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_prometheus_reaches_only_the_metrics_port(pod: Pod) -> None:
    scrapes = [r for r in _rules(pod, "Ingress") if PROMETHEUS in _peers(r)]
    assert scrapes and all(_is_scrape(r) for r in scrapes), pod.name


def _from_own_cluster(rule: Doc, pod: Pod) -> bool:
    admitted = [p for peer in _peers(rule) for p in _same_namespace_pods(peer)]
    return bool(admitted) and all(p.labels == pod.labels or _same_cluster(p, pod) for p in admitted)


def _same_cluster(a: Pod, b: Pod) -> bool:
    component = "app.kubernetes.io/component"
    return a.labels.get(component) == b.labels.get(component)


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_ray_ports_stay_inside_the_cluster(pod: Pod) -> None:
    for rule in _rules(pod, "Ingress"):
        if _from_own_cluster(rule, pod) or _is_scrape(rule):
            continue
        assert _ports(rule), f"{pod.name}: a rule from outside admits every port"
        # Nothing from outside on Ray's ports, except the KubeRay operator on a head's dashboard.
        exposed = _ports(rule) & RAY_PORTS
        if exposed:
            assert exposed == {8265} and pod.labels["ray.io/node-type"] == "head", rule
            (peer,) = _peers(rule)
            assert peer["podSelector"] == {
                "matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}
            }
        assert all(not peer.get("ipBlock") for peer in _peers(rule)), rule


def test_serve_and_job_clusters_cannot_reach_each_other() -> None:
    for serve in SERVE:
        for job in JOB_PODS:
            for a, b in ((serve, job), (job, serve)):
                for rule in _rules(a, "Ingress"):
                    admitted = [p for peer in _peers(rule) for p in _same_namespace_pods(peer)]
                    assert b not in admitted, (a.name, b.name)


@pytest.mark.parametrize("pod", PODS, ids=[p.name for p in PODS])
def test_egress_only_to_the_cluster_dns_and_the_data_stores(pod: Pod) -> None:
    for rule in _rules(pod, "Egress"):
        assert _peers(rule), "an egress rule without `to` allows every destination"
        if _from_own_cluster(rule, pod):
            continue
        ports = _ports(rule)
        assert ports, f"{pod.name}: an egress rule to outside allows every port"
        if any("ipBlock" in peer for peer in _peers(rule)):
            # Only heads, only the API server (the autoscaler), never the whole internet.
            assert pod.labels["ray.io/node-type"] == "head" and ports == API_SERVER_PORTS
            assert all(p["ipBlock"]["cidr"].endswith("/32") for p in _peers(rule))
        else:
            assert ports <= EGRESS_PORTS, rule


def test_pod_disruption_budgets_select_existing_pods() -> None:
    budgets = {b["metadata"]["name"]: b["spec"] for b in _of_kind("PodDisruptionBudget")}
    selected = {
        name: {p.name for p in PODS if _selects(spec["selector"], p.labels)}
        for name, spec in budgets.items()
    }
    assert selected == {
        "matching-serve-workers": {"matching/cpu-workers", "matching/gpu-workers"},
        "matching-serve-head": {"matching/head"},
    }
    assert budgets["matching-serve-workers"]["maxUnavailable"] == 1


def test_every_network_policy_selects_some_pod() -> None:
    for policy in _of_kind("NetworkPolicy"):
        assert any(_selects(policy["spec"]["podSelector"], p.labels) for p in PODS), policy


def test_selector_semantics() -> None:
    labels = {"a": "1", "b": "2"}
    assert _selects({}, labels)
    assert _selects({"matchLabels": {"a": "1"}}, labels)
    assert not _selects({"matchLabels": {"a": "2"}}, labels)
    assert not _selects({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, labels)
    assert _selects({"matchExpressions": [{"key": "b", "operator": "In", "values": ["2"]}]}, labels)


@pytest.mark.parametrize("pod", JOB_PODS, ids=[p.name for p in JOB_PODS])
def test_a_job_clusters_pods_reach_each_other(pod: Pod) -> None:
    """A Ray cluster's head, workers and submitter talk on Ray's ports: a job pod whose labels
    no job policy names is isolated from its own cluster, and its job cannot start."""
    for kind in ("Ingress", "Egress"):
        own = [r for r in _rules(pod, kind) if not _ports(r) and _from_own_cluster(r, pod)]
        admitted = {p.name for r in own for peer in _peers(r) for p in _same_namespace_pods(peer)}
        assert pod.name in admitted, f"{pod.name}: no {kind} rule admits its own cluster"
