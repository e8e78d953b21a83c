"""The capture I/O edges: a microphone (sounddevice) or a file, and the utterance loop.

Sources only move data: each yields float32 blocks shaped (frames, channels) at
its own ``sample_rate``/``channels``. :func:`utterances` runs them through the
pure pieces in ``vad.py`` (conversion, VAD, segmentation) on the event loop.

Typical use from the pipeline (one task that keeps pulling)::

    detector = UtteranceDetector(SegmenterConfig())
    async with MicrophoneSource(device, asyncio.get_running_loop()) as mic:
        async for u in utterances(mic, detector):
            await outbox.put(utterance_wav(u))      # hand over, keep pulling

Muting (the assistant must not hear itself): set ``detector.muted = True``
while the reply plays and False afterwards. Do *not* mute by pausing the pull:
the microphone keeps capturing into its queue (up to ``max_queued_ms``), and
those stale blocks of the assistant's voice would be analysed when pulling
resumes. With ``muted`` the blocks are still pulled promptly and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..aio import within
from ..audio import VAD_SAMPLE_RATE, encode_wav
from ..audio.files import read_audio_file
from ..devices import sounddevice_module
from ..errors import AudioDeviceError
from .ring import BlockRing
from .segmenter import Event, UtteranceEnded
from .vad import CaptureConverter, UtteranceDetector

__all__ = [
    "AudioSource",
    "MicrophoneSource",
    "FileSource",
    "CaptureReport",
    "Utterance",
    "capture_events",
    "utterances",
    "utterance_wav",
]

_FALLBACK_RATES = (48_000, 44_100, 16_000)
_DEVICES_HINT = "`voicebot devices` lists them"
# Ring slots beyond the queue's capacity: how long the loop may stall (not run the
# callbacks' deliveries) before a queued block is overwritten and has to be dropped.
_RING_MARGIN_MS = 200


class AudioSource(Protocol):
    """Anything :func:`utterances` can read: float32 blocks (frames, channels).

    A consumer may rely on a yielded block only until it asks for the next one;
    copy it to keep it longer. (Both sources here yield arrays nobody else
    writes to, but the protocol promises no more than that.)
    """

    sample_rate: int
    channels: int

    def blocks(self) -> AsyncGenerator[np.ndarray, None]: ...


class MicrophoneSource:
    """Capture from an input device; use as ``async with`` on the event loop's thread.

    ``device`` is a PortAudio index, a name (substring) or None for the default
    input. The stream opens at the device's default rate (falling back to
    48000/44100/16000 Hz, mono or stereo) and delivers ``block_ms`` blocks.
    The PortAudio callback only copies each block into a preallocated
    :class:`~.ring.BlockRing` and posts its sequence number to ``loop``; if the
    consumer falls behind by more than ``max_queued_ms``, the oldest blocks are
    dropped, and so is a block the callback overwrote before the loop read it
    (both counted in :attr:`dropped_blocks`). If no block arrives for
    ``stall_timeout_s``, :meth:`blocks` raises ``AudioDeviceError``.
    """

    def __init__(self, device: int | str | None = None,
                 loop: asyncio.AbstractEventLoop | None = None, *, block_ms: int = 20,
                 max_queued_ms: int = 2000, stall_timeout_s: float = 2.0) -> None:
        self.device = device
        self.block_ms = block_ms
        self.stall_timeout_s = stall_timeout_s
        self.sample_rate = 0
        self.channels = 0
        self.device_name = "default input device" if device is None else f"input device {device!r}"
        #: Blocks PortAudio flagged as overflowed (samples lost before we saw them).
        self.overflows = 0
        #: Blocks dropped because the consumer did not keep up: pushed out of the full
        #: queue, or overwritten in the ring before the loop read them.
        self.dropped_blocks = 0
        self._loop = loop
        # Sequence numbers of captured blocks in the ring (None: the stream ended).
        self._queue: asyncio.Queue[int | None] = asyncio.Queue(
            maxsize=max(1, max_queued_ms // block_ms))
        self._ring_slots = self._queue.maxsize + max(2, -(-_RING_MARGIN_MS // block_ms))
        self._stream: Any = None
        self._closing = False
        # Set when a stream format is chosen, before the stream starts (see _prepare).
        self._ring: BlockRing | None = None
        self._post: Callable[..., object] | None = None
        # Bound once: evaluating `self._deliver` in the callback would create a
        # method object per block.
        self._deliver_cb = self._deliver
        self._queued_end = 0  # loop thread: blocks below this number have been queued

    @property
    def queued_blocks(self) -> int:
        """Blocks captured but not yet pulled through :meth:`blocks`."""
        return self._queue.qsize()

    async def __aenter__(self) -> MicrophoneSource:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        # Opening an ALSA/PipeWire device can take tens of ms: keep it off the loop.
        self._stream = await asyncio.to_thread(self._open)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop and close the stream (blocks until PortAudio is done); any thread."""
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device must not mask the cause
                pass

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        """Yield captured float32 blocks (frames, channels) until closed. Loop thread.

        Each block is a fresh copy taken from the ring on the loop thread; it stays
        valid however long the caller keeps it.
        """
        if self._ring is None and not self._closing:
            raise AudioDeviceError(f"{self.device_name} is not open (use `async with`)")
        while True:
            try:
                seq = await within(self._queue.get(), self.stall_timeout_s)
            except asyncio.TimeoutError:
                if self._closing:
                    return
                raise AudioDeviceError(
                    f"{self.device_name} delivered no audio for {self.stall_timeout_s:g} s "
                    f"(unplugged?); {_DEVICES_HINT}") from None
            if seq is None:
                if self._closing:
                    return
                raise AudioDeviceError(f"{self.device_name} stopped unexpectedly; {_DEVICES_HINT}")
            block = self._ring.read(seq) if self._ring is not None else None
            if block is None:  # the callback overwrote it before we got here (loop stalled)
                self.dropped_blocks += 1
                continue
            yield block

    # -- the edge ---------------------------------------------------------------------

    def _open(self) -> Any:
        sd = sounddevice_module()  # loaded here: PortAudio loads only when a mic is used
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(
                f"no {self.device_name} ({_one_line(exc)}); {_DEVICES_HINT}") from None
        self.device_name = f"input device {info['name']!r}"
        max_channels = int(info["max_input_channels"])
        if max_channels < 1:
            raise AudioDeviceError(f"{self.device_name} has no input channels; {_DEVICES_HINT}")
        last_error = "no format tried"
        for rate, channels in _formats(int(info["default_samplerate"]), max_channels):
            stream = None
            try:
                sd.check_input_settings(device=self.device, samplerate=rate, channels=channels,
                                        dtype="float32")
                # A fixed blocksize: PortAudio then calls back with exactly these frames,
                # the ring's slot size (the ring still copes with other sizes).
                block_frames = self._prepare(rate, channels)
                stream = sd.InputStream(
                    samplerate=rate, blocksize=block_frames, device=self.device,
                    channels=channels, dtype="float32", callback=self._callback,
                    finished_callback=self._finished)
                stream.start()
            except (ValueError, sd.PortAudioError) as exc:
                last_error = _one_line(exc)
                if stream is not None:  # opened but did not start: release the device
                    with contextlib.suppress(Exception):
                        stream.close(ignore_errors=True)
                continue
            self.sample_rate, self.channels = rate, channels
            return stream
        self._ring = self._post = None
        raise AudioDeviceError(f"{self.device_name} rejected 48000/44100/16000 Hz mono and "
                               f"stereo ({last_error}); {_DEVICES_HINT}")

    def _prepare(self, sample_rate: int, channels: int) -> int:
        """Allocate the ring for a format and bind the loop; return the block's frames.

        Any thread, before the stream starts (the callback reads what this sets).
        """
        block_frames = max(1, sample_rate * self.block_ms // 1000)
        self._ring = BlockRing(self._ring_slots, block_frames, channels)
        self._queued_end = 0
        loop = self._loop
        self._post = None if loop is None else loop.call_soon_threadsafe
        return block_frames

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio thread: no blocking, no logging, no buffer allocation. PortAudio
        # reuses `indata` as soon as we return, so its samples go into the ring's
        # next preallocated slot and only a sequence number travels to the loop.
        # What remains is unavoidable in Python: an int for the number, and the
        # Handle asyncio allocates to wake the loop from another thread.
        if status.input_overflow:
            self.overflows += 1
        ring, post = self._ring, self._post
        if ring is None or post is None:
            return
        end_seq = ring.write(indata, frames)
        try:
            post(self._deliver_cb, end_seq)
        except RuntimeError:  # the loop closed during shutdown: nobody left to deliver to
            pass

    def _finished(self) -> None:
        # PortAudio thread, once the stream stops for any reason (close or device error).
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver, None)

    def _deliver(self, end_seq: int | None) -> None:
        """Loop thread: queue the blocks written below ``end_seq`` (None: the stream
        ended), dropping the oldest when the consumer lags."""
        if end_seq is None:
            self._enqueue(None)
            return
        for seq in range(self._queued_end, end_seq):
            self._enqueue(seq)
        self._queued_end = max(self._queued_end, end_seq)

    def _enqueue(self, item: int | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped_blocks += 1
        self._queue.put_nowait(item)


def _formats(default_rate: int, max_channels: int) -> list[tuple[int, int]]:
    """Formats to try, best first: the device's own rate first, then common rates."""
    rates = list(dict.fromkeys((default_rate, *_FALLBACK_RATES)))
    channels = [c for c in dict.fromkeys((min(max_channels, 2), 1, 2)) if c <= max_channels]
    return [(r, c) for r in rates for c in channels]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class FileSource:
    """Read an audio file (any format ``read_audio_file`` takes) as capture blocks.

    With ``realtime=True`` each block is yielded when a microphone would have
    delivered it (paced on ``clock``, default the running loop's time); otherwise
    as fast as the consumer pulls. The file is read (and errors raised as
    ``InputFileError``) in the constructor. Use from the event loop's thread.
    """

    channels = 1

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool, block_ms: int = 20,
                 clock: Callable[[], float] | None = None) -> None:
        self.path = os.fspath(path)
        self.realtime = realtime
        self.block_ms = block_ms
        self._clock = clock
        samples, self.sample_rate = read_audio_file(self.path)
        self._samples = samples.reshape(-1, 1)

    @property
    def duration_s(self) -> float:
        return len(self._samples) / self.sample_rate

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        """Yield (frames, 1) float32 blocks until the end of the file."""
        clock = self._clock or asyncio.get_running_loop().time
        block = max(1, self.sample_rate * self.block_ms // 1000)
        t0 = clock()
        for first in range(0, len(self._samples), block):
            chunk = self._samples[first:first + block]
            if self.realtime:
                delay = t0 + (first + len(chunk)) / self.sample_rate - clock()
                await asyncio.sleep(max(0.0, delay))
            else:
                await asyncio.sleep(0)  # let other tasks run between blocks
            yield chunk


@dataclass(frozen=True)
class Utterance:
    """One utterance: PCM16 16 kHz mono, times in seconds since the source started."""

    pcm16: bytes
    start_s: float
    end_s: float
    reason: str
    sample_rate: int = VAD_SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.pcm16) / 2 / self.sample_rate


def utterance_wav(u: Utterance) -> bytes:
    """The utterance as a WAV file, ready to base64 into an ``input_audio`` part."""
    return encode_wav(u.pcm16, u.sample_rate)


@dataclass(frozen=True)
class CaptureReport:
    """What the capture stage tells the event loop: a detector event, or progress.

    ``event`` is a detector event, or None for a progress report: one comes after
    every captured block while the segmenter is inside speech (between
    ``SpeechStarted`` and its end) and none in silence, so a silent room wakes the
    loop for nothing while barge-in can still measure how long the user has spoken.
    ``position`` is the detector's position (16 kHz samples fed, muted ones
    included) when the report was made; ``at`` is the monotonic time (seconds,
    ``time.monotonic``'s clock) at which the sample at ``position`` was captured.
    ``voiced_end``: inside speech, where its last voiced frame ended (how long the
    user has really spoken, the hang-over's silence not counted); else None.
    """

    event: Event | None
    position: int
    at: float
    voiced_end: int | None = None


async def capture_events(source: AudioSource, detector: UtteranceDetector, *,
                         clock: Callable[[], float] = time.monotonic,
                         ) -> AsyncGenerator[CaptureReport, None]:
    """Every detector event for ``source``, and progress while speech goes on.

    Runs on the loop: converts each block, feeds the detector, yields its events
    (each wrapped in a :class:`CaptureReport`); at the end of the source flushes
    the converter and the detector.
    """
    converter = CaptureConverter(source.sample_rate, source.channels)
    async with contextlib.aclosing(source.blocks()) as blocks:
        async for block in blocks:
            at = clock()
            events = detector.feed(converter.feed(block))
            position = detector.position
            voiced = detector.voiced_end if detector.in_speech else None
            for event in events:
                yield CaptureReport(event, position, at, voiced)
            if detector.in_speech:
                yield CaptureReport(None, position, at, voiced)
    events = detector.feed(converter.flush()) + detector.end()
    at, position = clock(), detector.position
    for event in events:
        yield CaptureReport(event, position, at)


async def utterances(source: AudioSource,
                     detector: UtteranceDetector) -> AsyncGenerator[Utterance, None]:
    """The finished utterances of ``source``, one at a time, in order."""
    rate = VAD_SAMPLE_RATE
    async with contextlib.aclosing(capture_events(source, detector)) as reports:
        async for report in reports:
            ev = report.event
            if isinstance(ev, UtteranceEnded):
                yield Utterance(ev.pcm, ev.start_sample / rate, ev.end_sample / rate, ev.reason)
