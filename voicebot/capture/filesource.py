"""An audio file standing in for the microphone: :class:`FileSource`.

I/O edge (reads the file); runs on the event loop's thread. ``mic.py`` re-exports it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable

import numpy as np

from ..audio.files import read_audio_file

__all__ = ["FileSource"]


class FileSource:
    """Read an audio file (any format ``read_audio_file`` takes) as capture blocks.

    With ``realtime=True`` each block is yielded when a microphone would have
    delivered it (paced on ``clock``, default the running loop's time); otherwise
    as fast as the consumer pulls. The file is read (and errors raised as
    ``InputFileError``) in the constructor. Use from the event loop's thread.
    """

    channels = 1

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool, block_ms: int = 20,
                 clock: Callable[[], float] | None = None) -> None:
        self.path = os.fspath(path)
        self.realtime = realtime
        self.block_ms = block_ms
        self._clock = clock
        samples, self.sample_rate = read_audio_file(self.path)
        self._samples = samples.reshape(-1, 1)

    @property
    def duration_s(self) -> float:
        return len(self._samples) / self.sample_rate

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        """Yield (frames, 1) float32 blocks until the end of the file."""
        clock = self._clock or asyncio.get_running_loop().time
        block = max(1, self.sample_rate * self.block_ms // 1000)
        t0 = clock()
        for first in range(0, len(self._samples), block):
            chunk = self._samples[first:first + block]
            if self.realtime:
                delay = t0 + (first + len(chunk)) / self.sample_rate - clock()
                await asyncio.sleep(max(0.0, delay))
            else:
                await asyncio.sleep(0)  # let other tasks run between blocks
            yield chunk
