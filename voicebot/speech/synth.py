"""Text to speech: eSpeak NG driven through ctypes.

The library comes from the ``espeakng-loader`` wheel (it bundles libespeak-ng and
its data, so no system package is needed). Audio is produced one sentence at a
time so a caller can send the first sentence while the rest is synthesised.

Threading: libespeak-ng keeps its voice, parameters and output callback in
process-global state and is not thread-safe, so every call into it happens under
one module-wide lock, taken per sentence (never across a ``yield``) so that a slow
consumer does not block other threads. Synthesis is CPU work: call it from a
worker thread, never on the event loop.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator

import numpy as np
import soxr

from ..errors import VoicebotError
from ..protocol.ssml import validate_ssml
from .voices import DEFAULT_VOICE, VOICES, VoiceSpec, voices
from .sentences import split_sentences, split_ssml

__all__ = [
    "DEFAULT_VOICE",
    "OUTPUT_SAMPLE_RATE",
    "VOICES",
    "Synthesizer",
    "VoiceSpec",
    "voices",
]

#: The API streams PCM16 LE mono at this rate.
OUTPUT_SAMPLE_RATE = 24_000


# --- the C library (speak_lib.h) -------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SSML = 0x10
_ENDPAUSE = 0x1000  # a sentence pause after each piece, as between sentences
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK_BUFFER_MS = 100
_ABORT, _CONTINUE = 1, 0
_NOISE_SEED = 1  # eSpeak's noise seed before each sentence (see _Espeak.__init__)


class _Event(ctypes.Structure):
    # espeak_EVENT; only its size matters here (the callback ignores events).
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_void_p)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


class _Espeak:
    """The loaded library plus the one sink its global callback writes into.

    Every method must be called with :data:`_LOCK` held.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise VoicebotError(f"eSpeak NG is not available: {exc}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = int(lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _CALLBACK_BUFFER_MS, data_path.encode(), 0))
        if self.sample_rate <= 0:
            raise VoicebotError(f"eSpeak NG could not start (data at {data_path})")
        self._lib = lib
        # eSpeak's breath noise (voices with a ``breath`` line, such as en-us+f2 and
        # +f3) comes from its own random generator, seeded from the clock at start:
        # the same sentence came out differently from run to run. Reseeding it
        # before each sentence makes a process's speech reproducible (test speech,
        # enrolment negatives, caches). What a voice's ``echo`` line carries over
        # from the previous sentence still makes a sentence depend on what came
        # before it, the same way in every run. (espeak-ng >= 1.52, which the
        # espeakng-loader wheel bundles.)
        self._seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._seed is not None:
            self._seed.argtypes = [ctypes.c_long]
            self._seed.restype = None
        self._chunks: list[bytes] = []
        self._cancel: threading.Event | None = None
        # Keep a reference: the C side holds only the raw function pointer.
        self._callback = _SynthCallback(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], n_samples: int,
                  _events: object) -> int:
        # Runs on the thread inside espeak_Synth (synchronous mode), lock held.
        if wav and n_samples > 0:
            self._chunks.append(ctypes.string_at(wav, n_samples * 2))
        cancel = self._cancel
        return _ABORT if cancel is not None and cancel.is_set() else _CONTINUE

    def synth(self, text: str, spec: VoiceSpec, *, ssml: bool,
              cancel: threading.Event | None) -> np.ndarray:
        """Speak ``text`` with ``spec`` → int16 samples at :attr:`sample_rate`."""
        # Voice and parameters are global: set all of them on every call, since
        # another thread may have changed them since.
        if self._lib.espeak_SetVoiceByName(spec.espeak_voice.encode()) != 0:
            raise VoicebotError(f"eSpeak NG has no voice {spec.espeak_voice!r}")
        for param, value in ((_RATE, spec.rate_wpm), (_PITCH, spec.pitch),
                             (_RANGE, spec.pitch_range), (_VOLUME, 100)):
            self._lib.espeak_SetParameter(param, value, 0)
        data = text.encode("utf-8") + b"\0"
        flags = _CHARS_UTF8 | _ENDPAUSE | (_SSML if ssml else 0)
        self._chunks, self._cancel = [], cancel
        if self._seed is not None:
            self._seed(_NOISE_SEED)
        try:
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags,
                                            None, None)
            pcm = b"".join(self._chunks)
        finally:
            self._chunks, self._cancel = [], None
        if status != 0:
            raise VoicebotError(f"eSpeak NG synthesis failed (error {status})")
        return np.frombuffer(pcm, dtype="<i2")


_LOCK = threading.Lock()
_engine: _Espeak | None = None


def _get_engine() -> _Espeak:
    """The process's one eSpeak NG instance; call with :data:`_LOCK` held."""
    global _engine
    if _engine is None:
        _engine = _Espeak()
    return _engine


class Synthesizer:
    """Speech synthesis to PCM16 LE mono at 24 kHz, one piece per sentence.

    Any number of instances may exist and be used from any threads at once; they
    share the one eSpeak NG engine under a lock. Methods block while eSpeak runs:
    call them from worker threads, not the event loop.
    """

    sample_rate = OUTPUT_SAMPLE_RATE

    def __init__(self) -> None:
        with _LOCK:
            self._native_rate = _get_engine().sample_rate

    @staticmethod
    def voices() -> list[str]:
        """Same as the module's :func:`voices`."""
        return voices()

    @staticmethod
    def voice_spec(voice: str) -> VoiceSpec:
        """How ``voice`` is rendered; unknown names get :data:`DEFAULT_VOICE`'s spec."""
        return VOICES.get(voice.strip().lower(), VOICES[DEFAULT_VOICE])

    def synthesize(self, text: str, *, voice: str = DEFAULT_VOICE, ssml: bool = False,
                   cancel: threading.Event | None = None) -> Iterator[bytes]:
        """Yield PCM16 LE mono 24 kHz audio for ``text``, one piece per sentence.

        With ``ssml=True`` the text must be an SSML document: it is validated
        first (malformed → :class:`~voicebot.errors.SSMLError`, raised by the
        first ``next()``, before any audio) and cut only between top-level ``<s>``/``<p>`` elements and at
        sentence ends in top-level text (see :func:`.sentences.split_ssml`).
        The audio of consecutive pieces joins without a click: one resampler
        runs across all of them, so each piece holds back its last ~40 ms, which
        start the next piece (the last piece flushes everything).

        Stop early by setting ``cancel`` (checked while eSpeak runs and between
        sentences) or by closing the generator. Runs on the calling thread.
        """
        if ssml:
            validate_ssml(text)
            pieces = split_ssml(text)
        else:
            pieces = split_sentences(text)
        spec = self.voice_spec(voice)
        resampler = soxr.ResampleStream(self._native_rate, OUTPUT_SAMPLE_RATE, 1,
                                        dtype="int16", quality="HQ")
        for index, piece in enumerate(pieces):
            if cancel is not None and cancel.is_set():
                return
            with _LOCK:
                native = _get_engine().synth(piece, spec, ssml=ssml, cancel=cancel)
            if cancel is not None and cancel.is_set():
                return
            out = resampler.resample_chunk(native, last=index == len(pieces) - 1)
            if len(out):
                yield out.astype("<i2", copy=False).tobytes()

    def synthesize_all(self, text: str, *, voice: str = DEFAULT_VOICE,
                       ssml: bool = False) -> bytes:
        """All of :meth:`synthesize`'s audio joined into one PCM16 24 kHz buffer."""
        return b"".join(self.synthesize(text, voice=voice, ssml=ssml))
