"""The capture I/O edge: a microphone (sounddevice); a file stands in for it.

Sources only move data: each yields float32 blocks shaped (frames, channels) at
its own ``sample_rate``/``channels``. :class:`MicrophoneSource` opens the device
(on a worker thread) and hands it to its capture thread (``worker.py``), which does
blocking reads; the loop thread starts and stops it and consumes it. A file stands
in for it (:class:`~.filesource.FileSource`, re-exported here).
:func:`~.listen.capture_events` runs either through the pure pieces in ``vad.py``
(conversion, VAD, segmentation): for the microphone on its capture thread, waking
the loop only with reports; for a file on the event loop.

Muting (the assistant must not hear itself): set ``detector.muted = True``
while the reply plays and False afterwards, from the loop thread. The capture
thread applies it from the next frame it feeds (within one block); speech in
progress is reported as ``UtteranceDiscarded(reason="muted")``. Do *not* mute by
pausing the pull: with :meth:`MicrophoneSource.blocks` the microphone keeps
capturing into its queue (up to ``max_queued_ms``), and those stale blocks of the
assistant's voice would be analysed when pulling resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any

import numpy as np

from ..aio import within
from ..devices import sounddevice_module
from ..errors import AudioDeviceError
from .filesource import FileSource
from .report import CaptureReport
from .ring import BlockRing
from .vad import UtteranceDetector
from .worker import CaptureProcessor, CaptureWorker, DetectorFeed, ReportInbox, Tap

__all__ = [
    "CAPTURE_BUFFER_MS",
    "CAPTURE_QUICK_BUFFER_MS",
    "MicrophoneSource",
    "FileSource",
    "CaptureReport",
]

_FALLBACK_RATES = (48_000, 44_100, 16_000)
_DEVICES_HINT = "`voicebot devices` lists them"
# Ring slots beyond the queue's capacity: how long the loop may stall (not run the
# capture thread's deliveries) before a queued block is overwritten and dropped.
_RING_MARGIN_MS = 200
# The input stream's buffer (PortAudio's suggested latency), CAPTURE_BUFFER_MS: the
# default of MicrophoneSource's ``input_buffer_ms``. What it sets is how long the capture thread
# may be kept from reading before samples are lost, and how PipeWire delivers them.
# The thread needs the GIL to read, and speech decoded in the same process holds the
# GIL for the whole decode (pocketsphinx's call does not release it): 0.15-0.35 s on
# a quiet machine, more on a loaded one. With the default (low) latency such a stall
# lost up to 0.7 s of speech (measured on the virtual devices, 2 cores loaded); 2 s
# lost nothing but made PipeWire deliver every block ~300 ms later. But 0.5 s also
# makes PipeWire's ALSA plugin deliver in bursts every ~190 ms (samples wait 80-100 ms
# on average before a read sees them), against every ~65 ms with 0.15 s: where
# nothing holds the GIL that long, 0.15 s hears a user ~70 ms sooner
# (``CAPTURE_QUICK_BUFFER_MS``; README, "Barge-in latency and CPU").
#: The microphone's input buffer where speech may be decoded in the same process.
CAPTURE_BUFFER_MS = 500
#: The input buffer for a process where nothing holds the GIL for long (no speech
#: decoded in it, no model run on the capture thread).
CAPTURE_QUICK_BUFFER_MS = 150


class MicrophoneSource:
    """Capture from an input device; use as ``async with`` on the event loop's thread.

    ``device`` is a PortAudio index, a name (substring) or None for the default
    input. The stream opens at the device's default rate (falling back to
    48000/44100/16000 Hz), mono if the device gives mono (the host down-mixes more
    cheaply than we can), and is read in ``block_ms`` blocks by a capture thread
    (``worker.py``) doing blocking reads.

    ``block_ms``: 60 by default. Each block costs a wake-up or two, and on PipeWire
    the block also sets the graph's quantum: listening to a silent room cost 1.3–1.8 %
    of a core with 40 ms blocks (quantum 43 ms) and 0.8 % with 60 ms (85 ms), see
    ``scripts/bench_idle.py``. The VAD still decides per 30 ms frame and every report
    carries its capture time; what grows is how late the loop hears of an event:
    on average ~35 ms more than with 40 ms blocks, against a 700 ms end-of-turn
    hang-over.

    Two ways to consume it, one per source:

    - :func:`~.listen.capture_events` (the cheap one): the capture thread itself
      converts, runs the VAD and the segmenter, and wakes the loop only with reports.
    - :meth:`blocks`: the capture thread copies each block into a preallocated
      :class:`~.ring.BlockRing` and posts its number to the loop; if the consumer
      falls behind by more than ``max_queued_ms``, the oldest blocks are dropped,
      and so is a block overwritten before the loop read it (both counted in
      :attr:`dropped_blocks`). Blocks captured before
      :func:`~.listen.capture_events` starts wait there too, and it analyses them first.

    ``input_buffer_ms``: the stream's buffer, 500 by default (a process that decodes
    speech holds the GIL long enough to lose samples with less);
    :data:`CAPTURE_QUICK_BUFFER_MS` where nothing does: samples reach the reader sooner.

    If no block arrives for ``stall_timeout_s``, either raises ``AudioDeviceError``;
    so does a device that fails. :meth:`close` (``__aexit__``) stops the capture
    thread and waits for it.
    """

    def __init__(self, device: int | str | None = None,
                 loop: asyncio.AbstractEventLoop | None = None, *, block_ms: int = 60,
                 max_queued_ms: int = 2000, stall_timeout_s: float = 2.0,
                 input_buffer_ms: int = CAPTURE_BUFFER_MS) -> None:
        self.device = device
        self.block_ms = block_ms
        self.input_buffer_ms = input_buffer_ms
        self.stall_timeout_s = stall_timeout_s
        self.sample_rate = 0
        self.channels = 0
        self.device_name = "default input device" if device is None else f"input device {device!r}"
        self._loop = loop
        # Sequence numbers of captured blocks in the ring (None: the stream ended).
        self._queue: asyncio.Queue[int | None] = asyncio.Queue(
            maxsize=max(1, max_queued_ms // block_ms))
        self._ring_slots = self._queue.maxsize + max(2, -(-_RING_MARGIN_MS // block_ms))
        self._closing = False
        self._worker: CaptureWorker | None = None
        self._dropped_on_loop = 0  # loop thread
        self._queued_end = 0  # loop thread: blocks below this number have been queued
        self._processing = False  # loop thread: capture_events took the stream over

    @property
    def queued_blocks(self) -> int:
        """Blocks captured but not yet pulled through :meth:`blocks`."""
        return self._queue.qsize()

    @property
    def last_read_at(self) -> float | None:
        """``time.monotonic()`` when the capture thread's last read returned (None:
        not open). A service's watchdog reads it: a stalled device stops advancing it."""
        return self._worker.last_read_at if self._worker is not None else None

    @property
    def overflows(self) -> int:
        """Blocks PortAudio flagged as overflowed (samples lost before we read them)."""
        return self._worker.overflows if self._worker is not None else 0

    @property
    def dropped_blocks(self) -> int:
        """Blocks dropped because the consumer did not keep up (see the class doc)."""
        worker = self._worker.dropped_blocks if self._worker is not None else 0
        return self._dropped_on_loop + worker

    @property
    def stream_closed(self) -> bool:
        """Whether no stream is open: never opened, or the capture thread has ended
        (it closes the stream last). False while the thread is stuck in a read on a
        device that stopped delivering (see ``worker.py``)."""
        return self._worker is None or not self._worker.alive

    async def __aenter__(self) -> MicrophoneSource:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        # Opening an ALSA/PipeWire device can take tens of ms: keep it off the loop.
        self._worker = await asyncio.to_thread(self._open, self._loop)
        self._worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop capturing; any thread. Waits for the capture thread, which closes the
        stream after its last read: within a block, unless the device has stopped
        delivering (then the thread, a daemon, is left to end with its read)."""
        self._closing = True
        worker = self._worker
        if worker is not None:
            worker.request_stop()
            worker.join(max(0.5, 4 * self.block_ms / 1000))

    async def blocks(self) -> AsyncGenerator[np.ndarray, None]:
        """Yield captured float32 blocks (frames, channels) until closed. Loop thread.

        Each block is a fresh copy taken from the ring on the loop thread; it stays
        valid however long the caller keeps it.
        """
        worker = self._worker
        if worker is None and not self._closing:
            raise AudioDeviceError(f"{self.device_name} is not open (use `async with`)")
        while worker is not None and not self._processing:
            try:
                seq = await within(self._queue.get(), self.stall_timeout_s)
            except asyncio.TimeoutError:
                if self._closing:
                    return
                raise self._stalled() from None
            if seq is None:
                if self._closing:
                    return
                raise AudioDeviceError(f"{self.device_name} stopped unexpectedly; {_DEVICES_HINT}")
            block = worker.read_forwarded(seq)
            if block is None:  # the capture thread overwrote it before we got here
                self._dropped_on_loop += 1
                continue
            yield block

    async def reports(self, detector: UtteranceDetector, clock: Callable[[], float],
                      processor: CaptureProcessor | None = None, tap: Tap | None = None
                      ) -> AsyncGenerator[CaptureReport, None]:
        """:func:`~.listen.capture_events` for the microphone: the capture thread does
        the work.

        Loop thread. Hands the detector to the capture thread (which feeds it from
        now on, the blocks still queued for :meth:`blocks` first) and yields the
        reports it sends. Leaving early (the consumer was cancelled or stopped
        iterating) stops the capture thread; :meth:`close` waits for it.
        """
        worker = self._worker
        if worker is None:
            if self._closing:
                return
            raise AudioDeviceError(f"{self.device_name} is not open (use `async with`)")
        if self._processing:
            raise RuntimeError("capture_events() is already reading this microphone")
        self._processing = True
        # The queued blocks are contiguous and end at _queued_end; the capture thread
        # feeds them from its ring, with any still in flight to _deliver.
        first_seq = self._queued_end - self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
        inbox = ReportInbox(worker, self.stall_timeout_s, self._stalled, self._failed)
        worker.attach(DetectorFeed(detector, self.sample_rate, self.channels, clock,
                                   processor, tap), inbox, first_seq)
        if not worker.alive and self._closing:
            return  # closed before we came: nothing will arrive
        try:
            while (reports := await inbox.next()) is not None:
                for report in reports:
                    yield report
        finally:
            worker.request_stop()

    def _stalled(self) -> AudioDeviceError:
        return AudioDeviceError(
            f"{self.device_name} delivered no audio for {self.stall_timeout_s:g} s "
            f"(unplugged?); {_DEVICES_HINT}")

    def _failed(self, error: BaseException) -> BaseException:
        if isinstance(error, sounddevice_module().PortAudioError):
            return AudioDeviceError(f"{self.device_name} stopped unexpectedly "
                                    f"({_one_line(error)}); {_DEVICES_HINT}")
        return error  # not the device: a bug, raised as it is

    # -- the edge ---------------------------------------------------------------------

    def _open(self, loop: asyncio.AbstractEventLoop) -> CaptureWorker:
        """Open and start the stream; return its (not yet started) capture thread.

        Runs in a worker thread (to_thread) before the capture thread exists.
        """
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
            block_frames = max(1, rate * self.block_ms // 1000)  # as _prepare has it
            stream = None
            try:
                sd.check_input_settings(device=self.device, samplerate=rate, channels=channels,
                                        dtype="float32")
                # No callback: a blocking-mode stream, read by the capture thread.
                # PortAudio's ALSA period (how often a read can see new samples) is
                # the buffer / 4 rounded up to whole blocks: one 60 ms block with the
                # 0.15 s buffer, three (180 ms) with 0.5 s, so a read waits for one
                # wake-up; PipeWire serves it in whole quanta (64 or 85 ms for 60 ms).
                # Shorter periods hear a user sooner but wake more (README, "Barge-in
                # latency and CPU": 20 ms periods, ~20 ms sooner, +0.5 % of a core).
                stream = sd.InputStream(samplerate=rate, blocksize=block_frames,
                                        device=self.device, channels=channels, dtype="float32",
                                        latency=self.input_buffer_ms / 1000)
                stream.start()
            except (ValueError, sd.PortAudioError) as exc:
                last_error = _one_line(exc)
                if stream is not None:  # opened but did not start: release the device
                    with contextlib.suppress(Exception):
                        stream.close(ignore_errors=True)
                continue
            return self._prepare(rate, channels, stream, loop)
        raise AudioDeviceError(f"{self.device_name} rejected 48000/44100/16000 Hz mono and "
                               f"stereo ({last_error}); {_DEVICES_HINT}")

    def _prepare(self, sample_rate: int, channels: int, stream: Any,
                 loop: asyncio.AbstractEventLoop) -> CaptureWorker:
        """The capture thread (not started) for a started blocking-mode ``stream``."""
        self.sample_rate, self.channels = sample_rate, channels
        block_frames = max(1, sample_rate * self.block_ms // 1000)
        ring = BlockRing(self._ring_slots, block_frames, channels)
        return CaptureWorker(stream, block_frames=block_frames, sample_rate=sample_rate,
                             channels=channels, ring=ring, loop=loop, forward=self._deliver)

    def _deliver(self, end_seq: int | None) -> None:
        """Loop thread: queue the blocks written below ``end_seq`` (None: the stream
        ended), dropping the oldest when the consumer lags. Once capture_events has
        taken over, the capture thread feeds every block itself: nothing to queue."""
        if self._processing:
            return
        if end_seq is None:
            self._enqueue(None)
            return
        for seq in range(self._queued_end, end_seq):
            self._enqueue(seq)
        self._queued_end = max(self._queued_end, end_seq)

    def _enqueue(self, item: int | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped_on_loop += 1
        self._queue.put_nowait(item)


def _formats(default_rate: int, max_channels: int) -> list[tuple[int, int]]:
    """Formats to try, best first: the device's own rate first, then common rates;
    mono before stereo (no down-mix for us to do)."""
    rates = list(dict.fromkeys((default_rate, *_FALLBACK_RATES)))
    channels = [c for c in (1, 2) if c <= max_channels]
    return [(r, c) for r in rates for c in channels]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
