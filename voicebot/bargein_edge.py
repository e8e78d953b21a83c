"""The chat loop's barge-in edge: the turn in progress, awaiting it, a ticking source.

Thin asyncio glue around the pure decision in :mod:`voicebot.bargein`; everything
here runs on the event loop thread. ``pipeline.chat`` wires it up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

import numpy as np

from .capture.mic import AudioSource
from .console import Console
from .reply import ReplyOutput
from .session.turn import Session, TurnResult

__all__ = ["TickingSource", "TurnInProgress", "await_turn"]


class TurnInProgress:
    """The turn in progress, shared by the turn loop and the capture task (loop thread)."""

    def __init__(self) -> None:
        self.task: asyncio.Task[TurnResult] | None = None
        self.output: ReplyOutput | None = None
        self.interrupted = False  # set by barge-in just before it cancels the task


async def await_turn(now: TurnInProgress, session: Session, console: Console, turn: int) -> None:
    """Await ``now.task``; after a barge-in, keep only what was heard in the history.

    Loop thread. Returns normally when the turn finished or barge-in cancelled it
    (then the history holds the heard part and an ``interrupted`` event was emitted:
    the caller goes on to the next utterance, the one that interrupted). Re-raises
    whatever else the turn raised, and a cancellation of the caller itself (Ctrl-C).
    """
    assert now.task is not None and now.output is not None
    try:
        await now.task
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if not now.interrupted or (me is not None and me.cancelling()):
            raise  # Ctrl-C (or shutdown), not barge-in
        heard = now.output.heard_text()
        last = session.last_result
        if last is not None and last.recorded:  # (not recorded: the turn was undone)
            session.note_heard(heard)
        console.event("interrupted", turn=turn, text=heard,
                      played_ms=round(now.output.played_ms))
        if console.verbose:
            console.notice("interrupted: listening")


class TickingSource:
    """``source``, calling ``on_block()`` each time the consumer has handled a block.

    The detector emits nothing while speech goes on; barge-in needs to look at the
    position regularly, and the captured blocks (20 ms) are the natural clock.
    """

    def __init__(self, source: AudioSource, on_block: Callable[[], None]) -> None:
        self.source = source
        self.sample_rate = source.sample_rate
        self.channels = source.channels
        self._on_block = on_block

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        """The source's blocks, unchanged; loop thread."""
        async with contextlib.aclosing(self.source.blocks()) as blocks:
            async for block in blocks:
                yield block
                self._on_block()  # resumed: the block was fed and its events handled
