"""The microphone's capture thread: blocking reads, and the work done where samples arrive.

Why a thread: a PortAudio callback per 10–20 ms block, each waking the event loop
with ``call_soon_threadsafe`` to down-mix, resample, classify and segment a tiny
array, made a silent room cost ~5 % of a core. Here one thread does blocking
reads of 60 ms blocks (PortAudio releases the GIL while it waits) and runs the
conversion, webrtcvad and the segmenter itself; the loop is woken only for a
report it must see (a detector event, or progress while speech goes on): never
in silence.

Threads and who owns what:

- *Capture thread* (:class:`CaptureWorker`, named ``vb-capture``): owns the
  PortAudio stream from :meth:`CaptureWorker.start` on (it alone reads it, and
  closes it when it ends), writes the :class:`~.ring.BlockRing` in *forward*
  mode, and in *process* mode owns the :class:`DetectorFeed` (converter and
  detector: every ``feed``).
- *Loop thread*: :meth:`CaptureWorker.attach` (switch to process mode),
  :class:`ReportInbox` (awaits the reports), ``detector.muted = …`` (a bool the
  capture thread applies from the next frame it feeds: within one block).
- *Any thread*: :meth:`CaptureWorker.request_stop` (a flag the capture thread
  checks after every read: it stops within one block) and
  :meth:`CaptureWorker.join`.

Everything crossing from the capture thread to the loop goes through
``loop.call_soon_threadsafe``; the loop reads two plain attributes the capture
thread writes (``last_read_at``, the counters), each a whole int/float under the
GIL. A device that stops delivering leaves the capture thread blocked inside
PortAudio, where nothing can interrupt it (aborting the stream from another
thread does not wake a blocked ALSA read; closing it would free memory under
it): the loop notices the silence through ``last_read_at`` and raises
``AudioDeviceError`` itself, and the thread, a daemon, ends with its read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, Union

import numpy as np

from ..aio import within
from ..audio import VAD_SAMPLE_RATE
from .events import Event, SpeechStarted
from .report import CaptureReport
from .ring import BlockRing
from .vad import CaptureConverter, UtteranceDetector

__all__ = ["CaptureProcessor", "CaptureWorker", "DetectorFeed", "ReportInbox", "StreamEnded", "Tap"]

#: Sees every converted block on the capture thread beside the detector (the kiosk's
#: wake word): ``tap(pcm16_16k, position, voiced)`` with the capture position of the
#: block's first sample and whether the detector is inside speech after it. Not
#: called while the detector is muted. It must return quickly and post anything the
#: loop must know with ``call_soon_threadsafe``.
Tap = Callable[[bytes, int, bool], None]

_THREAD_NAME = "vb-capture"


class StreamEnded:
    """The capture thread's last word: ``error`` None after a requested stop."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


_log = logging.getLogger(__name__)

InboxItem = Union[tuple[CaptureReport, ...], StreamEnded]


class CaptureProcessor(Protocol):
    """A stage between conversion and the detector (echo cancellation: ``echo.EchoStage``).

    Capture thread. ``at``: the estimated capture time of the block's first sample.
    :meth:`process` returns the processed PCM16 16 kHz mono, sample for sample the
    input in order (it may hold back a few samples for the next call, or release
    held ones): what the VAD classifies, and what utterances record and the tap
    hears unless the processor also has ``heard(processed) -> bytes`` (optional):
    then that, for the block ``process`` has just returned (the same span). With
    ``describe_recent() -> str`` (optional), a ``-v`` log says what the processor made
    of the frames when speech starts ("": nothing to say).
    """

    def process(self, pcm16_16k: bytes, at: float) -> bytes: ...


class DetectorFeed:
    """Process mode: capture blocks → converter → detector → reports. Capture thread.

    ``at`` of a report is the capture time of the sample at its ``position``.
    A blocking read returns when the block's last frame has arrived; frames that
    arrived after it are still waiting in PortAudio's buffer (``available``), so
    the last frame became readable at ``read_at − available / rate``. That is the
    "capture" time we can know: PortAudio gives ``inputBufferAdcTime`` only to
    callbacks, and the host's own delivery delay (up to one PipeWire quantum: 85 ms
    with 60 ms blocks) is not reported. The resampler holds a
    few ms back, so the 16 kHz sample at ``position`` is older than the last frame
    read by ``frames_in / in_rate − (position − start) / 16000`` seconds (soxr
    keeps output sample k aligned with input time k / 16000).
    """

    def __init__(self, detector: UtteranceDetector, sample_rate: int, channels: int,
                 clock: Callable[[], float] = time.monotonic,
                 processor: CaptureProcessor | None = None, tap: Tap | None = None) -> None:
        self.detector = detector
        self.processor = processor
        self._heard: Callable[[bytes], bytes] | None = getattr(processor, "heard", None)
        self._describe: Callable[[], str] | None = getattr(processor, "describe_recent", None)
        self._tap = tap
        self.sample_rate = sample_rate
        self._clock = clock
        self._converter = CaptureConverter(sample_rate, channels)
        self._start = detector.position
        self._frames_in = 0  # device frames fed since the start
        self._converted = 0  # 16 kHz samples out of the converter since the start

    def feed(self, blocks: list[np.ndarray], available: int) -> tuple[CaptureReport, ...]:
        """Feed ``blocks`` (in order; the last one has just been read, with ``available``
        frames already waiting behind it); return the reports they make.

        Each block gets the reports the loop path would give it: its events and, while
        in speech, a progress report, all at the position after that block (several
        blocks come at once only when process mode begins with a backlog).
        """
        read_at = self._clock()
        detector = self.detector
        made: list[tuple[Event | None, int, int, int | None]] = []
        # The first device frame's capture time, as this read tells it (processor only).
        origin_at = (read_at - (available + self._frames_in + sum(map(len, blocks)))
                     / self.sample_rate) if self.processor is not None else 0.0
        for block in blocks:
            pcm = self._converter.feed(block)
            vad_pcm: bytes | None = None
            if self.processor is not None:
                pcm = vad_pcm = self._process(pcm, origin_at)
                if self._heard is not None:
                    pcm = self._heard(vad_pcm)
                if pcm is vad_pcm:
                    vad_pcm = None  # the same audio: classified as it is
            start = detector.position
            # Two streams only when they differ: a plain detector takes one argument.
            events = detector.feed(pcm) if vad_pcm is None else detector.feed(pcm, vad_pcm)
            if events and self._describe is not None:
                self._log_start(events)
            if self._tap is not None and not detector.muted:
                self._tap(pcm, start, detector.in_speech)
            self._frames_in += len(block)
            if not events and not detector.in_speech:
                continue  # silence: nothing the loop needs to hear about
            position = detector.position
            voiced = detector.voiced_end if detector.in_speech else None
            made += [(event, position, self._frames_in, voiced) for event in events]
            if detector.in_speech:
                made.append((None, position, self._frames_in, voiced))
        if not made:
            return ()
        last_frame_at = read_at - available / self.sample_rate
        return tuple(CaptureReport(event, position, self._at(last_frame_at, position, frames_in),
                                   voiced)
                     for event, position, frames_in, voiced in made)

    def _log_start(self, events: list[Event]) -> None:
        """At speech's start, what the processor made of it (echo cancellation: a
        talker over the reply, or echo it missed), when ``-v`` asks for it."""
        if not _log.isEnabledFor(logging.DEBUG) or not any(
                isinstance(event, SpeechStarted) for event in events):
            return
        assert self._describe is not None
        said = self._describe()
        if said:
            _log.debug("speech started over the reply; echo stage: %s", said)

    def _process(self, pcm: bytes, origin_at: float) -> bytes:
        """The processor's hook: ``pcm`` (converted from the block being fed) with the
        capture time of its first sample: the 16 kHz sample k lines up with device
        frame k·rate/16000, and the first device frame was captured at ``origin_at``
        as far as the last read tells (late by up to a host quantum: the processor
        may steady it)."""
        assert self.processor is not None
        at = origin_at + self._converted / VAD_SAMPLE_RATE
        self._converted += len(pcm) // 2
        return self.processor.process(pcm, at)

    def finish(self) -> tuple[CaptureReport, ...]:
        """End of the stream: flush the resampler and the detector."""
        detector = self.detector
        events = detector.feed(self._converter.flush()) + detector.end()
        position, now = detector.position, self._clock()
        return tuple(CaptureReport(event, position, now) for event in events)

    def _at(self, last_frame_at: float, position: int, frames_in: int) -> float:
        """Capture time of the 16 kHz sample at ``position``, made when ``frames_in``
        device frames had been fed, the last frame read being captured at
        ``last_frame_at``."""
        frames_after_s = (self._frames_in - frames_in) / self.sample_rate
        held_s = frames_in / self.sample_rate - (position - self._start) / VAD_SAMPLE_RATE
        return last_frame_at - frames_after_s - max(0.0, held_s)


class CaptureWorker:
    """The capture thread for one started, blocking-mode PortAudio input stream.

    It starts in *forward* mode: each block is copied into ``ring`` and its
    sequence number handed to ``forward`` on the loop (``MicrophoneSource.blocks``
    reads them). :meth:`attach` switches it to *process* mode for good: from the
    next read on, the thread feeds the ring's unread blocks and then each new block
    to a :class:`DetectorFeed`, and hands the reports to ``inbox``. When it stops
    (:meth:`request_stop`, or the stream fails) it flushes the feed after a
    requested stop, closes the stream, and posts :class:`StreamEnded` to the inbox
    (process mode) or None to ``forward``.
    """

    def __init__(self, stream: Any, *, block_frames: int, sample_rate: int, channels: int,
                 ring: BlockRing, loop: asyncio.AbstractEventLoop,
                 forward: Callable[[int | None], None]) -> None:
        self.block_frames = block_frames
        self.sample_rate = sample_rate
        self.channels = channels
        #: time.monotonic() after the last read returned (capture thread writes,
        #: the loop reads it to notice a device that stopped delivering).
        self.last_read_at = time.monotonic()
        #: Blocks PortAudio flagged as overflowed (samples lost before we read them).
        self.overflows = 0
        #: Unread forwarded blocks the ring had overwritten when process mode began.
        self.dropped_blocks = 0
        self._stream = stream
        self._ring = ring
        self._loop = loop
        self._forward = forward
        self._stop = False
        # Set once by attach() (loop thread), read by the capture thread.
        self._attached: tuple[DetectorFeed, ReportInbox, int] | None = None
        # Capture thread only: the feed and inbox once process mode has begun.
        self._processing: tuple[DetectorFeed, ReportInbox] | None = None
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def attach(self, feed: DetectorFeed, inbox: ReportInbox, first_seq: int) -> None:
        """Loop thread: process blocks from ring number ``first_seq`` on, into ``inbox``."""
        self._attached = (feed, inbox, first_seq)

    def read_forwarded(self, seq: int) -> np.ndarray | None:
        """Loop thread: a copy of forwarded block ``seq``, None if it was overwritten."""
        return self._ring.read(seq)

    def request_stop(self) -> None:
        """Any thread: stop after the read in progress (within one block)."""
        self._stop = True

    def join(self, timeout_s: float) -> bool:
        """Any thread but the capture thread: wait for it to end; True if it has."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the capture thread ----------------------------------------------------------

    def _run(self) -> None:
        _name_os_thread(_THREAD_NAME)
        error: Exception | None = None
        try:
            while not self._stop:
                block, overflowed = self._stream.read(self.block_frames)  # GIL released
                self._handle(block, overflowed)
        except Exception as exc:  # noqa: BLE001 - handed to the loop, raised there
            error = exc
        self._finish(error)

    def _handle(self, block: np.ndarray, overflowed: bool) -> None:
        """Capture thread: one block (frames, channels) has just been read."""
        self.last_read_at = time.monotonic()
        if overflowed:
            self.overflows += 1
        processing = self._processing
        if processing is None:
            attached = self._attached
            if attached is None:  # forward mode: the ring, and its number to the loop
                self._post(self._forward, self._ring.write(block, len(block)))
                return
            feed, inbox, first_seq = attached
            processing = self._processing = feed, inbox
            blocks = self._unread(first_seq) + [block]
        else:
            blocks = [block]
        reports = processing[0].feed(blocks, self._stream.read_available)
        if reports:
            self._post(processing[1].put, reports)

    def _finish(self, error: Exception | None) -> None:
        """Capture thread, last: flush (after a requested stop), close, say it ended."""
        processing = self._processing
        if processing is not None and error is None:
            try:
                reports = processing[0].finish()
                if reports:
                    self._post(processing[1].put, reports)
            except Exception as exc:  # noqa: BLE001 - as in _run
                error = exc
        with contextlib.suppress(Exception):  # a vanished device may fail to close too
            self._stream.close(ignore_errors=True)
        if processing is not None:
            self._post(processing[1].put, StreamEnded(error))
        else:
            self._post(self._forward, None)

    def _unread(self, first_seq: int) -> list[np.ndarray]:
        """The forwarded blocks the loop had not taken when process mode began."""
        blocks = []
        for seq in range(first_seq, self._ring.write_seq):
            block = self._ring.read(seq)
            if block is None:
                self.dropped_blocks += 1
            else:
                blocks.append(block)
        return blocks

    def _post(self, fn: Callable[[Any], None], arg: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, arg)
        except RuntimeError:  # the loop closed during shutdown: nobody left to tell
            pass


class ReportInbox:
    """Loop side of process mode: the reports, in order; a stall or a failure raised.

    ``stalled()`` and ``failed(error)`` make the exceptions (the microphone words
    them, naming the device). Loop thread.
    """

    def __init__(self, worker: CaptureWorker, stall_timeout_s: float,
                 stalled: Callable[[], BaseException],
                 failed: Callable[[BaseException], BaseException]) -> None:
        self._worker = worker
        self._stall_timeout_s = stall_timeout_s
        self._stalled = stalled
        self._failed = failed
        self._queue: asyncio.Queue[InboxItem] = asyncio.Queue()

    def put(self, item: InboxItem) -> None:
        """Loop thread (posted by the capture thread)."""
        self._queue.put_nowait(item)

    async def next(self) -> tuple[CaptureReport, ...] | None:
        """The next reports, or None once the stream has ended after a requested stop.

        While nothing comes (a silent room) this wakes once per ``stall_timeout_s``
        to check that blocks still arrive.
        """
        while True:
            if self._queue.empty():
                quiet_s = time.monotonic() - self._worker.last_read_at
                left_s = self._stall_timeout_s - quiet_s
                if left_s <= 0:
                    raise self._stalled()
                try:
                    item = await within(self._queue.get(), left_s + 0.01)
                except asyncio.TimeoutError:
                    continue
            else:
                item = self._queue.get_nowait()
            if isinstance(item, StreamEnded):
                if item.error is not None:
                    raise self._failed(item.error)
                return None
            return item


def _name_os_thread(name: str) -> None:
    """Best effort: give the OS thread ``name`` (``top -H``, /proc/<pid>/task/*/comm).

    Python's thread names are its own until 3.14; ``scripts/bench_idle.py`` tells
    the threads' CPU time apart by this one. Linux only; elsewhere a no-op.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
