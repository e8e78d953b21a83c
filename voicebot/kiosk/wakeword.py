"""The kiosk's wake-word detector: capture blocks in, :class:`WakeDetection` records out.

``WakeWordDetector(config).feed(samples, position, voiced)`` takes every block of
the 16 kHz mono int16 capture stream, in order, with the capture position of its
first sample and whether the VAD heard speech in it, and returns the wake words
that ended in the audio heard so far. By default the model runs only around
speech (see :mod:`.gate`: a rolling pre-roll, the VAD as the gate, a hangover),
which is what keeps a silent kiosk near idle; ``gate="always"`` runs it on every
chunk.

Wiring (the capture thread's chain, after conversion to 16 kHz and any echo
canceller / noise processor, beside the utterance detector)::

    detections = wake.feed(block_int16, position_of_block_start, voiced=block_had_speech)
    for d in detections:   # post to the loop, then the core gets
        WakeWord(d.name, d.end_position, at=capture_time_of(d.end_position))

Threads: a detector belongs to the thread that feeds it: the capture thread
(``vb-capture``) in the kiosk; :meth:`WakeWordDetector.feed`,
:meth:`~WakeWordDetector.reset` and :meth:`~WakeWordDetector.close` all run there.
The model runs inline on that thread, a few chunks per block (measured in
``scripts/bench_wakeword.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..errors import ConfigError
from .engines import BUILTIN_MODELS, open_engine
from .gate import GateConfig, ScoreTrigger, SpeechGate

__all__ = ["BUILTIN_MODELS", "WakeWordConfig", "WakeDetection", "WakeWordDetector"]

_ENGINES = ("openwakeword", "microwakeword")
_GATES = ("vad", "always")


@dataclass(frozen=True)
class WakeWordConfig:
    """What to listen for and how.

    ``model``: a built-in name (:data:`BUILTIN_MODELS`) or a path to a custom model
    (``.tflite`` for openWakeWord, the ``.json`` beside a ``.tflite`` for
    microWakeWord). ``threshold``: score at which it fires (None: the model's own,
    0.5 for openWakeWord). ``refractory_ms``: after a detection, none for this long
    (one "hey jarvis" scores high for several chunks). ``gate``: "vad" runs the
    model only around speech, "always" on every chunk. ``preroll_ms``: audio before
    the VAD's onset the model hears (it needs ~2 s of context before a word's end).
    ``hangover_ms``: the model keeps running this long after the last voiced block.
    ``catchup_chunks``: pre-roll chunks run per block beyond the new ones (spreads
    the burst when speech begins). ``end_lag_ms``: from the word's end to the
    detection (None: measured per built-in model). ``onset_window_ms``: when set, a
    detection counts only within this long of the start of the run of speech it is
    in (speech after at least ``onset_pause_ms`` of VAD silence): the wake word must
    begin an utterance. It removed the one false accept of the benchmark's speech hour,
    but a room where speech never pauses (a TV) then never wakes it: off by default.
    """

    model: str = "hey_jarvis"
    threshold: float | None = None
    refractory_ms: int = 2000
    engine: str = "openwakeword"
    gate: str = "vad"
    preroll_ms: int = 2000
    hangover_ms: int = 1000
    catchup_chunks: int = 4
    end_lag_ms: int | None = None
    onset_window_ms: int | None = None
    onset_pause_ms: int = 500

    def __post_init__(self) -> None:
        if self.engine not in _ENGINES:
            raise ConfigError(f"wake word engine must be one of {', '.join(_ENGINES)}, "
                              f"not {self.engine!r}")
        if self.gate not in _GATES:
            raise ConfigError(f"wake word gate must be one of {', '.join(_GATES)}, "
                              f"not {self.gate!r}")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"wake word threshold must be in (0, 1], not {self.threshold}")
        for name in ("refractory_ms", "preroll_ms", "hangover_ms", "catchup_chunks",
                     "onset_pause_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"wake word {name} must not be negative")


@dataclass(frozen=True)
class WakeDetection:
    """Wake word ``name`` ended at capture sample ``end_position`` (16 kHz); ``score``
    is the model's score that fired it."""

    name: str
    end_position: int
    score: float


class WakeWordDetector:
    """Listen for one wake word on the 16 kHz capture stream. Capture thread only.

    Loads the model at construction (tens of ms; raises :class:`ConfigError` for an
    unknown model or a missing package).
    """

    def __init__(self, config: WakeWordConfig | None = None) -> None:
        self.config = config = config or WakeWordConfig()
        self._engine = open_engine(config.engine, config.model)
        self.name = self._engine.name
        ms = VAD_SAMPLE_RATE // 1000
        self._gate = SpeechGate(GateConfig(
            chunk_samples=self._engine.chunk_samples,
            preroll_samples=config.preroll_ms * ms,
            hangover_samples=config.hangover_ms * ms,
            warmup_samples=self._engine.warmup_samples,
            catchup_chunks=config.catchup_chunks,
            always_open=config.gate == "always",
            onset_pause_samples=config.onset_pause_ms * ms))
        threshold = config.threshold
        lag = config.end_lag_ms
        self._trigger = ScoreTrigger(
            threshold=self._engine.default_threshold if threshold is None else threshold,
            refractory_samples=config.refractory_ms * ms,
            end_lag_samples=self._engine.end_lag_samples if lag is None else lag * ms,
            onset_window_samples=(None if config.onset_window_ms is None
                                  else config.onset_window_ms * ms))
        #: Chunks run through the model since construction (the benchmark reads it).
        self.chunks_run = 0
        self._closed = False

    @property
    def listening(self) -> bool:
        """The model is running now (speech or its hangover, or ``gate="always"``)."""
        return self._gate.is_open

    def feed(self, samples: np.ndarray, position: int, voiced: bool) -> list[WakeDetection]:
        """One block of capture: int16 16 kHz mono ``samples`` whose first sample is at
        capture ``position``; ``voiced`` if the VAD heard speech in it.

        Feed every block in order (a jump in ``position`` is taken as a gap: the model
        warms up again). Returns the wake words detected, usually none.
        """
        if self._closed:
            raise RuntimeError("WakeWordDetector.feed after close()")
        found: list[WakeDetection] = []
        for chunk in self._gate.feed(samples, position, voiced):
            score = self._engine.score(chunk.samples)
            self.chunks_run += 1
            if score is None or not chunk.scored:
                continue
            end = self._trigger.feed(chunk.end_position, score, self._gate.speech_onset)
            if end is not None:
                found.append(WakeDetection(self.name, end, score))
        return found

    def reset(self) -> None:
        """Forget the audio heard (the gate's pre-roll and the refractory period).

        The model's own state is kept (resetting openWakeWord's costs 0.7 s of CPU);
        after a reset its scores count again once it has warmed up on new audio.
        """
        self._gate.reset()
        self._trigger.reset()

    def close(self) -> None:
        """Free the model. Idempotent."""
        if not self._closed:
            self._closed = True
            self._engine.close()
