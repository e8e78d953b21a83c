"""A microphone that comes back: capture reports across any number of streams.

A device is lost in one of three ways, all handled here (loop thread):

- the stream fails: a blocking read raises (ALSA: the device is gone), or the
  capture thread ends (``StreamEnded`` with an error), or no block arrives for
  ``stall_timeout_s`` (a sound server that vanished leaves the read blocked):
  :class:`~voicebot.errors.AudioDeviceError` out of the capture;
- it cannot be opened (unplugged, busy, PortAudio lists no such device);
- the sound server moves the stream to another source without a word (PipeWire's
  WirePlumber does that when the source disappears; the fallback can be the
  speaker's own monitor): seen only through :mod:`.server`, which PortAudio cannot
  tell. The stream is kept, the detector muted while it is elsewhere, and moved
  back when the source returns.

Each loss publishes a ``DeviceStatus(state="lost")`` with the delay before the
next attempt; attempts follow a :class:`~voicebot.audio.backoff.Backoff`; the
first stream that works again publishes ``back``. The detector is the same across
streams (positions keep counting; an utterance cut by the loss is discarded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable

from ..audio import VAD_SAMPLE_RATE
from ..audio.backoff import Backoff
from ..capture.listen import capture_events
from ..capture.mic import CAPTURE_BUFFER_MS, MicrophoneSource
from ..capture.report import CaptureReport
from ..capture.vad import UtteranceDetector
from ..errors import AudioDeviceError
from ..turntaking.events import DeviceStatus
from .host import PortAudioHost
from .server import SoundServer

__all__ = ["ResilientMicrophone"]

_log = logging.getLogger(__name__)

StatusCallback = Callable[[DeviceStatus], None]
#: What runs one stream: ``capture_events`` by default; the kiosk passes its own
#: (wake word on the capture thread). Raises ``AudioDeviceError`` when the stream fails.
Capture = Callable[[MicrophoneSource, UtteranceDetector, Callable[[], float]],
                   AsyncGenerator[CaptureReport, None]]


def _capture_events(mic: MicrophoneSource, detector: UtteranceDetector,
                    clock: Callable[[], float]) -> AsyncGenerator[CaptureReport, None]:
    return capture_events(mic, detector, clock=clock)


class ResilientMicrophone:
    """Capture from ``device`` and keep capturing when it goes away and comes back.

    Loop thread: create it, ``await open()`` (raises ``AudioDeviceError`` when the
    device does not open, unless ``wait_for_device``: then it waits for it like for
    a lost one), iterate :meth:`reports` (as ``capture_events`` would for a
    :class:`MicrophoneSource`, but never ending on a device failure), and
    ``await aclose()``. ``on_status`` receives the :class:`DeviceStatus` records.
    ``server``: the sound-server edge for the moved-stream case (None: not watched).
    ``open_source`` builds each stream's :class:`MicrophoneSource` (default: ``device``
    with ``block_ms``, ``stall_timeout_s``, ``input_buffer_ms``); ``capture`` runs one
    stream (default :func:`capture_events`): both for the kiosk's own capture chain.
    ``on_elsewhere(True)`` is called (loop thread) when the stream is no longer on the
    source it was opened on (moved by the sound server, or lost), ``on_elsewhere(False)``
    when it is back or a new stream is open: an echo canceller must not learn the
    echo path of another source, nor keep one learnt on a device that went away.
    Mute with :meth:`set_muted`, not on the detector: the supervisor also mutes it
    while the stream is on the wrong device.
    """

    def __init__(self, device: int | str | None, *, host: PortAudioHost,
                 on_status: StatusCallback, server: SoundServer | None = None,
                 backoff: Backoff | None = None, wait_for_device: bool = False,
                 block_ms: int = 60, stall_timeout_s: float = 2.0,
                 input_buffer_ms: int = CAPTURE_BUFFER_MS,
                 clock: Callable[[], float] = time.monotonic,
                 open_source: Callable[[], MicrophoneSource] | None = None,
                 capture: Capture | None = None,
                 on_elsewhere: Callable[[bool], None] | None = None) -> None:
        self.device = device
        self.device_name = ("default input device" if device is None
                            else f"input device {device!r}")
        self._host = host
        self._on_status = on_status
        self._server = server
        self._backoff = backoff if backoff is not None else Backoff()
        self._wait_for_device = wait_for_device
        self._block_ms = block_ms
        self._stall_timeout_s = stall_timeout_s
        self._input_buffer_ms = input_buffer_ms
        self._clock = clock
        self._make_source = open_source
        self._capture: Capture = capture if capture is not None else _capture_events
        self._on_elsewhere = on_elsewhere
        self._mic: MicrophoneSource | None = None
        self._stuck: list[MicrophoneSource] = []  # closed, but a read still blocks
        self._detector: UtteranceDetector | None = None
        self._muted_by_user = False
        self._moved_to: str | None = None  # the source the server moved us to
        self._home: str | None = None  # the source our stream was opened on
        self._lost = False
        self._closing = False
        #: Streams opened (1 + recoveries).
        self.streams_opened = 0

    # -- public, loop thread ------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self._mic.sample_rate if self._mic is not None else 0

    @property
    def block_ms(self) -> int:
        return self._mic.block_ms if self._mic is not None else self._block_ms

    @property
    def last_read_at(self) -> float | None:
        """When the current stream's capture thread last read a block (None: no
        stream open now). A watchdog's question, with :attr:`recovering`."""
        return self._mic.last_read_at if self._mic is not None else None

    @property
    def recovering(self) -> bool:
        """The device is lost and being retried (the supervisor runs; nothing heard)."""
        return self._lost or self._moved_to is not None

    async def open(self) -> None:
        """Open the first stream; fail fast unless ``wait_for_device``."""
        if self._wait_for_device:
            await self._reopen("")
        else:
            await self._open_once()

    def set_muted(self, muted: bool) -> None:
        """The conversation mutes capture (the reply plays). Loop thread."""
        self._muted_by_user = muted
        self._apply_mute()

    async def reports(self, detector: UtteranceDetector) -> AsyncGenerator[CaptureReport, None]:
        """Capture reports until :meth:`aclose`, across device losses. Loop thread."""
        self._detector = detector
        self._apply_mute()
        watch = (asyncio.get_running_loop().create_task(self._watch_server())
                 if self._server is not None else None)
        try:
            while not self._closing:
                if self._mic is None:
                    await self._reopen(self._last_reason)
                mic = self._mic
                if mic is None:  # closed while waiting for the device
                    return
                try:
                    async with contextlib.aclosing(
                            self._capture(mic, detector, self._clock)) as events:
                        async for report in events:
                            yield report
                    return  # ended after a requested stop
                except AudioDeviceError as exc:
                    self._last_reason = str(exc)
                    self._host.stream_failed()
                await self._drop_stream()
                for report in self._discard_cut_utterance(detector):
                    yield report
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch

    async def aclose(self) -> None:
        """Stop capturing and close the stream. Loop thread."""
        self._closing = True
        await self._drop_stream()

    _last_reason = "the stream failed"

    # -- opening ------------------------------------------------------------------------

    async def _open_once(self) -> None:
        mic = (self._make_source() if self._make_source is not None else
               MicrophoneSource(self.device, asyncio.get_running_loop(),
                                block_ms=self._block_ms, stall_timeout_s=self._stall_timeout_s,
                                input_buffer_ms=self._input_buffer_ms))
        await mic.__aenter__()  # raises AudioDeviceError naming the device
        self._host.opened()
        self._mic = mic
        self.device_name = mic.device_name
        self.streams_opened += 1
        if self._server is None:
            return
        if self._home is None:  # the device asked for: where the first stream went
            self._home = await asyncio.to_thread(self._server.stream_device, "input")
        else:  # a new stream may land elsewhere (the server's default not yet restored)
            await self._check_placement(self._server)

    async def _reopen(self, reason: str) -> None:
        """Try to open at once, then with back-off until it works; say it was lost
        (with ``reason``, then each retry's) if the first attempt fails."""
        first_reason = reason
        while not self._closing:
            self._release_stuck()
            try:
                await self._open_once()
            except AudioDeviceError as exc:
                reason = str(exc)
                # Nothing open: let PortAudio list the devices afresh (a sound server
                # that was down when it started leaves the list empty).
                await asyncio.to_thread(self._host.rescan)
            else:
                self._backoff.reset()
                if self._lost:
                    self._lost = False
                    self._elsewhere(False)
                    self._status("back", f"microphone back: {self.device_name}")
                return
            if not self._lost and first_reason:
                reason = first_reason  # what happened, not what the first retry met
            delay_s = self._backoff.next_delay_s()
            if not self._lost or self._backoff.failures in (1, 2) or delay_s >= self._backoff.max_s:
                # Said at the loss and the first retries, then at the slow pace only:
                # a missing device does not flood the log.
                self._status("lost", f"microphone lost ({reason}); retrying in {delay_s:g} s",
                             retry_in_s=delay_s)
            self._lost = True
            self._elsewhere(True)
            await asyncio.sleep(delay_s)

    async def _drop_stream(self) -> None:
        mic, self._mic = self._mic, None
        self._moved_to = None
        if mic is None:
            return
        await asyncio.to_thread(mic.close)
        if mic.stream_closed:
            self._host.closed()
        else:
            self._stuck.append(mic)  # counted as open until its read returns
            self._host.stuck()

    def _release_stuck(self) -> None:
        for mic in [m for m in self._stuck if m.stream_closed]:
            self._stuck.remove(mic)
            self._host.closed()

    # -- the moved stream ---------------------------------------------------------------

    async def _watch_server(self) -> None:
        """Follow the sound server's events; when our stream is moved off its source,
        mute and say so; when the source is back, move the stream back."""
        server = self._server
        assert server is not None
        while not self._closing:
            try:
                async for _ in server.changes():
                    await self._check_placement(server)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch is a help, not a need
                _log.debug("sound server watch failed: %s", exc)
            # The server went away (pactl exits with it): watch again when it is back.
            await asyncio.sleep(1.0)

    async def _check_placement(self, server: SoundServer) -> None:
        home, mic = self._home, self._mic
        if home is None or mic is None:
            return
        now_on = await asyncio.to_thread(server.stream_device, "input")
        if now_on is None or self._mic is not mic:
            return
        if now_on != home and self._moved_to is None:
            self._moved_to = now_on
            self._apply_mute()
            self._elsewhere(True)
            self._status("lost", f"microphone lost ({home} is gone; the sound server moved "
                                 f"capture to {now_on}, not listening there)")
        if now_on != home and await asyncio.to_thread(server.device_exists, "input", home):
            await asyncio.to_thread(server.move_stream, "input", home)
            now_on = await asyncio.to_thread(server.stream_device, "input")
        if now_on == home and self._moved_to is not None:
            self._moved_to = None
            self._apply_mute()
            self._elsewhere(False)
            self._status("back", f"microphone back: {home}")

    # -- helpers ------------------------------------------------------------------------

    def _elsewhere(self, elsewhere: bool) -> None:
        if self._on_elsewhere is not None:
            self._on_elsewhere(elsewhere)

    def _apply_mute(self) -> None:
        if self._detector is not None:
            self._detector.muted = self._muted_by_user or self._moved_to is not None

    def _discard_cut_utterance(self, detector: UtteranceDetector) -> list[CaptureReport]:
        """No stream runs now (the loop owns the detector): speech the loss cut off is
        dropped (``UtteranceDiscarded(reason="muted")``), not glued to what the next
        stream hears."""
        if not detector.in_speech:
            return []
        was = detector.muted
        detector.muted = True
        frame_bytes = detector.config.frame_ms * VAD_SAMPLE_RATE // 1000 * 2
        events = detector.feed(bytes(frame_bytes))
        detector.muted = was
        at, position = self._clock(), detector.position
        return [CaptureReport(event, position, at) for event in events]

    def _status(self, state: str, message: str, *, retry_in_s: float | None = None) -> None:
        self._on_status(DeviceStatus(kind="input", state=state, device=self.device_name,
                                     message=message, retry_in_s=retry_in_s))
