"""The reference tap's pure parts: what the speaker played, and steady capture times.

Numpy only, no clock, no threads of its own: times are passed in.

- :class:`ReferenceRing`: the speaker's output callback copies every block it
  played, with the DAC time of its first frame, into a preallocated ring
  (:meth:`~ReferenceRing.record`: scalar and slice stores, no buffer allocated,
  no lock, then the row is published by advancing an integer). The capture
  thread reads what is new (:meth:`~ReferenceRing.read_new`), grouped into runs
  of blocks that follow each other on the DAC clock. The echo canceller is never
  called from the callback.
- :class:`SteadyCaptureTimes`: a blocking read knows when its block's last frame
  became readable, not when it was captured; PipeWire delivers in quanta, so that
  time jitters by up to a quantum (21–85 ms) from block to block. The canceller
  needs the capture clock steady to a few samples: this keeps the lower envelope
  of the implied times (a frame is never readable before it was captured), rising
  slowly to follow clock drift.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["ReferenceRing", "ReferenceRun", "SteadyCaptureTimes"]

# Rows the reader leaves to the writer: a reader that far behind has lost the
# oldest rows (the writer may be overwriting them) and skips them.
_SLACK_ROWS = 4


@dataclass(frozen=True)
class ReferenceRun:
    """Consecutive played samples (float32, the speaker's rate) from one read.

    ``dac_time``: when the first one reached the DAC (seconds on the speaker's
    clock, ``time.monotonic`` for voicebot's speaker). ``continues``: the run
    follows the previous one read without a gap (the same stream, same reply or
    the silence after it), so a resampler may carry its state over.
    ``cut``: see below.
    """

    samples: np.ndarray
    dac_time: float
    continues: bool
    cut: bool = False
    """Silence where blocks recorded earlier never played (:meth:`ReferenceRing.cut`):
    it overwrites them."""


class ReferenceRing:
    """Played blocks and their DAC times, one writer thread and one reader thread.

    ``capacity_frames`` of samples and ``rows`` blocks are allocated up front
    (2 s and 512 blocks by default: a reader that drains every 60 ms is far from
    both). Blocks longer than the capacity are not recorded.

    Writer (the speaker's PortAudio callback): :meth:`record` only. Reader (the
    capture thread): :meth:`read_new`. A block read back is checked to be intact
    after copying (the writer may have lapped a reader that stalled): such blocks
    are dropped and counted in :attr:`lost_blocks`.
    """

    def __init__(self, sample_rate: int, *, capacity_frames: int | None = None,
                 rows: int = 512, gap_tolerance_s: float = 0.02) -> None:
        if sample_rate <= 0 or rows <= _SLACK_ROWS:
            raise ValueError(f"need sample_rate > 0 and rows > {_SLACK_ROWS}")
        self.sample_rate = sample_rate
        self.capacity = capacity_frames if capacity_frames is not None else 2 * sample_rate
        self._samples = np.zeros(self.capacity, np.float32)
        self._rows = rows
        self._row_start = np.zeros(rows, np.int64)  # frames written before the block
        self._row_count = np.zeros(rows, np.int64)
        self._row_dac = np.zeros(rows, np.float64)
        self._frames_written = 0  # writer: total frames; published before the row
        self._rows_written = 0  # writer: publishes a row by advancing this
        # Reader only.
        self._rows_read = 0
        self._expect_dac: float | None = None  # where the next block should start
        self._gap_tolerance_s = gap_tolerance_s
        self.lost_blocks = 0
        """Blocks the reader lost to a writer that overwrote them first."""

    # ------------------------------------------------------ writer (callback thread)

    def record(self, block: np.ndarray, dac_time: float) -> None:
        """The speaker played ``block`` (1-D float32, may be a strided view), its
        first frame reaching the DAC at ``dac_time``. Callback thread: copies into
        the preallocated ring, allocates no buffer, never waits."""
        n = len(block)
        capacity = self.capacity
        if n == 0 or n > capacity:
            return
        start = self._frames_written
        i = start % capacity
        first = min(n, capacity - i)
        samples = self._samples
        samples[i:i + first] = block[:first]
        if first < n:
            samples[:n - first] = block[first:]
        row = self._rows_written % self._rows
        self._row_start[row] = start
        self._row_count[row] = n
        self._row_dac[row] = dac_time
        self._frames_written = start + n
        self._rows_written += 1  # publish the row

    def cut(self, dac_time: float) -> None:
        """The speaker fell silent at ``dac_time``: blocks recorded for later never
        reached the DAC (its stream was aborted, dropping what it had queued). The
        reader then hands out a run of silence from ``dac_time`` over the rest of
        what was recorded, so the echo canceller does not cancel an echo that never
        came. Writer side: the thread that stopped the stream, once its callback
        can no longer run (a zero-length row marks the cut)."""
        row = self._rows_written % self._rows
        self._row_start[row] = self._frames_written
        self._row_count[row] = 0
        self._row_dac[row] = dac_time
        self._rows_written += 1  # publish the row

    # ------------------------------------------------------ reader (capture thread)

    @property
    def unread(self) -> bool:
        """Whether blocks were recorded since the last :meth:`read_new`."""
        return self._rows_written != self._rows_read

    def read_new(self) -> list[ReferenceRun]:
        """The blocks recorded since the last call, joined into runs (copies)."""
        end = self._rows_written
        rows = self._rows
        first = self._rows_read
        if end - first > rows - _SLACK_ROWS:
            self.lost_blocks += end - (rows - _SLACK_ROWS) - first
            first = end - (rows - _SLACK_ROWS)
            self._expect_dac = None
        self._rows_read = end
        if first == end:
            return []
        # One pass over the rows as Python numbers, then one copy per run: the rows
        # of a run are consecutive in the ring (a per-row copy cost ~1 ms per second
        # of reference on the capture thread).
        at = np.arange(first, end) % rows
        starts = self._row_start[at].tolist()
        counts = self._row_count[at].tolist()
        dacs = self._row_dac[at].tolist()
        rate, tolerance = self.sample_rate, self._gap_tolerance_s
        expect = self._expect_dac
        groups: list[tuple[int, int, bool]] = []  # (first row, end row, continues)
        silenced: dict[int, int] = {}  # a cut's group → frames it silences
        for k, dac in enumerate(dacs):
            if counts[k] == 0:  # a cut: what was recorded beyond it was never played
                if groups:
                    groups[-1] = (groups[-1][0], k, groups[-1][2])
                silenced[len(groups)] = (round((expect - dac) * rate)
                                         if expect is not None and expect > dac else 0)
                groups.append((k, k + 1, False))
                expect = None
                continue
            contiguous = expect is not None and abs(dac - expect) <= tolerance
            if not groups or not contiguous:
                if groups:
                    groups[-1] = (groups[-1][0], k, groups[-1][2])
                groups.append((k, len(dacs), contiguous))
            # The next block follows this one on the DAC clock; the expectation is
            # carried from the run's start, so timestamp jitter never accumulates.
            expect = (expect if contiguous and expect is not None else dac) + counts[k] / rate
        runs: list[ReferenceRun] = []
        for g, (g0, g1, continues) in enumerate(groups):
            if g in silenced:
                if silenced[g] > 0:
                    runs.append(ReferenceRun(np.zeros(silenced[g], np.float32), dacs[g0],
                                             False, cut=True))
                continue
            start = starts[g0]
            block = self._copy(start, starts[g1 - 1] + counts[g1 - 1] - start)
            # Blocks overwritten before (or while) we copied are lost: the run goes on
            # from the first one left, as a new run.
            valid_from = self._frames_written - self.capacity
            k = g0
            while k < g1 and starts[k] < valid_from:
                k += 1
            self.lost_blocks += k - g0
            if k == g1 or block is None and k == g0:
                expect = None if g1 == len(dacs) else expect
                continue
            if k > g0:
                block = self._copy(starts[k], starts[g1 - 1] + counts[g1 - 1] - starts[k])
                if block is None:
                    self.lost_blocks += g1 - k
                    continue
                continues = False
            assert block is not None
            runs.append(ReferenceRun(block, dacs[k], continues))
        self._expect_dac = expect
        return runs

    def _copy(self, start: int, n: int) -> np.ndarray | None:
        capacity = self.capacity
        if self._frames_written - start > capacity:
            return None  # already overwritten
        i = start % capacity
        first = min(n, capacity - i)
        out = np.empty(n, np.float32)
        out[:first] = self._samples[i:i + first]
        out[first:] = self._samples[:n - first]
        if self._frames_written - start > capacity:
            return None  # overwritten while we copied
        return out


class SteadyCaptureTimes:
    """Steady capture times for a contiguous 16 kHz stream from jittery read times.

    :meth:`place` takes a block's sample count and the time the caller believes
    its first sample was captured (from the read time); it returns the time to
    use: ``origin + position / rate``. Reads are late, never early, so the origin
    follows the lowest origin the blocks imply, rising by ``drift_per_s`` per
    second of audio (clock drift). When the stream loses samples (an overflow on a
    loaded machine), the counted position falls behind the truth for good: once
    every block of the last ``window_s`` implies an origin more than ``slack_s``
    above it, the origin moves up to ``slack_s`` below their lowest (early, never
    late: the canceller's delay estimate absorbs a constant lead, not a lag). A
    jump of more than ``max_jump_s`` (a restarted stream) starts over at once.
    """

    def __init__(self, rate: int = 16_000, *, drift_per_s: float = 0.0005,
                 window_s: float = 1.5, slack_s: float = 0.004,
                 max_jump_s: float = 0.25) -> None:
        self.rate = rate
        self.drift_per_s = drift_per_s
        self.window = int(window_s * rate)
        self.slack_s = slack_s
        self.max_jump_s = max_jump_s
        self._origin: float | None = None
        self._recent: deque[tuple[int, float]] = deque()  # (position, implied origin)
        self._position = 0
        self.restarts = 0
        """Times the clock started over (the first block excluded)."""

    def place(self, samples: int, at: float) -> float:
        """The steady time of a block of ``samples`` believed captured at ``at``."""
        position = self._position
        implied = at - position / self.rate
        origin = self._origin
        recent = self._recent
        if origin is None or abs(implied - origin) > self.max_jump_s:
            if origin is not None:
                self.restarts += 1
            recent.clear()
            origin = implied
        else:
            origin = min(origin + self.drift_per_s * samples / self.rate, implied)
        recent.append((position, implied))
        while recent[0][0] < position - self.window:
            recent.popleft()
        if position - recent[0][0] >= self.window // 2:  # the window has filled
            origin = max(origin, min(o for _, o in recent) - self.slack_s)
        self._origin = origin
        self._position = position + samples
        return origin + position / self.rate
