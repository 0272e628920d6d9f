"""The one seam between the ingress and its stages: a DeploymentHandle or a local object.

Both are called the same way, `await stage.method.remote(...)`, so the service code does not
know whether a stage runs in another replica (pipeline) or in this one (single). `TimedStage`
bounds every such call: a stage that does not answer in time is a 503 naming it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from matching.core.api.errors import DependencyUnavailable


class StageMethod(Protocol):
    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


class Stage(Protocol):
    def __getattr__(self, name: str) -> StageMethod: ...


class _LocalMethod:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        if inspect.iscoroutinefunction(self._fn):
            coro: Awaitable[Any] = self._fn(*args, **kwargs)
            return coro
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._fn(*args, **kwargs))
        except Exception as exc:  # surfaced at await time, like a handle call
            future.set_exception(exc)
        return future


class LocalStage:
    """Wraps a stage object living in this process with the DeploymentHandle call style."""

    def __init__(self, target: object) -> None:
        self.target = target

    def __getattr__(self, name: str) -> _LocalMethod:
        return _LocalMethod(getattr(self.target, name))


class _TimedMethod:
    def __init__(self, stage: str, method: str, call: StageMethod, timeout_s: float) -> None:
        self._stage, self._method, self._call, self._timeout_s = stage, method, call, timeout_s

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._bounded(self._call.remote(*args, **kwargs))

    async def _bounded(self, pending: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(_awaited(pending), self._timeout_s)
        except TimeoutError as exc:
            # wait_for cancelled the call: a DeploymentHandle's request is cancelled with it
            reason = f"{self._method} did not answer within {self._timeout_s:g}s"
            raise DependencyUnavailable(self._stage, reason) from exc


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
