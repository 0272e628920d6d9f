"""The offline jobs behind `matching jobs NAME`: one module and one config file each.

Every job is `training.<module>.run(settings, config) -> summary` and runs the same way on a
laptop (a local Ray started here) and on a cluster (`RAY_ADDRESS`, or inside a KubeRay
RayJob, where Ray sets it). Configs are YAML files shipped inside this package
(`training/configs/<job>.yaml`, package data, so the wheel and the image carry them);
`MATCHING_CONFIG_DIR` points at another folder of them, `--config FILE` replaces one and
`--set key=value` overrides single keys.

A job that fails raises `JobError` (or any exception): the CLI prints the message and exits
non-zero. Each job logs what it read and wrote; Ray Data shows its own progress bars.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from matching.core.settings import Settings

log = logging.getLogger(__name__)

# job name -> module in training/ (each has `run(settings, config) -> dict`)
JOBS: dict[str, str] = {
    "features": "training.features",
    "embed": "training.embed",
    "build-index": "training.build_index",
    "collab": "training.collab",
    "train": "training.train",
    "evaluate": "training.evaluate",
}
# `matching jobs all`: in this order, each one's outputs are the next one's inputs
PIPELINE: tuple[str, ...] = ("features", "embed", "build-index", "collab", "train", "evaluate")
# Package data beside this module: the installed wheel has them, not only a source checkout.
CONFIG_PACKAGE, CONFIG_FOLDER = "training", "configs"


class JobError(RuntimeError):
    """A job cannot do its work; the message says why and what to do."""


def config_path(job: str) -> Traversable:
    """The job's config file: in `MATCHING_CONFIG_DIR` when set, else the packaged one."""
    name = f"{job.replace('-', '_')}.yaml"
    folder = os.environ.get("MATCHING_CONFIG_DIR")
    if folder:
        return Path(folder) / name
    return resources.files(CONFIG_PACKAGE).joinpath(CONFIG_FOLDER, name)


def _coerce(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_config(
    job: str, path: Traversable | None = None, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """The job's YAML config (a mapping), with `key=value` overrides applied."""
    if job not in JOBS:
        raise JobError(f"unknown job {job!r}; jobs: {', '.join(JOBS)}")
    file = path or config_path(job)
    if not file.is_file():
        raise JobError(f"no config file for job {job!r} at {file}")
    try:
        loaded = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise JobError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise JobError(f"{file}: must be a mapping of settings, got {type(loaded).__name__}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise JobError(f"--set {item!r}: expected key=value")
        if key not in loaded:
            raise JobError(f"--set {key}: not a setting of job {job!r} ({', '.join(loaded)})")
        loaded[key] = _coerce(value)
    return loaded


def init_ray(num_cpus: int | None = None) -> None:
    """Connect to `RAY_ADDRESS` when set (a cluster, or a RayJob's), else start Ray here."""
    import ray

    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS") or None
    # The job's Ray workers log like its driver (matching.core.logs): JSON lines by default.
    encoding = os.environ.get("MATCHING_LOG_ENCODING", "JSON").upper()
    kwargs: dict[str, Any] = {
        "address": address,
        "log_to_driver": True,
        "logging_config": ray.LoggingConfig(encoding=encoding, log_level="INFO"),
    }
    if address is None:
        kwargs["num_cpus"] = num_cpus
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)
    log.info("ray: %s", "cluster at " + address if address else "local")


def _runner(job: str) -> Callable[[Settings, Mapping[str, Any]], dict[str, Any]]:
    module = importlib.import_module(JOBS[job])
    fn: Callable[[Settings, Mapping[str, Any]], dict[str, Any]] = module.run
    return fn


def run_job(job: str, settings: Settings, config: Mapping[str, Any]) -> dict[str, Any]:
    """Run one job; logs and returns its summary (what it read and wrote)."""
    if not settings.database.url:
        raise JobError("DATABASE_URL is not set")
    started = time.perf_counter()
    log.info("job %s: config %s", job, json.dumps(dict(config), sort_keys=True, default=str))
    summary = _runner(job)(settings, config)
    summary = {"job": job, "seconds": round(time.perf_counter() - started, 2), **summary}
    log.info("job %s: done %s", job, json.dumps(summary, sort_keys=True, default=str))
    return summary


def run_pipeline(
    settings: Settings, configs: Mapping[str, Mapping[str, Any]], jobs: Sequence[str] = PIPELINE
) -> list[dict[str, Any]]:
    """`matching jobs all`: each job in order; the first failure stops the chain."""
    return [run_job(job, settings, configs[job]) for job in jobs]
