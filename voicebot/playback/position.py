"""Which reply sample reached the DAC when: a ring written by the output callback.

Pure data structure (numpy only, no clock): the caller passes the times in.

For every pull the output callback records one row: the reply's *generation* (the
jitter buffer's, one per reply), how many of its samples had been played before the
block, how many real samples the block carried (always at its start: silence only
ever follows them) and when the block's first frame reaches the DAC. The loop thread
reads rows back to answer "how much of this reply had been heard at time t".

Threads: :meth:`PlaybackPositions.record` on the callback thread only — scalar stores
into a preallocated array, then publishing the row by advancing an integer, so it
allocates no buffer and never waits; the other methods on one reader thread. The
reader skips the oldest rows, which the writer may be overwriting; the ring holds
``rows`` blocks (512 blocks of 10 ms: 5 s), far more than the output latency, which
is how far back a reader needs to look.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PlaybackPositions"]

# Columns of a row (float64: the integers are exact up to 2**53).
_GEN, _BEFORE, _COUNT, _DAC = range(4)
_WIDTH = 4
# Rows the reader leaves to the writer (a reader is never that many blocks slow).
_SLACK_ROWS = 8


class PlaybackPositions:
    """A ring of playback position rows, in output frames (see the module docstring)."""

    def __init__(self, rows: int = 512) -> None:
        if rows <= _SLACK_ROWS:
            raise ValueError(f"rows must exceed {_SLACK_ROWS}")
        self._rows = rows
        self._flat = np.zeros(rows * _WIDTH, np.float64)
        self._flat[_GEN::_WIDTH] = -1.0  # no generation yet
        self._next = 0  # rows written; the newest is _next - 1

    # ------------------------------------------------------ writer (callback thread)

    def record(self, generation: int, before: int, count: int, dac_time: float) -> None:
        """A block of generation ``generation``: ``count`` real samples after
        ``before`` played ones, its first frame at the DAC at ``dac_time``."""
        i = self._next
        flat = self._flat
        base = (i % self._rows) * _WIDTH
        flat[base + _GEN] = generation
        flat[base + _BEFORE] = before
        flat[base + _COUNT] = count
        flat[base + _DAC] = dac_time
        self._next = i + 1  # publish the row

    # ------------------------------------------------------ reader (loop thread)

    def reached(self, generation: int, now: float, sample_rate: float) -> float:
        """Samples of ``generation`` that had reached the DAC at ``now``: the newest
        block that had started there, interpolated within it at ``sample_rate``
        (0 before the first real sample, and for times older than the ring keeps)."""
        flat = self._flat
        end = self._next
        oldest = max(0, end - self._rows + _SLACK_ROWS)
        for i in range(end - 1, oldest - 1, -1):
            base = (i % self._rows) * _WIDTH
            gen = flat[base + _GEN]
            if gen != generation:
                if gen < generation:
                    break  # rows are in time order: older rows are older replies
                continue
            dac = float(flat[base + _DAC])
            if dac <= now:
                into = min(float(flat[base + _COUNT]), (now - dac) * sample_rate)
                return float(flat[base + _BEFORE]) + into
        return 0.0

    def first_sound(self, generation: int) -> float | None:
        """DAC time of ``generation``'s first real sample, if the ring still has it."""
        flat = self._flat
        end = self._next
        for i in range(max(0, end - self._rows + _SLACK_ROWS), end):
            base = (i % self._rows) * _WIDTH
            if (flat[base + _GEN] == generation and flat[base + _BEFORE] == 0
                    and flat[base + _COUNT] > 0):
                return float(flat[base + _DAC])
        return None
