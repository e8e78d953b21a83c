"""What the wake-word model made of each run of speech it heard (pure): for a ``-v``
line that says why a wake word was or was not heard.

:class:`RunLog` is told of every chunk the (first) model ran, with its counted score
(None while the model warms up), of each block's position, and of the gate closing;
it sums each run up as a :class:`WakeRun`. A run ends when the gate closes, or at a
gap in the stream (the kiosk stops feeding the detector while listening is muted).
No clock, no I/O; the detector's thread (the capture thread) owns it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["WakeRun", "RunLog"]


@dataclass(frozen=True)
class WakeRun:
    """One run of speech, from when the model's gate opened to when it closed (capture
    samples, 16 kHz): the model's best counted score there (its own, before any
    verifier) and where, and how many chunks it ran. ``best_score`` is -1 (and
    ``best_position`` -1) when no chunk counted (the model was still warming up)."""

    start_position: int
    end_position: int
    best_score: float
    best_position: int
    chunks: int
    threshold: float


class RunLog:
    """Runs of speech summed up; the last ``keep`` ended ones wait for :meth:`take`
    (a caller that never asks keeps no more)."""

    def __init__(self, threshold: float, chunk_samples: int, keep: int = 8) -> None:
        self.threshold = threshold
        self._chunk_samples = chunk_samples
        self._ended: deque[WakeRun] = deque(maxlen=keep)
        self._open = False
        self._start = self._best_position = self._chunks = 0
        self._best = -1.0
        self._next_position: int | None = None  # where the last block ended

    def block(self, position: int, samples: int) -> None:
        """A block of ``samples`` starting at ``position`` is fed, before its chunks."""
        if self._open and position != self._next_position:
            assert self._next_position is not None
            self._end(self._next_position)  # a gap: the run heard so far is over
        self._next_position = position + samples

    def chunk(self, end_position: int, score: float | None) -> None:
        """The model ran a chunk ending at ``end_position``; its counted score."""
        if not self._open:
            self._open, self._start = True, end_position - self._chunk_samples
            self._best, self._best_position, self._chunks = -1.0, -1, 0
        self._chunks += 1
        if score is not None and score > self._best:
            self._best, self._best_position = score, end_position

    def gate_closed(self) -> None:
        """The gate is closed after the block: a run open till now ends with it."""
        if self._open and self._next_position is not None:
            self._end(self._next_position)

    def take(self) -> list[WakeRun]:
        """The runs ended since the last call."""
        runs = list(self._ended)
        self._ended.clear()
        return runs

    def reset(self) -> None:
        self._open = False
        self._ended.clear()
        self._next_position = None

    def _end(self, end_position: int) -> None:
        self._open = False
        self._ended.append(WakeRun(self._start, end_position, self._best,
                                   self._best_position, self._chunks, self.threshold))
