"""A conversation's own microphone and speaker, with echo cancellation between them:
the one wiring of ``voicebot chat`` and ``voicebot kiosk``.

::

    speaker (plain or recovering) ──callback tap──▶ ReferenceRing ──┐ (replies, earcons,
                                                                    │  local speech: all
    microphone (plain or recovering)                                ▼  it plays)
        capture thread: convert ─▶ EchoStage.process ─▶ VAD / segmenter
                                                     └─▶ tap (the kiosk's wake word)
                      (the kiosk: the VAD classifies the guarded output, utterances and
                       the tap take the filter's: EchoStage.heard)

Loop thread. What these functions open is closed by the caller's
:class:`~contextlib.AsyncExitStack`, in an order that is safe: the echo stage is
made after the speaker and before the microphone opens, so its tap is removed and
its canceller freed only after the capture thread has ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable

from .capture.aec import AecConfig, echo_canceller_for
from .capture.echo import EchoStage, SpeakerReference
from .capture.listen import capture_events
from .capture.mic import (CAPTURE_BUFFER_MS, CAPTURE_QUICK_BUFFER_MS, FileSource,
                          MicrophoneSource)
from .capture.reference import ReferenceRing
from .capture.report import CaptureReport
from .capture.vad import UtteranceDetector
from .capture.worker import Tap
from .config import Settings
from .devices import device_arg
from .errors import AudioDeviceError
from .playback.jitterpolicy import JitterPolicy
from .playback.speaker import Speaker
from .recovery.devices import AudioDevices
from .recovery.mic import ResilientMicrophone
from .recovery.speaker import ResilientSpeaker
from .turntaking.events import Event

__all__ = ["open_speaker", "audio_devices", "open_output", "echo_stage", "open_microphone",
           "capture_buffer_ms", "capture_reports", "mute_switch"]

Microphone = MicrophoneSource | ResilientMicrophone


def open_speaker(settings: Settings) -> Speaker:
    """The configured output device as a :class:`Speaker` (its prebuffer, its jitter
    policy); raises :class:`AudioDeviceError` with what to try."""
    device = device_arg(settings.output_device)
    try:
        return Speaker(device, prebuffer_ms=settings.prebuffer_ms,
                       jitter_policy=JitterPolicy.named(settings.jitter, settings.prebuffer_ms))
    except AudioDeviceError as exc:
        raise AudioDeviceError(f"{exc} — list devices with `voicebot devices`, "
                               "or use --no-play") from None


def audio_devices(settings: Settings, on_status: Callable[[Event], None]) -> AudioDevices:
    """The recovering microphone and speaker of a run (``reconnect``), not open yet;
    ``on_status`` receives their :class:`~voicebot.turntaking.events.DeviceStatus`."""
    return AudioDevices(device_arg(settings.input_device), lambda: open_speaker(settings),
                        on_status=on_status)


async def open_output(settings: Settings, stack: contextlib.AsyncExitStack,
                      devices: AudioDevices | None) -> Speaker | ResilientSpeaker:
    """The speaker, open: the recovering one of ``devices``, else a plain one. Closed
    by ``stack``."""
    speaker = await devices.speaker() if devices is not None else open_speaker(settings)
    stack.callback(speaker.close)
    return speaker


def echo_stage(settings: Settings, speaker: Speaker | ResilientSpeaker,
               stack: contextlib.AsyncExitStack, *,
               config: AecConfig | None = None,
               guard_vad_only: bool = False) -> EchoStage | None:
    """Echo cancellation for the microphone, its reference tapped from ``speaker``
    (``aec = auto | on | off``; ``config``: the canceller's, None for its defaults;
    ``guard_vad_only``: see :class:`EchoStage`); None when it does not run.
    Everything the speaker plays is the reference: replies and the clips mixed over
    them (earcons, local speech), since the tap copies the callback's output. The tap
    is removed and the canceller freed when ``stack`` closes: make it before the
    microphone opens."""
    canceller = echo_canceller_for(settings.aec, speaker=True, config=config)
    if canceller is None:
        return None
    ring = ReferenceRing(speaker.sample_rate)
    stage = EchoStage(canceller, [SpeakerReference(ring)], guard_vad_only=guard_vad_only)
    speaker.tap_reference(ring)
    stack.callback(stage.close)
    stack.callback(speaker.tap_reference, None)
    return stage


async def open_microphone(settings: Settings, stack: contextlib.AsyncExitStack,
                          devices: AudioDevices | None, *, echo: EchoStage | None,
                          tap: Tap | None = None,
                          input_buffer_ms: int = CAPTURE_BUFFER_MS) -> Microphone:
    """The microphone, open (it fails fast: a wrong device name is the user's to fix):
    the recovering one of ``devices``, else a plain one. Its capture thread runs
    ``echo`` on every block before the detector, and ``tap`` beside it;
    ``input_buffer_ms``: see :class:`MicrophoneSource` (and :func:`capture_buffer_ms`).
    Closed by ``stack``; read it with :func:`capture_reports`."""
    if devices is None:
        return await stack.enter_async_context(  # its errors name the device
            MicrophoneSource(device_arg(settings.input_device),
                             block_ms=settings.capture_block_ms,
                             input_buffer_ms=input_buffer_ms))
    mic = devices.microphone(capture=lambda source, detector, clock: capture_events(
        source, detector, clock=clock, processor=echo, tap=tap),
        on_elsewhere=echo.set_elsewhere if echo is not None else None,
        input_buffer_ms=input_buffer_ms)
    await mic.open()
    stack.push_async_callback(mic.aclose)
    return mic


def capture_buffer_ms(settings: Settings) -> int:
    """The microphone's input buffer for ``chat``: the quick one
    (:data:`~voicebot.capture.mic.CAPTURE_QUICK_BUFFER_MS`, a user is heard ~70 ms
    sooner) unless speech is decoded in this process (the embedded server with
    ``speech_workers = 0``), whose decode holds the GIL long enough to lose samples."""
    in_process = settings.backend_url() is None and settings.speech_workers == 0
    return CAPTURE_BUFFER_MS if in_process else CAPTURE_QUICK_BUFFER_MS


def capture_reports(source: Microphone | FileSource, detector: UtteranceDetector, *,
                    echo: EchoStage | None = None, tap: Tap | None = None
                    ) -> AsyncGenerator[CaptureReport, None]:
    """The capture reports of ``source`` through ``detector``: a recovering
    microphone's (its capture was wired by :func:`open_microphone`), else
    ``capture_events`` with ``echo`` and ``tap``."""
    if isinstance(source, ResilientMicrophone):
        return source.reports(detector)
    return capture_events(source, detector, processor=echo, tap=tap)


def mute_switch(source: Microphone | FileSource,
                detector: UtteranceDetector) -> Callable[[bool], None]:
    """What mutes capture: a recovering microphone's own switch (it also mutes while
    the sound server has moved its stream elsewhere, e.g. to the speaker's monitor),
    else the detector's flag (the capture thread reads it from its next frame)."""
    if isinstance(source, ResilientMicrophone):
        return source.set_muted

    def mute(muted: bool) -> None:
        detector.muted = muted

    return mute
