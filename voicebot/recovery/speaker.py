"""A speaker that comes back: a :class:`~voicebot.playback.sinks.Sink` across streams.

The output stream fails in three ways (loop thread learns of each):

- it stops while playing (PortAudio's finished callback: the device vanished) or
  cannot start for the next reply: :class:`~voicebot.errors.AudioDeviceError` from
  ``push_pcm16`` or ``drained``;
- it rests (stopped between replies) on a sound server that restarted: it looks
  fine until started, so a stream opened before any device loss the
  :class:`~.host.PortAudioHost` heard of is reopened before the next reply;
- the sound server moves it to another sink (WirePlumber, when the sink vanishes:
  on the test rig the fallback is the microphone's sink, so the assistant would
  hear itself): seen through :mod:`.server`.

On a loss the rest of the reply is dropped (nobody would hear it), a
``DeviceStatus(lost)`` published, and a task reopens the device with back-off,
publishing ``back`` when it works. Meanwhile replies are accepted and dropped:
the conversation goes on (its transcript still shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import numpy as np

from ..audio.backoff import Backoff
from ..capture.reference import ReferenceRing
from ..errors import AudioDeviceError
from ..playback.speaker import Speaker
from ..turntaking.events import DeviceStatus
from .host import PortAudioHost
from .server import SoundServer

__all__ = ["ResilientSpeaker"]

_log = logging.getLogger(__name__)


class ResilientSpeaker:
    """Plays replies on the speaker ``open_speaker()`` makes, and makes a new one when
    it is lost. Implements :class:`~voicebot.playback.sinks.Sink`. Loop thread.

    ``open_speaker``: builds a :class:`Speaker` (raises ``AudioDeviceError``).
    :meth:`open` opens the first one (raises, unless ``wait_for_device``: then it
    retries in the background like after a loss).
    """

    audible = True

    def __init__(self, open_speaker: Callable[[], Speaker], *, host: PortAudioHost,
                 on_status: Callable[[DeviceStatus], None], server: SoundServer | None = None,
                 backoff: Backoff | None = None, wait_for_device: bool = False) -> None:
        self._open_speaker = open_speaker
        self._host = host
        self._on_status = on_status
        self._server = server
        self._backoff = backoff if backoff is not None else Backoff()
        self._wait_for_device = wait_for_device
        self._speaker: Speaker | None = None
        self._tap: ReferenceRing | None = None
        self._stuck: list[Speaker] = []  # closed, but PortAudio is still closing them
        self._epoch = -1  # the host's epoch when the speaker was opened
        self._home: str | None = None
        self._reply_open = False
        self._dropping = False  # the rest of this reply has no device to go to
        self._retry: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False
        self.device_name = "default output device"
        #: Speakers (streams) opened: 1 + reopenings.
        self.streams_opened = 0
        host.add_listener(self._suspect)

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await self._open_checked()
        except AudioDeviceError as exc:
            if not self._wait_for_device:
                raise
            self._lose(str(exc))
        if self._server is not None:
            self._watch = asyncio.get_running_loop().create_task(self._watch_server())

    def close(self) -> None:
        self._closing = True
        for task in (self._retry, self._watch):
            if task is not None:
                task.cancel()
        self._drop_speaker()

    @property
    def sample_rate(self) -> int:
        """The current speaker's rate (0 while there is none)."""
        return self._speaker.sample_rate if self._speaker is not None else 0

    def tap_reference(self, ring: ReferenceRing | None) -> None:
        """Tap every speaker this one opens, now and after a loss, into ``ring`` (see
        :meth:`Speaker.tap_reference`); None stops it. Loop thread."""
        self._tap = ring
        if self._speaker is not None:
            self._attach_tap(self._speaker)

    def _attach_tap(self, speaker: Speaker) -> None:
        ring = self._tap
        if ring is not None and ring.sample_rate != speaker.sample_rate:
            # A device that came back at another rate: its echo goes uncancelled (the
            # canceller's reference would be at the wrong rate) rather than wrong.
            _log.info("speaker now at %d Hz, echo reference at %d Hz: not tapped",
                      speaker.sample_rate, ring.sample_rate)
            ring = None
        speaker.tap_reference(ring)

    @property
    def output_latency_s(self) -> float:
        return self._speaker.output_latency_s if self._speaker is not None else 0.0

    def play_clip(self, samples: np.ndarray) -> None:
        """Play a short sound (an earcon) on the current speaker, mixed over the reply
        (see :meth:`Speaker.play_clip`); dropped while there is none. Loop thread."""
        speaker = self._speaker
        if speaker is None or self._dropping:
            return
        try:
            speaker.play_clip(samples)
        except AudioDeviceError as exc:
            self._lose(str(exc))

    # -- the Sink -----------------------------------------------------------------------

    def push_pcm16(self, pcm: bytes) -> None:
        if not self._reply_open:
            self._reply_open = True
            self._dropping = False
            if self._speaker is not None and self._epoch != self._host.epoch:
                self._refresh()  # a device was lost since it opened: it may be dead
        speaker = self._speaker
        if speaker is None or self._dropping:
            return
        try:
            speaker.push_pcm16(pcm)
        except AudioDeviceError as exc:
            self._lose(str(exc))

    def end_of_stream(self) -> None:
        self._reply_open = False
        if self._speaker is not None and not self._dropping:
            self._speaker.end_of_stream()

    def cancel(self) -> None:
        self._reply_open = False
        if self._speaker is not None and not self._dropping:
            self._speaker.cancel()

    async def drained(self) -> None:
        speaker = self._speaker
        if speaker is None or self._dropping:
            return
        try:
            await speaker.drained()
        except AudioDeviceError as exc:
            if speaker is self._speaker:
                self._lose(str(exc))

    def heard_samples(self, now: float) -> int:
        return self._speaker.heard_samples(now) if self._speaker is not None else 0

    @property
    def first_sound_at(self) -> float | None:
        return self._speaker.first_sound_at if self._speaker is not None else None

    @property
    def underruns(self) -> int:
        return self._speaker.underruns if self._speaker is not None else 0

    # -- losing and finding it again ----------------------------------------------------

    def _lose(self, reason: str) -> None:
        """The speaker failed (or is elsewhere): drop it, say so, retry in the background."""
        self._dropping = self._reply_open
        self._drop_speaker()
        if self._retry is None or self._retry.done():
            delay_s = self._backoff.next_delay_s()
            self._status("lost", f"speaker lost ({reason}); retrying in {delay_s:g} s", delay_s)
            self._retry = asyncio.get_running_loop().create_task(self._reopen(delay_s))
        self._host.stream_failed()  # after the retry exists: our own listener leaves it be

    def _suspect(self) -> None:
        """Another stream failed (host listener, loop thread): the sound server may have
        restarted under ours, which rests and cannot tell. Reopen it now, quietly: a
        fresh stream is linked by the time the next reply plays (a new PipeWire stream
        loses its first ~200 ms while the session manager links it). Said only if it
        does not open."""
        if self._closing or self._reply_open or (self._retry is not None
                                                 and not self._retry.done()):
            return
        self._drop_speaker()
        self._retry = asyncio.get_running_loop().create_task(self._reopen(0.0, quiet=True))

    async def _reopen(self, delay_s: float, *, quiet: bool = False) -> None:
        while not self._closing:
            await asyncio.sleep(delay_s)
            try:
                await self._open_checked()
            except AudioDeviceError as exc:
                quiet = False
                await asyncio.to_thread(self._host.rescan)
                delay_s = self._backoff.next_delay_s()
                if self._backoff.failures <= 2 or delay_s >= self._backoff.max_s:
                    self._status("lost", f"speaker lost ({exc}); retrying in {delay_s:g} s",
                                 delay_s)
                continue
            self._backoff.reset()
            if not quiet:
                self._status("back", f"speaker back: {self.device_name}")
            return

    async def _open_checked(self) -> None:
        """Open a speaker; with a sound server, make sure it plays on its first sink."""
        speaker = self._open_speaker()  # a few ms: open, start and abort the stream
        self._attach_tap(speaker)
        self._host.opened()
        self._speaker, self._epoch = speaker, self._host.epoch
        self.device_name = speaker.device_name
        self.streams_opened += 1
        server = self._server
        if server is None:
            return
        on = await asyncio.to_thread(server.stream_device, "output")
        if self._home is None:
            self._home = on
            return
        if on is not None and on != self._home:
            if await asyncio.to_thread(server.device_exists, "output", self._home):
                await asyncio.to_thread(server.move_stream, "output", self._home)
                return
            self._drop_speaker()
            raise AudioDeviceError(f"{self._home} is gone")

    def _refresh(self) -> None:
        """Reopen a speaker that may have died resting (synchronous: a few ms)."""
        self._drop_speaker()
        try:
            speaker = self._open_speaker()
        except AudioDeviceError as exc:
            self._lose(str(exc))
            return
        self._attach_tap(speaker)
        self._host.opened()
        self._speaker, self._epoch = speaker, self._host.epoch
        self.streams_opened += 1

    def _drop_speaker(self) -> None:
        """Close the speaker (at most ~1 s on the loop when its device is dead: see
        ``Speaker.close``); a stream PortAudio could not close stays counted open."""
        for stuck in [s for s in self._stuck if s.stream_closed]:
            self._stuck.remove(stuck)
            self._host.closed()
        speaker, self._speaker = self._speaker, None
        if speaker is None:
            return
        with contextlib.suppress(Exception):  # a vanished device may fail to close
            speaker.close()
        if speaker.stream_closed:
            self._host.closed()
        else:
            self._stuck.append(speaker)
            self._host.stuck()

    async def _watch_server(self) -> None:
        server = self._server
        assert server is not None
        while not self._closing:
            try:
                async for _ in server.changes():
                    if self._speaker is None or self._home is None:
                        continue
                    on = await asyncio.to_thread(server.stream_device, "output")
                    if on is not None and on != self._home and self._speaker is not None:
                        self._lose(f"{self._home} is gone; the sound server moved playback "
                                   f"to {on}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch is a help, not a need
                _log.debug("sound server watch failed: %s", exc)
            # The server went away (pactl exits with it): watch again when it is back.
            await asyncio.sleep(1.0)

    def _status(self, state: str, message: str, retry_in_s: float | None = None) -> None:
        self._on_status(DeviceStatus(kind="output", state=state, device=self.device_name,
                                     message=message, retry_in_s=retry_in_s))
