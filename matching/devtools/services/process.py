"""What every local server shares: ports, and a child process in its own session with a log.

Every server is a child process in its own session (process group), with stdout and stderr
appended to a log file; ``stop()`` sends the server's shutdown signal, then ``SIGKILL`` to the
whole group after a timeout. Nothing is started at import time and nothing is stopped by
``atexit``/``__del__``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOCALHOST = "127.0.0.1"
_LOG_TAIL_CHARS = 4000


class ServiceError(RuntimeError):
    """A local service could not be found, started or used; the message says why."""


class ExitedEarly(ServiceError):
    """The server exited during startup (with an auto-picked port: maybe taken meanwhile)."""


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


class Child:
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
        uid, gid, groups = user_ids(self.user)
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


def user_ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """(uid, gid, supplementary groups) for subprocess to switch to, or Nones to stay."""
    if user is None:
        return None, None, None
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def clean_env(drop_prefixes: Sequence[str] = (), drop: Sequence[str] = ()) -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not any(k.startswith(p) for p in drop_prefixes)
    }


def wait_ready(child: Child, host: str, port: int, timeout: float) -> None:
    try:
        wait_for_port(host, port, timeout, process=child.proc)
    except ServiceError as exc:
        message = child.describe_failure(f"exited before listening on {host}:{port}")
        child.stop(1.0)
        raise ExitedEarly(message) from exc
    except TimeoutError as exc:
        message = child.describe_failure(f"did not listen on {host}:{port} in {timeout}s")
        child.stop(2.0)
        raise ServiceError(message) from exc


def command_output(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    return text[-_LOG_TAIL_CHARS:] or f"exit status {result.returncode}"


class LocalServer:
    """What the three servers share: a port known after ``start()``, liveness of the child
    they own, and use as a context manager (start on enter, stop on exit)."""

    _port: int | None
    _child: Child | None

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServiceError(f"{type(self).__name__} has no port before start()")
        return self._port

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.alive

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
