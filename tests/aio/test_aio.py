"""voicebot.aio: timeouts that never lose the caller's cancellation.

The race these guard against: a task is cancelled in the same loop iteration in
which the thing it awaits completes. ``asyncio.wait_for`` before 3.12 returns the
result and the cancellation is lost; the capture task then never ends.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Awaitable

import pytest

from voicebot import aio
from voicebot.aio import cancel_and_wait, within


@pytest.fixture(params=["native", "3.10 fallback"])
def branch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "3.10 fallback":
        monkeypatch.setattr(aio, "sys", types.SimpleNamespace(version_info=(3, 10, 0)))
    return request.param


def test_result_and_timeout(branch: str) -> None:
    async def main() -> None:
        assert await within(asyncio.sleep(0, "done"), 1.0) == "done"
        assert await within(asyncio.sleep(0, "no limit"), None) == "no limit"
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncio.TimeoutError):
            await within(asyncio.sleep(10), 0.05)
        assert asyncio.get_running_loop().time() - started < 1.0

    asyncio.run(main())


def test_timeout_cancels_the_awaited_task(branch: str) -> None:
    async def main() -> None:
        cancelled = asyncio.Event()

        async def slow() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with pytest.raises(asyncio.TimeoutError):
            await within(slow(), 0.01)
        await asyncio.wait_for(cancelled.wait(), 1.0)

    asyncio.run(main())


@pytest.mark.parametrize("source", ["future", "queue"])
def test_cancel_racing_completion_is_not_lost(branch: str, source: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        queue: asyncio.Queue[int] = asyncio.Queue()
        futures = iter([fut])  # then fresh ones that never complete

        def awaited() -> Awaitable[int]:
            if source == "queue":
                return queue.get()  # as the microphone's block queue is read
            return next(futures, None) or loop.create_future()

        async def consumer() -> None:
            while True:  # like the capture loop: only a cancellation ends it
                await within(awaited(), 5.0)

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0.01)  # the consumer now waits
        if source == "future":
            fut.set_result(1)
        else:
            queue.put_nowait(1)
        task.cancel()  # same loop iteration as the completion
        done, _ = await asyncio.wait({task}, timeout=1.0)
        assert done and task.cancelled(), "the cancellation was swallowed"

    asyncio.run(main())


def test_cancel_and_wait_ends_a_task_that_swallows_a_cancellation() -> None:
    async def main() -> None:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed += 1  # the first one is lost, as in the wait_for race

        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(task, retry_s=0.05), 2.0)
        assert task.cancelled() and swallowed == 1

    asyncio.run(main())


def test_cancel_and_wait_retrieves_a_failure() -> None:
    async def main() -> None:
        async def fails() -> None:
            raise RuntimeError("boom")

        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        await cancel_and_wait(task)  # no "exception was never retrieved" either
        assert isinstance(task.exception(), RuntimeError)

    asyncio.run(main())


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fixed in CPython 3.12")
def test_the_race_is_real_with_wait_for() -> None:
    """Why voicebot.aio exists: the same race with asyncio.wait_for loses the cancel."""
    async def main() -> bool:
        fut = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(asyncio.wait_for(fut, 5.0))
        await asyncio.sleep(0)
        fut.set_result(1)
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        return task.cancelled()

    assert asyncio.run(main()) is False
