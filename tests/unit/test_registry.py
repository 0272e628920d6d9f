"""The model registry on a folder and on a non-local pyarrow filesystem, and the promotion
gate: versions, live pointer, push, download, promote, rollback, refusals, and copies trusted
only when their files match the manifest's sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pyarrow import fs

from matching.core.ml import artifacts
from matching.core.ml.artifacts import ArtifactMismatch
from matching.core.ml.gate import better_than, promotion_check
from matching.core.ml.registry import PromotionRefused, Registry, RegistryError

GOOD = {"like_auc": 0.8, "mutual_precision_at_10": 0.3}
WEIGHTED = {"weighted_like_auc": 0.55, "weighted_mutual_precision_at_10": 0.2}


def _version(root: Path, kind: str, version: str, evaluation: dict[str, Any] | None) -> Path:
    folder = root / kind / version
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights " + version.encode())
    manifest = {"version": version, "algorithm_version": f"gbm-{version}", "metrics": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if evaluation is not None:
        (folder / "evaluation").mkdir()
        (folder / "evaluation" / "report.md").write_text("# report")
        (folder / "evaluation" / "metrics.json").write_text(json.dumps(evaluation))
    return folder


def _evaluation(
    metrics: dict[str, Any], baseline: tuple[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"metrics": {**WEIGHTED, **metrics, "calibration": [{"count": 1}]}}
    if baseline is not None:
        out["baseline"] = {"model": baseline[0], "metrics": baseline[1]}
    return out


def test_better_than_needs_every_gate_metric_at_least_as_good() -> None:
    assert better_than(GOOD, None)[0]
    assert better_than(GOOD, GOOD)[0]
    ok, why = better_than(GOOD, {**GOOD, "like_auc": 0.81})
    assert not ok and "like_auc 0.8000 is worse" in why
    ok, why = better_than({"like_auc": 0.9}, GOOD)
    assert not ok and "evaluate it first" in why
    assert better_than(GOOD, {**GOOD, "like_auc": 0.805}, tolerance=0.01)[0]


def test_against_the_weighted_score_on_the_same_window() -> None:
    ok, why = promotion_check(_evaluation(GOOD), None, None)
    assert ok and "weighted score on the same window" in why
    worse = {"like_auc": 0.8, "mutual_precision_at_10": 0.15}  # < weighted 0.2
    ok, why = promotion_check(_evaluation(worse), None, None)
    assert not ok and "mutual_precision_at_10 0.1500 is worse" in why
    ok, why = promotion_check(None, None, None)
    assert not ok and "never evaluated" in why


def test_against_the_live_model_prefers_the_same_window() -> None:
    # On its own (older) window the live model scored higher; on this window it is worse.
    own_window = {"like_auc": 0.9, "mutual_precision_at_10": 0.5}
    same_window = {"like_auc": 0.7, "mutual_precision_at_10": 0.25}
    ok, why = promotion_check(_evaluation(GOOD, ("v1", same_window)), "v1", own_window)
    assert ok and "against live v1 on the same window" in why
    ok, why = promotion_check(_evaluation(GOOD, ("v0", same_window)), "v1", own_window)
    assert not ok and "another window" in why


def test_promote_rollback_and_history(tmp_path: Path) -> None:
    _version(tmp_path, "models", "v1", _evaluation(GOOD))
    _version(tmp_path, "models", "v2", _evaluation(GOOD, ("v1", {**GOOD, "like_auc": 0.7})))
    _version(tmp_path, "models", "v3", None)  # trained, never evaluated
    registry = Registry(str(tmp_path))
    assert registry.live() == {"models": None, "index": None, "history": []}
    assert [v["version"] for v in registry.versions("models")] == ["v1", "v2", "v3"]

    assert registry.promote("models", "v1", by="t")["models"] == "v1"
    assert registry.promote("models", "v2")["models"] == "v2"
    with pytest.raises(PromotionRefused, match="v3 is not better than live model v2"):
        registry.promote("models", "v3")
    assert registry.live()["models"] == "v2"  # a refusal changes nothing
    assert registry.promote("models", "latest", force=True)["models"] == "v3"
    history = registry.live()["history"]
    assert [(h["from"], h["to"], h["action"]) for h in history] == [
        (None, "v1", "promote"),
        ("v1", "v2", "promote"),
        ("v2", "v3", "promote (forced)"),
    ]
    assert registry.rollback("models")["models"] == "v2"
    assert registry.rollback("models")["models"] == "v1"
    assert registry.rollback("models")["models"] is None  # back to the weighted score
    with pytest.raises(RegistryError, match="no earlier live models"):
        registry.rollback("models")
    assert not list(tmp_path.glob("*.tmp"))  # live.json was renamed into place


def test_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    _version(tmp_path, "models", "v1", _evaluation({**GOOD, "mutual_precision_at_10": 0.1}))
    registry = Registry(str(tmp_path))
    with pytest.raises(PromotionRefused, match="not better than the weighted score"):
        registry.promote("models", "v1")
    with pytest.raises(RegistryError, match="no models version 'v9'"):
        registry.promote("models", "v9")
    with pytest.raises(RegistryError, match="unknown kind 'modles'"):
        registry.promote("modles", "v1")
    with pytest.raises(RegistryError, match="which version"):
        registry.promote("models", None)
    with pytest.raises(RegistryError, match="no index versions"):
        registry.promote("index", "latest")
    _version(tmp_path, "index", "i1", None)
    assert registry.promote("index", "i1")["index"] == "i1"  # indexes are not gated


def test_describe_lists_metrics_without_the_calibration_table(tmp_path: Path) -> None:
    _version(tmp_path, "models", "v1", _evaluation(GOOD))
    (tmp_path / "models" / ".v2.tmp").mkdir()  # a job still writing: not listed
    (tmp_path / "models" / "v3").mkdir()  # no manifest yet: not listed
    registry = Registry(str(tmp_path))
    registry.promote("models", "v1")
    (listed,) = registry.describe()["models"]
    assert listed["version"] == "v1" and listed["live"] is True
    assert listed["metrics"]["like_auc"] == 0.8 and "calibration" not in listed["metrics"]


def test_push_to_another_registry_puts_the_manifest_last(tmp_path: Path) -> None:
    folder = _version(tmp_path / "local", "models", "v1", _evaluation(GOOD))
    registry = Registry(f"file://{tmp_path / 'shared'}")
    assert registry.push("models", folder) == str(tmp_path / "shared" / "models" / "v1")
    copied = tmp_path / "shared" / "models" / "v1"
    names = {p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()}
    assert names == {
        "model.bin",
        "manifest.json",
        "evaluation/report.md",
        "evaluation/metrics.json",
    }
    order = sorted(copied.rglob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert order[-1].name == "manifest.json"
    assert registry.evaluation("models", "v1") == _evaluation(GOOD)
    local = Registry(str(tmp_path / "local"))
    assert local.push("models", folder) == str(folder)  # already there: nothing copied


def test_a_non_local_registry_is_read_through_a_download_cache(tmp_path: Path) -> None:
    registry = Registry("mock:///registry", cache_dir=tmp_path / "cache")
    assert isinstance(registry._fs, fs._MockFileSystem)
    registry.push("models", _version(tmp_path / "local", "models", "v1", _evaluation(GOOD)))
    registry.promote("models", "v1")
    assert registry.live()["models"] == "v1"
    copy = registry.local_copy("models", "v1")
    assert copy == tmp_path / "cache" / "models" / "v1"
    assert (copy / "model.bin").read_bytes() == b"weights v1"
    assert (copy / "evaluation" / "metrics.json").is_file()
    assert registry.local_copy("models", "v1") == copy  # cached
    with pytest.raises(RegistryError, match="no models version 'v2'"):
        registry.local_copy("models", "v2")


def _published(root: Path, kind: str, version: str) -> Path:
    """A version written the way the jobs write one: the manifest records every sha256."""
    tmp = artifacts.staging(root, kind, version)
    (tmp / "model.bin").write_bytes(b"weights " + version.encode())
    return artifacts.publish(tmp, {"version": version, "metrics": {}})


def test_trusted_copies_match_the_checksums_the_job_recorded(tmp_path: Path) -> None:
    registry = Registry("mock:///registry", cache_dir=tmp_path / "cache")
    registry.push("models", _published(tmp_path / "local", "models", "v1"))
    pushed = registry.manifest("models", "v1")[artifacts.CHECKSUMS]
    assert pushed == {"model.bin": hashlib.sha256(b"weights v1").hexdigest()}
    copy = registry.trusted_copy("models", "v1", ["model.bin"])
    assert (copy / "model.bin").read_bytes() == b"weights v1"

    (copy / "model.bin").write_bytes(b"weights v666")  # the download cache tampered with
    with pytest.raises(ArtifactMismatch, match=r"v1: model\.bin does not match its sha256"):
        registry.trusted_copy("models", "v1", ["model.bin"])
    with pytest.raises(ArtifactMismatch, match=r"no checksum for model\.joblib"):
        registry.trusted_copy("models", "v1", ["model.joblib"])


def test_a_version_without_checksums_is_not_trusted(tmp_path: Path) -> None:
    _version(tmp_path, "index", "i1", None)  # a manifest written by hand, no sha256
    registry = Registry(str(tmp_path))
    assert registry.local_copy("index", "i1") == tmp_path / "index" / "i1"
    with pytest.raises(ArtifactMismatch, match="records no checksums"):
        registry.trusted_copy("index", "i1", ["model.bin"])
