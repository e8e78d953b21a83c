"""A thin ctypes binding to SpeexDSP's echo canceller and preprocessor (``libspeexdsp1``).

Why hand-written: SpeexDSP is a system library (Debian and Raspberry Pi OS package
``libspeexdsp1``), and no well-kept Python package exposes it with wheels. The
PyPI bindings are source-only (``speexaec``, ``speexdsp``: they need a compiler and
``libspeexdsp-dev`` on the Pi) or a single release under a proprietary licence
(``speexdsp-aec``). The C API used here (seven functions) has not changed since
SpeexDSP 1.2rc1 (2008), so binding it through ctypes is small and stable.

Only this module touches ctypes. :class:`SpeexEchoCanceller` processes exact frames
of PCM16 mono: ``cancel(mic_frame, reference_frame) -> bytes``, or, without a copy,
:meth:`~SpeexEchoCanceller.cancel_frame` on frames inside int16 numpy arrays (what
the capture thread uses: ctypes' argument conversion, the copies and a ``bytes`` per
frame were a third of the canceller's cost). It keeps no Python state beyond its C
handles and preallocated buffers, and is used from one thread at a time (the
capture thread that owns the :class:`~.aec.EchoCanceller`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import VoicebotError

__all__ = ["SpeexUnavailable", "SpeexEchoCanceller", "load_speexdsp", "speexdsp_available"]

# From speex/speex_echo.h and speex/speex_preprocess.h (SpeexDSP 1.2).
_ECHO_SET_SAMPLING_RATE = 24
_PREPROCESS_SET_DENOISE = 0
_PREPROCESS_SET_AGC = 2
_PREPROCESS_SET_NOISE_SUPPRESS = 18
_PREPROCESS_SET_DEREVERB = 8
_PREPROCESS_SET_ECHO_SUPPRESS = 20
_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 22
_PREPROCESS_SET_ECHO_STATE = 24

_SONAMES = ("libspeexdsp.so.1", "libspeexdsp.1.dylib", "libspeexdsp.dylib", "libspeexdsp-1.dll",
            "libspeexdsp.dll")
_INSTALL_HINT = ("install SpeexDSP (Debian / Raspberry Pi OS: apt-get install libspeexdsp1; "
                 "macOS: brew install speexdsp)")


class SpeexUnavailable(VoicebotError):
    """libspeexdsp could not be loaded (not installed, or too old)."""


def _configure(lib: Any) -> Any:
    # Sample buffers are passed as plain addresses (c_void_p): the frame calls take
    # them straight from numpy arrays, with no per-call conversion.
    p, i = ctypes.c_void_p, ctypes.c_int
    for name, res, args in (
        ("speex_echo_state_init", p, [i, i]),
        ("speex_echo_state_destroy", None, [p]),
        ("speex_echo_cancellation", None, [p, p, p, p]),
        ("speex_echo_state_reset", None, [p]),
        ("speex_echo_ctl", i, [p, i, p]),
        ("speex_preprocess_state_init", p, [i, i]),
        ("speex_preprocess_state_destroy", None, [p]),
        ("speex_preprocess_run", i, [p, p]),
        ("speex_preprocess_ctl", i, [p, i, p]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def load_speexdsp() -> Any:
    """The loaded library (a ``ctypes.CDLL``); raises :class:`SpeexUnavailable`."""
    names = list(_SONAMES)
    found = ctypes.util.find_library("speexdsp")
    if found:
        names.insert(0, found)
    errors = []
    for name in names:
        try:
            return _configure(ctypes.CDLL(name))
        except (OSError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    raise SpeexUnavailable(f"echo cancellation needs libspeexdsp ({_INSTALL_HINT})")


def speexdsp_available() -> bool:
    """True when libspeexdsp loads (for ``aec = auto``)."""
    try:
        load_speexdsp()
    except SpeexUnavailable:
        return False
    return True


class SpeexEchoCanceller:
    """SpeexDSP's MDF echo canceller, optionally followed by its residual echo suppressor.

    ``frame_samples`` per call (10-20 ms is what SpeexDSP recommends), an adaptive
    filter of ``filter_samples`` taps (the echo tail it can model, after the caller
    has aligned the reference), at ``sample_rate``. With ``suppress`` the
    preprocessor removes the echo the filter left (``echo_suppress_db`` of
    attenuation, ``echo_suppress_active_db`` while the near end talks); denoise, AGC
    and its VAD are off: webrtcvad downstream decides what is speech.

    One thread at a time (the capture thread). :meth:`close` frees the C state
    (also done on garbage collection).
    """

    def __init__(self, frame_samples: int, filter_samples: int, sample_rate: int = 16_000, *,
                 suppress: bool = True, echo_suppress_db: int = -40,
                 echo_suppress_active_db: int = -15, noise_suppress_db: int = -15) -> None:
        if frame_samples <= 0 or filter_samples < frame_samples:
            raise ValueError("need frame_samples > 0 and filter_samples >= frame_samples")
        self._lib = load_speexdsp()
        self.frame_samples = frame_samples
        self.frame_bytes = 2 * frame_samples
        self.filter_samples = filter_samples
        self.sample_rate = sample_rate
        lib = self._lib
        self._echo = lib.speex_echo_state_init(frame_samples, filter_samples)
        self._pre: int | None = None
        if not self._echo:
            raise SpeexUnavailable("libspeexdsp could not create an echo canceller")
        rate = ctypes.c_int(sample_rate)
        lib.speex_echo_ctl(self._echo, _ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        if suppress:
            self._pre = lib.speex_preprocess_state_init(frame_samples, sample_rate)
            # The suppressor's gains are applied only with denoise on (SpeexDSP
            # computes them in the denoiser), so denoise stays on, at noise_suppress_db.
            # AGC and dereverb are off by default; the preprocessor's VAD is not
            # touched (setting it prints a warning from the library).
            for request, value in ((_PREPROCESS_SET_DENOISE, 1), (_PREPROCESS_SET_AGC, 0),
                                   (_PREPROCESS_SET_DEREVERB, 0)):
                flag = ctypes.c_int(value)
                lib.speex_preprocess_ctl(self._pre, request, ctypes.byref(flag))
            for request, db in ((_PREPROCESS_SET_NOISE_SUPPRESS, noise_suppress_db),
                                (_PREPROCESS_SET_ECHO_SUPPRESS, echo_suppress_db),
                                (_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, echo_suppress_active_db)):
                level = ctypes.c_int(db)
                lib.speex_preprocess_ctl(self._pre, request, ctypes.byref(level))
            lib.speex_preprocess_ctl(self._pre, _PREPROCESS_SET_ECHO_STATE,
                                     ctypes.c_void_p(self._echo))
        # Preallocated buffers for cancel(): a frame is copied in, run, copied out.
        self._frames = np.zeros((3, frame_samples), np.int16)

    def cancel(self, mic_frame: bytes, reference_frame: bytes) -> bytes:
        """One frame: mic PCM16 with echo, the aligned reference PCM16 → mic without echo."""
        if len(mic_frame) != self.frame_bytes or len(reference_frame) != self.frame_bytes:
            raise ValueError(f"frames must be {self.frame_bytes} bytes")
        buf = self._frames
        buf[0] = np.frombuffer(mic_frame, "<i2")
        buf[1] = np.frombuffer(reference_frame, "<i2")
        self.cancel_frames(buf[0:1], buf[1:2], buf[2:3])
        return bytes(buf[2].tobytes())

    def cancel_frames(self, mic: np.ndarray, reference: np.ndarray, out: np.ndarray,
                      rows: Iterable[int] | None = None,
                      filtered: np.ndarray | None = None) -> None:
        """Frames in place: row ``k`` of ``out`` gets row ``k`` of ``mic`` without the
        echo of row ``k`` of ``reference``, for every ``k`` in ``rows`` (default: all,
        in order); other rows of ``out`` are left as they are. With ``filtered``, its
        row ``k`` gets the adaptive filter's output before the residual echo
        suppressor: what the linear filter alone removed (the suppressor also takes
        power out of a talker's words while the filter is young).

        Each a C-contiguous int16 array of shape (frames, :attr:`frame_samples`),
        read and written through its address (checked here, once per call).
        """
        shape = mic.shape
        if len(shape) != 2 or shape[1] != self.frame_samples:
            raise ValueError(f"frames must be rows of {self.frame_samples} samples")
        arrays = (mic, reference, out) if filtered is None else (mic, reference, out, filtered)
        for a in arrays:
            if a.dtype != np.int16 or a.shape != shape or not a.flags.c_contiguous:
                raise ValueError("mic, reference, out and filtered must be C-contiguous "
                                 "int16 arrays of one shape")
        if not out.flags.writeable or (filtered is not None and not filtered.flags.writeable):
            raise ValueError("out and filtered must be writeable")
        if not self._echo:
            raise SpeexUnavailable("echo canceller is closed")
        echo, pre, step = self._echo, self._pre, self.frame_bytes
        run_echo = self._lib.speex_echo_cancellation
        run_pre = self._lib.speex_preprocess_run
        m, r, o = mic.ctypes.data, reference.ctypes.data, out.ctypes.data
        f = None if filtered is None or not pre else filtered.ctypes.data
        copy = ctypes.memmove
        for k in range(shape[0]) if rows is None else rows:
            if not 0 <= k < shape[0]:
                raise IndexError(f"row {k} of {shape[0]}")
            at = k * step
            run_echo(echo, m + at, r + at, o + at)
            if f is not None:
                copy(f + at, o + at, step)
            if pre:
                run_pre(pre, o + at)
        if filtered is not None and not pre:  # no suppressor: the output is the filter's
            filtered[...] = out

    def reset(self) -> None:
        """Forget the learnt echo path (keeps the configuration)."""
        if self._echo:
            self._lib.speex_echo_state_reset(self._echo)

    def close(self) -> None:
        """Free the C state; idempotent."""
        lib = self._lib
        if self._pre:
            lib.speex_preprocess_state_destroy(self._pre)
            self._pre = None
        if self._echo:
            lib.speex_echo_state_destroy(self._echo)
            self._echo = None

    def __del__(self) -> None:
        if sys.is_finalizing():
            return
        self.close()
