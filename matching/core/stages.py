"""The one seam between the ingress and its stages: a DeploymentHandle or a local object.

Both are called the same way, `await stage.method.remote(...)`, so the service code does not
know whether a stage runs in another replica (pipeline) or in this one (single). As Serve
does, a local stage's sync methods run in a worker thread and its async ones on the loop, so
a ranking never holds the event loop. `TimedStage` bounds every such call: a stage that does
not answer in time is a 503 naming it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from threadpoolctl import ThreadpoolController

from matching.core import metrics
from matching.core.api.errors import DependencyUnavailable


class StageMethod(Protocol):
    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


class Stage(Protocol):
    def __getattr__(self, name: str) -> StageMethod: ...


class _OpenMP:
    """The OpenMP thread counts of the thread that wrapped a stage, for its worker threads:
    `omp_set_num_threads` (FAISS's MATCHING_FAISS_THREADS) holds only in the thread that
    called it, and a worker thread would otherwise start one OpenMP thread per core."""

    def __init__(self) -> None:
        self._libs = ThreadpoolController().select(user_api="openmp")
        self._limits = {lib["filepath"]: lib["num_threads"] for lib in self._libs.info()}

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._limits:
            return fn(*args, **kwargs)
        with self._libs.limit(limits=self._limits):
            return fn(*args, **kwargs)


class _LocalMethod:
    def __init__(self, fn: Callable[..., Any], openmp: _OpenMP) -> None:
        self._fn, self._openmp = fn, openmp

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        if inspect.iscoroutinefunction(self._fn):
            coro: Awaitable[Any] = self._fn(*args, **kwargs)
            return coro
        # Started now, like a handle's request (asyncio.to_thread would wait for the await);
        # the context travels with it, as to_thread's does.
        call = functools.partial(self._openmp.call, self._fn, *args, **kwargs)
        ctx = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(None, ctx.run, call)


class LocalStage:
    """Wraps a stage object living in this process with the DeploymentHandle call style."""

    def __init__(self, target: object) -> None:
        self.target = target
        self._openmp = _OpenMP()

    def __getattr__(self, name: str) -> _LocalMethod:
        if name.startswith("_") or name == "target":  # copy/pickle probes, before __init__
            raise AttributeError(name)
        return _LocalMethod(getattr(self.target, name), self._openmp)


class _TimedMethod:
    def __init__(self, stage: str, method: str, call: StageMethod, timeout_s: float) -> None:
        self._stage, self._method, self._call, self._timeout_s = stage, method, call, timeout_s

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._bounded(self._call.remote(*args, **kwargs))

    async def _bounded(self, pending: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(_awaited(pending), self._timeout_s)
        except TimeoutError as exc:
            metrics.inc("matching_stage_unavailable_total", stage=self._stage)
            # wait_for cancelled the call: a DeploymentHandle's request is cancelled with it
            reason = f"{self._method} did not answer within {self._timeout_s:g}s"
            raise DependencyUnavailable(self._stage, reason) from exc
        elapsed = time.perf_counter() - started
        metrics.observe("matching_stage_seconds", elapsed, stage=self._stage, method=self._method)
        return result


async def _awaited(pending: Awaitable[Any]) -> Any:
    return await pending  # a DeploymentResponse is awaitable but not a coroutine


class TimedStage:
    """A stage whose every call answers within `timeout_s` or raises DependencyUnavailable
    naming `name` (a 503 with Retry-After)."""

    def __init__(self, name: str, stage: Stage, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.name, self.stage, self.timeout_s = name, stage, timeout_s

    def __getattr__(self, method: str) -> _TimedMethod:
        if method.startswith("__"):  # copy/pickle probes, and before __init__ ran
            raise AttributeError(method)
        return _TimedMethod(self.name, method, getattr(self.stage, method), self.timeout_s)
