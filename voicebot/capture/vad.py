"""From device blocks to utterance events: conversion, framing, VAD, segmentation.

Three small pieces, none of which does I/O or reads a clock:

- :class:`CaptureConverter`: float32 device blocks (any rate, any channels) →
  PCM16 16 kHz mono bytes (down-mix + streaming soxr).
- :class:`VadFramer`: PCM16 bytes in any chunking → exact VAD frames (carries the rest).
- :class:`UtteranceDetector`: framer + webrtcvad + :class:`~.segmenter.Segmenter`;
  ``feed(pcm16_16k) -> events``.

All of them run on whichever thread calls them: the microphone's capture thread
(``worker.py``), or the event loop for a file (``mic.py``). Keep each instance on
one thread; the one exception is :attr:`UtteranceDetector.muted`, which any thread
may set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import soxr
import webrtcvad

from ..audio import VAD_SAMPLE_RATE, float_to_pcm16, pcm16_to_float
from ..errors import ConfigError
from .events import Event
from .segmenter import Segmenter, SegmenterConfig

__all__ = ["CaptureConverter", "VadFramer", "Vad", "UtteranceDetector"]

_BYTES_PER_SAMPLE = 2


class CaptureConverter:
    """Convert capture blocks to PCM16 16 kHz mono, keeping resampler state across blocks.

    Call :meth:`feed` for each block in order and :meth:`flush` once at the end
    of the stream (it returns the resampler's last samples). A stateful
    ``soxr.ResampleStream`` is used instead of resampling each block alone, which
    would restart the filter at every block edge and click.

    Several channels are averaged into a scratch buffer kept between calls, one
    ``np.add`` per channel: ``block.mean(axis=1)`` reduces along the short axis of a
    (frames, channels) array and took 60 µs of the 130 µs a 40 ms stereo block cost
    (``scripts/bench_idle.py`` says what that is worth per second). A mono block
    needs no down-mix at all.
    """

    def __init__(self, in_rate: int, in_channels: int) -> None:
        if in_rate <= 0 or in_channels <= 0:
            raise ConfigError(f"capture format {in_rate} Hz × {in_channels} channels is not usable")
        self.in_rate = in_rate
        self.in_channels = in_channels
        self.out_rate = VAD_SAMPLE_RATE
        self._stream: soxr.ResampleStream | None = None
        self._mono = np.zeros(0, np.float32)  # down-mix scratch, grown to the largest block
        if in_rate != VAD_SAMPLE_RATE:
            self._stream = soxr.ResampleStream(in_rate, VAD_SAMPLE_RATE, 1, dtype="float32",
                                               quality="HQ")

    def feed(self, block: np.ndarray) -> bytes:
        """Convert one block, float32 or int16 (as a network client sends it), shaped
        (frames, channels) or (frames,); may return b""."""
        if block.ndim == 2 and block.shape[1] != self.in_channels:
            raise ValueError(f"block has {block.shape[1]} channels, expected {self.in_channels}")
        if block.dtype == np.int16:
            if block.ndim == 2 and block.shape[1] == 1:
                block = block[:, 0]
            if block.ndim == 1 and self._stream is None:
                # Already what the VAD takes: the bridge's 16 kHz clients cost no round
                # trip through float (14 % of the bridge's capture time at 100 sessions).
                return block.astype("<i2", copy=False).tobytes()
            block = pcm16_to_float(block)
        mono = self._downmix(np.asarray(block, dtype=np.float32))
        if self._stream is not None:
            mono = self._stream.resample_chunk(mono, last=False)
        return float_to_pcm16(mono)

    def _downmix(self, block: np.ndarray) -> np.ndarray:
        """Mono float32 samples of ``block``: a view of it, or the scratch buffer.

        What this returns is only valid until the next call (the scratch is reused):
        both uses in :meth:`feed` copy it at once.
        """
        if block.ndim == 1:
            return block
        frames, channels = block.shape
        if channels == 1:
            return block[:, 0]
        if len(self._mono) < frames:
            self._mono = np.zeros(frames, np.float32)
        mono = self._mono[:frames]
        np.add(block[:, 0], block[:, 1], out=mono)
        for c in range(2, channels):
            np.add(mono, block[:, c], out=mono)
        np.multiply(mono, np.float32(1.0 / channels), out=mono)
        return mono

    def flush(self) -> bytes:
        """End of stream: the samples still inside the resampler's filter."""
        if self._stream is None:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        return float_to_pcm16(tail)


class VadFramer:
    """Cut PCM16 bytes arriving in any chunk sizes into exact ``frame_ms`` frames.

    :meth:`push` returns the complete frames and keeps the remainder (even an odd
    byte) for the next push, so frame boundaries never depend on the chunking.
    """

    def __init__(self, frame_ms: int = 30, sample_rate: int = VAD_SAMPLE_RATE) -> None:
        self.frame_bytes = frame_ms * sample_rate // 1000 * _BYTES_PER_SAMPLE
        self._rest = bytearray()

    def push(self, pcm16: bytes) -> list[bytes]:
        self._rest += pcm16
        n = len(self._rest) // self.frame_bytes
        if n == 0:
            return []
        fb = self.frame_bytes
        frames = [bytes(self._rest[i * fb:(i + 1) * fb]) for i in range(n)]
        del self._rest[: n * fb]
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes held back until the next frame is complete (less than one frame)."""
        return len(self._rest)

    def copy(self) -> VadFramer:
        """A framer in the same state: it cuts a parallel stream at the same places."""
        twin = VadFramer.__new__(VadFramer)
        twin.frame_bytes = self.frame_bytes
        twin._rest = bytearray(self._rest)
        return twin


class Vad:
    """webrtcvad for one stream: ``is_speech(frame)`` on exact 10/20/30 ms frames.

    webrtcvad adapts a noise model frame by frame, so use one instance per stream.
    """

    def __init__(self, aggressiveness: int = 3, sample_rate: int = VAD_SAMPLE_RATE) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ConfigError(f"VAD aggressiveness must be 0-3, not {aggressiveness}")
        self.sample_rate = sample_rate
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        return bool(self._vad.is_speech(frame, self.sample_rate))


class UtteranceDetector:
    """PCM16 16 kHz mono in any chunk sizes → utterance events (see ``segmenter.py``).

    Call :meth:`feed` with captured audio as it comes and :meth:`end` at end of
    input. Sample positions in events count every sample fed, muted ones included.

    To stop hearing the assistant, set :attr:`muted` to True while it speaks and
    back to False after: muted input is counted but dropped (an utterance in
    progress is reported as ``UtteranceDiscarded(reason="muted")``) and never
    reaches a later pre-roll. ``classify`` replaces webrtcvad (tests use it).

    Threads: the thread that calls :meth:`feed` owns the detector (the capture
    thread for a microphone, see ``worker.py``); :meth:`feed`, :meth:`end`,
    :attr:`position`, :attr:`in_speech` and :attr:`voiced_end` belong to it. :attr:`muted` may be set
    from any thread (the event loop mutes while a reply plays): it is one bool,
    stored and loaded whole under the GIL, and the owner applies it from the next
    frame it feeds. Another thread reading :attr:`position` may see it mid-update;
    it should use the ``position`` of the :class:`~.report.CaptureReport` it got.
    """

    def __init__(self, config: SegmenterConfig | None = None, *,
                 classify: Callable[[bytes], bool] | None = None) -> None:
        self.config = config or SegmenterConfig()
        self._framer = VadFramer(self.config.frame_ms)
        # Frames of the audio the VAD classifies instead (feed's vad_pcm16), made on
        # first use and kept in step with _framer from then on.
        self._vad_framer: VadFramer | None = None
        self._classify = classify or Vad(self.config.aggressiveness).is_speech
        self._segmenter = Segmenter(self.config)

    @property
    def muted(self) -> bool:
        return self._segmenter.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        # Any thread: a single attribute store; Segmenter.feed reads it once per frame.
        self._segmenter.muted = bool(value)

    @property
    def position(self) -> int:
        """Samples fed so far, including those still waiting to complete a frame."""
        return self._segmenter.position + self._framer.pending_bytes // _BYTES_PER_SAMPLE

    @property
    def in_speech(self) -> bool:
        """Inside an utterance: between ``SpeechStarted`` and its end."""
        return self._segmenter.in_speech

    @property
    def voiced_end(self) -> int:
        """End of the last speech frame of the current utterance (see the segmenter)."""
        return self._segmenter.voiced_end

    def feed(self, pcm16_16k: bytes, vad_pcm16: bytes | None = None) -> list[Event]:
        """Add captured audio; return the events it completes (often none).

        ``vad_pcm16``: what the VAD classifies in its place, the same span sample for
        sample (echo cancellation: the guarded audio, while utterances keep
        ``pcm16_16k`` whole; see ``echo.EchoStage.heard``). None: ``pcm16_16k``.
        """
        events: list[Event] = []
        muted = self._segmenter.muted
        if vad_pcm16 is not None and self._vad_framer is None:
            self._vad_framer = self._framer.copy()
        frames = self._framer.push(pcm16_16k)
        verdicts = frames
        if self._vad_framer is not None:
            verdicts = self._vad_framer.push(pcm16_16k if vad_pcm16 is None else vad_pcm16)
        for frame, heard in zip(frames, verdicts):
            # Muted frames are not classified: webrtcvad's noise model should not
            # learn from the assistant's own voice.
            events += self._segmenter.feed(frame, False if muted else self._classify(heard))
        return events

    def end(self) -> list[Event]:
        """End of input: flush the utterance in progress. A partial last frame is not analysed."""
        return self._segmenter.end()
