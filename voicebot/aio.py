"""Timeouts and task cancellation that never lose a cancellation.

Before Python 3.12, ``asyncio.wait_for`` swallows a cancellation that arrives while
the awaited thing completes (CPython gh-86296): the caller carries on as if it had
not been cancelled. voicebot cancels tasks that sit in such waits all the time — the
capture task waits for a microphone block every 20 ms, a turn waits for a tool — and
a lost cancellation there means a turn that cannot be interrupted or a program that
never exits (seen: ``chat --max-turns 1`` hanging on exit, about 1 run in 10).

:func:`within` is the replacement for ``wait_for``; :func:`cancel_and_wait` stops a
task even when code outside our control has swallowed a cancellation. Both run on
the loop thread.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["within", "cancel_and_wait"]

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """Await ``awaitable`` for at most ``timeout_s`` seconds (None: no limit).

    Raises :class:`asyncio.TimeoutError` when the time runs out (the awaitable is
    cancelled). A cancellation of the caller always propagates, even when it races
    with the awaitable completing.
    """
    if timeout_s is None:
        return await awaitable
    if sys.version_info >= (3, 11):
        # asyncio.timeout counts cancellations, so it tells its own from the caller's.
        async with asyncio.timeout(timeout_s):
            return await awaitable
    inner = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({inner}, timeout=timeout_s)
    except asyncio.CancelledError:
        inner.cancel()
        raise
    if not done:
        inner.cancel()
        raise asyncio.TimeoutError
    return inner.result()


async def cancel_and_wait(task: asyncio.Task[Any], *, retry_s: float = 0.5) -> None:
    """Cancel ``task`` and wait until it has ended, whatever it raises.

    If the task is still running ``retry_s`` after a cancellation (something inside
    it swallowed the CancelledError), it is cancelled again, until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_s)
    if not task.cancelled():
        task.exception()  # retrieved: the caller is not interested in how it ended
