"""LocalStage: `await stage.method.remote(...)` in-process, like a DeploymentHandle: sync
methods in a worker thread (off the event loop, with the replica's OpenMP threads), async
ones on the loop."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from collections.abc import Iterator

import faiss
import pytest
import torch

from matching.core.api.errors import DependencyUnavailable
from matching.core.stages import LocalStage, TimedStage

REQUEST = contextvars.ContextVar("REQUEST", default="none")


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

    def where(self) -> tuple[int, int, int, str]:
        """The thread this runs in, its FAISS and torch thread counts, the request var."""
        ident = threading.get_ident()
        return ident, faiss.omp_get_max_threads(), torch.get_num_threads(), REQUEST.get()

    def wait(self, gate: threading.Event) -> bool:
        return gate.wait(5.0)


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
    with pytest.raises(KeyError, match="sync failure"):
        await pending
    assert target.calls == [("boom",)]


async def test_async_exception_surfaces_at_await_time() -> None:
    pending = LocalStage(_Target()).async_boom.remote()
    with pytest.raises(LookupError, match="async failure"):
        await pending


async def test_calls_run_concurrently_with_gather() -> None:
    stage = LocalStage(_Target())
    results = await asyncio.gather(*(stage.slow_add.remote(i, y=i) for i in range(5)))
    assert results == [0, 2, 4, 6, 8]


@pytest.fixture
def one_openmp_thread() -> Iterator[None]:
    """FAISS pinned to one OpenMP thread in this thread, as the Retriever pins it."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


async def test_a_sync_method_runs_off_the_loop_while_the_loop_serves() -> None:
    stage, gate = LocalStage(_Target()), threading.Event()
    pending = stage.wait.remote(gate)  # started: blocks its worker thread, not the loop
    await asyncio.sleep(0.01)
    assert await stage.slow_add.remote(1, y=2) == 3  # the loop answers meanwhile
    gate.set()
    assert await pending is True  # on the loop it would have waited 5 s and said False


@pytest.mark.usefixtures("one_openmp_thread")
async def test_a_worker_thread_keeps_the_replicas_thread_counts() -> None:
    torch_threads = torch.get_num_threads()
    REQUEST.set("req-1")
    stage = LocalStage(_Target())  # wrapped after the pin, as the replica wraps its stages
    unpinned = await asyncio.to_thread(faiss.omp_get_max_threads)
    ident, faiss_threads, torch_in_worker, request = await stage.where.remote()
    assert ident != threading.get_ident()
    assert faiss_threads == 1 and unpinned > 1  # a bare worker thread would use every core
    assert torch_in_worker == torch_threads  # torch's count is process-wide
    assert request == "req-1"  # the caller's context (log fields) travels with the call
    assert await asyncio.to_thread(faiss.omp_get_max_threads) == unpinned  # and is restored


async def test_a_timed_sync_method_that_hangs_is_a_503_at_once() -> None:
    gate = threading.Event()
    stage = TimedStage("reranker", LocalStage(_Target()), 0.05)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable) as caught:
        await stage.wait.remote(gate)
    assert time.monotonic() - started < 2.0  # not the 5 s the thread could still wait
    assert caught.value.dependency == "reranker"
    gate.set()  # the thread itself cannot be stopped: it finishes on its own


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
