"""The second look's model: a fresh openWakeWord that hears a span of audio again,
slowed down (when to look is :mod:`.secondlook`'s, firing on the result the detector's).

Capture thread only: :class:`Looker` belongs to the :class:`~.wakeword.WakeWordDetector`
that owns it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from .engines import OpenWakeWordEngine
from .gate import ScoreTrigger
from .secondlook import LookRequest, SecondLook, SecondLookConfig

if TYPE_CHECKING:
    from .wakeword import WakeWordConfig

__all__ = ["Looker", "slow_down"]


class Looker:
    """The second look's engine and its queue of looks. Capture thread only.

    The model runs over the slowed audio ``second_look_chunks`` chunks per block (a
    look of a 2 s window slowed by 1.3 is 32 chunks: ~0.12 s of CPU here, more than a
    60 ms block), one look after another.
    """

    def __init__(self, config: WakeWordConfig, first: ScoreTrigger, index: int) -> None:
        assert config.second_look is not None
        ms = VAD_SAMPLE_RATE // 1000
        self.factor = config.second_look
        self.per_feed = config.second_look_chunks
        self.index = index
        self.engine = OpenWakeWordEngine(config.model)
        self.timing = SecondLook(SecondLookConfig(
            maybe=config.second_look_maybe, primary_threshold=first.threshold,
            delay_samples=config.second_look_delay_ms * ms,
            window_samples=config.second_look_window_ms * ms,
            chunk_samples=self.engine.chunk_samples))
        # Placed as the chunk that asked for it: its lag is the first model's.
        self.trigger = ScoreTrigger(
            threshold=config.second_look_threshold, refractory_samples=first.refractory_samples,
            end_lag_samples=first.end_lag_samples, onset_window_samples=first.onset_window_samples)
        self.looks_run = 0
        self._queue: list[tuple[LookRequest, np.ndarray]] = []
        self._next = 0  # the current look's next chunk
        self._best = 0.0

    def queue(self, request: LookRequest, audio: np.ndarray) -> None:
        """A look at ``audio`` (the request's span, as much as the ring held)."""
        slowed = slow_down(audio, self.factor)
        n = self.engine.chunk_samples
        # Whole chunks that end with the audio's end (the model reads the last ~2 s).
        self._queue.append((request, slowed[len(slowed) % n:]))

    def run(self) -> list[tuple[LookRequest, float]]:
        """Run up to ``per_feed`` chunks of the queued looks; the looks finished, with
        their best scores."""
        done: list[tuple[LookRequest, float]] = []
        budget = self.per_feed
        n = self.engine.chunk_samples
        while self._queue and budget > 0:
            request, audio = self._queue[0]
            if self._next == 0:
                self.engine.reset()
                self._best = 0.0
            while budget > 0 and self._next < len(audio):
                score = self.engine.score(audio[self._next:self._next + n])
                self._next += n
                budget -= 1
                if score is not None:
                    self._best = max(self._best, score)
            if self._next >= len(audio):
                self._queue.pop(0)
                self._next = 0
                self.looks_run += 1
                done.append((request, self._best))
        return done

    def reset(self) -> None:
        self.timing.reset()
        self._queue = []
        self._next = 0


def slow_down(samples: np.ndarray, factor: float) -> np.ndarray:
    """int16 ``samples`` (16 kHz) played ``factor`` times slower: resampled, so tempo and
    pitch both fall (soxr, already a dependency, and cheap)."""
    import soxr

    if factor == 1.0 or len(samples) == 0:
        return np.asarray(samples, np.int16)
    y = soxr.resample(samples.astype(np.float32), VAD_SAMPLE_RATE, VAD_SAMPLE_RATE * factor)
    slowed: np.ndarray = np.clip(np.round(y), -32768, 32767).astype(np.int16)
    return slowed
