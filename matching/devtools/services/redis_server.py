"""``redis-server`` from ``PATH`` (Debian: ``apt-get install redis-server``), persistence off
unless asked for."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from matching.devtools.services.process import (
    LOCALHOST,
    Child,
    ExitedEarly,
    LocalServer,
    ServiceError,
    free_port,
)


class LocalRedis(LocalServer):
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
        self._child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/0"

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
            child = Child(
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
            except ExitedEarly:
                if attempt + 1 < attempts:
                    continue
                raise
            self._child, self._port = child, port
            return self.url
        raise AssertionError("unreachable")

    def _wait_pong(self, child: Child, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if _redis_ping(LOCALHOST, port):
                return
            if not child.alive:
                message = child.describe_failure(f"exited before answering PING on port {port}")
                child.stop(1.0)
                raise ExitedEarly(message)
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


def _redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
