"""A preallocated ring of capture blocks, written by the capture thread, read by the loop.

For :meth:`MicrophoneSource.blocks <voicebot.capture.mic.MicrophoneSource.blocks>`
the microphone's capture thread copies each block it reads into the next slot of a
pool allocated when the stream opens (:meth:`BlockRing.write`) and posts only the
block's sequence number to the event loop; the loop later reads the block by that
number (:meth:`BlockRing.read`). The capture thread's own reads of unread blocks
(when ``capture_events`` takes the stream over) go through :meth:`read` too. Written
for a PortAudio callback, which must not allocate: nothing here does.

The ring holds the last ``slots`` blocks. When the loop falls so far behind that
the writer comes round again, a slot is overwritten while its old sequence number
may still be queued. Each slot therefore records the sequence number it holds,
and is marked as being written while its samples change (a seqlock, with the GIL
ordering the stores): :meth:`read` returns ``None`` for a block that was lapped
before or during the read, and never hands out new samples under an old number.

No I/O, no clock, no locks. One writer thread and one reader thread.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BlockRing"]

_WRITING = -1  # a slot's sequence number while its samples are being replaced


class BlockRing:
    """``slots`` float32 buffers shaped (``block_frames``, ``channels``), reused in turn.

    The writer (the capture thread) calls :meth:`write` for each block and
    passes the returned sequence number on (``loop.call_soon_threadsafe``); the
    reader (loop thread) calls :meth:`read` for each number it was given.
    """

    def __init__(self, slots: int, block_frames: int, channels: int) -> None:
        if slots < 1 or block_frames < 1 or channels < 1:
            raise ValueError(f"ring of {slots} × ({block_frames}, {channels}) is empty")
        self.slots = slots
        self.block_frames = block_frames
        self.channels = channels
        # A list of separate arrays, not one 3-D array: indexing a list creates no
        # view object, so the writer allocates nothing.
        self._buffers = [np.zeros((block_frames, channels), np.float32) for _ in range(slots)]
        self._seqs = [_WRITING] * slots
        self._frames = [0] * slots
        self._write_seq = 0

    @property
    def write_seq(self) -> int:
        """The sequence number the next written block gets (= blocks written so far)."""
        return self._write_seq

    def write(self, block: np.ndarray, frames: int) -> int:
        """Copy ``block`` (``frames`` × ``channels`` float32) in; return the new :attr:`write_seq`.

        Writer thread. The blocks now readable are those numbered below the returned
        value. A block of exactly ``block_frames`` fills one slot with no allocation
        at all; another size (PortAudio keeps a fixed blocksize, so this is a fallback)
        is cut into ``block_frames`` pieces, one slot each, which costs array views
        but never sample buffers.
        """
        if frames == self.block_frames:
            self._put(block, frames)
        else:
            step = self.block_frames
            for first in range(0, frames, step):
                n = min(step, frames - first)
                self._put(block[first:first + n], n)
        return self._write_seq

    def _put(self, block: np.ndarray, frames: int) -> None:
        seq = self._write_seq
        slot = seq % self.slots
        self._seqs[slot] = _WRITING  # a reader that looks now or during the copy drops it
        buffer = self._buffers[slot]
        if frames == self.block_frames:
            np.copyto(buffer, block)
        else:
            np.copyto(buffer[:frames], block)
        self._frames[slot] = frames
        self._seqs[slot] = seq
        self._write_seq = seq + 1

    def read(self, seq: int) -> np.ndarray | None:
        """A copy of block ``seq`` (frames × channels), or None if the writer lapped it.

        Reader thread. The copy is the reader's to keep: a view into the slot could
        be overwritten while the caller still used it, if the reader stalls.
        """
        slot = seq % self.slots
        if self._seqs[slot] != seq:
            return None
        block = self._buffers[slot][: self._frames[slot]].copy()
        # Checked again after the copy: a write that overlapped it has changed the number.
        if self._seqs[slot] != seq:
            return None
        return block
