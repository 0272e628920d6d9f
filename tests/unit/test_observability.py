"""Metrics, alerts and the dashboard: the catalogue follows Prometheus conventions, recording
checks its tags, k8s/monitoring.yaml validates against the Prometheus Operator's CRDs and
`promtool`, the alerts fire on the series they are meant for (promtool test rules), and every
query of the rules and the dashboard names a metric the code registers (or Serve's own)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from matching.core import metrics
from tests.unit.test_deploy_manifests import _closed

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "tests" / "data" / "monitoring-crds"
DASHBOARD = ROOT / "k8s" / "dashboards" / "matching.json"
# Serve's own metrics the rules and dashboard use (tests/e2e/test_observability.py scrapes them).
SERVE_METRICS = {"ray_serve_http_request_latency_ms", "ray_serve_deployment_replica_healthy"}
_NAME = re.compile(r"\bray_[a-z0-9_]+")
_SUFFIX = re.compile(r"_(bucket|sum|count)$")

Doc = dict[str, Any]


def _monitoring_docs() -> list[Doc]:
    docs = yaml.safe_load_all((ROOT / "k8s" / "monitoring.yaml").read_text())
    return [d for d in docs if d]


def _rule_groups() -> list[Doc]:
    (rule,) = [d for d in _monitoring_docs() if d["kind"] == "PrometheusRule"]
    groups: list[Doc] = rule["spec"]["groups"]
    return groups


def _exprs() -> list[str]:
    exprs = [r["expr"] for g in _rule_groups() for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    return exprs + [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def _promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not installed (scripts/setup.sh installs Debian's prometheus)")
    return found


def test_catalogue_names_follow_prometheus_conventions() -> None:
    for spec in metrics.CATALOGUE:
        assert re.fullmatch(r"matching_[a-z0-9_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if spec.kind == "histogram":
            assert spec.name.endswith("_seconds"), spec.name
        assert "user" not in " ".join(spec.tags), "no tag may carry a person"
    assert len(metrics.BY_NAME) == len(metrics.CATALOGUE)


def test_recording_checks_names_and_tags() -> None:
    before = metrics.value("matching_rate_limited_total", endpoint="discover")
    metrics.inc("matching_rate_limited_total", endpoint="discover")
    assert metrics.value("matching_rate_limited_total", endpoint="discover") == before + 1
    metrics.observe("matching_stage_seconds", 0.2, stage="reranker", method="rank")
    rows = metrics.snapshot()["matching_stage_seconds"]
    assert any(r["stage"] == "reranker" and r["count"] >= 1 for r in rows)
    with pytest.raises(ValueError, match="takes tags"):
        metrics.inc("matching_rate_limited_total", user="someone")
    with pytest.raises(KeyError):
        metrics.inc("matching_not_declared_total")


@pytest.mark.parametrize("doc", _monitoring_docs(), ids=lambda d: d["kind"])
def test_monitoring_docs_match_their_crds(doc: Doc) -> None:
    kind = doc["kind"]
    crd = yaml.safe_load(next(CRDS.glob(f"*_{kind.lower()}s.yaml")).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    validator = Draft202012Validator(_closed(version["schema"]["openAPIV3Schema"]))
    assert [e.message for e in validator.iter_errors(doc)] == []
    broken = {**doc, "spec": {**doc["spec"], "typo": 1}}
    assert list(validator.iter_errors(broken)), "the closed schema must refuse unknown fields"


def test_rules_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rule_groups()}))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_their_series(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": _rule_groups()}))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'ray_matching_outbox_oldest_age_seconds{pod="a"}',
                        "values": "0 300x20",
                    },
                    {
                        "series": 'ray_matching_http_requests_total{route="/v1/x"}',
                        "values": "0+100x20",
                    },
                    {"series": 'ray_matching_http_errors_total{route="/v1/x"}', "values": "0+5x20"},
                    {
                        "series": 'ray_matching_dead_letters_total{topic="user.events"}',
                        "values": "0 0 1 1 1",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "MatchingOutboxStuck",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page"},
                                "exp_annotations": _annotations("MatchingOutboxStuck"),
                            }
                        ],
                    },
                    {"eval_time": "3m", "alertname": "MatchingOutboxStuck", "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": "MatchingHigh5xxRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page"},
                                "exp_annotations": _annotations("MatchingHigh5xxRate"),
                            }
                        ],
                    },
                    {
                        "eval_time": "4m",
                        "alertname": "MatchingDeadLetters",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "ticket", "topic": "user.events"},
                                "exp_annotations": {
                                    **_annotations("MatchingDeadLetters"),
                                    "summary": "Messages from user.events were dead-lettered",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        [_promtool(), "test", "rules", "tests.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _annotations(alert: str) -> dict[str, str]:
    (rule,) = [r for g in _rule_groups() for r in g["rules"] if r.get("alert") == alert]
    return dict(rule["annotations"])


def test_every_query_names_a_registered_metric() -> None:
    registered = {metrics.EXPORT_PREFIX + name for name in metrics.BY_NAME} | SERVE_METRICS
    used = {_SUFFIX.sub("", name) for expr in _exprs() for name in _NAME.findall(expr)}
    assert used - registered == set(), "queries name metrics nothing records"
    # and the dashboard shows every metric the code records
    dashboard = DASHBOARD.read_text()
    unshown = {n for n in metrics.BY_NAME if metrics.EXPORT_PREFIX + n not in dashboard}
    assert unshown == set()


def test_gauges_are_aggregated_with_max() -> None:
    """A gauge is a state that every replica (or every replica of a loop) reports alike, the
    queue's depth, the outbox backlog: summed, it would count once per replica."""
    gauges = {metrics.EXPORT_PREFIX + s.name for s in metrics.CATALOGUE if s.kind == "gauge"}
    for expr in _exprs():
        if gauges & set(_NAME.findall(expr)):
            assert not re.search(r"\bsum\b", expr) and re.search(r"\bmax\b", expr), expr


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text().lower()
    for group in _rule_groups():
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].split("#", 1)[1]
            assert f"### {anchor}" in runbook.replace("`", ""), anchor


def test_adding_nothing_to_a_counter_is_a_no_op() -> None:
    before = metrics.value("matching_cache_requests_total", cache="features", result="hit")
    metrics.inc("matching_cache_requests_total", 0, cache="features", result="hit")
    assert metrics.value("matching_cache_requests_total", cache="features", result="hit") == before
