"""Wake-word models behind one small interface: fixed-size int16 chunks in, scores out.

- :class:`OpenWakeWordEngine`: ``pyopen-wakeword`` (openWakeWord's melspectrogram,
  embedding and per-word models on its bundled TFLite runtime, each interpreter on
  one thread: see :mod:`.tflite`), 80 ms chunks.
- :class:`MicroWakeWordEngine`: ``pymicro-wakeword`` (microWakeWord's streaming
  models), 30 ms chunks.

Both load their libraries only when constructed (importing this module loads
neither). An engine is used by one thread: the capture thread, in the kiosk.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np

from ..errors import ConfigError
from .tflite import run_on_one_thread

__all__ = ["BUILTIN_MODELS", "WakeEngine", "OpenWakeWordEngine", "MicroWakeWordEngine",
           "open_engine"]

_log = logging.getLogger(__name__)

#: The wake words both packages ship a model for.
BUILTIN_MODELS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa")


class WakeEngine(Protocol):
    """A wake-word model fed ``chunk_samples`` at a time (int16, 16 kHz mono)."""

    name: str
    chunk_samples: int
    #: Contiguous audio the model needs before its score means anything.
    warmup_samples: int
    #: The threshold its authors use.
    default_threshold: float
    #: Median time from the wake word's end to the first score over the threshold,
    #: measured by ``scripts/bench_wakeword.py`` on eSpeak voices (built-in models).
    end_lag_samples: int
    #: Median time from the wake word's end to the chunk where the score peaks within
    #: a few chunks after the crossing (:mod:`.wakeend`); None: not measured for it.
    peak_lag_samples: int | None

    def score(self, chunk: np.ndarray) -> float | None:
        """Run one chunk; its score, or None while the model has too little audio."""

    def close(self) -> None:
        """Free the model (the engine is unusable after)."""


# Measured with scripts/bench_wakeword.py (median of first crossing − end of the word,
# eSpeak voices; the spread is wide: 10th-90th percentile about 100-500 ms for
# openWakeWord's hey_jarvis). hey_mycroft (openWakeWord) hardly fires on eSpeak: the
# default. A custom model gets the default.
_OWW_END_LAG_MS = MappingProxyType(
    {"hey_jarvis": 240, "okay_nabu": 500, "hey_mycroft": 320, "alexa": 70})
_MICRO_END_LAG_MS = MappingProxyType(
    {"hey_jarvis": 220, "okay_nabu": 220, "hey_mycroft": 40, "alexa": 260})
_DEFAULT_END_LAG_MS = 320
# Measured with scripts/bench_wakeend.py (median of the peak's chunk within 320 ms after
# the crossing − end of the word, its corpus 0), for the models where that placement is
# better than the crossing's on the held-out corpora too: hey_jarvis (takes placed more
# than 150 ms late 22 / 25 / 24 → 1 / 1 / 1 of 75-78), alexa (6 / 5 / 3 → 3 / 1 / 3 of
# 51-55). Not okay_nabu (8 / 11 / 16 → 12 / 11 / 15), nor hey_mycroft (2-4 takes fire).
_OWW_PEAK_LAG_MS = MappingProxyType({"hey_jarvis": 508, "alexa": 188})


class OpenWakeWordEngine:
    """openWakeWord via ``pyopen-wakeword``: one score per 80 ms chunk."""

    chunk_samples = 1280
    # The per-word model reads 16 embeddings (1.28 s), each of 76 mel frames (0.78 s).
    warmup_samples = 24 * 1280
    default_threshold = 0.5

    def __init__(self, model: str) -> None:
        from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
        from pyopen_wakeword.openwakeword import EMB_SHAPE, MEL_SHAPE

        if model in BUILTIN_MODELS:
            self._model = OpenWakeWord.from_builtin(Model(model))
            self.name = model
        else:
            path = _model_path(model, ".tflite")
            self._model = OpenWakeWord.from_model(path)
            self.name = path.stem
        self._features = OpenWakeWordFeatures.from_builtin()
        self.one_thread = all((
            run_on_one_thread(self._model, interpreter="interpreter", model="model",
                              input_tensor="input_tensor", output_tensor="output_tensor"),
            run_on_one_thread(self._features, interpreter="mel_interpreter",
                              model="mel_model", input_tensor="mel_input_tensor",
                              output_tensor="mel_output_tensor", input_shape=MEL_SHAPE),
            run_on_one_thread(self._features, interpreter="emb_interpreter",
                              model="emb_model", input_tensor="emb_input_tensor",
                              output_tensor="emb_output_tensor", input_shape=EMB_SHAPE)))
        if not self.one_thread:
            _log.info("pyopen-wakeword's interpreters keep TFLite's thread pool (this "
                      "version's attributes differ from what voicebot knows): more CPU, "
                      "same scores")
        # The features start with 8 s of zeros to process ("autofill": 100 mel and
        # embedding runs, 0.7 s of CPU here). Our gate warms the model with real audio
        # instead, so start empty.
        self._features.new_audio_samples = 0
        self.end_lag_samples = 16 * _OWW_END_LAG_MS.get(self.name, _DEFAULT_END_LAG_MS)
        peak = _OWW_PEAK_LAG_MS.get(self.name)
        self.peak_lag_samples = None if peak is None else 16 * peak

    def score(self, chunk: np.ndarray) -> float | None:
        last: float | None = None
        for embedding in self._features.process_streaming(chunk.tobytes()):
            for probability in self._model.process_streaming(embedding):
                last = float(probability)
        return last

    def window(self) -> np.ndarray:
        """The embedding window (16 × 96) the last score was computed from: what a
        :class:`~voicebot.kiosk.verifier.Verifier` looks at. A view: copy to keep it."""
        return self._model.embeddings[-self._model.input_windows:]

    def reset(self) -> None:
        """Forget all audio (a fresh instance's state, without the 8 s of zeros)."""
        self._model.reset()
        self._features.reset()
        self._features.new_audio_samples = 0

    def close(self) -> None:
        self._model.close()
        self._features.close()


class MicroWakeWordEngine:
    """microWakeWord via ``pymicro-wakeword``: one score per 30 ms chunk.

    A model is a ``.json`` file next to its ``.tflite`` (its threshold is in it).
    The model is streaming (state inside the TFLite graph), so it is cheap enough
    to run on every chunk.
    """

    chunk_samples = 480
    warmup_samples = 16_000

    def __init__(self, model: str) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        if model in BUILTIN_MODELS:
            self._model = MicroWakeWord.from_builtin(Model(model))
            self.name = model
        else:
            path = _model_path(model, ".json")
            self._model = MicroWakeWord.from_config(path)
            self.name = path.stem
        # Its interpreter is left as the package makes it: microWakeWord's streaming
        # model starts no thread pool (one thread either way, same CPU, measured).
        self._features = MicroWakeWordFeatures()
        self.default_threshold = float(self._model.probability_cutoff)
        self.end_lag_samples = 16 * _MICRO_END_LAG_MS.get(self.name, _DEFAULT_END_LAG_MS)
        self.peak_lag_samples = None  # its 30 ms scores: not measured
        self._stride = int(self._model.stride)
        self._fed = 0  # feature frames given to the model (it infers on every stride-th)

    def score(self, chunk: np.ndarray) -> float | None:
        last: float | None = None
        for features in self._features.process_streaming(chunk.tobytes()):
            probability = self._model.process_streaming_prob(features)
            self._fed += 1
            # Between inferences the package returns 0.0 ("not enough windows"): only
            # the call that completed a stride ran the model.
            if self._fed % self._stride == 0 and probability is not None:
                last = float(probability)
        return last

    def close(self) -> None:
        self._model.close()


def open_engine(engine: str, model: str) -> OpenWakeWordEngine | MicroWakeWordEngine:
    """The engine named ``engine`` ("openwakeword" | "microwakeword") with ``model``."""
    try:
        if engine == "openwakeword":
            return OpenWakeWordEngine(model)
        if engine == "microwakeword":
            return MicroWakeWordEngine(model)
    except ImportError as exc:
        raise ConfigError(f"wake word engine {engine!r} is not installed ({exc.name}): "
                          "pip install 'voicebot[kiosk]'") from None
    raise ConfigError(f"unknown wake word engine {engine!r}: openwakeword or microwakeword")


def _model_path(model: str, suffix: str) -> Path:
    path = Path(model).expanduser()
    if path.suffix != suffix or not path.is_file():
        raise ConfigError(f"wake word model {model!r} is neither a built-in "
                          f"({', '.join(BUILTIN_MODELS)}) nor a {suffix} file")
    return path
