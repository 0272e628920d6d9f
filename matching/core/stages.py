"""The one seam between the ingress and its stages: a DeploymentHandle or a local object.

Both are called the same way, `await stage.method.remote(...)`, so the service code does not
know whether a stage runs in another replica (pipeline) or in this one (single).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


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
