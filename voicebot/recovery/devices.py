"""The recovering microphone and speaker of one command run, built together.

``voicebot chat`` and ``voicebot kiosk`` use this: one :class:`~.host.PortAudioHost`
(PortAudio is rescanned only while neither has a stream open) and one
:class:`~.server.SoundServer` edge shared by both. Loop thread.
"""

from __future__ import annotations

from collections.abc import Callable

from ..capture.mic import CAPTURE_BUFFER_MS, MicrophoneSource
from ..playback.speaker import Speaker
from ..turntaking.events import DeviceStatus, Event
from .host import PortAudioHost
from .mic import Capture, ResilientMicrophone
from .server import SoundServer
from .speaker import ResilientSpeaker

__all__ = ["AudioDevices"]


class AudioDevices:
    """Makes the :class:`ResilientMicrophone` and :class:`ResilientSpeaker` of a run.

    ``input_device``: as :class:`~voicebot.capture.mic.MicrophoneSource` takes it.
    ``open_speaker``: builds the :class:`Speaker` (device, prebuffer, jitter policy).
    ``on_status``: receives every :class:`DeviceStatus` (the conversation driver's
    ``publish``, or the console before the driver exists). ``wait_for_device``: the
    first open waits for a missing device too (a kiosk starting before its USB
    microphone); without it, the first open fails fast (``chat``: a wrong device
    name is the user's to fix) and only later losses are waited out.
    """

    def __init__(self, input_device: int | str | None, open_speaker: Callable[[], Speaker], *,
                 on_status: Callable[[Event], None], wait_for_device: bool = False,
                 server: SoundServer | None = None) -> None:
        self.input_device = input_device
        self.host = PortAudioHost()
        #: The sound server edge (None: no ``pactl`` or no server: ALSA only).
        self.server = server if server is not None else SoundServer.find()
        self._open_speaker = open_speaker
        self._on_status = on_status
        self._wait = wait_for_device

    def microphone(self, *, open_source: Callable[[], MicrophoneSource] | None = None,
                   capture: Capture | None = None,
                   on_elsewhere: Callable[[bool], None] | None = None,
                   input_buffer_ms: int = CAPTURE_BUFFER_MS) -> ResilientMicrophone:
        """The microphone (not open: ``await mic.open()``); ``open_source``,
        ``capture``, ``on_elsewhere`` and ``input_buffer_ms``: see
        :class:`ResilientMicrophone`."""
        return ResilientMicrophone(self.input_device, host=self.host, on_status=self._status,
                                   server=self.server, wait_for_device=self._wait,
                                   open_source=open_source, capture=capture,
                                   on_elsewhere=on_elsewhere, input_buffer_ms=input_buffer_ms)

    async def speaker(self) -> ResilientSpeaker:
        """The speaker, opened (raises ``AudioDeviceError`` unless ``wait_for_device``)."""
        speaker = ResilientSpeaker(self._open_speaker, host=self.host, on_status=self._status,
                                   server=self.server, wait_for_device=self._wait)
        await speaker.open()
        return speaker

    def _status(self, event: DeviceStatus) -> None:
        self._on_status(event)
