"""A client's audio as a capture source: frames pushed by the connection, pulled by
:func:`voicebot.capture.listen.capture_events` (the same conversion, VAD and
segmentation as a microphone's).

The connection's receive loop calls :meth:`FrameSource.push` with each binary
frame (PCM16 LE mono at the client's rate); the conversation's capture task pulls
int16 blocks (the samples as received).  The queue is bounded (``max_queued_ms``): if the loop ever falls
that far behind, the oldest audio is dropped and counted rather than held.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable

import numpy as np

from .stats import DelayHistogram

__all__ = ["FrameSource"]


class FrameSource:
    """Capture blocks from pushed PCM16 frames. Loop thread only.

    Implements the ``AudioSource`` protocol of ``capture.listen``. :meth:`end` ends
    :meth:`blocks` after the frames already pushed. ``delays`` (when given) counts,
    per frame, the time from its arrival to the end of its processing (the capture
    task's work on it, turn-taking included): the benchmark's figure.
    """

    channels = 1

    def __init__(self, sample_rate: int, *, max_queued_ms: int = 2000,
                 clock: Callable[[], float] = time.monotonic,
                 delays: DelayHistogram | None = None) -> None:
        self.sample_rate = sample_rate
        self._max_samples = sample_rate * max_queued_ms // 1000
        self._clock = clock
        self._frames: deque[tuple[np.ndarray, float]] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._ended = False
        self._delays = delays
        #: Frames dropped because the capture task fell behind.
        self.dropped_frames = 0
        #: Frames received.
        self.frames = 0

    def push(self, pcm16: bytes, at: float) -> None:
        """A frame arrived at ``at`` (monotonic seconds). Whole samples only."""
        if self._ended:
            return
        # int16 as received: the capture converter passes 16 kHz through untouched.
        block = np.frombuffer(pcm16, dtype="<i2")
        self._frames.append((block, at))
        self._queued += len(block)
        self.frames += 1
        while self._queued > self._max_samples and len(self._frames) > 1:
            old, _ = self._frames.popleft()
            self._queued -= len(old)
            self.dropped_frames += 1
        self._wake.set()

    def end(self) -> None:
        """No more frames: :meth:`blocks` ends once the queued ones are pulled."""
        self._ended = True
        self._wake.set()

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        while True:
            while not self._frames:
                if self._ended:
                    return
                self._wake.clear()
                await self._wake.wait()
            block, at = self._frames.popleft()
            self._queued -= len(block)
            yield block.reshape(-1, 1)
            # Resumed: the consumer has done all its work on this block.
            if self._delays is not None:
                self._delays.add(self._clock() - at)
