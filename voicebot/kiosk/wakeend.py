"""Where the wake word ended, placed from the score's peak just after the detection.

A detection is placed at first from the chunk where the model's score crossed the
threshold, minus a fixed lag (:class:`~.gate.ScoreTrigger`). That moment moves with the
voice and the rate: on ``scripts/bench_wakeend.py``'s corpora (openWakeWord's
hey_jarvis at 0.5) 22-25 of 75-78 takes were placed more than 150 ms late, late enough
to cut the question's first word. The chunk where the score peaks within the next few
chunks is steadier: 1 of 75-78 (the lag fitted on one corpus, applied to two others).

So the earcon goes at the crossing and only the question's cut waits for the peak: the
question's audio is kept until the utterance ends, long after the peak.

:class:`PeakPlacer` is pure (positions in, positions out; no clock) and belongs to
the thread that feeds the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PeakPlacer"]


@dataclass
class PeakPlacer:
    """Scores of one engine's chunks and its detections → the detections' end positions.

    Call :meth:`detected` when the engine's score fired at the chunk ending at
    ``crossing_end``, :meth:`feed` with every later scored chunk (the model's own score,
    whatever a verifier made of it), and :meth:`idle` when no chunk will come for a
    while (the gate closed). A placement comes out once the chunk ``window_chunks``
    after the crossing has been scored (or earlier, on a gap or :meth:`idle`): the end
    of the chunk with the highest score from the crossing on (the earliest of equal
    ones), minus ``peak_lag_samples``.
    """

    chunk_samples: int
    window_chunks: int
    peak_lag_samples: int
    _limit: int | None = None  # the window's last chunk end; None: nothing pending
    _crossing_end: int = 0
    _best_score: float = 0.0
    _best_end: int = 0

    @property
    def pending(self) -> bool:
        """A detection is waiting for its placement."""
        return self._limit is not None

    def detected(self, crossing_end: int, score: float) -> int | None:
        """The engine fired at the chunk ending at ``crossing_end`` with ``score``; the
        placement of a detection still pending (a new one replaces it), if any."""
        placed = self._place() if self._limit is not None else None
        self._limit = crossing_end + self.window_chunks * self.chunk_samples
        self._crossing_end = crossing_end
        self._best_score, self._best_end = score, crossing_end
        if self.window_chunks == 0:
            return self._place()
        return placed

    def feed(self, end_position: int, score: float) -> int | None:
        """The model's ``score`` for its chunk ending at ``end_position``; the pending
        detection's end once its window is complete."""
        limit = self._limit
        # A chunk at or before the crossing: the gate re-ran its pre-roll (ignored).
        if limit is None or end_position <= self._crossing_end:
            return None
        if end_position > limit:  # a gap: the window will not fill
            return self._place()
        if score > self._best_score:  # the first of equal scores: the earlier end
            self._best_score, self._best_end = score, end_position
        return self._place() if end_position == limit else None

    def idle(self) -> int | None:
        """No chunk will come for now: place the pending detection with what was seen."""
        return self._place() if self._limit is not None else None

    def reset(self) -> None:
        """Forget the pending detection (its provisional placement stands)."""
        self._limit = None

    def _place(self) -> int:
        self._limit = None
        return max(0, self._best_end - self.peak_lag_samples)
