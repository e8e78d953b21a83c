"""The kiosk's wake-word detector: capture blocks in, :class:`WakeDetection` records out.

``WakeWordDetector(config).feed(samples, position, voiced)`` takes every block of
the 16 kHz mono int16 capture stream, in order, with the capture position of its
first sample and whether the VAD heard speech in it, and returns the wake words
that ended in the audio heard so far. By default the model runs only around
speech (see :mod:`.gate`: a rolling pre-roll, the VAD as the gate, a hangover),
which is what keeps a silent kiosk near idle; ``gate="always"`` runs it on every
chunk. With ``second_engine``, a second engine listens for the same word and
either one's detection counts (:mod:`.fusion`). With ``second_look``, a score that
nearly fires has a fresh openWakeWord hear the audio around it again, slowed down
(:mod:`.secondlook`).

Wiring (the capture thread's chain, after conversion to 16 kHz and any echo
canceller / noise processor, beside the utterance detector)::

    detections = wake.feed(block_int16, position_of_block_start, voiced=block_had_speech)
    for d in detections:   # post to the loop, then the core gets
        WakeWord(d.name, d.end_position, at=capture_time_of(d.end_position))
    for p in wake.placed():   # up to ``end_window_ms`` later (:mod:`.wakeend`)
        WakeWordEnd(p.end_position)

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
from .engines import BUILTIN_MODELS, MicroWakeWordEngine, OpenWakeWordEngine, open_engine
from .fusion import EitherTrigger
from .gate import GateConfig, ScoreTrigger, SpeechGate
from .looker import Looker
from .verifier import Verifier, load_verifier
from .wakeend import PeakPlacer
from .wakerun import RunLog, WakeRun

__all__ = ["BUILTIN_MODELS", "WakeWordConfig", "WakeDetection", "WakePlaced", "WakeRun",
           "WakeWordDetector"]

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
    detection (None: measured per built-in model). ``end_window_ms``: a detection's end
    is placed again from the chunk where the model's score peaks within this long after
    it fired (:mod:`.wakeend`; openWakeWord's built-in models, first engine; 0: never),
    and reported by :meth:`WakeWordDetector.placed`. ``onset_window_ms``: when set, a
    detection counts only within this long of the start of the run of speech it is
    in (speech after at least ``onset_pause_ms`` of VAD silence): the wake word must
    begin an utterance. It removed the one false accept of the benchmark's speech hour,
    but a room where speech never pauses (a TV) then never wakes it: off by default.
    With it, the gated model also stops once the window is over, until the next run of
    speech (on the benchmark's speech hour it then ran on ~70 % of the audio, not 100 %).
    ``second_engine``: another engine listening for the same word (``second_model``,
    None: ``model``), firing at ``second_threshold`` (None: its own default); a
    detection by either counts, one refractory period for both. microWakeWord as the
    second engine runs on every chunk (~0.3 % of a core), openWakeWord behind ``gate``.
    With ``onset_window_ms``, "hey_jarvis" on openWakeWord (0.5) and microWakeWord at
    0.8 found 78 % of the benchmark's takes against 72 % at no false accept.
    ``second_look`` (openWakeWord only): when a score reaches ``second_look_maybe``
    (under the threshold), a second openWakeWord instance, fresh, hears the
    ``second_look_window_ms`` of audio up to ``second_look_delay_ms`` after it, slowed
    by this factor (resampled: tempo and pitch fall), and a best score there of
    ``second_look_threshold`` or more is a detection (placed as the chunk that asked
    for it); ``second_look_chunks`` of the look's chunks run per block, so the work is
    spread over a few blocks. With ``onset_window_ms`` (1800), x1.3 found 84 % of the
    benchmark's takes against 72 % at no false accept; without the onset window its
    looks scored up to 0.99 on unrelated speech. See ``scripts/bench_wakespeed.py``.
    ``verifier``: path of a verifier enrolled from the household's voices
    (:mod:`.verifier`, ``voicebot kiosk --enroll``; openWakeWord, first engine only, not
    with ``second_look``): a chunk of the first engine fires when the model's score
    passes the verifier's low bar and the verifier agrees (``threshold`` then applies to
    the verifier's probability; None: the one chosen at enrolment).
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
    end_window_ms: int = 320
    onset_window_ms: int | None = None
    onset_pause_ms: int = 500
    second_engine: str | None = None
    second_model: str | None = None
    second_threshold: float | None = None
    second_look: float | None = None
    second_look_maybe: float = 0.02
    second_look_threshold: float = 0.25
    second_look_delay_ms: int = 320
    second_look_window_ms: int = 2000
    second_look_chunks: int = 8
    verifier: str | None = None

    def __post_init__(self) -> None:
        for engine in (self.engine, self.second_engine):
            if engine is not None and engine not in _ENGINES:
                raise ConfigError(f"wake word engine must be one of {', '.join(_ENGINES)}, "
                                  f"not {engine!r}")
        if self.verifier is not None and self.second_look is not None:
            raise ConfigError("the wake word verifier and the second look do not go together:"
                              " choose one")
        if self.gate not in _GATES:
            raise ConfigError(f"wake word gate must be one of {', '.join(_GATES)}, "
                              f"not {self.gate!r}")
        for threshold in (self.threshold, self.second_threshold):
            if threshold is not None and not 0.0 < threshold <= 1.0:
                raise ConfigError(f"wake word threshold must be in (0, 1], not {threshold}")
        for name in ("refractory_ms", "preroll_ms", "hangover_ms", "catchup_chunks",
                     "onset_pause_ms", "second_look_delay_ms", "end_window_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"wake word {name} must not be negative")
        if self.second_look is not None:
            if self.engine != "openwakeword":
                raise ConfigError("the wake word's second look needs the openwakeword engine")
            if not 1.0 <= self.second_look <= 2.0:
                raise ConfigError(f"wake word second look must slow down by 1-2, "
                                  f"not {self.second_look}")
            if not 0.0 < self.second_look_maybe <= self.second_look_threshold <= 1.0:
                raise ConfigError("wake word second look needs 0 < maybe <= threshold <= 1")
            if self.threshold is not None and self.second_look_maybe > self.threshold:
                raise ConfigError("wake word second look: its maybe level must not be over "
                                  "the wake word's threshold")
            if self.second_look_window_ms < 1000 or self.second_look_chunks < 1:
                raise ConfigError("wake word second look needs a window of 1 s or more "
                                  "and 1 chunk or more per block")


@dataclass(frozen=True)
class WakeDetection:
    """Wake word ``name`` ended at capture sample ``end_position`` (16 kHz); ``score``
    is the model's score that fired it."""

    name: str
    end_position: int
    score: float


@dataclass(frozen=True)
class WakePlaced:
    """The wake word ``name`` last detected ended at capture sample ``end_position``:
    placed again from the score's peak after the detection (:mod:`.wakeend`)."""

    name: str
    end_position: int


class WakeWordDetector:
    """Listen for one wake word on the 16 kHz capture stream. Capture thread only.

    Loads the model at construction (tens of ms; raises :class:`ConfigError` for an
    unknown model or a missing package).
    """

    def __init__(self, config: WakeWordConfig | None = None) -> None:
        self.config = config = config or WakeWordConfig()
        self._engines: list[OpenWakeWordEngine | MicroWakeWordEngine] = []
        self._gates: list[SpeechGate] = []
        self._look: Looker | None = None
        self._verifier: Verifier | None = None
        try:  # a later engine that fails to open must not leak the earlier ones
            threshold = config.threshold
            if config.verifier is not None:
                self._verifier = load_verifier(config.verifier)
                if threshold is None:
                    threshold = self._verifier.threshold
            triggers = [self._add(config.engine, config.model, threshold, config.gate)]
            self._check_verifier()
            if config.second_engine is not None:
                gate = "always" if config.second_engine == "microwakeword" else config.gate
                triggers.append(self._add(config.second_engine,
                                          config.second_model or config.model,
                                          config.second_threshold, gate))
            if config.second_look is not None:
                self._look = Looker(config, triggers[0], len(triggers))
                triggers.append(self._look.trigger)
        except BaseException:
            for engine in self._engines:
                engine.close()
            raise
        self.name = self._engines[0].name
        first = self._engines[0]
        chunks = config.end_window_ms * (VAD_SAMPLE_RATE // 1000) // first.chunk_samples
        self._placer = (PeakPlacer(first.chunk_samples, chunks, first.peak_lag_samples)
                        if chunks > 0 and first.peak_lag_samples is not None else None)
        self._placed: list[WakePlaced] = []
        self._trigger = EitherTrigger(triggers, config.refractory_ms * (VAD_SAMPLE_RATE // 1000))
        # Each run of speech the first model heard, summed up for a -v line.
        self._runs = RunLog(triggers[0].threshold, first.chunk_samples)
        #: Chunks run through the first engine's model since construction (the
        #: benchmark reads it).
        self.chunks_run = 0
        self._closed = False

    def _add(self, engine_name: str, model: str, threshold: float | None,
             gate: str) -> ScoreTrigger:
        """Open an engine and its gate; its trigger."""
        config = self.config
        engine = open_engine(engine_name, model)
        self._engines.append(engine)
        ms = VAD_SAMPLE_RATE // 1000
        self._gates.append(SpeechGate(GateConfig(
            chunk_samples=engine.chunk_samples,
            preroll_samples=config.preroll_ms * ms,
            hangover_samples=config.hangover_ms * ms,
            warmup_samples=engine.warmup_samples,
            catchup_chunks=config.catchup_chunks,
            always_open=gate == "always",
            onset_pause_samples=config.onset_pause_ms * ms,
            # Scores past the onset window never count: the gated model stops there.
            run_limit_samples=(None if config.onset_window_ms is None
                               else config.onset_window_ms * ms))))
        lag = config.end_lag_ms
        return ScoreTrigger(
            threshold=engine.default_threshold if threshold is None else threshold,
            refractory_samples=config.refractory_ms * ms,
            end_lag_samples=engine.end_lag_samples if lag is None else lag * ms,
            onset_window_samples=(None if config.onset_window_ms is None
                                  else config.onset_window_ms * ms))

    def _check_verifier(self) -> None:
        verifier, engine = self._verifier, self._engines[0]
        if verifier is None:
            return
        if not isinstance(engine, OpenWakeWordEngine):
            raise ConfigError("a wake word verifier works with the openwakeword engine only")
        if verifier.model != engine.name:
            raise ConfigError(f"the wake word verifier {self.config.verifier!r} was enrolled "
                              f"for {verifier.model!r}, not {engine.name!r}")

    @property
    def listening(self) -> bool:
        """The (first) model is running now (speech or its hangover, or ``gate="always"``)."""
        return self._gates[0].is_open

    def feed(self, samples: np.ndarray, position: int, voiced: bool) -> list[WakeDetection]:
        """One block of capture: int16 16 kHz mono ``samples`` whose first sample is at
        capture ``position``; ``voiced`` if the VAD heard speech in it.

        Feed every block in order (a jump in ``position`` is taken as a gap: the model
        warms up again). Returns the wake words detected, usually none.
        """
        if self._closed:
            raise RuntimeError("WakeWordDetector.feed after close()")
        found: list[WakeDetection] = []
        look, placer = self._look, self._placer
        self._runs.block(position, len(samples))
        for i, (engine, gate) in enumerate(zip(self._engines, self._gates)):
            for chunk in gate.feed(samples, position, voiced):
                score = engine.score(chunk.samples)
                if i == 0:
                    self.chunks_run += 1
                    self._runs.chunk(chunk.end_position, score if chunk.scored else None)
                if score is None or not chunk.scored:
                    continue
                model_score = score
                if i == 0 and placer is not None:
                    self._place(placer.feed(chunk.end_position, score))
                if i == 0 and look is not None:
                    look.timing.feed(chunk.end_position, score, gate.speech_onset)
                if i == 0 and self._verifier is not None:
                    score = self._verified(score)
                end = self._trigger.feed(i, chunk.end_position, score, gate.speech_onset)
                if end is not None:
                    found.append(WakeDetection(self.name, end, score))
                    if i == 0 and placer is not None:
                        self._place(placer.detected(chunk.end_position, model_score))
        if placer is not None and placer.pending and not self._gates[0].is_open:
            self._place(placer.idle())
        if not self._gates[0].is_open:
            self._runs.gate_closed()
        if look is not None:
            gate = self._gates[0]
            for request in look.timing.due(position + len(samples)):
                look.queue(request, gate.recent(request.start, request.end))
            for request, score in look.run():
                end = self._trigger.feed(look.index, request.trigger_position, score,
                                         request.onset)
                if end is not None:
                    found.append(WakeDetection(self.name, end, score))
        return found

    def runs(self) -> list[WakeRun]:
        """The first model's runs of speech ended since the last call (:mod:`.wakerun`)."""
        return self._runs.take()

    def placed(self) -> list[WakePlaced]:
        """The detections placed again since the last call (each some chunks after its
        :class:`WakeDetection`; its ``end_position`` replaces the detection's)."""
        placed, self._placed = self._placed, []
        return placed

    def _place(self, end_position: int | None) -> None:
        if end_position is not None:
            self._placed.append(WakePlaced(self.name, end_position))

    def _verified(self, score: float) -> float:
        """The verifier's probability for the first engine's chunk just scored (0 when
        the model's ``score`` is under the verifier's low bar)."""
        verifier, engine = self._verifier, self._engines[0]
        assert verifier is not None and isinstance(engine, OpenWakeWordEngine)
        if score < verifier.base_threshold:
            return 0.0
        return verifier.probability(engine.window())

    @property
    def looks_run(self) -> int:
        """Second looks finished since construction (the benchmark reads it)."""
        return 0 if self._look is None else self._look.looks_run

    def reset(self) -> None:
        """Forget the audio heard (the gate's pre-roll and the refractory period).

        The model's own state is kept (resetting openWakeWord's costs 0.7 s of CPU);
        after a reset its scores count again once it has warmed up on new audio.
        """
        for gate in self._gates:
            gate.reset()
        self._runs.reset()
        self._trigger.reset()
        if self._placer is not None:
            self._placer.reset()
        self._placed = []
        if self._look is not None:
            self._look.reset()

    def close(self) -> None:
        """Free the model. Idempotent."""
        if not self._closed:
            self._closed = True
            for engine in self._engines:
                engine.close()
            if self._look is not None:
                self._look.engine.close()
