"""LocalStage: `await stage.method.remote(...)` in-process, like a DeploymentHandle."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from matching.core.stages import LocalStage


class _Target:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def add(self, x: int, y: int = 0) -> int:
        self.calls.append(("add", x, y))
        return x + y

    async def slow_add(self, x: int, *, y: int = 0) -> int:
        self.calls.append(("slow_add", x, y))
        await asyncio.sleep(0)
        return x + y

    def boom(self) -> None:
        self.calls.append(("boom",))
        raise KeyError("sync failure")

    async def async_boom(self) -> None:
        raise LookupError("async failure")

    def nothing(self) -> None:
        return None


async def test_sync_method() -> None:
    target = _Target()
    stage = LocalStage(target)
    assert await stage.add.remote(2, y=3) == 5
    assert target.calls == [("add", 2, 3)]


async def test_async_method() -> None:
    target = _Target()
    stage = LocalStage(target)
    pending = stage.slow_add.remote(4, y=1)
    assert inspect.isawaitable(pending)
    assert await pending == 5
    assert target.calls == [("slow_add", 4, 1)]


async def test_none_result() -> None:
    assert await LocalStage(_Target()).nothing.remote() is None


async def test_sync_exception_surfaces_at_await_time() -> None:
    target = _Target()
    pending = LocalStage(target).boom.remote()  # must not raise here
    assert target.calls == [("boom",)]  # the call itself already ran
    with pytest.raises(KeyError, match="sync failure"):
        await pending


async def test_async_exception_surfaces_at_await_time() -> None:
    pending = LocalStage(_Target()).async_boom.remote()
    with pytest.raises(LookupError, match="async failure"):
        await pending


async def test_calls_run_concurrently_with_gather() -> None:
    stage = LocalStage(_Target())
    results = await asyncio.gather(*(stage.slow_add.remote(i, y=i) for i in range(5)))
    assert results == [0, 2, 4, 6, 8]


def test_unknown_method_is_an_attribute_error() -> None:
    stage = LocalStage(_Target())
    with pytest.raises(AttributeError, match="no_such"):
        stage.no_such.remote()


def test_sync_call_outside_an_event_loop_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        LocalStage(_Target()).add.remote(1)


def test_the_target_is_kept() -> None:
    target = _Target()
    assert LocalStage(target).target is target


def test_the_unit_tier_refuses_to_start_ray() -> None:
    import ray

    with pytest.raises(RuntimeError, match="unit tests must not start Ray"):
        ray.init()
