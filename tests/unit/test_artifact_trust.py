"""Artifacts are trusted before they are loaded: publish records every file's sha256, verify
refuses a folder that does not match, and the Reranker keeps serving the model it has when a
new version's files were tampered with (real files, a real scikit-learn model)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sklearn
from factories import make_person
from sklearn.linear_model import LogisticRegression

from deployments.reranker import WEIGHTED_VERSION, Reranker
from matching.core.ml import artifacts
from matching.core.ml.artifacts import ArtifactMismatch
from matching.core.ml.model import MODEL_FILE, CompatibilityModel
from matching.core.ml.pairs import PAIR_FEATURES, FeatureParams, StatsTable
from matching.core.retrieval.candidates import Candidate
from matching.core.settings import Settings


def _publish(root: Path, version: str, files: dict[str, bytes]) -> Path:
    tmp = artifacts.staging(root, "index", version)
    for name, data in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)
    return artifacts.publish(tmp, {"version": version, "kind": "index"})


def _rewrite_manifest(folder: Path, **changes: object) -> None:
    manifest = artifacts.read_manifest(folder)
    manifest.update(changes)
    (folder / artifacts.MANIFEST).write_text(json.dumps(manifest))


def test_publish_records_the_sha256_of_every_file(tmp_path: Path) -> None:
    folder = _publish(tmp_path, "v1", {"index.faiss": b"vectors", "sub/ids.npy": b"ids"})
    manifest = artifacts.verify(folder, ["index.faiss", "sub/ids.npy"])
    assert manifest[artifacts.CHECKSUMS] == {
        "index.faiss": hashlib.sha256(b"vectors").hexdigest(),
        "sub/ids.npy": hashlib.sha256(b"ids").hexdigest(),
    }
    # a file added later (an evaluation report) is not what the loader reads: still trusted
    (folder / "evaluation").mkdir()
    (folder / "evaluation" / "metrics.json").write_text("{}")
    artifacts.verify(folder, ["index.faiss"])


def test_verify_refuses_a_tampered_missing_or_unlisted_file(tmp_path: Path) -> None:
    folder = _publish(tmp_path, "v1", {"index.faiss": b"vectors", "user_ids.npy": b"ids"})
    with pytest.raises(ArtifactMismatch, match=re.escape("no checksum for model.joblib")):
        artifacts.verify(folder, ["index.faiss", "model.joblib"])
    (folder / "index.faiss").write_bytes(b"vectorz")
    tampered = re.escape("v1: index.faiss does not match its sha256")
    with pytest.raises(ArtifactMismatch, match=tampered):
        artifacts.verify(folder, ["index.faiss"])
    (folder / "index.faiss").unlink()
    with pytest.raises(ArtifactMismatch, match=re.escape("index.faiss is missing")):
        artifacts.verify(folder, ["index.faiss"])


def test_verify_refuses_a_manifest_without_checksums_or_pointing_outside(
    tmp_path: Path,
) -> None:
    folder = _publish(tmp_path, "v1", {"index.faiss": b"vectors"})
    _rewrite_manifest(folder, sha256={"../../outside": "0" * 64})
    with pytest.raises(ArtifactMismatch, match="outside the version folder"):
        artifacts.verify(folder, [])
    _rewrite_manifest(folder, sha256=None)
    with pytest.raises(ArtifactMismatch, match="records no checksums"):
        artifacts.verify(folder, ["index.faiss"])
    (folder / artifacts.MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactMismatch, match=re.escape("unreadable manifest.json")):
        artifacts.verify(folder, ["index.faiss"])


# --------------------------------------------------------------------------- the Reranker


def _train_model(root: Path, version: str, seed: int) -> Path:
    """A real (tiny) model published the way training/train.py publishes one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, len(PAIR_FEATURES)))
    estimator = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    params = FeatureParams.from_settings()
    manifest = {
        "version": version,
        "algorithm_version": f"gbm-{version}",
        "sklearn_version": sklearn.__version__,
        "feature_params": params.to_dict(),
    }
    model = CompatibilityModel(estimator, StatsTable.from_swipes([], 10.0), params, manifest)
    tmp = artifacts.staging(root, "models", version)
    model.save(tmp)
    return artifacts.publish(tmp, manifest)


async def test_the_reranker_refuses_a_tampered_model_and_keeps_serving_its_own(
    tmp_path: Path,
) -> None:
    _train_model(tmp_path, "v1", seed=1)
    tampered = _train_model(tmp_path, "v2", seed=2)
    # a pickle replaced after publishing (what loading it would run is anyone's guess)
    (tampered / MODEL_FILE).write_bytes((tmp_path / "models" / "v1" / MODEL_FILE).read_bytes())
    reranker = Reranker(Settings.from_env({"MATCHING_ARTIFACTS_DIR": str(tmp_path)}))

    reranker.reconfigure({"model_version": "v1"})
    assert reranker.info()["model_version"] == "v1" and "refused" not in reranker.info()
    reranker.reconfigure({"model_version": "v2"})
    info = reranker.info()
    assert info["kind"] == "learned" and info["model_version"] == "v1"
    assert info["version"] == reranker.version == "gbm-v1"
    assert info["refused"]["model_version"] == "v2"
    assert "v2: model.joblib does not match its sha256" in info["refused"]["reason"]
    # still answering with v1
    a, b = make_person(name="A"), make_person(name="B")
    [match] = reranker.rank(a, [Candidate(b, 0.5, 0.5)], 5)
    assert match.algorithm_version == "gbm-v1" and match.mutual is not None

    # a good version after the refusal is loaded, and the refusal is no longer reported
    _train_model(tmp_path, "v3", seed=3)
    reranker.reconfigure({"model_version": "v3"})
    assert reranker.info()["model_version"] == "v3" and "refused" not in reranker.info()


def test_a_new_reranker_refusing_its_first_model_serves_the_weighted_score(
    tmp_path: Path,
) -> None:
    folder = _train_model(tmp_path, "v1", seed=1)
    _rewrite_manifest(folder, sha256=None)  # written before checksums: not trusted either
    reranker = Reranker(Settings.from_env({"MATCHING_ARTIFACTS_DIR": str(tmp_path)}))
    reranker.reconfigure({"model_version": "v1"})
    assert reranker.version == WEIGHTED_VERSION and reranker.info()["kind"] == "weighted"
    assert "records no checksums" in reranker.info()["refused"]["reason"]
