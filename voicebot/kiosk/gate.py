"""Which audio the wake-word model hears: a VAD gate over a rolling buffer (pure).

Running openWakeWord on every 80 ms of a silent room costs 6–9 % of a core here; a
kiosk spends most of its life in silence. :class:`SpeechGate` keeps the last
``preroll_samples`` of capture in a ring and hands nothing to the model until the
VAD hears speech; then it hands over the pre-roll (which holds the start of the
wake word: the VAD notices speech tens of ms after it began, and the model needs
about 2 s of context before a word's end) and everything after, until the VAD has
been quiet for ``hangover_samples``. The pre-roll is handed over a few chunks per
:meth:`SpeechGate.feed` (``catchup_chunks``) rather than in one burst, so the
thread that runs the model never stalls for the whole pre-roll at once.

Chunks start at capture positions that are multiples of ``chunk_samples``, and a
chunk is never handed over twice, so the model sees the same chunks, aligned the
same way, as if it ran all the time; where the gate skipped audio, the model's
state holds older audio, so a chunk's score counts (:attr:`Chunk.scored`) only
once ``warmup_samples`` of contiguous audio have been handed over.

:class:`ScoreTrigger` turns the model's scores into detections: a threshold, a
refractory period, and the end of the wake word estimated from the detection lag.

Both are pure: no I/O, no clock (positions are capture sample indices), no
threads. The wake-word detector (``wakeword.py``) runs them on the capture thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["GateConfig", "Chunk", "SpeechGate", "ScoreTrigger"]


@dataclass(frozen=True)
class GateConfig:
    """Sizes in samples of the 16 kHz capture stream."""

    chunk_samples: int = 1280
    #: Audio before the VAD's first voiced block that the model hears.
    preroll_samples: int = 32_000
    #: The model keeps running this long after the last voiced block (the model
    #: fires a few hundred ms after the word ends, often when the VAD is quiet).
    hangover_samples: int = 16_000
    #: Contiguous audio the model must have had before its scores count.
    warmup_samples: int = 30_720
    #: Backlog chunks handed over per feed, beyond those the new samples complete.
    catchup_chunks: int = 4
    #: Never close: the model hears everything (the cost the gate saves).
    always_open: bool = False
    #: Unvoiced audio after which the next voiced block starts a new speech run
    #: (:attr:`SpeechGate.speech_onset`).
    onset_pause_samples: int = 8000
    #: When set, the gate hands over nothing that ends later than this after the
    #: current run of speech began, until the next run begins (the trigger's onset
    #: window: scores after it never count, so running the model there is waste).
    run_limit_samples: int | None = None

    def __post_init__(self) -> None:
        if self.chunk_samples <= 0:
            raise ValueError("chunk_samples must be positive")
        if min(self.preroll_samples, self.hangover_samples, self.warmup_samples,
               self.catchup_chunks, self.run_limit_samples or 0) < 0:
            raise ValueError("gate sizes must not be negative")


class Chunk(NamedTuple):
    """``chunk_samples`` int16 samples for the model, ending at capture ``end_position``."""

    samples: np.ndarray
    end_position: int
    #: False while the model is still warming up on fresh audio: run it, ignore its score.
    scored: bool


class SpeechGate:
    """Feed every block of capture in order; get the chunks to run through the model now.

    One instance per stream, used by one thread (the capture thread in the kiosk).
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        c = self.config
        # Ring of recent samples: room for the pre-roll, a partial chunk and a block.
        self._ring = np.zeros(c.preroll_samples + 2 * c.chunk_samples + 16_000, np.int16)
        self.reset()

    def reset(self) -> None:
        """Forget all audio (a new stream, or after a wake word the core acted on)."""
        self._start = 0  # capture position of the oldest sample held
        self._end: int | None = None  # one past the newest sample held (None: nothing yet)
        self._open = self.config.always_open
        self._next: int | None = None  # next chunk to hand over (open) / handed up to (closed)
        self._contiguous_from: int | None = None  # where the model's contiguous input began
        self._last_voiced_end = -1
        self._onset: int | None = None

    @property
    def is_open(self) -> bool:
        """The model is hearing the stream (speech, its hangover, or ``always_open``)."""
        return self._open

    @property
    def speech_onset(self) -> int | None:
        """Where the current (or last) run of speech began: the first voiced block after
        at least ``onset_pause_samples`` of unvoiced ones (None before any speech)."""
        return self._onset

    @property
    def backlog_samples(self) -> int:
        """Samples held that an open gate has yet to hand over (0 when closed)."""
        if not self._open or self._next is None or self._end is None:
            return 0
        return max(0, self._end - self._next)

    def recent(self, start: int, end: int) -> np.ndarray:
        """A copy of the capture ``[start, end)`` that the ring still holds (clipped to
        it: the last ``preroll_samples`` and more, open or closed)."""
        if self._end is None:
            return np.zeros(0, np.int16)
        start, end = max(start, self._start), min(end, self._end)
        return self._read(start, end) if end > start else np.zeros(0, np.int16)

    def feed(self, samples: np.ndarray, position: int, voiced: bool) -> list[Chunk]:
        """Add ``samples`` (int16, starting at capture ``position``; ``voiced`` when the
        VAD heard speech in them); return the chunks the model should run on now, in order.
        """
        c = self.config
        if self._end is not None and position != self._end:
            self._discontinuity()
        if self._end is None:
            self._start = self._end = position
        self._write(np.asarray(samples, dtype=np.int16))
        end = self._end
        assert end is not None
        if voiced:
            if self._onset is None or position - self._last_voiced_end >= c.onset_pause_samples:
                self._onset = position
            self._last_voiced_end = end
            if not self._open and self._limit() is None:
                self._open_at(position)
        if self._open and self._next is None:
            self._open_at(position)
        if not self._open:
            return []
        available = self._complete_chunks()
        quiet = not voiced and end - self._last_voiced_end >= c.hangover_samples
        limit = self._limit()
        closing = (quiet or limit is not None) and not c.always_open
        if closing and limit is not None:
            # The run of speech is older than the limit: the chunks up to it, then close.
            assert self._next is not None
            n = min(available, max(0, (limit - self._next) // c.chunk_samples))
        elif closing:
            n = available
        else:
            # Keep up with the new samples, catch up on the backlog a few chunks at a time,
            # and never let the backlog outgrow the pre-roll (the ring holds no more).
            due = -(-len(samples) // c.chunk_samples) + c.catchup_chunks
            overflow = -(-(self.backlog_samples - c.preroll_samples) // c.chunk_samples)
            n = min(available, max(due, overflow))
        chunks = [self._take() for _ in range(n)]
        if closing:
            self._open = False
        return chunks

    # -- internals ---------------------------------------------------------------------

    def _limit(self) -> int | None:
        """The last position worth handing over when the current run of speech has gone
        on longer than ``run_limit_samples`` (None: no limit, or not reached)."""
        c = self.config
        if c.run_limit_samples is None or self._onset is None or self._end is None:
            return None
        limit = self._onset + c.run_limit_samples
        return limit if self._end > limit else None

    def _open_at(self, position: int) -> None:
        """Open: hand over from the pre-roll's first chunk (or where the model stopped)."""
        c = self.config
        self._open = True
        first = _ceil(self._start, c.chunk_samples)
        preroll_from = _floor(position - c.preroll_samples, c.chunk_samples)
        start = max(first, preroll_from)
        if self._next is not None and self._next >= start:
            start = self._next  # the model stopped inside the pre-roll: carry on, contiguous
        else:
            self._contiguous_from = start
        if self._contiguous_from is None:
            self._contiguous_from = start
        self._next = start

    def _complete_chunks(self) -> int:
        assert self._next is not None and self._end is not None
        return max(0, (self._end - self._next) // self.config.chunk_samples)

    def _take(self) -> Chunk:
        assert self._next is not None and self._contiguous_from is not None
        n = self.config.chunk_samples
        start = self._next
        self._next = start + n
        samples = self._read(start, start + n)
        warm = start + n - self._contiguous_from >= self.config.warmup_samples
        return Chunk(samples, start + n, warm)

    def _discontinuity(self) -> None:
        """Samples were skipped or repeated: start over from the block that follows."""
        self._end = None
        self._next = None
        self._contiguous_from = None
        self._open = self.config.always_open

    def _write(self, samples: np.ndarray) -> None:
        assert self._end is not None
        size = len(self._ring)
        n = len(samples)
        if n > size - self.config.chunk_samples - self.config.preroll_samples:
            # A block larger than the ring's margin (a file fed in big pieces): grow it,
            # keeping what it holds.
            keep = min(self._end - self._start, size)
            old = self._read(self._end - keep, self._end)
            self._ring = np.zeros(n + self.config.preroll_samples
                                  + 2 * self.config.chunk_samples, np.int16)
            self._put(self._end - keep, old)
            size = len(self._ring)
        self._put(self._end, samples)
        self._end += n
        self._start = max(self._start, self._end - size)

    def _put(self, position: int, samples: np.ndarray) -> None:
        size = len(self._ring)
        i = position % size
        first = min(len(samples), size - i)
        self._ring[i:i + first] = samples[:first]
        self._ring[:len(samples) - first] = samples[first:]

    def _read(self, start: int, end: int) -> np.ndarray:
        size = len(self._ring)
        i, n = start % size, end - start
        first = min(n, size - i)
        out = np.empty(n, np.int16)
        out[:first] = self._ring[i:i + first]
        out[first:] = self._ring[:n - first]
        return out


@dataclass
class ScoreTrigger:
    """Model scores → detections: ``threshold``, then nothing for ``refractory_samples``.

    ``end_lag_samples`` is how long after the wake word's end the model's score first
    crosses the threshold, measured on the benchmark's corpus: the detection's end
    position is the scored chunk's end minus it. With ``onset_window_samples``, a
    score counts only that close after the start of the run of speech it is in (a
    wake word begins after a pause; words inside a sentence that sound like it do
    not). Pure; one thread.
    """

    threshold: float
    refractory_samples: int
    end_lag_samples: int
    onset_window_samples: int | None = None
    _quiet_until: int = -1

    def feed(self, end_position: int, score: float, onset: int | None = None) -> int | None:
        """The score of the chunk ending at ``end_position`` (in speech that began at
        ``onset``); the wake word's end if it fired."""
        if score < self.threshold or end_position < self._quiet_until:
            return None
        window = self.onset_window_samples
        if window is not None and onset is not None and end_position - onset > window:
            return None
        self._quiet_until = end_position + self.refractory_samples
        return max(0, end_position - self.end_lag_samples)

    def reset(self) -> None:
        self._quiet_until = -1


def _floor(x: int, n: int) -> int:
    return x // n * n


def _ceil(x: int, n: int) -> int:
    return -(-x // n) * n
