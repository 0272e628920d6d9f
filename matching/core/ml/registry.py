"""The model registry: versioned artifacts, and which version of each kind is live.

A folder by default (`MATCHING_ARTIFACTS_DIR`), or any `pyarrow.fs` URI (`s3://bucket/path`,
`gs://...`) given as `MATCHING_REGISTRY_URI`. Layout:

    <root>/models/<version>/manifest.json ...   trained compatibility models (training/train.py)
    <root>/index/<version>/...                  FAISS index snapshots (training/build_index.py)
    <root>/collab/<version>/...                 like-graph factors (training/collab.py), live
                                                with the model trained on them
    <root>/weightings/<version>/...             request weights (training/evaluate_requests.py)
    <root>/live.json                            {"models": v, "index": v, "history": [...]}

Jobs write a version to a local folder and `push` it here (a no-op when the registry is
that folder), its manifest last: a version without a manifest is incomplete and unseen.
Versions are immutable folders; promotion only rewrites `live.json` (one object write, so
readers see the old or the new pointer, never half of one). A model is promoted only when
its evaluation beats what serves now on the same window (`matching.core.ml.gate`), unless forced;
rollback makes the previous live version live again. Replicas pick the live versions up
through their `user_config` (see `serve_app.deploy`), so a promotion swaps models without a
restart. Every manifest records the sha256 of its version's files (`artifacts.publish`);
replicas load only a `trusted_copy`, whose files match them.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyarrow import fs

from matching.core.ml.artifacts import MANIFEST, verify
from matching.core.ml.gate import promotion_check, weighting_check
from matching.core.settings import Settings

LIVE = "live.json"
EVALUATION_DIR = "evaluation"  # written into a model's folder by `matching jobs evaluate`
EVALUATION = f"{EVALUATION_DIR}/metrics.json"
# What of an evaluation folder the admin page may read: the report and its plots.
EVALUATION_FILE = re.compile(r"[a-z][a-z0-9_]{0,63}\.(png|md)")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
KINDS = {"models": "models", "index": "index", "weightings": "weightings"}  # kind -> folder
# Versioned but never live on their own: collaborative factors go live with their model.
_FOLLOWERS = {"collab": "collab"}
_HISTORY = 50


class RegistryError(RuntimeError):
    """A version that does not exist, an unreadable registry, nothing to roll back to."""


class PromotionRefused(RuntimeError):
    """The candidate's metrics are worse than the live version's (use force to override)."""


class Registry:
    def __init__(self, uri: str, cache_dir: Path | None = None) -> None:
        self.uri = uri
        self._fs, self._root = fs.FileSystem.from_uri(_as_uri(uri))
        self._local = isinstance(self._fs, fs.LocalFileSystem)
        self._cache = cache_dir or Path(tempfile.gettempdir()) / "matching-registry"

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.index.registry_uri or str(settings.index.artifacts_dir.resolve()))

    # ----------------------------------------------------------------- reading

    def _path(self, *parts: str) -> str:
        return "/".join([self._root.rstrip("/"), *parts])

    def _read_json(self, path: str) -> dict[str, Any] | None:
        info = self._fs.get_file_info(path)
        if info.type != fs.FileType.File:
            return None
        with self._fs.open_input_stream(path) as stream:
            data: dict[str, Any] = json.loads(stream.read().decode())
        return data

    def versions(self, kind: str) -> list[dict[str, Any]]:
        """Complete versions of a kind, oldest first, each with its manifest."""
        folder = self._path(_folder(kind))
        if self._fs.get_file_info(folder).type != fs.FileType.Directory:
            return []
        found = []
        for info in self._fs.get_file_info(fs.FileSelector(folder)):
            if info.type != fs.FileType.Directory or info.base_name.startswith("."):
                continue
            manifest = self._read_json(f"{info.path}/manifest.json")
            if manifest is not None:  # no manifest: still being written
                found.append(manifest | {"version": manifest.get("version", info.base_name)})
        return sorted(found, key=lambda m: str(m["version"]))

    def manifest(self, kind: str, version: str) -> dict[str, Any]:
        manifest = self._read_json(self._path(_folder(kind), version, "manifest.json"))
        if manifest is None:
            raise RegistryError(f"no {kind} version {version!r} in {self.uri}")
        return manifest

    def live(self) -> dict[str, Any]:
        """{"models": version | None, "index": version | None, "history": [...]}."""
        data = self._read_json(self._path(LIVE)) or {}
        live = {
            "models": data.get("models"),
            "index": data.get("index"),
            "history": list(data.get("history", [])),
        }
        # Kinds added later appear once one of their versions has been live.
        return live | {k: data[k] for k in KINDS if k not in live and data.get(k) is not None}

    def local_copy(self, kind: str, version: str) -> Path:
        """A local folder holding the version (the folder itself on a local registry)."""
        self.manifest(kind, version)  # exists and is complete
        source = self._path(_folder(kind), version)
        if self._local:
            return Path(source)
        target = self._cache / _folder(kind) / version
        if not (target / "manifest.json").is_file():
            partial = target.with_name(f".{version}.download")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            fs.copy_files(source, str(partial), source_filesystem=self._fs)
            partial.rename(target)
        return target

    def trusted_copy(self, kind: str, version: str, required: Iterable[str]) -> Path:
        """`local_copy`, once its files match the manifest's sha256 (and the `required` files
        the loader reads are among them); artifacts.ArtifactMismatch otherwise."""
        folder = self.local_copy(kind, version)
        verify(folder, required)
        return folder

    def evaluation(self, kind: str, version: str) -> dict[str, Any] | None:
        """A version's evaluation (`evaluation/metrics.json`), None if never evaluated."""
        return self._read_json(self._path(_folder(kind), version, EVALUATION))

    def evaluation_file(self, kind: str, version: str, name: str) -> bytes | None:
        """One file of a version's evaluation (its report or a plot); None if absent. Names
        are checked, so nothing outside the evaluation folder can be read."""
        if not (_SAFE.fullmatch(version) and EVALUATION_FILE.fullmatch(name)):
            return None
        path = self._path(_folder(kind), version, EVALUATION_DIR, name)
        if self._fs.get_file_info(path).type != fs.FileType.File:
            return None
        with self._fs.open_input_stream(path) as stream:
            data: bytes = stream.read()
        return data

    def metrics(
        self, kind: str, version: str, manifest: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A version's latest metrics: its evaluation's, else the ones its job recorded in
        the manifest."""
        evaluated = self.evaluation(kind, version)
        if evaluated is not None and isinstance(evaluated.get("metrics"), dict):
            found: dict[str, Any] = evaluated["metrics"]
            return found
        return dict((manifest or self.manifest(kind, version)).get("metrics") or {})

    def describe(self) -> dict[str, Any]:
        """What `GET /v1/admin/models` and `matching models list` show."""
        live = self.live()
        out: dict[str, Any] = {"registry": self.uri, "live": live}
        for kind in KINDS:
            out[kind] = [
                {
                    "version": m["version"],
                    "live": m["version"] == live.get(kind),
                    "created_at": m.get("created_at"),
                    "algorithm_version": m.get("algorithm_version"),
                    "metrics": _summary(self.metrics(kind, m["version"], m)),
                }
                for m in self.versions(kind)
            ]
        return out

    # ----------------------------------------------------------------- writing

    def push(self, kind: str, folder: Path) -> str:
        """Copy a complete local version folder into the registry, its manifest last (and
        the evaluation's metrics just before it); returns where it went. A no-op when the
        registry is where the folder already is."""
        target = self._path(_folder(kind), folder.name)
        if self._local and Path(target).resolve() == folder.resolve():
            return target
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        last = [folder / EVALUATION, folder / MANIFEST]
        for path in [*(p for p in files if p not in last), *(p for p in last if p.is_file())]:
            dest = f"{target}/{path.relative_to(folder).as_posix()}"
            self._fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
            with path.open("rb") as source, self._fs.open_output_stream(dest) as out:
                shutil.copyfileobj(source, out)
        return target

    def _write_live(self, live: dict[str, Any]) -> None:
        body = json.dumps(live, indent=2, sort_keys=True, default=str).encode()
        target = self._path(LIVE)
        self._fs.create_dir(self._root, recursive=True)
        if self._local:
            tmp = f"{target}.tmp"
            with self._fs.open_output_stream(tmp) as out:
                out.write(body)
            self._fs.move(tmp, target)  # rename: atomic on a local filesystem
        else:
            with self._fs.open_output_stream(target) as out:  # one PUT: atomic in S3/GCS
                out.write(body)

    def promote(
        self, kind: str, version: str | None, *, force: bool = False, by: str = "cli"
    ) -> dict[str, Any]:
        """Make `version` ("latest": the newest) live; a model is refused unless its
        evaluation beats what serves now (`matching.core.ml.gate`) or `force`."""
        if not version:
            raise RegistryError("which version? (`matching models list` shows them)")
        if version == "latest":
            found = self.versions(kind)
            if not found:
                raise RegistryError(f"no {kind} versions in {self.uri}")
            version = str(found[-1]["version"])
        self.manifest(kind, version)  # exists and is complete
        live = self.live()
        current = live.get(kind)
        if current == version:
            return live
        if kind in ("models", "weightings") and not force:
            live_metrics = None if current is None else self.metrics(kind, current)
            check = promotion_check if kind == "models" else weighting_check
            ok, reason = check(self.evaluation(kind, version), current, live_metrics)
            if not ok:
                serving = f"live model {current}" if current else "the weighted score"
                raise PromotionRefused(f"{version} is not better than {serving}: {reason}")
        return self._set(live, kind, version, by, "promote" + (" (forced)" if force else ""))

    def rollback(self, kind: str, *, by: str = "cli") -> dict[str, Any]:
        """Make the version that was live before the current one was promoted live again;
        rolling back again keeps walking back (a rollback is not itself undone)."""
        live = self.live()
        current = live.get(kind)
        for entry in reversed(live["history"]):
            promoted = str(entry.get("action", "")).startswith("promote")
            if entry["kind"] == kind and promoted and entry["to"] == current:
                return self._set(live, kind, entry.get("from"), by, "rollback")
        raise RegistryError(f"no earlier live {kind} version to roll back to")

    def _set(
        self, live: dict[str, Any], kind: str, version: str | None, by: str, action: str
    ) -> dict[str, Any]:
        entry = {
            "kind": kind,
            "from": live.get(kind),
            "to": version,
            "action": action,
            "by": by,
            "at": datetime.now(UTC).isoformat(),
        }
        live = {**live, kind: version, "history": [*live["history"], entry][-_HISTORY:]}
        self._write_live(live)
        return live


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics for listings: the calibration table stays in the evaluation report."""
    return {k: v for k, v in metrics.items() if not isinstance(v, list)}


def _folder(kind: str) -> str:
    folders = KINDS | _FOLLOWERS
    if kind not in folders:
        raise RegistryError(f"unknown kind {kind!r}; kinds: {', '.join(folders)}")
    return folders[kind]


def _as_uri(uri: str) -> str:
    return uri if "://" in uri else str(Path(uri).resolve())
